package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestMain stops the package's shared test PostgreSQL when the tests end.
func TestMain(m *testing.M) { ledgertest.Main(m) }

// TestServeFromScratchAndRestart runs the README's run command the way a
// newcomer would: no database configured, so serve starts its private
// PostgreSQL, loads the demo practice and prints a key; a query with that key
// returns the demo guarantors with balances; a restart keeps the data.
func TestServeFromScratchAndRestart(t *testing.T) {
	dir := privateDir(t)
	first := serveOnce(t, dir)
	require.Equal(t, 5, first.count, "the demo practice has five families")
	second := serveOnce(t, dir)
	require.Equal(t, first, second, "a restart keeps the data and does not load the demo again")
}

// privateDir is a state directory for the private PostgreSQL, with no
// database configured in the environment.
func privateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "paysplit-serve")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // the postgres user must reach dir/pg when we run as root
	t.Setenv("PAYSPLIT_DATABASE_URL", "")
	t.Setenv("DATABASE_URL", "")
	return dir
}

// serveOn starts serve on the private PostgreSQL in dir at a free address,
// waits until it answers, and returns the address and how to stop it.
func serveOn(t *testing.T, dir string) (string, func()) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--data-dir", dir, "--addr", addr}) }()
	waitHealthy(t, "http://"+addr+"/healthz", done)
	return addr, func() {
		cancel()
		require.NoError(t, <-done)
	}
}

type snapshot struct {
	count    int
	balances string
}

// serveOnce starts serve on a free port, queries the guarantors with the
// printed key, then stops it.
func serveOnce(t *testing.T, dir string) snapshot {
	t.Helper()
	addr, stop := serveOn(t, dir)
	defer stop()

	key, err := os.ReadFile(filepath.Join(dir, "demo-admin-key"))
	require.NoError(t, err)
	body := `{"query":"{ guarantors(first: 50) { totalCount edges { node { name balance credit } } } }"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Guarantors struct {
				TotalCount int
				Edges      []json.RawMessage
			}
		}
		Errors []json.RawMessage
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Empty(t, out.Errors)
	var b bytes.Buffer
	for _, e := range out.Data.Guarantors.Edges {
		b.Write(e)
	}
	require.Contains(t, b.String(), `"name":"John Smith","balance":"134.00","credit":"250.00"`)
	require.Equal(t, []string{postgres.AppRole}, serverLogins(t, dir),
		"the server logs in as the role that owns nothing (docs/security.md#row-level-security)")
	return snapshot{count: out.Data.Guarantors.TotalCount, balances: b.String()}
}

// serverLogins lists the roles the server's sessions on the private
// cluster in dir logged in as, asking as the cluster's superuser (its socket
// directory and port are in postmaster.pid).
func serverLogins(t *testing.T, dir string) []string {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(pid), "\n")
	require.Greater(t, len(lines), 4, "postmaster.pid: %q", pid)
	db, err := sqlx.Connect("postgres", "host="+lines[4]+" port="+lines[3]+" user=postgres dbname=paysplit sslmode=disable")
	require.NoError(t, err)
	defer db.Close()
	var users []string
	require.NoError(t, db.Select(&users, `SELECT DISTINCT usename FROM pg_stat_activity
	                                        WHERE datname = 'paysplit' AND pid <> pg_backend_pid() ORDER BY 1`))
	return users
}

// waitHealthy waits until serve answers url with 200, failing at once if it
// exits first.
func waitHealthy(t *testing.T, url string, done <-chan error) {
	t.Helper()
	eventually(t, "serve to answer "+url, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
