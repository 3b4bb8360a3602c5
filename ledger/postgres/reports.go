package postgres

import (
	"context"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// receivedSplits is the splits whose receipts were received on or before
// the as-of date, with their unearned type u (a reversal counts from its
// own date), read the one way aging and the reports read them. $1 is the
// practice, $2 the as-of date; the statement goes on with "AND …"
// conditions on s.
const receivedSplits = `splits s
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id AND r.received_on <= $2
      LEFT JOIN unearned_types u ON u.practice_id = $1 AND u.id = s.unearned_type_id
     WHERE s.practice_id = $1`

// offLineSplits is where money on no line is: unallocated money, and
// unearned money not attached to a planned procedure.
const offLineSplits = receivedSplits + ` AND s.charge_id IS NULL`

// NetUnearned sums the unearned money of every bucket (patient × unearned
// type × provider × location, and the planned procedure prepayment is
// attached to) as of the date, with the names the report prints, leaving out
// buckets that hold nothing. Attached prepayment is hidden whatever its
// type, as in the balances' hiddenUnearned.
func (s queries) NetUnearned(ctx context.Context, practiceID ledger.ID, q ledger.NetUnearnedQuery) ([]ledger.NetUnearnedLine, error) {
	const stmt = `
WITH b AS (
    SELECT s.patient_id, s.unearned_type_id, s.provider_id, s.location_id, s.charge_id,
           u.hidden OR s.charge_id IS NOT NULL AS hidden, sum(s.amount) AS amount
      FROM ` + receivedSplits + ` AND s.unearned_type_id IS NOT NULL
       AND ($4::uuid IS NULL OR s.provider_id = $4) AND ($5::uuid IS NULL OR s.location_id = $5)
       AND ($6::uuid IS NULL OR s.unearned_type_id = $6)
       AND ($7 = 'ALL' OR (u.hidden OR s.charge_id IS NOT NULL) = ($7 = 'HIDDEN'))
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(s.amount) <> 0
)
SELECT g.id AS guarantor_id, g.name AS guarantor_name, p.id AS patient_id,
       p.last_name || ', ' || p.first_name AS patient_name,
       u.id AS unearned_type_id, u.name AS unearned_type, b.hidden, b.charge_id,
       b.provider_id, coalesce(pr.name, '') AS provider_name, b.location_id, coalesce(lo.name, '') AS location_name,
       b.amount
  FROM b
  JOIN patients p ON p.practice_id = $1 AND p.id = b.patient_id
  JOIN guarantors g ON g.practice_id = $1 AND g.id = p.guarantor_id
  JOIN unearned_types u ON u.practice_id = $1 AND u.id = b.unearned_type_id
  LEFT JOIN providers pr ON pr.practice_id = $1 AND pr.id = b.provider_id
  LEFT JOIN locations lo ON lo.practice_id = $1 AND lo.id = b.location_id
 WHERE $3::uuid IS NULL OR g.id = $3
 ORDER BY g.name, g.id, p.last_name, p.first_name, p.id, u.name, pr.name NULLS FIRST, lo.name NULLS FIRST, b.provider_id, b.location_id, b.charge_id NULLS FIRST`
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

// StatementItems lists the activity of the guarantors' families in the
// period [from, asOf], each item with its effect on the balance aging
// computes: completed lines by date of service (+amount), insurance
// write-offs by date (−amount), moves between insurance and the patient
// (no effect; the estimate moved), and receipts by date received, one item
// per receipt and family (−the money it put on the family's lines and
// credits; money on hidden types is held apart and changes nothing).
// guarantorIDs nil lists every family's.
func (s queries) StatementItems(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID, from, asOf ledger.Date) (map[ledger.ID][]ledger.StatementItem, error) {
	const q = `
WITH pats AS (
    SELECT id, guarantor_id, first_name || ' ' || last_name AS name
      FROM patients WHERE practice_id = $1 AND ($2::uuid[] IS NULL OR guarantor_id = ANY($2::uuid[]))
)
SELECT guarantor_id, "on", kind, receipt_kind, patient_id, coalesce(patient_name, '') AS patient_name, code, amount, moved, held, charge_id, receipt_id FROM (
    SELECT p.guarantor_id, c.service_date AS "on", CASE c.kind WHEN 'BALANCE_FORWARD' THEN 'PREVIOUS_BALANCE'
               WHEN 'ADJUSTMENT' THEN 'ADJUSTMENT' ELSE 'CHARGE' END AS kind, '' AS receipt_kind,
           c.patient_id, p.name AS patient_name, c.code, c.amount, 0 AS moved, 0 AS held, c.id AS charge_id, NULL::uuid AS receipt_id, 1 AS ord
      FROM charges c JOIN pats p ON p.id = c.patient_id
     WHERE c.practice_id = $1 AND c.status = 'COMPLETED' AND c.service_date BETWEEN $3 AND $4
    UNION ALL
    SELECT p.guarantor_id, w.written_on, 'INSURANCE_WRITE_OFF', '', c.patient_id, p.name, c.code, -w.amount, 0, 0, c.id, NULL, 2
      FROM insurance_write_offs w
      JOIN charges c ON c.practice_id = $1 AND c.id = w.charge_id
      JOIN pats p ON p.id = c.patient_id
     WHERE w.practice_id = $1 AND w.written_on BETWEEN $3 AND $4
    UNION ALL
    SELECT p.guarantor_id, b.changed_on, CASE b.responsible WHEN 'PATIENT' THEN 'BILLED_TO_PATIENT' ELSE 'BILLED_TO_INSURANCE' END,
           '', c.patient_id, p.name, c.code, 0, c.insurance_estimate, 0, c.id, NULL, 3
      FROM responsibility_changes b
      JOIN charges c ON c.practice_id = $1 AND c.id = b.charge_id
      JOIN pats p ON p.id = c.patient_id
     WHERE b.practice_id = $1 AND b.changed_on BETWEEN $3 AND $4
    UNION ALL
    SELECT p.guarantor_id, r.received_on, 'RECEIPT', r.kind, rp.id, rp.name, '',
           -coalesce(sum(s.amount) FILTER (WHERE NOT (u.id IS NOT NULL AND (u.hidden OR s.charge_id IS NOT NULL))), 0),
           coalesce(sum(s.amount) FILTER (WHERE s.amount > 0), 0),
           coalesce(sum(s.amount) FILTER (WHERE u.id IS NOT NULL AND (u.hidden OR s.charge_id IS NOT NULL)), 0), NULL, r.id, 4
      FROM splits s
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id
      JOIN pats p ON p.id = s.patient_id
      LEFT JOIN pats rp ON rp.id = r.patient_id
      LEFT JOIN unearned_types u ON u.practice_id = $1 AND u.id = s.unearned_type_id
     WHERE s.practice_id = $1 AND r.received_on BETWEEN $3 AND $4
     GROUP BY p.guarantor_id, r.id, r.received_on, r.kind, rp.id, rp.name
) x
ORDER BY guarantor_id, "on", ord, code, charge_id, receipt_id`
	var rows []struct {
		GuarantorID ledger.ID
		ledger.StatementItem
	}
	var families any // NULL: every family
	if guarantorIDs != nil {
		families = idArray(guarantorIDs)
	}
	if err := s.sel(ctx, &rows, q, practiceID, families, from, asOf); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID][]ledger.StatementItem, len(guarantorIDs))
	for _, r := range rows {
		out[r.GuarantorID] = append(out[r.GuarantorID], r.StatementItem)
	}
	return out, nil
}

const statementColumns = `id, run_id, guarantor_id, period_from AS "from", as_of, previous_balance, new_balance, insurance_pending, amount_due, created_at`

// LastStatements returns each family's latest statement.
func (s queries) LastStatements(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID) (map[ledger.ID]ledger.StatementRecord, error) {
	const q = `SELECT DISTINCT ON (guarantor_id) ` + statementColumns + `
	             FROM statements WHERE practice_id = $1 AND guarantor_id = ANY($2::uuid[])
	            ORDER BY guarantor_id, as_of DESC, created_at DESC, id DESC`
	var rows []ledger.StatementRecord
	if err := s.sel(ctx, &rows, q, practiceID, idArray(guarantorIDs)); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID]ledger.StatementRecord, len(rows))
	for _, r := range rows {
		out[r.GuarantorID] = r
	}
	return out, nil
}

// StatementRun reads a recorded run and its statements, by guarantor id.
func (s queries) StatementRun(ctx context.Context, practiceID, id ledger.ID) (ledger.StatementRun, error) {
	var run ledger.StatementRun
	const qr = `SELECT id, as_of, coalesce(note, '') AS note, created_at FROM statement_runs WHERE practice_id = $1 AND id = $2`
	if err := s.get(ctx, &run, qr, practiceID, id); err != nil {
		return run, notFound(err, "statement run")
	}
	const qs = `SELECT ` + statementColumns + ` FROM statements WHERE practice_id = $1 AND run_id = $2 ORDER BY guarantor_id`
	if err := s.sel(ctx, &run.Statements, qs, practiceID, id); err != nil {
		return run, translate(err)
	}
	for _, st := range run.Statements {
		run.AmountDue = run.AmountDue.Add(st.AmountDue)
	}
	return run, nil
}

// InsertStatementRun records a run and its statements (one statement for
// them all).
func (t *txStore) InsertStatementRun(ctx context.Context, practiceID ledger.ID, r ledger.StatementRun) error {
	const qr = `INSERT INTO statement_runs (practice_id, id, as_of, note, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5)`
	if _, err := t.exec(ctx, qr, practiceID, r.ID, r.AsOf, r.Note, r.CreatedAt); err != nil {
		return translate(err)
	}
	n := len(r.Statements)
	ids, gs, froms := make([]ledger.ID, n), make([]ledger.ID, n), make([]string, n)
	prev, bal, ins, due := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, st := range r.Statements {
		ids[i], gs[i], froms[i] = st.ID, st.GuarantorID, st.From.String()
		prev[i], bal[i], ins[i], due[i] = st.PreviousBalance.String(), st.NewBalance.String(), st.InsurancePending.String(), st.AmountDue.String()
	}
	const qs = `INSERT INTO statements (practice_id, id, run_id, guarantor_id, period_from, as_of, previous_balance, new_balance,
	                                   insurance_pending, amount_due, created_at)
	            SELECT $1, u.id, $2, u.g, u.f, $3, u.p, u.b, u.i, u.d, $4
	              FROM unnest($5::uuid[], $6::uuid[], $7::date[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[])
	                   AS u(id, g, f, p, b, i, d)`
	_, err := t.exec(ctx, qs, practiceID, r.ID, r.AsOf, r.CreatedAt, idArray(ids), idArray(gs), pq.Array(froms),
		pq.Array(prev), pq.Array(bal), pq.Array(ins), pq.Array(due))
	return translate(err)
}
