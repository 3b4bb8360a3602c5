package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// SmallCopyBatches makes one COPY carry n rows, so that a few rows cross
// the batch boundary; it returns the function restoring the size. A test
// calling it must not run in parallel.
func SmallCopyBatches(n int) (restore func()) {
	b := copyBatch
	copyBatch = n
	return func() { copyBatch = b }
}

// ChargeBalancesFromHistory computes each charge's balance by folding its
// history (charges, adjustments, splits, receipts, reversals, write-offs,
// bills to the patient), as the ledger did before it kept line balances in
// aging_lines: the oracle TestLineBalancesEqualHistory holds the maintained
// read to.
func (s *Store) ChargeBalancesFromHistory(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) (map[ledger.ID]ledger.ChargeBalance, error) {
	const q = `
WITH ch AS (
    SELECT id, coalesce(attached_to_id, id) AS root, attached_to_id, status, amount,
           CASE WHEN (SELECT balances_dont_subtract_ins FROM practices WHERE id = $1) THEN 0 ELSE insurance_estimate END AS insurance_estimate
      FROM charges
     WHERE practice_id = $1 AND (id = ANY($2::uuid[]) OR attached_to_id = ANY($2::uuid[]))
), paid AS (
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
)

SELECT id, ` + balColumns + ` FROM bal WHERE id = ANY($2::uuid[])`
	var rows []struct {
		ID ledger.ID
		ledger.ChargeBalance
	}
	if err := s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)); err != nil {
		return nil, err
	}
	out := make(map[ledger.ID]ledger.ChargeBalance, len(rows))
	for _, r := range rows {
		out[r.ID] = r.ChargeBalance
	}
	return out, nil
}

// Prepared registers a statement text as the store's hot statements are
// (prepared.go).
var Prepared = prepared
