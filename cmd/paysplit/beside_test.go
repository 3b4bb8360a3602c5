package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCLIBesideServe: with serve running on its private PostgreSQL, the
// commands run on the same --data-dir use that cluster (they used to fail
// starting a second one): a key "keys create" makes answers on the live
// server, "runs list" reads the same database, and the commands it prints
// carry the --data-dir. The CLI's help lists every command, a command's
// --help only its own flags, and --version the version.
func TestCLIBesideServe(t *testing.T) {
	dir := privateDir(t)
	addr, stop := serveOn(t, dir)
	defer stop()
	admin, err := os.ReadFile(filepath.Join(dir, "demo-admin-key"))
	require.NoError(t, err)
	pid := practiceID(t, addr, strings.TrimSpace(string(admin)))

	pgPid := postgresPid(t, dir)
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		require.NoError(t, runTo(context.Background(), args, &out, &errOut), "%v: %s", args, errOut.String())
		return out.String()
	}
	created := cli("keys", "create", "--data-dir", dir, "--practice", pid, "--role", "ANALYST", "--name", "beside")
	key := regexp.MustCompile(`psk_[\w-]+`).FindString(created)
	require.NotEmpty(t, key, created)
	require.Equal(t, pid, practiceID(t, addr, key))
	require.Contains(t, cli("keys", "list", "--data-dir", dir, "--practice", pid), "beside")
	require.Contains(t, cli("runs", "list", "--data-dir", dir, "--practice", pid), "run")
	require.Equal(t, pgPid, postgresPid(t, dir), "the commands used serve's PostgreSQL and left it running")
	require.Equal(t, pid, practiceID(t, addr, key))
	d := dbFlags{dataDir: "/srv/my data"}
	require.Equal(t, " --data-dir '/srv/my data'", d.pasteArgs(), "a printed command names the private cluster's data dir")

	help := cli("--help")
	for _, c := range commands {
		require.Contains(t, help, "paysplit "+c.name, "help lists every command")
	}
	require.Regexp(t, `^paysplit \S+, commit \S+`, cli("--version"))
	var flags bytes.Buffer
	require.ErrorIs(t, runTo(context.Background(), []string{"runs", "show", "--help"}, io.Discard, &flags), flag.ErrHelp)
	require.Contains(t, flags.String(), "-practice")
	require.NotContains(t, flags.String(), "-kind", "runs show lists only its own flags")
	require.NotContains(t, flags.String(), "-run-batch", "runs show lists only its own flags")
}

// postgresPid is the pid in the private cluster's postmaster.pid.
func postgresPid(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	return first
}

// practiceID asks serve at addr, with key, for the key's practice id.
func practiceID(t *testing.T, addr, key string) string {
	t.Helper()
	status, out, err := gql(http.DefaultClient, addr, key, `{ practice { id } }`, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%v", out)
	return out["data"].(map[string]any)["practice"].(map[string]any)["id"].(string)
}
