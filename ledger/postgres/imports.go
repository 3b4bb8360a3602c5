package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// Balance-forward imports: matching reads, set-based writes (COPY) and the
// import's own records.

func (s queries) MatchPatients(ctx context.Context, practiceID ledger.ID, externalIDs []string, names []ledger.PatientName) ([]ledger.Patient, []ledger.NameMatch, error) {
	var byExt []ledger.Patient
	if len(externalIDs) > 0 {
		const q = `SELECT ` + patientColumns + ` FROM patients WHERE practice_id = $1 AND external_id = ANY($2::text[])`
		if err := s.sel(ctx, &byExt, q, practiceID, pq.Array(externalIDs)); err != nil {
			return nil, nil, translate(err)
		}
	}
	if len(names) == 0 {
		return byExt, nil, nil
	}
	const q = `
SELECT k.i - 1 AS key, p.id, p.guarantor_id, p.first_name, p.last_name, p.birth_date,
       coalesce(p.external_id, '') AS external_id, p.created_at
  FROM unnest($2::text[], $3::text[], $4::date[]) WITH ORDINALITY AS k(last_name, first_name, birth_date, i)
  JOIN patients p ON p.practice_id = $1 AND lower(p.last_name) = lower(k.last_name)
                 AND lower(p.first_name) = lower(k.first_name) AND p.birth_date = k.birth_date`
	lasts, firsts, births := make([]string, len(names)), make([]string, len(names)), make([]string, len(names))
	for i, n := range names {
		lasts[i], firsts[i], births[i] = n.LastName, n.FirstName, n.BirthDate.String()
	}
	var rows []struct {
		Key int
		ledger.Patient
	}
	if err := s.sel(ctx, &rows, q, practiceID, pq.Array(lasts), pq.Array(firsts), pq.Array(births)); err != nil {
		return nil, nil, translate(err)
	}
	byName := make([]ledger.NameMatch, len(rows))
	for i, r := range rows {
		byName[i] = ledger.NameMatch{Key: r.Key, Patient: r.Patient}
	}
	return byExt, byName, nil
}

func (s queries) GuarantorsByExternalID(ctx context.Context, practiceID ledger.ID, externalIDs []string) ([]ledger.Guarantor, error) {
	const q = `SELECT ` + guarantorColumns + ` FROM guarantors WHERE practice_id = $1 AND external_id = ANY($2::text[])`
	var rows []ledger.Guarantor
	return rows, translate(s.sel(ctx, &rows, q, practiceID, pq.Array(externalIDs)))
}

func (s queries) ImportedRows(ctx context.Context, practiceID ledger.ID, rowKeys [][]byte) ([]ledger.ImportedRow, error) {
	if len(rowKeys) == 0 {
		return nil, nil
	}
	const q = `
SELECT l.row_key, l.import_id, l.row_number AS row
  FROM unnest($2::bytea[]) AS k(row_key)
  JOIN balance_import_lines l ON l.practice_id = $1 AND l.row_key = k.row_key AND NOT l.undone`
	var rows []ledger.ImportedRow
	return rows, translate(s.sel(ctx, &rows, q, practiceID, pq.ByteaArray(rowKeys)))
}

const balanceImportColumns = `id, kind, status, coalesce(file_name, '') AS file_name, file_sha256, import_date, options AS options_json,
	rows_read, rows_posted, rows_skipped, patients_created, guarantors_created, encounters,
	patient_debits, patient_credits, insurance, key_id, created_at, undone_at, undone_key_id`

// balanceImportRow scans a balance_imports row; options are JSON.
type balanceImportRow struct {
	ledger.BalanceImport
	OptionsJSON []byte `db:"options_json"`
}

func (s queries) balanceImports(ctx context.Context, q string, practiceID ledger.ID, args ...any) ([]ledger.BalanceImport, error) {
	var rows []balanceImportRow
	if err := s.sel(ctx, &rows, q, practiceID, args...); err != nil {
		return nil, translate(err)
	}
	out := make([]ledger.BalanceImport, len(rows))
	for i, r := range rows {
		out[i] = r.BalanceImport
		if err := json.Unmarshal(r.OptionsJSON, &out[i].Options); err != nil {
			return nil, fmt.Errorf("balance import %s: options: %w", r.ID, err)
		}
	}
	return out, nil
}

func (s queries) BalanceImports(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.BalanceImport, error) {
	const q = `SELECT ` + balanceImportColumns + ` FROM balance_imports WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	return s.balanceImports(ctx, q, practiceID, idArray(ids))
}

func (s queries) StandingImportOfFile(ctx context.Context, practiceID ledger.ID, sha256 string) ([]ledger.BalanceImport, error) {
	const q = `SELECT ` + balanceImportColumns + ` FROM balance_imports
	            WHERE practice_id = $1 AND file_sha256 = $2 AND status = 'COMMITTED'`
	return s.balanceImports(ctx, q, practiceID, sha256)
}

func (s queries) RecentBalanceImports(ctx context.Context, practiceID ledger.ID, limit int) ([]ledger.BalanceImport, error) {
	const q = `SELECT ` + balanceImportColumns + ` FROM balance_imports
	            WHERE practice_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`
	return s.balanceImports(ctx, q, practiceID, limit)
}

// BalanceImportLines lists an import's lines in row order.
func (s queries) BalanceImportLines(ctx context.Context, practiceID, importID ledger.ID) ([]ledger.ImportedLine, error) {
	const q = `
SELECT l.row_number AS row, l.row_key, l.charge_id, l.receipt_id, l.amount, l.responsibility,
       c.patient_id, p.guarantor_id, c.encounter_id, c.provider_id, c.location_id, c.code
  FROM balance_import_lines l
  JOIN charges c ON c.practice_id = l.practice_id AND c.id = l.charge_id
  JOIN patients p ON p.practice_id = l.practice_id AND p.id = c.patient_id
 WHERE l.practice_id = $1 AND l.import_id = $2
 ORDER BY l.row_number`
	var rows []ledger.ImportedLine
	return rows, translate(s.sel(ctx, &rows, q, practiceID, importID))
}

// BalanceImportSums sums an import's lines in one statement, per patient and
// per family (the patient's guarantor now) with GROUPING SETS, from the
// lines as the file gave them and from each line's balance now (read as
// ChargeBalances reads it), and passes the sums to each as the rows arrive:
// patients first, then families, each in the order of their first row.
func (s queries) BalanceImportSums(ctx context.Context, practiceID, importID ledger.ID, each func(ledger.ReconciliationLine) error) error {
	const q = `
WITH l AS MATERIALIZED (
    SELECT bl.row_number, bl.charge_id, bl.amount, bl.responsibility, c.patient_id
      FROM balance_import_lines bl
      JOIN charges c ON c.practice_id = bl.practice_id AND c.id = bl.charge_id
     WHERE bl.practice_id = $1 AND bl.import_id = $2
), ch AS (SELECT charge_id AS id FROM l), ` + lineBalanceCTEs + `
SELECT CASE WHEN grouping(l.patient_id) = 0 THEN l.patient_id END AS patient_id, p.guarantor_id,
       count(*) AS rows, min(l.row_number) AS first_row,
       coalesce(sum(l.amount) FILTER (WHERE l.responsibility <> 'INSURANCE'), 0) AS file_patient,
       coalesce(sum(l.amount) FILTER (WHERE l.responsibility = 'INSURANCE'), 0) AS file_insurance,
       sum(bal.owed) AS ledger_patient, sum(bal.insurance_pending) AS ledger_insurance
  FROM l
  JOIN bal ON bal.id = l.charge_id
  JOIN patients p ON p.practice_id = $1 AND p.id = l.patient_id
 GROUP BY GROUPING SETS ((p.guarantor_id, l.patient_id), (p.guarantor_id))
 ORDER BY grouping(l.patient_id), first_row`
	return s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		rows, err := db.QueryxContext(ctx, q, practiceID, importID)
		if err != nil {
			return translate(err)
		}
		defer rows.Close()
		for rows.Next() {
			var r struct {
				ledger.ReconciliationLine
				FirstRow int `db:"first_row"`
			}
			if err := rows.StructScan(&r); err != nil {
				return translate(err)
			}
			if err := each(r.ReconciliationLine); err != nil {
				return err
			}
		}
		return translate(rows.Err())
	})
}

// BalanceImportActivity finds what was posted against an import's lines by
// anything but the import: splits on them other than their own credit's,
// adjustments attached to them, and charges added to their encounters.
func (s queries) BalanceImportActivity(ctx context.Context, practiceID, importID ledger.ID, limit int) ([]ledger.ImportActivity, error) {
	const q = `
WITH l AS MATERIALIZED (
    SELECT bl.row_number, bl.charge_id, bl.receipt_id, c.encounter_id
      FROM balance_import_lines bl
      JOIN charges c ON c.practice_id = bl.practice_id AND c.id = bl.charge_id
     WHERE bl.practice_id = $1 AND bl.import_id = $2
), acts AS (
    SELECT l.row_number AS row_no, 'SPLIT' AS kind, r.kind AS receipt_kind, s.amount, r.id, r.received_on AS on_date
      FROM l
      JOIN splits s ON s.practice_id = $1 AND s.charge_id = l.charge_id
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id
     WHERE s.receipt_id IS DISTINCT FROM l.receipt_id
    UNION ALL
    SELECT l.row_number, 'ADJUSTMENT', '', a.amount, a.id, a.service_date
      FROM l
      JOIN charges a ON a.practice_id = $1 AND a.attached_to_id = l.charge_id
    UNION ALL
    SELECT 0, 'CHARGE', '', c.amount, c.id, c.service_date
      FROM (SELECT DISTINCT encounter_id FROM l) e
      JOIN charges c ON c.practice_id = $1 AND c.encounter_id = e.encounter_id
     WHERE c.attached_to_id IS NULL AND NOT EXISTS (SELECT 1 FROM l WHERE l.charge_id = c.id)
)
SELECT row_no, kind, receipt_kind, amount, id, on_date FROM acts ORDER BY row_no, id LIMIT $3`
	var rows []struct {
		RowNo       int                `db:"row_no"`
		Kind        string             `db:"kind"`
		ReceiptKind ledger.ReceiptKind `db:"receipt_kind"`
		Amount      ledger.Money       `db:"amount"`
		ID          ledger.ID          `db:"id"`
		OnDate      ledger.Date        `db:"on_date"`
	}
	if err := s.sel(ctx, &rows, q, practiceID, importID, limit); err != nil {
		return nil, translate(err)
	}
	out := make([]ledger.ImportActivity, len(rows))
	for i, r := range rows {
		out[i] = ledger.ImportActivity{Row: r.RowNo, Kind: r.Kind, ReceiptKind: r.ReceiptKind, Amount: r.Amount, ID: r.ID, Date: r.OnDate}
	}
	return out, nil
}

func (t *txStore) LockBalanceImports(ctx context.Context, practiceID ledger.ID) error {
	const q = `SELECT pg_advisory_xact_lock(hashtextextended('balance_imports/' || $1::text, 0))`
	_, err := t.exec(ctx, q, practiceID)
	return translate(err)
}

func (t *txStore) LockCharges(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) error {
	const q = `SELECT id FROM charges WHERE practice_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE`
	var locked []ledger.ID
	return translate(t.sel(ctx, &locked, q, practiceID, idArray(ids)))
}

// InsertBulk writes an import's rows with COPY. The aging triggers skip
// them: EndBulk builds the practice's maintained aging state once, after the
// transaction's last InsertBulk (aging_bulk_begin, migration 00015).
func (t *txStore) InsertBulk(ctx context.Context, practiceID ledger.ID, b ledger.Bulk) error {
	if _, err := t.exec(ctx, `SELECT aging_bulk_begin($1)`, practiceID); err != nil {
		return translate(err)
	}
	return t.copyBulk(ctx, practiceID, b)
}

// EndBulk rebuilds the practice's maintained aging state from history in
// one pass (aging_bulk_end).
func (t *txStore) EndBulk(ctx context.Context, practiceID ledger.ID) error {
	_, err := t.exec(ctx, `SELECT aging_bulk_end($1)`, practiceID)
	return translate(err)
}

// copyBulk copies b's rows, parents before children.
func (t *txStore) copyBulk(ctx context.Context, practiceID ledger.ID, b ledger.Bulk) error {
	pid := practiceID.String()
	if err := t.copyRows(ctx, practiceID, "guarantors", []string{"practice_id", "id", "name", "external_id", "self_patient_id", "created_at"},
		len(b.Guarantors), func(i int, v []any) {
			r := &b.Guarantors[i]
			v[0], v[1], v[2], v[3], v[4], v[5] = pid, r.ID.String(), r.Name, textOrNull(r.ExternalID), idOrNull(r.SelfPatientID), r.CreatedAt
		}); err != nil {
		return err
	}
	if err := t.copyRows(ctx, practiceID, "patients", []string{"practice_id", "id", "guarantor_id", "first_name", "last_name", "birth_date", "external_id", "created_at"},
		len(b.Patients), func(i int, v []any) {
			r := &b.Patients[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, r.ID.String(), r.GuarantorID.String(), r.FirstName, r.LastName,
				dateOrNull(r.BirthDate), textOrNull(r.ExternalID), r.CreatedAt
		}); err != nil {
		return err
	}
	if err := t.copyRows(ctx, practiceID, "encounters", []string{"practice_id", "id", "patient_id", "provider_id", "location_id", "kind",
		"service_from", "service_to", "note", "created_at"},
		len(b.Encounters), func(i int, v []any) {
			r := &b.Encounters[i]
			v[0], v[1], v[2], v[3], v[4], v[5] = pid, r.ID.String(), r.PatientID.String(), r.ProviderID.String(), r.LocationID.String(), string(r.Kind)
			v[6], v[7], v[8], v[9] = r.ServiceFrom.String(), r.ServiceTo.String(), textOrNull(r.Note), r.CreatedAt
		}); err != nil {
		return err
	}
	if err := t.copyRows(ctx, practiceID, "charges", []string{"practice_id", "id", "encounter_id", "patient_id", "provider_id", "location_id", "kind", "status",
		"code", "service_date", "amount", "insurance_estimate", "attached_to_id", "note", "posted_at"},
		len(b.Charges), func(i int, v []any) {
			r := &b.Charges[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, r.ID.String(), idOrNull(r.EncounterID), r.PatientID.String(),
				idOrNull(r.ProviderID), idOrNull(r.LocationID), string(r.Kind), string(r.Status)
			v[8], v[9], v[10], v[11], v[12], v[13], v[14] = r.Code, r.ServiceDate.String(), r.Amount.String(), r.InsuranceEstimate.String(),
				idOrNull(r.AttachedToID), textOrNull(r.Note), r.PostedAt
		}); err != nil {
		return err
	}
	if err := t.copyRows(ctx, practiceID, "insurance_write_offs", []string{"practice_id", "id", "charge_id", "amount", "written_on", "note", "posted_at"},
		len(b.WriteOffs), func(i int, v []any) {
			r := &b.WriteOffs[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6] = pid, r.ID.String(), r.ChargeID.String(), r.Amount.String(), r.WrittenOn.String(),
				textOrNull(r.Note), r.PostedAt
		}); err != nil {
		return err
	}
	if err := t.copyRows(ctx, practiceID, "receipts", []string{"practice_id", "id", "kind", "amount", "received_on", "patient_id", "method", "reference",
		"note", "batch_id", "reverses_id", "policy_name", "policy_version", "posted_at", "encounter_id"},
		len(b.Receipts), func(i int, v []any) {
			r := &b.Receipts[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6] = pid, r.ID.String(), string(r.Kind), r.Amount.String(), r.ReceivedOn.String(),
				idOrNull(r.PatientID), textOrNull(r.Method)
			v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14] = textOrNull(r.Reference), textOrNull(r.Note), idOrNull(r.BatchID),
				idOrNull(r.ReversesID), textOrNull(r.PolicyName), intOrNull(r.PolicyVersion), r.PostedAt, idOrNull(r.EncounterID)
		}); err != nil {
		return err
	}
	return t.copyRows(ctx, practiceID, "splits", []string{"practice_id", "id", "receipt_id", "amount", "code", "patient_id", "provider_id", "location_id",
		"charge_id", "unearned_type_id"},
		len(b.Splits), func(i int, v []any) {
			r := &b.Splits[i]
			v[0], v[1], v[2], v[3], v[4], v[5] = pid, r.ID.String(), r.ReceiptID.String(), r.Amount.String(), string(r.Code), r.PatientID.String()
			v[6], v[7], v[8], v[9] = idOrNull(r.ProviderID), idOrNull(r.LocationID), idOrNull(r.ChargeID), idOrNull(r.UnearnedTypeID)
		})
}

func (t *txStore) InsertBalanceImport(ctx context.Context, practiceID ledger.ID, imp ledger.BalanceImport) error {
	options, err := json.Marshal(imp.Options)
	if err != nil {
		return fmt.Errorf("balance import options: %w", err)
	}
	const q = `
INSERT INTO balance_imports (practice_id, id, kind, status, file_name, file_sha256, import_date, options, rows_read, rows_posted, rows_skipped,
                             patients_created, guarantors_created, encounters, patient_debits, patient_credits, insurance, key_id, created_at)
VALUES ($1, $2, $19, $3, NULLIF($4, ''), $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
	kind := imp.Kind
	if kind == "" {
		kind = ledger.KindBalanceForward
	}
	_, err = t.exec(ctx, q, practiceID, imp.ID, string(imp.Status), imp.FileName, imp.FileSHA256, imp.ImportDate, string(options),
		imp.RowsRead, imp.RowsPosted, imp.RowsSkipped, imp.PatientsCreated, imp.GuarantorsCreated, imp.Encounters,
		imp.PatientDebits, imp.PatientCredits, imp.Insurance, imp.KeyID, imp.CreatedAt, string(kind))
	return translate(err)
}

func (t *txStore) InsertBalanceImportLines(ctx context.Context, practiceID, importID ledger.ID, lines []ledger.ImportLine) error {
	pid, iid := practiceID.String(), importID.String()
	return t.copyRows(ctx, practiceID, "balance_import_lines", []string{"practice_id", "import_id", "row_number", "row_key", "charge_id", "receipt_id",
		"amount", "responsibility", "negative_production"},
		len(lines), func(i int, v []any) {
			r := &lines[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] = pid, iid, int64(r.Row), r.RowKey, r.ChargeID.String(), idOrNull(r.ReceiptID),
				r.Amount.String(), string(r.Responsibility), r.NegativeProduction
		})
}

func (t *txStore) MarkBalanceImportUndone(ctx context.Context, practiceID, importID ledger.ID, at time.Time, keyID *ledger.ID) error {
	const q = `UPDATE balance_imports SET status = 'UNDONE', undone_at = $3, undone_key_id = $4
	            WHERE practice_id = $1 AND id = $2 AND status = 'COMMITTED'`
	res, err := t.exec(ctx, q, practiceID, importID, at, keyID)
	if err != nil {
		return translate(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: balance import %s is not standing", ledger.ErrConflict, importID)
	}
	const ql = `UPDATE balance_import_lines SET undone = true WHERE practice_id = $1 AND import_id = $2`
	if _, err = t.exec(ctx, ql, practiceID, importID); err != nil {
		return translate(err)
	}
	const qh = `UPDATE history_import_rows SET undone = true WHERE practice_id = $1 AND import_id = $2`
	_, err = t.exec(ctx, qh, practiceID, importID)
	return translate(err)
}

// copyBatch is how many rows one COPY statement (and the INSERT after it)
// carries, so that no statement of a large import runs into the session's
// statement timeout.
var copyBatch = 50_000

// copyRows inserts row(i) for i < n into table (cols) in the transaction,
// then analyzes the table if it grew a lot (see analyzeIfGrown). PostgreSQL
// refuses COPY into a table under row-level security, so the rows are
// copied into a temporary table first and inserted from there, where the
// policy checks each one, copyBatch rows at a time.
func (t *txStore) copyRows(ctx context.Context, pid ledger.ID, table string, cols []string, n int, row func(i int, v []any)) error {
	if n == 0 {
		return nil
	}
	if err := t.tx.enter(ctx, pid); err != nil {
		return translate(err)
	}
	staging := "copy_" + table
	list := strings.Join(cols, ", ")
	q := `DROP TABLE IF EXISTS pg_temp.` + staging + `; CREATE TEMPORARY TABLE ` + staging + ` ON COMMIT DROP AS SELECT ` + list + ` FROM ` + table + ` WITH NO DATA`
	if _, err := t.tx.tx.ExecContext(ctx, q); err != nil {
		return translate(fmt.Errorf("copy %s: %w", table, err))
	}
	vals := make([]any, len(cols))
	for start := 0; start < n; start += copyBatch {
		if start > 0 {
			if _, err := t.tx.tx.ExecContext(ctx, `TRUNCATE `+staging); err != nil {
				return translate(fmt.Errorf("copy %s: %w", table, err))
			}
		}
		if err := t.copyIn(ctx, staging, cols, start, min(n, start+copyBatch), func(i int) []any { row(i, vals); return vals }); err != nil {
			return translate(fmt.Errorf("copy %s: %w", table, err))
		}
		if _, err := t.tx.tx.ExecContext(ctx, `INSERT INTO `+table+` (`+list+`) SELECT `+list+` FROM `+staging); err != nil {
			return translate(fmt.Errorf("copy %s: %w", table, err))
		}
	}
	return t.analyzeIfGrown(ctx, table, n)
}

// copyIn runs one COPY of rows [from, to) into the staging table.
func (t *txStore) copyIn(ctx context.Context, staging string, cols []string, from, to int, row func(i int) []any) error {
	stmt, err := t.tx.tx.PrepareContext(ctx, pq.CopyIn(staging, cols...))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := from; i < to; i++ {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			return err
		}
	}
	_, err = stmt.ExecContext(ctx) // ends the COPY; row errors surface here
	return err
}

// analyzeIfGrown refreshes table's statistics (through paysplit_analyze,
// which runs ANALYZE as the owner) when n new rows are more than a fifth of
// the practice's rows in the table now, so the statements later in the
// transaction do not plan as if the practice had none. The practice's rows
// are the measure, not the table's: in a database of several practices of
// that size, statistics from before the import know nothing of this one,
// and the planner, expecting one row, reconciled a sixth 20,000-row import
// by nested loops for over seven minutes.
func (t *txStore) analyzeIfGrown(ctx context.Context, table string, n int) error {
	if n < 1000 {
		return nil
	}
	var have int // the practice's rows, up to 5n (row-level security shows no other practice's)
	q := `SELECT count(*) FROM (SELECT FROM ` + pq.QuoteIdentifier(table) + ` LIMIT $1) x`
	if err := sqlx.GetContext(ctx, t.tx.tx, &have, q, 5*n); err != nil {
		return translate(err)
	}
	if have >= 5*n {
		return nil
	}
	_, err := t.tx.tx.ExecContext(ctx, `SELECT paysplit_analyze($1)`, table)
	return translate(err)
}

// textOrNull, idOrNull, dateOrNull and intOrNull render optional values for COPY.
func textOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func idOrNull(id *ledger.ID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

func dateOrNull(d *ledger.Date) any {
	if d == nil {
		return nil
	}
	return d.String()
}

func intOrNull(n int) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

// HistoryRefs finds the rows standing history imports posted under old
// ids, with their charge's (or receipt's) patient and the patient's family.
func (s queries) HistoryRefs(ctx context.Context, practiceID ledger.ID, entity string, oldIDs []string) ([]ledger.HistoryRef, error) {
	const q = `
SELECT h.entity, h.old_id, h.import_id, h.ledger_id, coalesce(c.patient_id, r.patient_id) AS patient_id, p.guarantor_id,
       c.provider_id, c.location_id, coalesce(c.status = 'PLANNED', false) AS planned
  FROM history_import_rows h
  LEFT JOIN charges c ON h.entity IN ('procedure', 'adjustment') AND c.practice_id = h.practice_id AND c.id = h.ledger_id
  LEFT JOIN receipts r ON h.entity = 'receipt' AND r.practice_id = h.practice_id AND r.id = h.ledger_id
  LEFT JOIN patients p ON p.practice_id = h.practice_id AND p.id = coalesce(c.patient_id, r.patient_id)
 WHERE h.practice_id = $1 AND h.entity = $2 AND h.old_id = ANY($3::text[]) AND NOT h.undone`
	var rows []ledger.HistoryRef
	return rows, translate(s.sel(ctx, &rows, q, practiceID, entity, pq.Array(oldIDs)))
}

// HistoryFamilies lists the families a history import recorded.
func (s queries) HistoryFamilies(ctx context.Context, practiceID, importID ledger.ID) ([]ledger.HistoryRow, error) {
	const q = `
SELECT entity, old_id, row_number, ledger_id, file_balance, file_total FROM history_import_rows
 WHERE practice_id = $1 AND import_id = $2 AND entity = 'family' ORDER BY row_number`
	var rows []ledger.HistoryRow
	return rows, translate(s.sel(ctx, &rows, q, practiceID, importID))
}

func (t *txStore) InsertHistoryRows(ctx context.Context, practiceID, importID ledger.ID, rows []ledger.HistoryRow) error {
	pid, iid := practiceID.String(), importID.String()
	money := func(m *ledger.Money) any {
		if m == nil {
			return nil
		}
		return m.String()
	}
	return t.copyRows(ctx, practiceID, "history_import_rows", []string{"practice_id", "import_id", "entity", "old_id", "row_number", "ledger_id",
		"file_balance", "file_total"},
		len(rows), func(i int, v []any) {
			r := &rows[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, iid, r.Entity, r.OldID, int64(r.Row), r.LedgerID.String(),
				money(r.FileBalance), money(r.FileTotal)
		})
}

// HistoryImportLedger returns what a history import posted: its charges
// (procedures and adjustments), the write-offs on its procedures that it
// wrote (posted with them), its receipts, and the families of every
// patient it touched.
func (s queries) HistoryImportLedger(ctx context.Context, practiceID, importID ledger.ID) (ledger.HistoryLedger, error) {
	var out ledger.HistoryLedger
	const qc = `SELECT c.id, c.encounter_id, c.patient_id, c.provider_id, c.location_id, c.kind, c.status, c.code, c.service_date,
	       c.amount, c.insurance_estimate, c.attached_to_id, coalesce(c.note, '') AS note, c.posted_at FROM history_import_rows h
	  JOIN charges c ON c.practice_id = h.practice_id AND c.id = h.ledger_id
	 WHERE h.practice_id = $1 AND h.import_id = $2 AND h.entity IN ('procedure', 'adjustment') ORDER BY h.row_number, c.id`
	if err := s.sel(ctx, &out.Charges, qc, practiceID, importID); err != nil {
		return out, translate(err)
	}
	const qw = `SELECT w.id, w.charge_id, w.amount, w.written_on, coalesce(w.note, '') AS note, w.posted_at FROM history_import_rows h
	  JOIN charges c ON c.practice_id = h.practice_id AND c.id = h.ledger_id
	  JOIN insurance_write_offs w ON w.practice_id = h.practice_id AND w.charge_id = c.id AND w.posted_at = c.posted_at
	 WHERE h.practice_id = $1 AND h.import_id = $2 AND h.entity = 'procedure' ORDER BY w.id`
	if err := s.sel(ctx, &out.WriteOffs, qw, practiceID, importID); err != nil {
		return out, translate(err)
	}
	const qr = `SELECT ledger_id FROM history_import_rows WHERE practice_id = $1 AND import_id = $2 AND entity = 'receipt' ORDER BY row_number`
	if err := s.sel(ctx, &out.ReceiptIDs, qr, practiceID, importID); err != nil {
		return out, translate(err)
	}
	const qg = `
SELECT DISTINCT p.guarantor_id FROM (
    SELECT c.patient_id FROM history_import_rows h JOIN charges c ON c.practice_id = h.practice_id AND c.id = h.ledger_id
     WHERE h.practice_id = $1 AND h.import_id = $2 AND h.entity IN ('procedure', 'adjustment')
    UNION
    SELECT s.patient_id FROM history_import_rows h JOIN splits s ON s.practice_id = h.practice_id AND s.receipt_id = h.ledger_id
     WHERE h.practice_id = $1 AND h.import_id = $2 AND h.entity = 'receipt'
) t JOIN patients p ON p.practice_id = $1 AND p.id = t.patient_id ORDER BY 1`
	return out, translate(s.sel(ctx, &out.GuarantorIDs, qg, practiceID, importID))
}

// HistoryImportActivity finds what was posted, since a history import, for
// the patients it touched and is not its own: money (a split), a charge or
// an adjustment, a write-off on its lines.
func (s queries) HistoryImportActivity(ctx context.Context, practiceID, importID ledger.ID, since time.Time, limit int) ([]ledger.ImportActivity, error) {
	const q = `
WITH mine AS MATERIALIZED (
    SELECT ledger_id AS id, entity FROM history_import_rows WHERE practice_id = $1 AND import_id = $2
), pats AS MATERIALIZED (
    SELECT c.patient_id FROM mine JOIN charges c ON c.practice_id = $1 AND c.id = mine.id WHERE mine.entity IN ('procedure', 'adjustment')
    UNION
    SELECT s.patient_id FROM mine JOIN splits s ON s.practice_id = $1 AND s.receipt_id = mine.id WHERE mine.entity = 'receipt'
), acts AS (
    SELECT 'SPLIT' AS kind, r.kind AS receipt_kind, s.amount, r.id, r.received_on AS on_date
      FROM pats JOIN splits s ON s.practice_id = $1 AND s.patient_id = pats.patient_id
      JOIN receipts r ON r.practice_id = $1 AND r.id = s.receipt_id
     WHERE r.posted_at >= $3 AND r.id NOT IN (SELECT id FROM mine)
    UNION ALL
    SELECT 'CHARGE', '', c.amount, c.id, c.service_date
      FROM pats JOIN charges c ON c.practice_id = $1 AND c.patient_id = pats.patient_id
     WHERE c.posted_at >= $3 AND c.id NOT IN (SELECT id FROM mine)
    UNION ALL
    SELECT 'ADJUSTMENT', '', w.amount, w.id, w.written_on
      FROM mine JOIN insurance_write_offs w ON w.practice_id = $1 AND w.charge_id = mine.id
      JOIN charges c ON c.practice_id = $1 AND c.id = mine.id
     WHERE w.posted_at <> c.posted_at
)
SELECT kind, receipt_kind, amount, id, on_date FROM acts ORDER BY on_date, id LIMIT $4`
	var rows []struct {
		Kind        string             `db:"kind"`
		ReceiptKind ledger.ReceiptKind `db:"receipt_kind"`
		Amount      ledger.Money       `db:"amount"`
		ID          ledger.ID          `db:"id"`
		OnDate      ledger.Date        `db:"on_date"`
	}
	if err := s.sel(ctx, &rows, q, practiceID, importID, since, limit); err != nil {
		return nil, translate(err)
	}
	out := make([]ledger.ImportActivity, len(rows))
	for i, r := range rows {
		out[i] = ledger.ImportActivity{Kind: r.Kind, ReceiptKind: r.ReceiptKind, Amount: r.Amount, ID: r.ID, Date: r.OnDate}
	}
	return out, nil
}
