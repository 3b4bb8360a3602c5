package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// serve with no --database-url supervises its private PostgreSQL: the test
// SIGKILLs the cluster's postmaster under a running server. So that the
// outage is certain to be seen rather than raced by the restart, it first
// breaks the cluster's configuration with a setting PostgreSQL refuses at
// start (the running server never rereads the file): every restart fails
// until the test mends it. While PostgreSQL is down requests are answered
// UNAVAILABLE (retryable), /readyz is 503, and each restart attempt is
// logged with its number and cause; once mended, the supervisor's next
// attempt brings it back, and the same serve process answers again. serve
// shutting down restarts nothing.
func TestServeRestartsItsPrivatePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and kills its PostgreSQL")
	}
	dir, err := os.MkdirTemp("", "paysplit-supervise")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // the postgres user must reach dir/pg when we run as root
	pgDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	pgDir = filepath.Join(pgDir, "pg")
	bin := buildPaysplit(t)
	addr := freeAddr(t)
	srv := startServeArgs(t, bin, addr, []string{"serve", "--data-dir", dir, "--addr", addr})
	b, err := os.ReadFile(filepath.Join(dir, "demo-admin-key"))
	require.NoError(t, err)
	key := strings.TrimSpace(string(b))

	client := &http.Client{}
	ask := func(query string, vars map[string]any) map[string]any {
		t.Helper()
		status, body, err := gql(client, addr, key, query, vars)
		require.NoError(t, err, "serve answers")
		require.Equal(t, http.StatusOK, status, "%v", body)
		return body
	}
	code := func(body map[string]any) string {
		errs, _ := body["errors"].([]any)
		if len(errs) == 0 {
			return ""
		}
		ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
		require.Equal(t, true, ext["retryable"], "%v", body)
		return ext["code"].(string)
	}
	readyz := func() int {
		res, err := http.Get("http://" + addr + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	const practice = `{ practice { name } }`
	body := ask(`{ patients(first: 1) { edges { node { id } } } }`, nil)
	require.Empty(t, code(body))
	pat := body["data"].(map[string]any)["patients"].(map[string]any)["edges"].([]any)[0].(map[string]any)["node"].(map[string]any)["id"].(string)
	pay := func() map[string]any {
		return ask(crashPost, map[string]any{"in": map[string]any{"idempotencyKey": "during-outage", "kind": "PATIENT_PAYMENT",
			"patientId": pat, "amount": "10.00", "splits": []any{map[string]any{"amount": "10.00", "patientId": pat}}}})
	}

	conf := filepath.Join(pgDir, "postgresql.conf")
	orig, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(conf, append(append([]byte{}, orig...), "\npaysplit_test_refuses_to_start = on\n"...), 0o600))
	postmaster := postmasterPID(t, pgDir)
	require.NoError(t, syscall.Kill(postmaster, syscall.SIGKILL))
	eventually(t, "the postmaster to die", func() bool { return !running(postmaster) })
	// Its sessions outlive it until they notice; once they are gone, no
	// server answers on the cluster's socket.
	orphans := clusterProcs(t, pgDir)
	eventually(t, "the killed server's processes to exit", func() bool {
		for _, pid := range orphans {
			if running(pid) {
				return false
			}
		}
		return true
	})
	eventually(t, "a restart attempt to fail", func() bool {
		return len(logRecords(srv.out.String(), "private PostgreSQL is down; restarting it")) >= 2
	})

	require.Equal(t, http.StatusServiceUnavailable, readyz())
	require.Equal(t, "UNAVAILABLE", code(ask(practice, nil)))
	require.Equal(t, "UNAVAILABLE", code(pay()))

	require.NoError(t, os.WriteFile(conf, orig, 0o600))
	eventually(t, "the supervisor to restart PostgreSQL", func() bool { return readyz() == http.StatusOK })
	eventually(t, "a query to succeed", func() bool { return code(ask(practice, nil)) == "" })
	first := pay()
	require.Empty(t, code(first), "the payment refused during the outage, sent again with its key")
	again := pay()
	require.Equal(t, first["data"], again["data"], "and once more: the same receipt")

	down := logRecords(srv.out.String(), "private PostgreSQL is down; restarting it")
	require.EqualValues(t, 1, down[0]["attempt"])
	require.Equal(t, "postgres exited: signal: killed", down[0]["cause"])
	require.EqualValues(t, 2, down[1]["attempt"])
	require.Contains(t, down[1]["cause"], "configuration file", "a failed attempt says why")
	// The restart's log line reaches srv.out through a pipe: wait for it
	// rather than assume it came before the answers above.
	eventually(t, "the restart to be logged", func() bool {
		return len(logRecords(srv.out.String(), "private PostgreSQL restarted")) > 0
	})
	up := logRecords(srv.out.String(), "private PostgreSQL restarted")
	require.Len(t, up, 1)
	require.EqualValues(t, len(down), up[0]["attempt"])
	for _, r := range append(down, up...) {
		t.Logf("%s attempt %v: %v", r["msg"], r["attempt"], r["cause"])
	}
	select {
	case err := <-srv.done:
		t.Fatalf("serve exited: %v", err)
	default:
	}

	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-srv.done)
	out := srv.out.String()
	_, after, ok := strings.Cut(out, `"msg":"shutting down"`)
	require.True(t, ok, out)
	require.NotContains(t, after, "restarting it", "serve shutting down restarts nothing")
	require.Empty(t, clusterProcs(t, pgDir), "serve stopped its PostgreSQL")
}

// postmasterPID reads the running server's pid from its data directory.
func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	return pid
}

// clusterProcs lists the live processes working in dataDir: a PostgreSQL
// server and every process it started change to their data directory.
func clusterProcs(t *testing.T, dataDir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == dataDir && running(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// running reports whether pid is a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

// logRecords returns serve's JSON log records whose msg is msg, in order.
func logRecords(out, msg string) []map[string]any {
	var recs []map[string]any
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			recs = append(recs, m)
		}
	}
	return recs
}
