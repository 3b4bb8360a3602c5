package postgres

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// auditRow is an audit_events row as scanned: created_ids is a uuid[].
type auditRow struct {
	ID            ledger.ID
	At            time.Time
	KeyID         *ledger.ID
	Role          ledger.Role
	Operation     string
	InputDigest   string
	CreatedIDs    pq.StringArray `db:"created_ids"`
	PolicyName    string
	PolicyVersion int
	SortKey       string
}

// ListAuditEvents lists events newest first, by (at, id), on the index
// audit_events_at_idx.
func (s queries) ListAuditEvents(ctx context.Context, practiceID ledger.ID, f ledger.AuditFilter, p ledger.Page) (ledger.Paged[ledger.AuditEvent], error) {
	const filter = `
  FROM audit_events
 WHERE practice_id = $1
   AND ($2 = '' OR operation = $2)
   AND ($3::uuid IS NULL OR key_id = $3)
   AND ($4::timestamptz IS NULL OR at >= $4)
   AND ($5::timestamptz IS NULL OR at < $5)`
	const q = `SELECT id, at, key_id, coalesce(role, '') AS role, operation, input_digest, created_ids::text[] AS created_ids,
       coalesce(policy_name, '') AS policy_name, coalesce(policy_version, 0) AS policy_version,
       to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_key` + filter + `
   AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7::uuid))
 ORDER BY at DESC, id DESC
 LIMIT $8`
	args := []any{practiceID, f.Operation, f.KeyID, f.From, f.To}
	var after *time.Time
	var afterID *ledger.ID
	if p.After != nil {
		t, err := time.Parse(ledger.AuditCursorLayout, p.After.Key)
		if err != nil {
			return ledger.Paged[ledger.AuditEvent]{}, ledger.Invalid("after", "is not a cursor from this listing")
		}
		after, afterID = &t, &p.After.ID
	}
	var rows []auditRow
	if err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, db, &rows, q, append(args, after, afterID, p.First+1)...)
	}); err != nil {
		return ledger.Paged[ledger.AuditEvent]{}, translate(err)
	}
	var convErr error
	out := toPage(rows, p.First, func(r auditRow) (ledger.AuditEvent, ledger.Cursor) {
		e := ledger.AuditEvent{ID: r.ID, At: r.At, KeyID: r.KeyID, Role: r.Role, Operation: r.Operation,
			InputDigest: r.InputDigest, PolicyName: r.PolicyName, PolicyVersion: r.PolicyVersion}
		for _, s := range r.CreatedIDs {
			id, err := ledger.ParseID(s)
			if err != nil {
				convErr = err
			}
			e.CreatedIDs = append(e.CreatedIDs, id)
		}
		return e, ledger.Cursor{Key: r.SortKey, ID: r.ID}
	})
	if convErr != nil {
		return ledger.Paged[ledger.AuditEvent]{}, convErr
	}
	err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, db, &out.Total, `SELECT count(*)`+filter, args...)
	})
	return out, translate(err)
}
