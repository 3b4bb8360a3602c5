package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/paysplit/paysplit/ledger"
)

// Reference batches: opening, closing, listing, and the practice's
// require-batch setting.

func (t *txStore) InsertBatch(ctx context.Context, practiceID ledger.ID, b ledger.Batch) error {
	const q = `INSERT INTO batches (practice_id, id, name, opened_on, created_at) VALUES ($1, $2, $3, $4, $5)`
	_, err := t.exec(ctx, q, practiceID, b.ID, b.Name, b.OpenedOn, b.CreatedAt)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == pqerror.UniqueViolation && pe.Constraint == "batches_open_name_key" {
		return fmt.Errorf("%w: %w", &ledger.InputError{Field: "name", Message: "an open batch already has this name"}, err)
	}
	return translate(err)
}

func (t *txStore) CloseBatch(ctx context.Context, practiceID, batchID ledger.ID, at time.Time) (bool, error) {
	const q = `UPDATE batches SET closed_at = $3 WHERE practice_id = $1 AND id = $2 AND closed_at IS NULL`
	res, err := t.exec(ctx, q, practiceID, batchID, at)
	if err != nil {
		return false, translate(err)
	}
	n, err := res.RowsAffected()
	return n == 1, translate(err)
}

func (t *txStore) SetRequireBatch(ctx context.Context, practiceID ledger.ID, require bool) error {
	const q = `UPDATE practices SET require_batch = $2 WHERE id = $1`
	_, err := t.exec(ctx, q, practiceID, require)
	return translate(err)
}

// ListBatches lists batches newest first: by the date they were opened on,
// then id, both descending.
func (s queries) ListBatches(ctx context.Context, practiceID ledger.ID, f ledger.BatchFilter, p ledger.Page) (ledger.Paged[ledger.Batch], error) {
	const filter = `
  FROM batches
 WHERE practice_id = $1
   AND ($2::boolean IS NULL OR (closed_at IS NULL) = $2)`
	const q = `SELECT id, name, opened_on, closed_at, created_at, to_char(opened_on, 'YYYY-MM-DD') AS sort_key` + filter + `
   AND ($3::text IS NULL OR (to_char(opened_on, 'YYYY-MM-DD'), id) < ($3, $4::uuid))
 ORDER BY opened_on DESC, id DESC
 LIMIT $5`
	var rows []keyed[ledger.Batch]
	after, afterID := cursorArgs(p.After)
	if err := s.sel(ctx, &rows, q, practiceID, f.Open, after, afterID, p.First+1); err != nil {
		return ledger.Paged[ledger.Batch]{}, translate(err)
	}
	out := toPage(rows, p.First, func(r keyed[ledger.Batch]) (ledger.Batch, ledger.Cursor) {
		return r.Row, ledger.Cursor{Key: r.SortKey, ID: r.Row.ID}
	})
	err := s.get(ctx, &out.Total, `SELECT count(*)`+filter, practiceID, f.Open)
	return out, translate(err)
}
