package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// ChargeBalances reads where each charge stands (see ledger.ChargeBalance)
// from the maintained state (lineBalanceCTEs).
func (s queries) ChargeBalances(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) (map[ledger.ID]ledger.ChargeBalance, error) {
	const q = `
WITH ch AS (SELECT DISTINCT unnest($2::uuid[]) AS id), ` + lineBalanceCTEs + `
SELECT id, ` + balColumns + ` FROM bal`
	var rows []struct {
		ID ledger.ID
		ledger.ChargeBalance
	}
	if err := s.sel(ctx, &rows, prepared(q), practiceID, idArray(chargeIDs)); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID]ledger.ChargeBalance, len(rows))
	for _, r := range rows {
		out[r.ID] = r.ChargeBalance
	}
	return out, nil
}

// balColumns are the columns of a ledger.ChargeBalance in the bal CTE.
const balColumns = `adjustments, insurance_paid, insurance_write_off, patient_paid, prepaid, insurance_pending, owed, billed_to_patient_on`

// lineBalanceCTEs reads each charge's balance (the bal CTE: id and
// balColumns) for the ids of a CTE ch written before it, from the line's
// maintained state (aging_lines: what aging reads too, kept by the ledger's
// triggers in the transaction that changes the line; migrations 00015 and
// 00017) and the line's bills to the patient, read now. $1 is the practice.
//
// Adjustments attached to a charge fold into it, with the money on them; an
// insurance payment on the charge that has not been reversed settles its
// estimate, and so does billing the line to the patient; insurance
// write-offs lower the line; a pending estimate never counts for more than
// the line is worth after its adjustments and write-offs (a write-off
// posted before insurance pays must not leave a phantom credit). A practice
// whose balances do not subtract insurance (Practice.BalancesDontSubtractIns)
// sets no estimate aside. A planned line owes nothing; an adjustment (no
// line of its own) has a zero balance.
const lineBalanceCTEs = `billed AS (
    ` + billedSelect + `b.charge_id IN (SELECT id FROM ch)` + billedGroup + `
), line AS (
    SELECT ch.id, l.adjustments, l.insurance_paid, l.write_off, l.paid, l.prepaid, l.outstanding,
           l.status = 'COMPLETED' AS owes, billed.billed_on,
           CASE WHEN l.status = 'COMPLETED' AND l.insured_on IS NULL AND billed.root IS NULL
                     AND NOT (SELECT balances_dont_subtract_ins FROM practices WHERE id = $1)
                THEN l.estimate ELSE 0 END AS pending
      FROM ch
      LEFT JOIN aging_lines l ON l.practice_id = $1 AND l.charge_id = ch.id
      LEFT JOIN billed ON billed.root = ch.id
), bal AS (
    SELECT id,
           coalesce(adjustments, 0) AS adjustments,
           coalesce(insurance_paid, 0) AS insurance_paid,
           coalesce(write_off, 0) AS insurance_write_off,
           coalesce(paid - insurance_paid, 0) AS patient_paid,
           coalesce(prepaid, 0) AS prepaid,
           pending AS insurance_pending,
           CASE WHEN owes THEN outstanding - pending ELSE 0 END AS owed,
           billed_on AS billed_to_patient_on
      FROM line
)`

// billedSelect and billedGroup enclose a condition on the moves b
// (responsibility_changes) to make a CTE of the lines billed to the patient
// (root, and billed_on: the day of the last move to the patient). Moves on a
// line alternate, so it is billed when more of the moves read went to the
// patient than back to insurance. $1 is the practice.
const (
	billedSelect = `SELECT b.charge_id AS root, max(b.changed_on) FILTER (WHERE b.responsible = 'PATIENT') AS billed_on
      FROM responsibility_changes b WHERE b.practice_id = $1 AND `
	billedGroup = `
     GROUP BY 1
    HAVING count(*) FILTER (WHERE b.responsible = 'PATIENT') > count(*) FILTER (WHERE b.responsible = 'INSURANCE')`
)

func (s queries) PatientBalances(ctx context.Context, practiceID ledger.ID, patientIDs []ledger.ID) (map[ledger.ID]ledger.Balance, error) {
	return s.balances(ctx, practiceID, patientIDs, false)
}

func (s queries) GuarantorBalances(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID) (map[ledger.ID]ledger.Balance, error) {
	return s.balances(ctx, practiceID, guarantorIDs, true)
}

// balances sums, per patient (or per guarantor when byGuarantor), what the
// charge lines owe, the credit on overpaid lines, unallocated money and
// visible unearned money, and apart from those the money on hidden types
// and prepayment held for planned lines: lines as ChargeBalances reads
// them, money on no line from its maintained buckets (aging_credits).
func (s queries) balances(ctx context.Context, practiceID ledger.ID, ids []ledger.ID, byGuarantor bool) (map[ledger.ID]ledger.Balance, error) {
	const q = `
WITH pats AS (
    SELECT id, CASE WHEN $3 THEN guarantor_id ELSE id END AS grp
      FROM patients
     WHERE practice_id = $1 AND (CASE WHEN $3 THEN guarantor_id ELSE id END) = ANY($2::uuid[])
), ch AS (          -- the patients' root lines, found through charges' index by patient
    SELECT c.id, pats.grp FROM pats JOIN charges c ON c.practice_id = $1 AND c.patient_id = pats.id
     WHERE c.attached_to_id IS NULL
), ` + lineBalanceCTEs + `, lines AS (
    SELECT ch.grp, sum(greatest(bal.owed, 0)) AS owed, sum(greatest(-bal.owed, 0)) AS line_credit,
           sum(bal.prepaid) AS prepaid
      FROM ch JOIN bal USING (id) GROUP BY ch.grp
), money AS (
    SELECT pats.grp,
           coalesce(sum(a.amount) FILTER (WHERE a.unearned_type_id IS NULL), 0) AS unallocated,
           coalesce(sum(a.amount) FILTER (WHERE NOT u.hidden), 0) AS unearned,
           coalesce(sum(a.amount) FILTER (WHERE u.hidden), 0) AS hidden_unearned
      FROM pats
      JOIN aging_credits a ON a.practice_id = $1 AND a.patient_id = pats.id
      LEFT JOIN unearned_types u ON u.practice_id = $1 AND u.id = a.unearned_type_id
     GROUP BY pats.grp
)
SELECT g.id,
       coalesce(lines.owed, 0) AS owed, coalesce(lines.line_credit, 0) AS line_credit,
       coalesce(money.unallocated, 0) AS unallocated, coalesce(money.unearned, 0) AS unearned,
       coalesce(money.hidden_unearned, 0) + coalesce(lines.prepaid, 0) AS hidden_unearned
  FROM unnest($2::uuid[]) AS g(id)
  LEFT JOIN lines ON lines.grp = g.id
  LEFT JOIN money ON money.grp = g.id`
	var rows []struct {
		ID             ledger.ID
		Owed           ledger.Money
		LineCredit     ledger.Money
		Unallocated    ledger.Money
		Unearned       ledger.Money
		HiddenUnearned ledger.Money
	}
	if err := s.sel(ctx, &rows, q, practiceID, idArray(ids), byGuarantor); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID]ledger.Balance, len(rows))
	for _, r := range rows {
		credit := r.LineCredit.Add(r.Unallocated).Add(r.Unearned)
		out[r.ID] = ledger.Balance{
			Balance:        r.Owed.Sub(credit),
			Owed:           r.Owed,
			Unallocated:    r.Unallocated,
			Unearned:       r.Unearned,
			Credit:         credit,
			HiddenUnearned: r.HiddenUnearned,
		}
	}
	return out, nil
}
