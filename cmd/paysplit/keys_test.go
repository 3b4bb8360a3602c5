package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestKeysCommand runs "paysplit keys create|list|revoke" as an operator
// would: the key created works until it is revoked, the listing never shows
// a secret, and each change is audited as the operator's (no key id).
func TestKeysCommand(t *testing.T) {
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	l := ledger.New(postgres.NewStore(db))
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "CLI Keys"})
	require.NoError(t, err)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runKeys(ctx, append(args, "--database-url", url, "--practice", p.ID.String()), &out)
		return out.String(), err
	}

	out, err := cli("create", "--role", "biller", "--name", "front desk")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	token := lines[1]
	a, err := l.Authenticate(ctx, token)
	require.NoError(t, err)
	require.Equal(t, ledger.RoleBiller, a.Role)
	require.Contains(t, lines[0], a.KeyID.String())

	out, err = cli("list")
	require.NoError(t, err)
	require.Contains(t, out, a.KeyID.String())
	require.Contains(t, out, "front desk")
	require.Contains(t, out, "BILLER")
	require.NotContains(t, out, token[len(token)-43:], "the listing never shows a secret")

	// Revoking on the command line tells every server instance, as the API
	// does, so that they close the key's websockets.
	revoked := revocationsHeard{make(chan string, 1)}
	ln, err := postgres.Listen(url, noChanges{}, nil, postgres.WithRevocations(revoked))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ln.Close()) })
	out, err = cli("revoke", "--key", a.KeyID.String())
	require.NoError(t, err)
	require.Contains(t, out, "revoked at")
	_, err = l.Authenticate(ctx, token)
	require.ErrorIs(t, err, ledger.ErrUnauthenticated)
	select {
	case got := <-revoked.keys:
		require.Equal(t, p.ID.String()+"/"+a.KeyID.String(), got)
	case <-time.After(30 * time.Second):
		t.Fatal("the revocation was not announced")
	}

	_, err = cli("revoke", "--key", ledger.ID{}.String())
	var in *ledger.InputError
	require.ErrorAs(t, err, &in)
	_, err = cli("create", "--role", "root")
	require.ErrorAs(t, err, &in)
	_, err = cli("frobnicate")
	require.ErrorContains(t, err, "unknown keys command")

	evs, err := l.AuditEvents(ctx, ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}, ledger.AuditFilter{}, ledger.Page{First: 10})
	require.NoError(t, err)
	require.Len(t, evs.Rows, 2)
	require.Equal(t, "revokeApiKey", evs.Rows[0].Operation)
	require.Equal(t, "createApiKey", evs.Rows[1].Operation)
	require.Nil(t, evs.Rows[0].KeyID, "an operator's change has no key")
	require.Equal(t, []ledger.ID{a.KeyID}, evs.Rows[1].CreatedIDs)
}

// revocationsHeard records the keys a Listener reports revoked.
type revocationsHeard struct{ keys chan string }

func (r revocationsHeard) RecheckKeys() {}
func (r revocationsHeard) KeyRevoked(pid, kid ledger.ID) {
	select {
	case r.keys <- pid.String() + "/" + kid.String():
	default: // only the first is looked at
	}
}

// noChanges ignores the ledger's changes.
type noChanges struct{}

func (noChanges) Changed(ledger.ID) {}
func (noChanges) ChangedAll()       {}
