package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// ChargeBalances computes where each charge stands (see ledger.ChargeBalance).
// A practice whose balances do not subtract insurance
// (Practice.BalancesDontSubtractIns) sets no estimate aside: its lines'
// estimates read 0.00 here and in balances.
// Adjustments attached to a charge fold into it, with the money on them; an
// insurance payment on the charge that has not been reversed settles its
// estimate; insurance write-offs lower the line; a pending estimate never
// counts for more than the line is worth after its adjustments and
// write-offs (a write-off posted before insurance pays must not leave a
// phantom credit).
func (s queries) ChargeBalances(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) (map[ledger.ID]ledger.ChargeBalance, error) {
	const q = `
WITH ch AS (
    SELECT ` + chColumns + ` FROM charges
     WHERE practice_id = $1 AND (id = ANY($2::uuid[]) OR attached_to_id = ANY($2::uuid[]))
), ` + chargeBalanceCTEs + `
SELECT id, ` + balColumns + ` FROM bal WHERE id = ANY($2::uuid[])`
	var rows []struct {
		ID ledger.ID
		ledger.ChargeBalance
	}
	if err := s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID]ledger.ChargeBalance, len(rows))
	for _, r := range rows {
		out[r.ID] = r.ChargeBalance
	}
	return out, nil
}

// chColumns are the columns of the ch CTE chargeBalanceCTEs reads, from a
// row of charges; a practice whose balances do not subtract insurance
// reads every estimate as 0.
const chColumns = `id, coalesce(attached_to_id, id) AS root, attached_to_id, status, amount,
           CASE WHEN (SELECT balances_dont_subtract_ins FROM practices WHERE id = $1) THEN 0 ELSE insurance_estimate END AS insurance_estimate`

// balColumns are the columns of a ledger.ChargeBalance in the bal CTE.
const balColumns = `adjustments, insurance_paid, insurance_write_off, patient_paid, prepaid, insurance_pending, owed, billed_to_patient_on`

// chargeBalanceCTEs computes each charge's balance (the bal CTE: id,
// adjustments, insurance_paid, insurance_write_off, patient_paid, prepaid,
// insurance_pending, owed) from a
// CTE ch, written before it, holding charges and the adjustments attached
// to them (id, root: the line an adjustment is attached to or the charge
// itself, attached_to_id, status, amount, insurance_estimate). $1 is the
// practice.
const chargeBalanceCTEs = `paid AS (
    SELECT ch.root,
           coalesce(sum(s.amount) FILTER (WHERE r.kind = 'INSURANCE_PAYMENT' OR o.kind = 'INSURANCE_PAYMENT'), 0) AS insurance,
           coalesce(sum(s.amount) FILTER (WHERE r.kind <> 'INSURANCE_PAYMENT' AND coalesce(o.kind, '') <> 'INSURANCE_PAYMENT'), 0) AS patient,
           bool_or(r.kind = 'INSURANCE_PAYMENT' AND rv.id IS NULL) AS insured
      FROM ch
      JOIN splits s ON s.practice_id = $1 AND s.charge_id = ch.id AND s.unearned_type_id IS NULL
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id
      LEFT JOIN receipts o ON o.practice_id = $1 AND o.id = r.reverses_id
      LEFT JOIN receipts rv ON rv.practice_id = $1 AND rv.reverses_id = r.id
     GROUP BY ch.root
), pre AS (          -- prepayment attached to a planned line: unearned money, not paid on it
    SELECT s.charge_id AS root, sum(s.amount) AS amount
      FROM ch JOIN splits s ON s.practice_id = $1 AND s.charge_id = ch.id AND s.unearned_type_id IS NOT NULL
     GROUP BY 1
), adj AS (
    SELECT attached_to_id AS root, sum(amount) AS amount FROM ch WHERE attached_to_id IS NOT NULL GROUP BY 1
), wo AS (
    SELECT w.charge_id AS root, sum(w.amount) AS amount
      FROM ch JOIN insurance_write_offs w ON w.practice_id = $1 AND w.charge_id = ch.id
     GROUP BY 1
), billed AS (         -- lines billed to the patient (bill to patient)
    ` + billedSelect + `b.charge_id IN (SELECT id FROM ch)` + billedGroup + `
), worth AS (          -- the line after its adjustments and insurance write-offs
    SELECT ch.id, ch.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0) AS amount, coalesce(wo.amount, 0) AS write_off
      FROM ch LEFT JOIN adj ON adj.root = ch.id LEFT JOIN wo ON wo.root = ch.id
), bal AS (
    SELECT ch.id,
           coalesce(adj.amount, 0) AS adjustments,
           coalesce(paid.insurance, 0) AS insurance_paid,
           worth.write_off AS insurance_write_off,
           coalesce(paid.patient, 0) AS patient_paid,
           coalesce(pre.amount, 0) AS prepaid,
           CASE WHEN ch.status = 'PLANNED' OR ch.attached_to_id IS NOT NULL OR coalesce(paid.insured, false) OR billed.root IS NOT NULL THEN 0
                ELSE least(ch.insurance_estimate, greatest(worth.amount, 0)) END AS insurance_pending,
           CASE WHEN ch.status = 'PLANNED' OR ch.attached_to_id IS NOT NULL THEN 0
                ELSE worth.amount - coalesce(paid.insurance, 0) - coalesce(paid.patient, 0)
                     - CASE WHEN coalesce(paid.insured, false) OR billed.root IS NOT NULL THEN 0
                            ELSE least(ch.insurance_estimate, greatest(worth.amount, 0)) END
           END AS owed,
           billed.billed_on AS billed_to_patient_on
      FROM ch
      JOIN worth ON worth.id = ch.id
      LEFT JOIN adj ON adj.root = ch.id
      LEFT JOIN paid ON paid.root = ch.id
      LEFT JOIN pre ON pre.root = ch.id
      LEFT JOIN billed ON billed.root = ch.id
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
// visible unearned money, and apart from those the money on hidden types. Charge owed is computed as in ChargeOwed.
func (s queries) balances(ctx context.Context, practiceID ledger.ID, ids []ledger.ID, byGuarantor bool) (map[ledger.ID]ledger.Balance, error) {
	const q = `
WITH pats AS (
    SELECT id, CASE WHEN $3 THEN guarantor_id ELSE id END AS grp
      FROM patients
     WHERE practice_id = $1 AND (CASE WHEN $3 THEN guarantor_id ELSE id END) = ANY($2::uuid[])
), ch AS (
    SELECT c.id, pats.grp, coalesce(c.attached_to_id, c.id) AS root, c.attached_to_id, c.status, c.amount,
           CASE WHEN (SELECT balances_dont_subtract_ins FROM practices WHERE id = $1) THEN 0 ELSE c.insurance_estimate END AS insurance_estimate
      FROM pats JOIN charges c ON c.practice_id = $1 AND c.patient_id = pats.id
), paid AS (
    SELECT ch.root, sum(s.amount) AS amount,
           bool_or(r.kind = 'INSURANCE_PAYMENT' AND rv.id IS NULL) AS insured
      FROM ch
      JOIN splits s ON s.practice_id = $1 AND s.charge_id = ch.id AND s.unearned_type_id IS NULL
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id
      LEFT JOIN receipts rv ON rv.practice_id = $1 AND rv.reverses_id = r.id
     GROUP BY ch.root
), adj AS (
    SELECT attached_to_id AS root, sum(amount) AS amount FROM ch WHERE attached_to_id IS NOT NULL GROUP BY 1
), wo AS (
    SELECT w.charge_id AS root, sum(w.amount) AS amount
      FROM ch JOIN insurance_write_offs w ON w.practice_id = $1 AND w.charge_id = ch.id
     GROUP BY 1
), billed AS (
    ` + billedSelect + `b.charge_id IN (SELECT id FROM ch)` + billedGroup + `
), owed AS (
    SELECT ch.grp,
           CASE WHEN ch.status = 'PLANNED' OR ch.attached_to_id IS NOT NULL THEN 0
                ELSE ch.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0) - coalesce(paid.amount, 0)
                     - CASE WHEN coalesce(paid.insured, false) OR billed.root IS NOT NULL THEN 0
                            ELSE least(ch.insurance_estimate, greatest(ch.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0), 0)) END
           END AS owed
      FROM ch LEFT JOIN adj ON adj.root = ch.id LEFT JOIN paid ON paid.root = ch.id LEFT JOIN wo ON wo.root = ch.id
      LEFT JOIN billed ON billed.root = ch.id
), lines AS (
    SELECT grp, sum(greatest(owed, 0)) AS owed, sum(greatest(-owed, 0)) AS line_credit FROM owed GROUP BY grp
), money AS (
    SELECT pats.grp,
           coalesce(sum(s.amount) FILTER (WHERE s.unearned_type_id IS NULL), 0) AS unallocated,
           coalesce(sum(s.amount) FILTER (WHERE NOT u.hidden AND s.charge_id IS NULL), 0) AS unearned,
           coalesce(sum(s.amount) FILTER (WHERE u.hidden OR s.charge_id IS NOT NULL), 0) AS hidden_unearned
      FROM pats
      JOIN splits s ON s.practice_id = $1 AND s.patient_id = pats.id AND (s.charge_id IS NULL OR s.unearned_type_id IS NOT NULL)
      LEFT JOIN unearned_types u ON u.practice_id = $1 AND u.id = s.unearned_type_id
     GROUP BY pats.grp
)
SELECT g.id,
       coalesce(lines.owed, 0) AS owed, coalesce(lines.line_credit, 0) AS line_credit,
       coalesce(money.unallocated, 0) AS unallocated, coalesce(money.unearned, 0) AS unearned,
       coalesce(money.hidden_unearned, 0) AS hidden_unearned
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
