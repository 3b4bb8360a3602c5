package postgres

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// Runs: the runs table, each family's result, the families still to do, and
// the session lock that says a server is running a run.

const runColumns = `id, kind, coalesce(method, '') AS method, preview, status, request, all_families,
	CASE WHEN all_families THEN '{}' ELSE guarantor_ids END::text[] AS guarantor_ids, policy_name, policy_version,
	as_of, families_total, families_done, families_changed, families_skipped, families_failed, receipts,
	credits_found, amount_moved, credits_left, cancel_requested, attempts, coalesce(error, '') AS error,
	created_by, created_at, updated_at, finished_at`

// runRow is a runs row as scanned.
type runRow struct {
	ID              ledger.ID      `db:"id"`
	Kind            string         `db:"kind"`
	Method          string         `db:"method"`
	Preview         bool           `db:"preview"`
	Status          string         `db:"status"`
	Request         []byte         `db:"request"`
	AllFamilies     bool           `db:"all_families"`
	GuarantorIDs    pq.StringArray `db:"guarantor_ids"` // the families named; empty for all families
	PolicyName      string         `db:"policy_name"`
	PolicyVersion   int            `db:"policy_version"`
	AsOf            ledger.Date    `db:"as_of"`
	FamiliesTotal   int            `db:"families_total"`
	FamiliesDone    int            `db:"families_done"`
	FamiliesChanged int            `db:"families_changed"`
	FamiliesSkipped int            `db:"families_skipped"`
	FamiliesFailed  int            `db:"families_failed"`
	Receipts        int            `db:"receipts"`
	CreditsFound    ledger.Money   `db:"credits_found"`
	AmountMoved     ledger.Money   `db:"amount_moved"`
	CreditsLeft     ledger.Money   `db:"credits_left"`
	CancelRequested bool           `db:"cancel_requested"`
	Attempts        int            `db:"attempts"`
	Error           string         `db:"error"`
	CreatedBy       *ledger.ID     `db:"created_by"`
	CreatedAt       time.Time      `db:"created_at"`
	UpdatedAt       time.Time      `db:"updated_at"`
	FinishedAt      *time.Time     `db:"finished_at"`
	SortKey         string         `db:"sort_key"`
}

func (r runRow) run() (ledger.Run, error) {
	out := ledger.Run{ID: r.ID, Kind: ledger.RunKind(r.Kind), Method: ledger.BalanceMethod(r.Method), Preview: r.Preview,
		Status: ledger.RunStatus(r.Status), Request: r.Request, AsOf: r.AsOf, AllFamilies: r.AllFamilies,
		Policy:        ledger.PolicyRef{Name: r.PolicyName, Version: r.PolicyVersion},
		FamiliesTotal: r.FamiliesTotal, FamiliesDone: r.FamiliesDone, FamiliesChanged: r.FamiliesChanged,
		FamiliesSkipped: r.FamiliesSkipped, FamiliesFailed: r.FamiliesFailed, Receipts: r.Receipts,
		CreditsFound: r.CreditsFound, AmountMoved: r.AmountMoved, CreditsLeft: r.CreditsLeft,
		CancelRequested: r.CancelRequested, Attempts: r.Attempts, Error: r.Error, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt}
	out.Policy.Builtin = isBuiltin(r.PolicyName)
	var err error
	if out.GuarantorIDs, err = parseIDs(r.GuarantorIDs); err != nil {
		return ledger.Run{}, err
	}
	return out, nil
}

// isBuiltin reports whether a policy name is one of the built-ins, which no
// practice may save (policies_name_not_builtin).
func isBuiltin(name string) bool {
	switch name {
	case "fifo", "rigorous", "same-guarantor", "additional-patient":
		return true
	}
	return false
}

func parseIDs(ss []string) ([]ledger.ID, error) {
	out := make([]ledger.ID, len(ss))
	for i, s := range ss {
		id, err := ledger.ParseID(s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

func (s queries) Runs(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.Run, error) {
	const q = `SELECT ` + runColumns + `, '' AS sort_key FROM runs WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []runRow
	if err := s.sel(ctx, &rows, q, practiceID, idArray(ids)); err != nil {
		return nil, translate(err)
	}
	out := make([]ledger.Run, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = r.run(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListRuns lists runs newest first (created_at, then id, descending).
func (s queries) ListRuns(ctx context.Context, practiceID ledger.ID, f ledger.RunFilter, p ledger.Page) (ledger.Paged[ledger.Run], error) {
	const filter = `
  FROM runs
 WHERE practice_id = $1
   AND ($2 = '' OR kind = $2)
   AND ($3 = '' OR status = $3)`
	const sortKey = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`
	const q = `SELECT ` + runColumns + `, ` + sortKey + ` AS sort_key` + filter + `
   AND ($4::text IS NULL OR (` + sortKey + `, id) < ($4, $5::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $6`
	var rows []runRow
	after, afterID := cursorArgs(p.After)
	args := []any{practiceID, string(f.Kind), string(f.Status)}
	if err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, db, &rows, q, append(args, after, afterID, p.First+1)...)
	}); err != nil {
		return ledger.Paged[ledger.Run]{}, translate(err)
	}
	var out ledger.Paged[ledger.Run]
	for i, r := range rows {
		if i == p.First {
			out.HasNext = true
			break
		}
		run, err := r.run()
		if err != nil {
			return ledger.Paged[ledger.Run]{}, err
		}
		out.Rows, out.Cursors = append(out.Rows, run), append(out.Cursors, ledger.Cursor{Key: r.SortKey, ID: r.ID})
	}
	err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, db, &out.Total, `SELECT count(*)`+filter, args...)
	})
	return out, translate(err)
}

// runFamilyRow is a run_families row as scanned.
type runFamilyRow struct {
	GuarantorID  ledger.ID      `db:"guarantor_id"`
	Status       string         `db:"status"`
	CreditsFound ledger.Money   `db:"credits_found"`
	AmountMoved  ledger.Money   `db:"amount_moved"`
	CreditsLeft  ledger.Money   `db:"credits_left"`
	ReceiptIDs   pq.StringArray `db:"receipt_ids"`
	Reason       string         `db:"reason"`
	Detail       []byte         `db:"detail"`
}

// ListRunFamilies lists a run's family results in guarantor id order.
func (s queries) ListRunFamilies(ctx context.Context, practiceID, runID ledger.ID, f ledger.RunFamilyFilter, p ledger.Page) (ledger.Paged[ledger.RunFamily], error) {
	const filter = `
  FROM run_families
 WHERE practice_id = $1 AND run_id = $2
   AND ($3 = '' OR status = $3)`
	const q = `SELECT guarantor_id, status, credits_found, amount_moved, credits_left, receipt_ids, coalesce(reason, '') AS reason,
       detail` + filter + `
   AND ($4::uuid IS NULL OR guarantor_id > $4)
 ORDER BY guarantor_id
 LIMIT $5`
	var after *ledger.ID
	if p.After != nil {
		after = &p.After.ID
	}
	var rows []runFamilyRow
	if err := s.sel(ctx, &rows, q, practiceID, runID, string(f.Status), after, p.First+1); err != nil {
		return ledger.Paged[ledger.RunFamily]{}, translate(err)
	}
	var out ledger.Paged[ledger.RunFamily]
	for i, r := range rows {
		if i == p.First {
			out.HasNext = true
			break
		}
		ids, err := parseIDs(r.ReceiptIDs)
		if err != nil {
			return ledger.Paged[ledger.RunFamily]{}, err
		}
		out.Rows = append(out.Rows, ledger.RunFamily{GuarantorID: r.GuarantorID, Status: ledger.FamilyStatus(r.Status),
			CreditsFound: r.CreditsFound, AmountMoved: r.AmountMoved, CreditsLeft: r.CreditsLeft, ReceiptIDs: ids,
			Reason: r.Reason, Detail: r.Detail})
		out.Cursors = append(out.Cursors, ledger.Cursor{Key: r.GuarantorID.String(), ID: r.GuarantorID})
	}
	err := s.get(ctx, &out.Total, `SELECT count(*)`+filter, practiceID, runID, string(f.Status))
	return out, translate(err)
}

// RunPending pages through the run's frozen scope, skipping the families
// that have a result.
func (s queries) RunPending(ctx context.Context, practiceID, runID ledger.ID, after *ledger.ID, limit int) ([]ledger.ID, error) {
	const q = `
SELECT u.id
  FROM runs r
 CROSS JOIN LATERAL unnest(r.guarantor_ids) AS u(id)
 WHERE r.practice_id = $1 AND r.id = $2
   AND ($3::uuid IS NULL OR u.id > $3)
   AND NOT EXISTS (SELECT 1 FROM run_families f WHERE f.practice_id = $1 AND f.run_id = $2 AND f.guarantor_id = u.id)
 ORDER BY u.id
 LIMIT $4`
	var ids []ledger.ID
	return ids, translate(s.sel(ctx, &ids, q, practiceID, runID, after, limit))
}

// InsertRun records the run with its scope: the families named (in id
// order), or every family of the practice.
func (t *txStore) InsertRun(ctx context.Context, practiceID ledger.ID, r ledger.Run) (int, error) {
	const q = `
WITH scope AS (
    SELECT coalesce(array_agg(g.id ORDER BY g.id), '{}') AS ids
      FROM guarantors g
     WHERE g.practice_id = $1 AND ($9 OR g.id = ANY($8::uuid[])))
INSERT INTO runs (practice_id, id, kind, method, preview, status, request, guarantor_ids, all_families, policy_name,
                  policy_version, as_of, families_total, attempts, created_by, created_at, updated_at)
SELECT $1, $2, $3, NULLIF($4, ''), $5, $6, $7::jsonb, scope.ids, $9, $10, $11, $12, cardinality(scope.ids), $13, $14, $15, $15
  FROM scope
RETURNING families_total`
	var n int
	err := t.get(ctx, &n, q, practiceID, r.ID, string(r.Kind), string(r.Method), r.Preview, string(r.Status),
		string(r.Request), idArray(r.GuarantorIDs), r.AllFamilies, r.Policy.Name, r.Policy.Version, r.AsOf, r.Attempts, r.CreatedBy, r.CreatedAt)
	return n, translate(err)
}

// RecordRunFamilies inserts the results with one statement and advances
// the run's counters with another, which returns the run.
func (t *txStore) RecordRunFamilies(ctx context.Context, practiceID, runID ledger.ID, fams []ledger.RunFamily, tally ledger.RunTally, at time.Time) (ledger.Run, error) {
	if len(fams) > 0 {
		const q = `
INSERT INTO run_families (practice_id, run_id, guarantor_id, status, credits_found, amount_moved, credits_left, receipt_ids, reason, detail)
SELECT $1, $2, u.guarantor_id, u.status, u.found, u.moved, u.left_, coalesce(string_to_array(NULLIF(u.receipts, ''), ' ')::uuid[], '{}'),
       NULLIF(u.reason, ''), NULLIF(u.detail, '')::jsonb
  FROM unnest($3::uuid[], $4::text[], $5::numeric[], $6::numeric[], $7::numeric[], $8::text[], $9::text[], $10::text[])
       AS u(guarantor_id, status, found, moved, left_, receipts, reason, detail)`
		n := len(fams)
		gids := make([]ledger.ID, n)
		statuses, found, moved, left, receipts, reasons, details := make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, f := range fams {
			gids[i], statuses[i] = f.GuarantorID, string(f.Status)
			found[i], moved[i], left[i] = f.CreditsFound.String(), f.AmountMoved.String(), f.CreditsLeft.String()
			ids := make([]string, len(f.ReceiptIDs))
			for j, id := range f.ReceiptIDs {
				ids[j] = id.String()
			}
			receipts[i], reasons[i], details[i] = strings.Join(ids, " "), f.Reason, string(f.Detail)
		}
		if _, err := t.exec(ctx, q, practiceID, runID, idArray(gids), pq.Array(statuses), pq.Array(found), pq.Array(moved),
			pq.Array(left), pq.Array(receipts), pq.Array(reasons), pq.Array(details)); err != nil {
			return ledger.Run{}, translate(err)
		}
	}
	const q = `
UPDATE runs
   SET families_done = families_done + $3, families_changed = families_changed + $4, families_skipped = families_skipped + $5,
       families_failed = families_failed + $6, receipts = receipts + $7, credits_found = credits_found + $8,
       amount_moved = amount_moved + $9, credits_left = credits_left + $10, updated_at = $11
 WHERE practice_id = $1 AND id = $2
RETURNING ` + runColumns + `, '' AS sort_key`
	var row runRow
	if err := t.get(ctx, &row, q, practiceID, runID, tally.Done, tally.Changed, tally.Skipped, tally.Failed, tally.Receipts,
		tally.CreditsFound, tally.AmountMoved, tally.CreditsLeft, at); err != nil {
		return ledger.Run{}, notFound(err, "run")
	}
	return row.run()
}

func (t *txStore) SetRunStatus(ctx context.Context, practiceID, runID ledger.ID, from []ledger.RunStatus, status ledger.RunStatus, errText string, at time.Time) (bool, error) {
	const q = `
UPDATE runs
   SET status = $3::text, error = NULLIF($4::text, ''), updated_at = $5::timestamptz,
       finished_at = CASE WHEN $3::text = 'RUNNING' THEN NULL ELSE $5::timestamptz END,
       cancel_requested = CASE WHEN $3 = 'RUNNING' THEN false ELSE cancel_requested END,
       attempts = attempts + CASE WHEN $3 = 'RUNNING' THEN 1 ELSE 0 END
 WHERE practice_id = $1 AND id = $2 AND status = ANY($6::text[])`
	fs := make([]string, len(from))
	for i, f := range from {
		fs[i] = string(f)
	}
	res, err := t.exec(ctx, q, practiceID, runID, string(status), errText, at, pq.Array(fs))
	if err != nil {
		return false, translate(err)
	}
	n, err := res.RowsAffected()
	return n == 1, translate(err)
}

func (t *txStore) RequestRunCancel(ctx context.Context, practiceID, runID ledger.ID, at time.Time) (bool, error) {
	const q = `UPDATE runs SET cancel_requested = true, updated_at = $3 WHERE practice_id = $1 AND id = $2 AND status = 'RUNNING'`
	res, err := t.exec(ctx, q, practiceID, runID, at)
	if err != nil {
		return false, translate(err)
	}
	n, err := res.RowsAffected()
	return n == 1, translate(err)
}

// RunningRuns lists every RUNNING run of every practice.
func (s *Store) RunningRuns(ctx context.Context) ([]ledger.RunRef, error) {
	conn, release, err := s.pool.acquire(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	var rows []ledger.RunRef
	err = conn.SelectContext(ctx, &rows, `SELECT practice_id, id FROM paysplit_running_runs()`)
	return rows, translate(err)
}

// runLockKey is the advisory lock key of a run.
const runLockKey = `hashtextextended('paysplit.run/' || $1::text || '/' || $2::text, 0)`

// ClaimRun takes a session-level advisory lock on the run, on a connection
// of its own that it keeps until Release: if the process dies, PostgreSQL
// ends the session and the lock with it. The connection counts against the
// practice's share of the pool (pool.go) for as long as the run runs.
func (s *Store) ClaimRun(ctx context.Context, practiceID, runID ledger.ID) (ledger.RunClaim, bool, error) {
	conn, release, err := s.pool.acquire(ctx, &practiceID)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.GetContext(ctx, &ok, `SELECT pg_try_advisory_lock(`+runLockKey+`)`, practiceID, runID); err != nil {
		release()
		return nil, false, translate(err)
	}
	if !ok {
		release()
		return nil, false, nil
	}
	return &runClaim{conn: conn, release: release, practice: practiceID, run: runID}, true, nil
}

// runClaim is a held run lock.
type runClaim struct {
	conn     *sqlx.Conn
	release  func() // gives the connection and the practice's slot back
	practice ledger.ID
	run      ledger.ID
	once     sync.Once
}

// Release unlocks the run and gives the connection back, once. If
// unlocking fails the connection is discarded, which ends its session and
// the lock.
func (c *runClaim) Release() {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+runLockKey+`)`, c.practice, c.run); err != nil {
			_ = c.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		c.release()
	})
}

// FamiliesChangedSince finds the families with a charge, a split or an
// insurance write-off posted at or after since.
func (s queries) FamiliesChangedSince(ctx context.Context, practiceID ledger.ID, since time.Time) ([]ledger.ID, error) {
	const q = `
SELECT DISTINCT p.guarantor_id FROM (
    SELECT patient_id FROM charges WHERE practice_id = $1 AND posted_at >= $2
    UNION
    SELECT s.patient_id FROM receipts r JOIN splits s ON s.practice_id = r.practice_id AND s.receipt_id = r.id
     WHERE r.practice_id = $1 AND r.posted_at >= $2
    UNION
    SELECT c.patient_id FROM insurance_write_offs w JOIN charges c ON c.practice_id = w.practice_id AND c.id = w.charge_id
     WHERE w.practice_id = $1 AND w.posted_at >= $2
) t JOIN patients p ON p.practice_id = $1 AND p.id = t.patient_id
ORDER BY 1`
	var ids []ledger.ID
	return ids, translate(s.sel(ctx, &ids, q, practiceID, since))
}
