package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// sink records what a Listener reports.
type sink chan string

func (s sink) Changed(id ledger.ID) { s <- id.String() }
func (s sink) ChangedAll()          { s <- "all" }

func (s sink) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-s:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

// NotifyChanged reaches listeners only when its transaction commits, once
// per transaction however often it is called.
func TestNotifyChangedOnCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	store := postgres.NewStore(db)
	rec := make(sink, 10)
	ln, err := postgres.Listen(url, rec, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ln.Close()) })

	a, b := ledgertest.NewID(), ledgertest.NewID()
	failed := errors.New("rolled back")
	err = store.InTx(ctx, func(tx ledger.Tx) error {
		require.NoError(t, tx.NotifyChanged(ctx, a))
		return failed
	})
	require.ErrorIs(t, err, failed)
	require.NoError(t, store.InTx(ctx, func(tx ledger.Tx) error {
		for range 3 {
			if err := tx.NotifyChanged(ctx, b); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, store.InTx(ctx, func(tx ledger.Tx) error { return tx.NotifyChanged(ctx, a) }))
	// The rolled-back notification never came, and b's three are one.
	require.Equal(t, []string{b.String(), a.String()}, []string{rec.next(t), rec.next(t)})
}
