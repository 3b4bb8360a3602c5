package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"
	"github.com/jmoiron/sqlx/reflectx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// Store implements ledger.Store over PostgreSQL.
type Store struct{ queries }

var _ ledger.Store = (*Store)(nil)

// NewStore returns a Store over db. It sets db's column mapper so that
// ledger structs scan by field name (PatientID ↔ patient_id).
func NewStore(db *sqlx.DB) *Store {
	db.Mapper = reflectx.NewMapperFunc("db", snakeCase)
	return &Store{queries{pool: newPool(db)}}
}

// DB returns the underlying pool.
func (s *Store) DB() *sqlx.DB { return s.pool.db }

// snakeCase maps Go field names to column names: PatientID → patient_id.
func snakeCase(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// InTx runs fn in a read-committed transaction. Family locks (LockFamilies)
// serialise writers on the same family. The transaction takes its
// connection at its first statement, whose practice it counts against
// (pool.go).
func (s *Store) InTx(ctx context.Context, fn func(ledger.Tx) error) error {
	t := &tenantTx{pool: s.pool}
	defer t.end(false) // rolls back unless committed, panics included
	if err := fn(&txStore{queries{tx: t}}); err != nil {
		return translate(err)
	}
	return translate(t.end(true))
}

func (s *Store) APIKey(ctx context.Context, practiceID, keyID ledger.ID) (ledger.APIKey, error) {
	const q = `SELECT practice_id, id, name, role, secret_hash, created_at, last_used_at, revoked_at
	             FROM api_keys WHERE practice_id = $1 AND id = $2`
	var k ledger.APIKey
	if err := s.get(ctx, &k, q, practiceID, keyID); err != nil {
		return k, notFound(err, "api key")
	}
	return k, nil
}

func (s *Store) TouchAPIKey(ctx context.Context, practiceID, keyID ledger.ID, t time.Time) error {
	const q = `UPDATE api_keys SET last_used_at = $3 WHERE practice_id = $1 AND id = $2`
	_, err := s.exec(ctx, q, practiceID, keyID, t)
	return translate(err)
}

// txStore is the Store inside a transaction.
type txStore struct{ queries }

var _ ledger.Tx = (*txStore)(nil)

// queries holds the reads, shared by Store and txStore. Every statement
// runs as AppRole with app.practice_id set to the practice it is for, so the
// row-level security policies (migrations/00007_rls.sql) hide every other
// practice's rows even from a statement that forgets its own filter. In a
// Store, each statement runs in a transaction of its own; in a txStore, in
// the transaction. Either way the connection comes from the pool through
// tenantTx.begin, bounded in time and per practice (pool.go).
type queries struct {
	pool *pool     // Store
	tx   *tenantTx // txStore
}

// AppRole is the role the service's statements run as: it owns nothing, and
// the row-level security policies restrict it to one practice at a time.
const AppRole = "paysplit_app"

// tenantTx is a transaction and the practice its statements are scoped to.
// It begins at its first statement (enter), on a connection taken for that
// statement's practice.
type tenantTx struct {
	pool     *pool
	tx       *sqlx.Tx // nil until begun, and again once ended
	release  func()   // gives the connection and the practice's slot back
	practice ledger.ID
	entered  bool
}

// begin takes a connection for practice pid and begins the transaction.
func (t *tenantTx) begin(ctx context.Context, pid ledger.ID) error {
	conn, release, err := t.pool.acquire(ctx, &pid)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		release()
		return fmt.Errorf("begin: %w", err)
	}
	t.tx, t.release = tx, release
	return nil
}

// end commits (or rolls back) the transaction if it began, and gives its
// connection back; it does nothing once ended.
func (t *tenantTx) end(commit bool) error {
	if t.tx == nil {
		return nil
	}
	tx := t.tx
	t.tx = nil
	defer t.release()
	if commit {
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	return tx.Rollback()
}

// enter scopes the rest of the transaction to practice pid: one statement,
// made only when the practice changes. The first one begins the
// transaction. Under ledger.WithKeyCheck, the same statement checks that
// the request's key still stands (paysplit_key_stands, migration 00018).
func (t *tenantTx) enter(ctx context.Context, pid ledger.ID) error {
	if t.entered && t.practice == pid {
		return nil
	}
	if t.tx == nil {
		if err := t.begin(ctx, pid); err != nil {
			return err
		}
	}
	const q = `SELECT set_config('role', '` + AppRole + `', true), set_config('app.practice_id', $1, true),
       paysplit_key_stands($1::uuid, $2::uuid)`
	var key *ledger.ID
	if a, ok := ledger.KeyToCheck(ctx); ok && a.PracticeID == pid {
		key = &a.KeyID
	}
	if _, err := t.tx.ExecContext(ctx, prepared(q), pid.String(), key); err != nil {
		return fmt.Errorf("scope the transaction to practice %s: %w", pid, err)
	}
	t.practice, t.entered = pid, true
	return nil
}

// in runs fn with statements scoped to practice pid.
func (s queries) in(ctx context.Context, pid ledger.ID, fn func(q sqlx.ExtContext) error) error {
	if s.tx != nil {
		if err := s.tx.enter(ctx, pid); err != nil {
			return err
		}
		return fn(s.tx.tx)
	}
	t := &tenantTx{pool: s.pool}
	defer t.end(false) // rolls back unless committed
	if err := t.enter(ctx, pid); err != nil {
		return err
	}
	if err := fn(t.tx); err != nil {
		return err
	}
	return t.end(true)
}

// sel, get and exec are sqlx's SelectContext and GetContext and ExecContext
// scoped to practice pid, which is also the statement's $1.
func (s queries) sel(ctx context.Context, dest any, q string, pid ledger.ID, args ...any) error {
	return s.in(ctx, pid, func(db sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, db, dest, q, append([]any{pid}, args...)...)
	})
}

func (s queries) get(ctx context.Context, dest any, q string, pid ledger.ID, args ...any) error {
	return s.in(ctx, pid, func(db sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, db, dest, q, append([]any{pid}, args...)...)
	})
}

func (s queries) exec(ctx context.Context, q string, pid ledger.ID, args ...any) (res sql.Result, err error) {
	err = s.in(ctx, pid, func(db sqlx.ExtContext) error {
		res, err = db.ExecContext(ctx, q, append([]any{pid}, args...)...)
		return err
	})
	return res, err
}

// idArray passes ids as a uuid[] parameter.
func idArray(ids []ledger.ID) any {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return pq.Array(s)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ledger.ErrNotFound)
	}
	return translate(err)
}

func (s queries) Practice(ctx context.Context, id ledger.ID) (ledger.Practice, error) {
	const q = `SELECT id, name, require_batch, prepay_allowed_for_tp_procs AS pre_pay_allowed_for_tp_procs,
	                  balances_dont_subtract_ins, created_at FROM practices WHERE id = $1`
	var p ledger.Practice
	if err := s.get(ctx, &p, prepared(q), id); err != nil {
		return p, notFound(err, "practice")
	}
	return p, nil
}

func (s queries) Providers(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Provider, error) {
	const q = `SELECT id, name, coalesce(code, '') AS code, created_at FROM providers
	            WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Provider
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

func (s queries) Locations(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Location, error) {
	const q = `SELECT id, name, coalesce(code, '') AS code, created_at FROM locations
	            WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Location
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

// NodeKind names the kind of the practice's object with this id
// (ledger.NodeKinds), or is ErrNotFound.
func (s queries) NodeKind(ctx context.Context, practiceID, id ledger.ID) (string, error) {
	const q = `SELECT 'Guarantor' FROM guarantors WHERE practice_id = $1 AND id = $2
	           UNION ALL SELECT 'Patient' FROM patients WHERE practice_id = $1 AND id = $2
	           UNION ALL SELECT 'Encounter' FROM encounters WHERE practice_id = $1 AND id = $2
	           UNION ALL SELECT 'Charge' FROM charges WHERE practice_id = $1 AND id = $2
	           UNION ALL SELECT 'Receipt' FROM receipts WHERE practice_id = $1 AND id = $2
	           LIMIT 1`
	var kind string
	if err := s.get(ctx, &kind, q, practiceID, id); err != nil {
		return "", notFound(err, "object")
	}
	return kind, nil
}

const guarantorColumns = `id, name, coalesce(external_id, '') AS external_id, self_patient_id, created_at`

func (s queries) Guarantors(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Guarantor, error) {
	const q = `SELECT ` + guarantorColumns + ` FROM guarantors WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Guarantor
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID, idArray(ids)))
}

const patientColumns = `id, guarantor_id, first_name, last_name, birth_date, coalesce(external_id, '') AS external_id, created_at`

func (s queries) Patients(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Patient, error) {
	const q = `SELECT ` + patientColumns + ` FROM patients WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Patient
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID, idArray(ids)))
}

func (s queries) PatientsOfGuarantors(ctx context.Context, practiceID ledger.ID, guarantorIDs []ledger.ID) ([]ledger.Patient, error) {
	const q = `SELECT ` + patientColumns + ` FROM patients
	            WHERE practice_id = $1 AND guarantor_id = ANY($2::uuid[])
	            ORDER BY guarantor_id, lower(last_name), lower(first_name), id`
	var rows []ledger.Patient
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID, idArray(guarantorIDs)))
}

const encounterColumns = `id, patient_id, provider_id, location_id, kind, service_from, service_to, coalesce(note, '') AS note, created_at`

func (s queries) Encounters(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Encounter, error) {
	const q = `SELECT ` + encounterColumns + ` FROM encounters WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Encounter
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

func (s queries) EncountersOfPatients(ctx context.Context, practiceID ledger.ID, patientIDs []ledger.ID) ([]ledger.Encounter, error) {
	const q = `SELECT ` + encounterColumns + ` FROM encounters
	            WHERE practice_id = $1 AND patient_id = ANY($2::uuid[])
	            ORDER BY patient_id, service_from, id`
	var rows []ledger.Encounter
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(patientIDs)))
}

const chargeColumns = `id, encounter_id, patient_id, provider_id, location_id, kind, status, code, service_date,
	amount, insurance_estimate, attached_to_id, coalesce(note, '') AS note, posted_at`

func (s queries) Charges(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Charge, error) {
	const q = `SELECT ` + chargeColumns + ` FROM charges WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Charge
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID, idArray(ids)))
}

func (s queries) ChargesOfEncounters(ctx context.Context, practiceID ledger.ID, encounterIDs []ledger.ID) ([]ledger.Charge, error) {
	const q = `SELECT ` + chargeColumns + ` FROM charges
	            WHERE practice_id = $1 AND encounter_id = ANY($2::uuid[])
	            ORDER BY encounter_id, service_date, id`
	var rows []ledger.Charge
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(encounterIDs)))
}

func (s queries) ChargesOfPatients(ctx context.Context, practiceID ledger.ID, patientIDs []ledger.ID) ([]ledger.Charge, error) {
	const q = `SELECT ` + chargeColumns + ` FROM charges
	            WHERE practice_id = $1 AND patient_id = ANY($2::uuid[])
	            ORDER BY patient_id, service_date, id`
	var rows []ledger.Charge
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(patientIDs)))
}

func (s queries) AdjustmentsOf(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) ([]ledger.Charge, error) {
	const q = `SELECT ` + chargeColumns + ` FROM charges
	            WHERE practice_id = $1 AND attached_to_id = ANY($2::uuid[])
	            ORDER BY attached_to_id, service_date, id`
	var rows []ledger.Charge
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)))
}

func (s queries) ProvidersOfPractice(ctx context.Context, practiceID ledger.ID) ([]ledger.Provider, error) {
	const q = `SELECT id, name, coalesce(code, '') AS code, created_at FROM providers WHERE practice_id = $1 ORDER BY name, id`
	var rows []ledger.Provider
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID))
}

func (s queries) LocationsOfPractice(ctx context.Context, practiceID ledger.ID) ([]ledger.Location, error) {
	const q = `SELECT id, name, coalesce(code, '') AS code, created_at FROM locations WHERE practice_id = $1 ORDER BY name, id`
	var rows []ledger.Location
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID))
}

const receiptColumns = `id, kind, amount, received_on, patient_id, coalesce(method, '') AS method,
	coalesce(reference, '') AS reference, coalesce(note, '') AS note, batch_id, reverses_id,
	coalesce(policy_name, '') AS policy_name, coalesce(policy_version, 0) AS policy_version, posted_at, encounter_id`

func (s queries) Receipts(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Receipt, error) {
	const q = `SELECT ` + receiptColumns + ` FROM receipts WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Receipt
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

func (s queries) ReversalsOf(ctx context.Context, practiceID ledger.ID, receiptIDs []ledger.ID) (map[ledger.ID]ledger.ID, error) {
	const q = `SELECT reverses_id AS orig, id AS rev FROM receipts WHERE practice_id = $1 AND reverses_id = ANY($2::uuid[])`
	var rows []struct{ Orig, Rev ledger.ID }
	if err := s.sel(ctx, &rows, q, practiceID, idArray(receiptIDs)); err != nil {
		return nil, translate(err)
	}
	out := make(map[ledger.ID]ledger.ID, len(rows))
	for _, r := range rows {
		out[r.Orig] = r.Rev
	}
	return out, nil
}

func (s queries) Batches(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Batch, error) {
	const q = `SELECT id, name, opened_on, closed_at, created_at FROM batches WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.Batch
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

func (s queries) UnearnedTypes(ctx context.Context, practiceID ledger.ID) ([]ledger.UnearnedType, error) {
	const q = `SELECT id, name, hidden, is_default, is_treatment_plan FROM unearned_types WHERE practice_id = $1 ORDER BY name, id`
	var rows []ledger.UnearnedType
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID))
}

func (s queries) InsuranceWriteOffs(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.InsuranceWriteOff, error) {
	const q = `SELECT id, charge_id, amount, written_on, coalesce(note, '') AS note, posted_at
	             FROM insurance_write_offs WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.InsuranceWriteOff
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

const splitColumns = `id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id`

func (s queries) SplitsOfCharges(ctx context.Context, practiceID ledger.ID, chargeIDs []ledger.ID) ([]ledger.Split, error) {
	const q = `SELECT ` + splitColumns + ` FROM splits
	            WHERE practice_id = $1 AND charge_id = ANY($2::uuid[]) ORDER BY charge_id, id`
	var rows []ledger.Split
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(chargeIDs)))
}

func (s queries) SplitsOfReceipts(ctx context.Context, practiceID ledger.ID, receiptIDs []ledger.ID) ([]ledger.Split, error) {
	const q = `SELECT ` + splitColumns + ` FROM splits
	            WHERE practice_id = $1 AND receipt_id = ANY($2::uuid[]) ORDER BY receipt_id, id`
	var rows []ledger.Split
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(receiptIDs)))
}

func (s queries) SplitsOfPatients(ctx context.Context, practiceID ledger.ID, patientIDs []ledger.ID) ([]ledger.Split, error) {
	const q = `SELECT ` + splitColumns + ` FROM splits
	            WHERE practice_id = $1 AND patient_id = ANY($2::uuid[]) ORDER BY patient_id, id`
	var rows []ledger.Split
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(patientIDs)))
}

// CountPractices counts the practices in the database (an operator task:
// it crosses tenants).
func (s *Store) CountPractices(ctx context.Context) (int, error) {
	conn, release, err := s.pool.acquire(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer release()
	var n int
	err = conn.GetContext(ctx, &n, `SELECT paysplit_practice_count()`)
	return n, translate(err)
}
