package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestPoolIsBounded: Open's pool holds DefaultMaxConns connections at most.
// When every connection is taken, a statement waits the store's wait and is
// refused as unavailable (retryable), then runs once one is free.
func TestPoolIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ledgertest.NewDBURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.Equal(t, postgres.DefaultMaxConns, db.Stats().MaxOpenConnections)

	f := ledgertest.NewPractice(t, db)
	f.Store.SetPool(2, 50*time.Millisecond)
	held := holdConns(t, f.Store, 2)
	_, err = f.Store.Practice(ctx, f.Actor.PracticeID)
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	err = f.Store.InTx(ctx, func(tx ledger.Tx) error {
		_, err := tx.Practice(ctx, f.Actor.PracticeID)
		return err
	})
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	// A caller that went away keeps its own error.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.Store.Practice(gone, f.Actor.PracticeID)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ledger.ErrUnavailable)

	held[0].Close()
	p, err := f.Store.Practice(ctx, f.Actor.PracticeID)
	require.NoError(t, err)
	require.Equal(t, "Test Practice", p.Name)
}

// TestPracticeShare: a practice holds at most half the pool; its next
// statement waits for one of its own to end (and is refused after the
// wait), while another practice's statement runs at once.
func TestPracticeShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ledgertest.NewDBURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	a := ledgertest.NewPractice(t, db)
	b := ledgertest.AddPractice(t, a.Ledger, "Other Practice")
	a.Store.SetPool(4, 50*time.Millisecond) // a share of 2

	// Two transactions of A, each inside its first statement's connection.
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- a.Store.InTx(ctx, func(tx ledger.Tx) error {
				if _, err := tx.Practice(ctx, a.Actor.PracticeID); err != nil {
					return err
				}
				entered <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	<-entered
	<-entered
	held, waiting := a.Store.PracticeConns(a.Actor.PracticeID)
	require.Equal(t, [2]int{2, 0}, [2]int{held, waiting})

	_, err = a.Store.Practice(ctx, a.Actor.PracticeID)
	require.ErrorIs(t, err, ledger.ErrUnavailable, "A's third statement waits for A's share")
	p, err := a.Store.Practice(ctx, b.Actor.PracticeID)
	require.NoError(t, err, "B has its own share, and the pool room for it")
	require.Equal(t, "Other Practice", p.Name)

	close(release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	held, waiting = a.Store.PracticeConns(a.Actor.PracticeID)
	require.Equal(t, [2]int{0, 0}, [2]int{held, waiting})
}

// holdConns takes n of s's pool's connections until the test ends.
func holdConns(t *testing.T, s *postgres.Store, n int) []*sql.Conn {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := s.DB().Conn(context.Background())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}
