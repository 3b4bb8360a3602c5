package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestInsertBulkCrossesCopyBatches writes 7 guarantors and patients three
// rows per COPY: every row arrives, and a bad row in the last batch leaves
// nothing of the earlier batches behind. (Not parallel: it changes the
// batch size.)
func TestInsertBulkCrossesCopyBatches(t *testing.T) {
	defer postgres.SmallCopyBatches(3)()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	pid, now := f.Actor.PracticeID, ledgertest.Clock()
	bulk := func(n int) (ledger.Bulk, []ledger.ID) {
		var b ledger.Bulk
		var ids []ledger.ID
		for i := range n {
			g := ledger.Guarantor{ID: ledgertest.NewID(), Name: fmt.Sprintf("Family %d", i), CreatedAt: now}
			p := ledger.Patient{ID: ledgertest.NewID(), GuarantorID: g.ID, FirstName: "Pat", LastName: fmt.Sprintf("Family %d", i), CreatedAt: now}
			b.Guarantors, b.Patients, ids = append(b.Guarantors, g), append(b.Patients, p), append(ids, p.ID)
		}
		return b, ids
	}

	b, ids := bulk(7)
	require.NoError(t, f.Store.InTx(ctx, func(tx ledger.Tx) error { return tx.InsertBulk(ctx, pid, b) }))
	got, err := f.Store.Patients(ctx, pid, ids)
	require.NoError(t, err)
	require.Len(t, got, 7)

	b, ids = bulk(7)
	b.Patients[6].GuarantorID = ledgertest.NewID() // no such guarantor: the last batch fails
	err = f.Store.InTx(ctx, func(tx ledger.Tx) error { return tx.InsertBulk(ctx, pid, b) })
	require.Error(t, err)
	got, err = f.Store.Patients(ctx, pid, ids)
	require.NoError(t, err)
	require.Empty(t, got, "all rows or none")
	gs, err := f.Store.Guarantors(ctx, pid, []ledger.ID{b.Guarantors[0].ID})
	require.NoError(t, err)
	require.Empty(t, gs)
}

// A bulk load into a practice new to the table's statistics analyzes the
// table, however many rows other practices hold: the sixth practice's
// thousand guarantors leave the statistics counting all six thousand.
func TestInsertBulkAnalyzesForANewPractice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	for range 6 {
		f := ledgertest.NewPractice(t, db)
		var b ledger.Bulk
		for i := range 1000 {
			b.Guarantors = append(b.Guarantors, ledger.Guarantor{ID: ledgertest.NewID(), Name: fmt.Sprint("Family ", i), CreatedAt: ledgertest.Clock()})
		}
		require.NoError(t, f.Store.InTx(ctx, func(tx ledger.Tx) error { return tx.InsertBulk(ctx, f.Actor.PracticeID, b) }))
	}
	var est float64
	require.NoError(t, db.Get(&est, `SELECT reltuples FROM pg_class WHERE oid = 'guarantors'::regclass`))
	var have float64
	require.NoError(t, db.Get(&have, `SELECT count(*) FROM guarantors`))
	require.InDelta(t, have, est, 0.01*have, "the statistics know the sixth practice's rows")
}
