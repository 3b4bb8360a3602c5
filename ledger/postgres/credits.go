package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// Patient credits: Txfr rows and the links of re-split payments.

// TransferRows sums each patient's splits per TRANSFER receipt, leaving out
// the receipts that re-split a payment (they belong to the payment).
func (s queries) TransferRows(ctx context.Context, practiceID ledger.ID, patientIDs []ledger.ID) ([]ledger.TransferRow, error) {
	const q = `
SELECT s.patient_id, s.provider_id, s.location_id, s.receipt_id, r.received_on, coalesce(r.note, '') AS note,
       sum(s.amount) AS amount
  FROM splits s
  JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
 WHERE s.practice_id = $1 AND s.patient_id = ANY($2::uuid[]) AND r.kind = 'TRANSFER'
   AND NOT EXISTS (SELECT 1 FROM reallocations x WHERE x.practice_id = $1 AND x.receipt_id = r.id)
 GROUP BY s.patient_id, s.provider_id, s.location_id, s.receipt_id, r.received_on, r.note
 ORDER BY s.patient_id, r.received_on, s.receipt_id, sum(s.amount), s.provider_id NULLS FIRST, s.location_id NULLS FIRST`
	var rows []ledger.TransferRow
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(patientIDs)))
}

func (s queries) Reallocations(ctx context.Context, practiceID ledger.ID, receiptIDs []ledger.ID) ([]ledger.Reallocation, error) {
	const q = `SELECT receipt_id, original_receipt_id AS original_id, run_id FROM reallocations
	            WHERE practice_id = $1 AND receipt_id = ANY($2::uuid[])`
	var rows []ledger.Reallocation
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(receiptIDs)))
}

func (s queries) ReallocationsOf(ctx context.Context, practiceID ledger.ID, originalIDs []ledger.ID) ([]ledger.Reallocation, error) {
	const q = `SELECT receipt_id, original_receipt_id AS original_id, run_id FROM reallocations
	            WHERE practice_id = $1 AND original_receipt_id = ANY($2::uuid[])
	            ORDER BY original_receipt_id, receipt_id`
	var rows []ledger.Reallocation
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(originalIDs)))
}

// InsertReallocations writes the links with one statement.
func (t *txStore) InsertReallocations(ctx context.Context, practiceID ledger.ID, rs []ledger.Reallocation) error {
	if len(rs) == 0 {
		return nil
	}
	const q = `
INSERT INTO reallocations (practice_id, receipt_id, original_receipt_id, run_id)
SELECT $1, u.receipt_id, u.original_id, u.run_id
  FROM unnest($2::uuid[], $3::uuid[], $4::uuid[]) AS u(receipt_id, original_id, run_id)`
	rids, oids, runs := make([]ledger.ID, len(rs)), make([]ledger.ID, len(rs)), make([]*ledger.ID, len(rs))
	for i, r := range rs {
		rids[i], oids[i], runs[i] = r.ReceiptID, r.OriginalID, r.RunID
	}
	_, err := t.exec(ctx, q, practiceID, idArray(rids), idArray(oids), nullableIDArray(runs))
	return translate(err)
}
