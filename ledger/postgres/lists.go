package postgres

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
)

// Listings page by keyset: rows after (key, id) in (key, id) order, where key
// is the listing's sort key as text. One more row than asked is read to learn
// whether a next page exists; the total is a separate count.

func (s queries) ListGuarantors(ctx context.Context, practiceID ledger.ID, f ledger.GuarantorFilter, p ledger.Page) (ledger.Paged[ledger.Guarantor], error) {
	const filter = `
  FROM guarantors
 WHERE practice_id = $1
   AND ($2 = '' OR name ILIKE '%' || $2 || '%')
   AND ($3 = '' OR external_id = $3)`
	const q = `SELECT ` + guarantorColumns + `, lower(name) AS sort_key` + filter + `
   AND ($4::text IS NULL OR (lower(name), id) > ($4, $5::uuid))
 ORDER BY lower(name), id
 LIMIT $6`
	var rows []keyed[ledger.Guarantor]
	after, afterID := cursorArgs(p.After)
	if err := s.sel(ctx, &rows, q, practiceID, escapeLike(f.Name), f.ExternalID, after, afterID, p.First+1); err != nil {
		return ledger.Paged[ledger.Guarantor]{}, translate(err)
	}
	out := toPage(rows, p.First, func(r keyed[ledger.Guarantor]) (ledger.Guarantor, ledger.Cursor) {
		return r.Row, ledger.Cursor{Key: r.SortKey, ID: r.Row.ID}
	})
	err := s.get(ctx, &out.Total, `SELECT count(*)`+filter, practiceID, escapeLike(f.Name), f.ExternalID)
	return out, translate(err)
}

func (s queries) ListPatients(ctx context.Context, practiceID ledger.ID, f ledger.PatientFilter, p ledger.Page) (ledger.Paged[ledger.Patient], error) {
	const filter = `
  FROM patients
 WHERE practice_id = $1
   AND ($2::uuid IS NULL OR guarantor_id = $2)
   AND ($3 = '' OR first_name ILIKE '%' || $3 || '%' OR last_name ILIKE '%' || $3 || '%'
        OR first_name || ' ' || last_name ILIKE '%' || $3 || '%')
   AND ($4 = '' OR external_id = $4)
   AND ($5::date IS NULL OR birth_date = $5)`
	const q = `SELECT ` + patientColumns + `, lower(last_name) || ' ' || lower(first_name) AS sort_key` + filter + `
   AND ($6::text IS NULL OR (lower(last_name) || ' ' || lower(first_name), id) > ($6, $7::uuid))
 ORDER BY lower(last_name) || ' ' || lower(first_name), id
 LIMIT $8`
	var rows []keyed[ledger.Patient]
	after, afterID := cursorArgs(p.After)
	args := []any{practiceID, f.GuarantorID, escapeLike(f.Name), f.ExternalID, f.BirthDate}
	if err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, db, &rows, q, append(args, after, afterID, p.First+1)...)
	}); err != nil {
		return ledger.Paged[ledger.Patient]{}, translate(err)
	}
	out := toPage(rows, p.First, func(r keyed[ledger.Patient]) (ledger.Patient, ledger.Cursor) {
		return r.Row, ledger.Cursor{Key: r.SortKey, ID: r.Row.ID}
	})
	err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, db, &out.Total, `SELECT count(*)`+filter, args...)
	})
	return out, translate(err)
}

// ListReceipts lists receipts newest first.
func (s queries) ListReceipts(ctx context.Context, practiceID ledger.ID, f ledger.ReceiptFilter, p ledger.Page) (ledger.Paged[ledger.Receipt], error) {
	const filter = `
  FROM receipts r
 WHERE r.practice_id = $1
   AND ($2 = '' OR r.kind = $2)
   AND ($3::date IS NULL OR r.received_on >= $3)
   AND ($4::date IS NULL OR r.received_on <= $4)
   AND ($5::uuid IS NULL OR r.batch_id = $5)
   AND ($6::uuid IS NULL OR r.patient_id = $6 OR EXISTS (
        SELECT 1 FROM splits s WHERE s.practice_id = $1 AND s.receipt_id = r.id AND s.patient_id = $6))
   AND ($7::uuid IS NULL OR EXISTS (
        SELECT 1 FROM patients pt WHERE pt.practice_id = $1 AND pt.guarantor_id = $7
           AND (pt.id = r.patient_id OR EXISTS (
                SELECT 1 FROM splits s WHERE s.practice_id = $1 AND s.receipt_id = r.id AND s.patient_id = pt.id))))`
	const q = `SELECT ` + receiptColumns + `, to_char(r.received_on, 'YYYY-MM-DD') AS sort_key` + filter + `
   AND ($8::text IS NULL OR (to_char(r.received_on, 'YYYY-MM-DD'), r.id) < ($8, $9::uuid))
 ORDER BY r.received_on DESC, r.id DESC
 LIMIT $10`
	var rows []keyed[ledger.Receipt]
	after, afterID := cursorArgs(p.After)
	args := []any{practiceID, string(f.Kind), f.From, f.To, f.BatchID, f.PatientID, f.GuarantorID}
	if err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.SelectContext(ctx, db, &rows, q, append(args, after, afterID, p.First+1)...)
	}); err != nil {
		return ledger.Paged[ledger.Receipt]{}, translate(err)
	}
	out := toPage(rows, p.First, func(r keyed[ledger.Receipt]) (ledger.Receipt, ledger.Cursor) {
		return r.Row, ledger.Cursor{Key: r.SortKey, ID: r.Row.ID}
	})
	err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		return sqlx.GetContext(ctx, db, &out.Total, `SELECT count(*)`+filter, args...)
	})
	return out, translate(err)
}

// keyed is a listed row with its sort key.
type keyed[T any] struct {
	Row     T `db:""`
	SortKey string
}

// toPage keeps the first n rows (one more was read to learn whether a next
// page exists) with their cursors.
func toPage[R, T any](rows []R, n int, row func(R) (T, ledger.Cursor)) ledger.Paged[T] {
	var out ledger.Paged[T]
	for i, r := range rows {
		if i == n {
			out.HasNext = true
			break
		}
		v, c := row(r)
		out.Rows, out.Cursors = append(out.Rows, v), append(out.Cursors, c)
	}
	return out
}

func cursorArgs(c *ledger.Cursor) (key *string, id *ledger.ID) {
	if c == nil {
		return nil, nil
	}
	return &c.Key, &c.ID
}

// escapeLike escapes LIKE wildcards so a name filter matches literally.
func escapeLike(s string) string {
	r := make([]rune, 0, len(s))
	for _, c := range s {
		if c == '%' || c == '_' || c == '\\' {
			r = append(r, '\\')
		}
		r = append(r, c)
	}
	return string(r)
}
