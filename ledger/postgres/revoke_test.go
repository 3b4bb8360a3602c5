package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// revocations records what a Listener reports of keys.
type revocations struct{ sink }

func (r revocations) KeyRevoked(pid, kid ledger.ID) { r.sink <- pid.String() + "/" + kid.String() }
func (r revocations) RecheckKeys()                  { r.sink <- "recheck" }

// A key's revocation reaches listeners only when its transaction commits;
// after the listener reconnects it is told to check every key again, since
// revocations sent meanwhile are lost.
func TestRevocationNotifiesOnCommitOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	store := postgres.NewStore(db)
	l := ledger.New(store)
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "Revocations"})
	require.NoError(t, err)
	k1, _, err := l.IssueKey(ctx, p.ID, "one", ledger.RoleAnalyst)
	require.NoError(t, err)
	k2, _, err := l.IssueKey(ctx, p.ID, "two", ledger.RoleAnalyst)
	require.NoError(t, err)

	changes, keys := make(sink, 10), revocations{make(sink, 10)}
	const app = "paysplit-revocation-listener" // to find its session
	ln, err := postgres.Listen(postgres.WithParams(url, "", map[string]string{"application_name": app}), changes, nil,
		postgres.WithRevocations(keys))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ln.Close()) })

	failed := errors.New("rolled back")
	err = store.InTx(ctx, func(tx ledger.Tx) error {
		_, err := tx.RevokeAPIKey(ctx, p.ID, k1.ID, ledgertest.Clock())
		require.NoError(t, err)
		return failed
	})
	require.ErrorIs(t, err, failed)
	_, err = l.RevokeAPIKey(ctx, ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}, ledger.RevokeAPIKey{KeyID: k2.ID})
	require.NoError(t, err)
	require.Equal(t, p.ID.String()+"/"+k2.ID.String(), keys.next(t), "the rolled-back revocation never came")
	require.Equal(t, p.ID.String(), changes.next(t)) // the revocation's audit event changed the ledger

	var killed int
	require.NoError(t, db.Get(&killed, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	    WHERE datname = current_database() AND application_name = $1) k`, app))
	require.Equal(t, 1, killed)
	require.Equal(t, "recheck", keys.next(t))
	require.Equal(t, "all", changes.next(t))
}
