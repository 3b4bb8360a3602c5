package postgres

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

// offLineSplits is where money on no line is, read the one way aging and
// the reports read it: the splits on no charge (unallocated money, and
// unearned money with its type u) whose receipts were received on or before
// the as-of date. A reversal counts from its own date. $1 is the practice,
// $2 the as-of date; the statement goes on with "AND …" conditions on s.
const offLineSplits = `splits s
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id AND r.received_on <= $2
      LEFT JOIN unearned_types u ON u.practice_id = $1 AND u.id = s.unearned_type_id
     WHERE s.practice_id = $1 AND s.charge_id IS NULL`

// NetUnearned sums the unearned money of every bucket (patient × unearned
// type × provider × location) as of the date, with the names the report
// prints, leaving out buckets that hold nothing.
func (s queries) NetUnearned(ctx context.Context, practiceID ledger.ID, q ledger.NetUnearnedQuery) ([]ledger.NetUnearnedLine, error) {
	const stmt = `
WITH b AS (
    SELECT s.patient_id, s.unearned_type_id, s.provider_id, s.location_id, sum(s.amount) AS amount
      FROM ` + offLineSplits + ` AND s.unearned_type_id IS NOT NULL
       AND ($4::uuid IS NULL OR s.provider_id = $4) AND ($5::uuid IS NULL OR s.location_id = $5)
       AND ($6::uuid IS NULL OR s.unearned_type_id = $6)
       AND ($7 = 'ALL' OR u.hidden = ($7 = 'HIDDEN'))
     GROUP BY 1, 2, 3, 4
    HAVING sum(s.amount) <> 0
)
SELECT g.id AS guarantor_id, g.name AS guarantor_name, p.id AS patient_id,
       p.last_name || ', ' || p.first_name AS patient_name,
       u.id AS unearned_type_id, u.name AS unearned_type, u.hidden,
       b.provider_id, coalesce(pr.name, '') AS provider_name, b.location_id, coalesce(lo.name, '') AS location_name,
       b.amount
  FROM b
  JOIN patients p ON p.practice_id = $1 AND p.id = b.patient_id
  JOIN guarantors g ON g.practice_id = $1 AND g.id = p.guarantor_id
  JOIN unearned_types u ON u.practice_id = $1 AND u.id = b.unearned_type_id
  LEFT JOIN providers pr ON pr.practice_id = $1 AND pr.id = b.provider_id
  LEFT JOIN locations lo ON lo.practice_id = $1 AND lo.id = b.location_id
 WHERE $3::uuid IS NULL OR g.id = $3
 ORDER BY g.name, g.id, p.last_name, p.first_name, p.id, u.name, pr.name NULLS FIRST, lo.name NULLS FIRST, b.provider_id, b.location_id`
	var rows []ledger.NetUnearnedLine
	err := s.sel(ctx, &rows, stmt, practiceID, *q.AsOf, q.GuarantorID, q.ProviderID, q.LocationID, q.UnearnedTypeID, string(q.Visibility))
	return rows, translate(err)
}

// ResponsibilityChangesOf lists the charges' moves between insurance and
// the patient, oldest first.
func (s queries) ResponsibilityChangesOf(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) ([]ledger.ResponsibilityChange, error) {
	const q = `SELECT id, charge_id, responsible, changed_on, coalesce(note, '') AS note, posted_at
	             FROM responsibility_changes WHERE practice_id = $1 AND charge_id = ANY($2::uuid[])
	            ORDER BY charge_id, changed_on, posted_at, id`
	var rows []ledger.ResponsibilityChange
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)))
}

// InsertResponsibilityChanges writes moves between insurance and the patient.
func (t *txStore) InsertResponsibilityChanges(ctx context.Context, practiceID ledger.ID, cs []ledger.ResponsibilityChange) error {
	const q = `INSERT INTO responsibility_changes (practice_id, id, charge_id, responsible, changed_on, note, posted_at)
	           VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)`
	for _, c := range cs {
		if _, err := t.exec(ctx, q, practiceID, c.ID, c.ChargeID, string(c.Responsible), c.ChangedOn, c.Note, c.PostedAt); err != nil {
			return translate(err)
		}
	}
	return nil
}
