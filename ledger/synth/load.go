package synth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// ErrLoaded is returned by Load when the practice is already in the
// database (the same seed, size and as-of date were loaded before).
var ErrLoaded = errors.New("synth: this practice is already loaded")

// LoadStats says where a load spent its time.
type LoadStats struct {
	Tables  []TableStats
	Commit  time.Duration // the deferred checks (each receipt's splits sum to its amount) run here
	Analyze time.Duration // Load's after the commit; LoadCopies's in the transaction (AgingAnalyzedRebuilt)
	Total   time.Duration
}

// TableStats is the COPY of one table.
type TableStats struct {
	Table string
	Rows  int
	Time  time.Duration // rendering the rows, the COPY and its row-level checks
}

// Load writes p into db, a database migrated to the latest schema, in one
// transaction (LoadCopies of Copies(p)): every table with COPY FROM STDIN,
// so the constraints, foreign keys and ledger triggers check every row as
// they would any other write; the maintained aging state is built once at
// the end, as an import's is. It then analyzes the tables, the aging
// state's included, so the planner knows their new sizes (without, it reads
// one family's aging through the practice's open lines). db must use the
// lib/pq driver (its COPY protocol support).
func Load(ctx context.Context, db *sql.DB, p *Practice) (LoadStats, error) {
	t0 := time.Now()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM practices WHERE id = $1)`, p.Practice.ID).Scan(&exists); err != nil {
		return LoadStats{}, fmt.Errorf("synth: %w", err)
	}
	if exists {
		return LoadStats{}, fmt.Errorf("%w: practice %s", ErrLoaded, p.Practice.ID)
	}
	st, err := LoadCopies(ctx, db, p.Practice.ID, Copies(p), AgingRebuilt)
	if err != nil {
		return st, err
	}
	t := time.Now()
	const analyze = `ANALYZE providers, locations, guarantors, patients, encounters, charges, receipts, splits, aging_lines, aging_credits`
	if _, err := db.ExecContext(ctx, analyze); err != nil {
		return st, fmt.Errorf("synth: %w", err)
	}
	st.Analyze = time.Since(t)
	st.Total = time.Since(t0)
	return st, nil
}

// Aging says what LoadCopies does about the practice's maintained aging
// state (migration 00015). Its triggers skip the COPYed rows whatever it
// is (aging_bulk_begin).
type Aging int

const (
	// AgingLeft leaves the state as it was, not following the rows: only a
	// benchmark's floor (what the COPYs alone cost) may do that.
	AgingLeft Aging = iota
	// AgingRebuilt rebuilds the practice's state in one pass before the
	// commit (aging_bulk_end), as a bulk load must to leave the ledger
	// consistent.
	AgingRebuilt
	// AgingAnalyzedRebuilt analyzes the tables COPYed into first, in the
	// transaction (as an import does with a table it grew), so that the
	// rebuild plans with their new sizes, then rebuilds the state.
	AgingAnalyzedRebuilt
)

// LoadCopies COPYs cs, in order, into the ledger's own tables of db in one
// transaction, with every key, check, foreign key and trigger of the schema,
// the deferred checks running at the commit; aging says what becomes of
// the practice's maintained aging state.
func LoadCopies(ctx context.Context, db *sql.DB, practiceID ledger.ID, cs []Copy, aging Aging) (LoadStats, error) {
	t0 := time.Now()
	var st LoadStats
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("synth: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT aging_bulk_begin($1)`, practiceID); err != nil {
		return st, fmt.Errorf("synth: %w", err)
	}
	if st.Tables, err = copyTables(ctx, tx, cs); err != nil {
		return st, err
	}
	if aging == AgingAnalyzedRebuilt {
		t := time.Now()
		tables := make([]string, len(cs))
		for i, c := range cs {
			tables[i] = c.Table
		}
		if _, err := tx.ExecContext(ctx, `ANALYZE `+strings.Join(tables, ", ")); err != nil {
			return st, fmt.Errorf("synth: %w", err)
		}
		st.Analyze = time.Since(t)
	}
	if aging != AgingLeft {
		t := time.Now()
		if _, err := tx.ExecContext(ctx, `SELECT aging_bulk_end($1)`, practiceID); err != nil { // the maintained aging state, in one pass
			return st, fmt.Errorf("synth: aging state: %w", err)
		}
		st.Tables = append(st.Tables, TableStats{Table: "aging state", Rows: rowsOf(cs, "charges"), Time: time.Since(t)})
	}
	t := time.Now()
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("synth: commit: %w", err)
	}
	st.Commit = time.Since(t)
	st.Total = time.Since(t0)
	return st, nil
}

// CopyAll COPYs cs, in order, into db in one transaction, and nothing else:
// for tables outside the ledger (the benchmarks' bare tables).
func CopyAll(ctx context.Context, db *sql.DB, cs []Copy) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := copyTables(ctx, tx, cs); err != nil {
		return err
	}
	return tx.Commit()
}

// copyTables COPYs cs, in order, in tx and says how long each took.
func copyTables(ctx context.Context, tx *sql.Tx, cs []Copy) ([]TableStats, error) {
	var st []TableStats
	for _, c := range cs {
		t := time.Now()
		if err := CopyRows(ctx, tx, c); err != nil {
			return st, err
		}
		st = append(st, TableStats{Table: c.Table, Rows: c.Len, Time: time.Since(t)})
	}
	return st, nil
}

// rowsOf is how many rows cs COPYs into table.
func rowsOf(cs []Copy, table string) int {
	n := 0
	for _, c := range cs {
		if c.Table == table {
			n += c.Len
		}
	}
	return n
}

// Copy is one table's rows for COPY: Row(i) renders the i-th row's values
// in Columns order, as text or nil for NULL.
type Copy struct {
	Table   string
	Columns string // "practice_id, id, ..."
	Len     int
	Row     func(i int, vals []any)
	Width   int // number of columns
}

// CopyRows runs COPY table (columns) FROM STDIN in tx and sends every row of c.
func CopyRows(ctx context.Context, tx *sql.Tx, c Copy) error {
	stmt, err := tx.PrepareContext(ctx, `COPY `+c.Table+` (`+c.Columns+`) FROM STDIN`)
	if err != nil {
		return fmt.Errorf("synth: copy %s: %w", c.Table, err)
	}
	defer stmt.Close()
	vals := make([]any, c.Width)
	for i := range c.Len {
		c.Row(i, vals)
		if _, err := stmt.ExecContext(ctx, vals...); err != nil {
			return fmt.Errorf("synth: copy %s row %d: %w", c.Table, i, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil { // ends the COPY; row errors surface here
		return fmt.Errorf("synth: copy %s: %w", c.Table, err)
	}
	return nil
}

// Copies lists p's tables in the order they load (parents before children,
// the practice row first). The text forms are those PostgreSQL reads for
// each column type.
func Copies(p *Practice) []Copy {
	pid := p.Practice.ID.String()
	return []Copy{
		{Table: "practices", Columns: "id, name, require_batch, created_at", Width: 4, Len: 1,
			Row: func(_ int, v []any) {
				v[0], v[1], v[2], v[3] = pid, p.Practice.Name, fmt.Sprint(p.Practice.RequireBatch), stamp(p.Practice.CreatedAt)
			}},
		{Table: "unearned_types", Columns: "practice_id, id, name, hidden, is_default, is_treatment_plan", Width: 6, Len: len(p.UnearnedTypes),
			Row: func(i int, v []any) {
				u := &p.UnearnedTypes[i]
				v[0], v[1], v[2], v[3], v[4], v[5] = pid, u.ID.String(), u.Name, fmt.Sprint(u.Hidden), fmt.Sprint(u.IsDefault), fmt.Sprint(u.IsTreatmentPlan)
			}},
		{Table: "providers", Columns: "practice_id, id, name, code, created_at", Width: 5, Len: len(p.Providers),
			Row: func(i int, v []any) {
				r := &p.Providers[i]
				v[0], v[1], v[2], v[3], v[4] = pid, r.ID.String(), r.Name, text(r.Code), stamp(r.CreatedAt)
			}},
		{Table: "locations", Columns: "practice_id, id, name, code, created_at", Width: 5, Len: len(p.Locations),
			Row: func(i int, v []any) {
				r := &p.Locations[i]
				v[0], v[1], v[2], v[3], v[4] = pid, r.ID.String(), r.Name, text(r.Code), stamp(r.CreatedAt)
			}},
		{Table: "guarantors", Columns: "practice_id, id, name, external_id, self_patient_id, created_at", Width: 6, Len: len(p.Guarantors),
			Row: func(i int, v []any) {
				r := &p.Guarantors[i]
				v[0], v[1], v[2], v[3], v[4], v[5] = pid, r.ID.String(), r.Name, text(r.ExternalID), id(r.SelfPatientID), stamp(r.CreatedAt)
			}},
		{Table: "patients", Columns: "practice_id, id, guarantor_id, first_name, last_name, birth_date, external_id, created_at", Width: 8, Len: len(p.Patients),
			Row: func(i int, v []any) {
				r := &p.Patients[i]
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, r.ID.String(), r.GuarantorID.String(), r.FirstName, r.LastName,
					date(r.BirthDate), text(r.ExternalID), stamp(r.CreatedAt)
			}},
		{Table: "encounters", Columns: "practice_id, id, patient_id, provider_id, location_id, kind, service_from, service_to, note, created_at", Width: 10, Len: len(p.Encounters),
			Row: func(i int, v []any) {
				r := &p.Encounters[i]
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9] = pid, r.ID.String(), r.PatientID.String(), r.ProviderID.String(),
					r.LocationID.String(), string(r.Kind), r.ServiceFrom.String(), r.ServiceTo.String(), text(r.Note), stamp(r.CreatedAt)
			}},
		{Table: "charges", Columns: "practice_id, id, encounter_id, patient_id, provider_id, location_id, kind, status, code, service_date, amount, insurance_estimate, attached_to_id, note, posted_at",
			Width: 15, Len: len(p.Charges),
			Row: func(i int, v []any) {
				r := &p.Charges[i]
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = pid, r.ID.String(), id(r.EncounterID), r.PatientID.String(), id(r.ProviderID),
					id(r.LocationID), string(r.Kind), string(r.Status)
				v[8], v[9], v[10], v[11], v[12], v[13], v[14] = r.Code, r.ServiceDate.String(), r.Amount.String(), r.InsuranceEstimate.String(),
					id(r.AttachedToID), text(r.Note), stamp(r.PostedAt)
			}},
		{Table: "receipts", Columns: "practice_id, id, kind, amount, received_on, patient_id, method, reference, note, batch_id, reverses_id, posted_at",
			Width: 12, Len: len(p.Receipts),
			Row: func(i int, v []any) {
				r := &p.Receipts[i]
				v[0], v[1], v[2], v[3], v[4], v[5] = pid, r.ID.String(), string(r.Kind), r.Amount.String(), r.ReceivedOn.String(), id(r.PatientID)
				v[6], v[7], v[8], v[9], v[10], v[11] = text(r.Method), text(r.Reference), text(r.Note), id(r.BatchID), id(r.ReversesID), stamp(r.PostedAt)
			}},
		{Table: "splits", Columns: "practice_id, id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id",
			Width: 10, Len: len(p.Splits),
			Row: func(i int, v []any) {
				r := &p.Splits[i]
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9] = pid, r.ID.String(), r.ReceiptID.String(), r.Amount.String(),
					string(r.Code), r.PatientID.String(), id(r.ProviderID), id(r.LocationID), id(r.ChargeID), id(r.UnearnedTypeID)
			}},
	}
}

// text is an optional text column: empty is NULL.
func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// id is an optional uuid column.
func id(p *ledger.ID) any {
	if p == nil {
		return nil
	}
	return p.String()
}

// date is an optional date column.
func date(d *ledger.Date) any {
	if d == nil {
		return nil
	}
	return d.String()
}

// stamp is a timestamptz in UTC to the microsecond.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") }

// CopyTextTable creates table with columns, every one of type text and
// nothing else (no keys, indexes or constraints): the raw-COPY baseline the
// import benchmarks compare with.
func CopyTextTable(ctx context.Context, db *sql.DB, table string, columns []string) error {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = pq.QuoteIdentifier(c) + " text"
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE `+pq.QuoteIdentifier(table)+` (`+strings.Join(cols, ", ")+`)`)
	return err
}

// CopyRecords COPYs text records into table's columns in one transaction.
func CopyRecords(ctx context.Context, db *sql.DB, table string, columns []string, records [][]string) error {
	c := Copy{Table: table, Columns: strings.Join(columns, ", "), Width: len(columns), Len: len(records),
		Row: func(i int, v []any) {
			for j, f := range records[i] {
				v[j] = f
			}
		}}
	return CopyAll(ctx, db, []Copy{c})
}
