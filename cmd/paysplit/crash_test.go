package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// crashServer is paysplit serve running as a process of its own.
type crashServer struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// syncBuffer is a bytes.Buffer the server's output may be written to while
// a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildPaysplit builds this command into a temporary directory.
func buildPaysplit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "paysplit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func startServe(t *testing.T, bin, url, addr string) *crashServer {
	t.Helper()
	return startServeEnv(t, bin, url, addr)
}

// startServeEnv is startServe with more environment (NAME=value).
func startServeEnv(t *testing.T, bin, url, addr string, env ...string) *crashServer {
	t.Helper()
	return startServeArgs(t, bin, addr, []string{"serve", "--database-url", url, "--addr", addr}, env...)
}

// startServeArgs runs bin with args, a serve command listening on addr,
// and waits until it answers /healthz.
func startServeArgs(t *testing.T, bin, addr string, args []string, env ...string) *crashServer {
	t.Helper()
	s := &crashServer{out: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(append(os.Environ(), "DATABASE_URL=", "PAYSPLIT_DATABASE_URL="), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
		}
	})
	waitHealthy(t, "http://"+addr+"/healthz", s.done)
	return s
}

const crashPost = `mutation Post($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`

// SIGKILL in the middle of a burst of receipts: after a restart no receipt
// is partial, every acknowledged receipt is there exactly once under its
// idempotency key, the unacknowledged ones can be sent again safely, and
// the family's balance is its charges minus exactly the money received.
func TestCrashMidBurstOfReceipts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server")
	}
	p := newPracticeDB(t)
	bin := buildPaysplit(t)
	addr := freeAddr(t)
	srv := startServe(t, bin, p.url, addr)

	const workers, perWorker, killAfter = 8, 40, 30
	input := func(key string) map[string]any {
		pat := p.pat.ID.String()
		return map[string]any{"idempotencyKey": key, "kind": "PATIENT_PAYMENT", "patientId": pat, "amount": "3.00",
			"splits": []any{
				map[string]any{"amount": "1.00", "patientId": pat},
				map[string]any{"amount": "2.00", "patientId": pat, "unearnedTypeId": p.f.Prepayment.String()},
			}}
	}
	var (
		mu     sync.Mutex
		acked  = map[string]string{} // idempotency key → receipt id
		sent   []string              // every key sent
		killed sync.Once
		wg     sync.WaitGroup
	)
	kill := func() {
		killed.Do(func() {
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("SIGKILL: %v", err)
			}
		})
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{}
			for i := range perWorker {
				key := fmt.Sprintf("crash-%d-%d", w, i)
				mu.Lock()
				sent = append(sent, key)
				mu.Unlock()
				status, body, err := gql(client, addr, p.key, crashPost, map[string]any{"in": input(key)})
				if err != nil {
					return // the server is gone
				}
				if status != http.StatusOK || body["errors"] != nil {
					t.Errorf("%s: HTTP %d %v", key, status, body)
					return
				}
				id := body["data"].(map[string]any)["postReceipt"].(map[string]any)["receipt"].(map[string]any)["id"].(string)
				mu.Lock()
				acked[key] = id
				n := len(acked)
				mu.Unlock()
				if n == killAfter {
					kill()
				}
			}
		}()
	}
	wg.Wait()
	kill()
	<-srv.done
	require.GreaterOrEqual(t, len(acked), killAfter)
	require.Less(t, len(acked), workers*perWorker, "the kill came after the whole burst")
	t.Logf("sent %d receipts, %d acknowledged before SIGKILL", len(sent), len(acked))

	startServe(t, bin, p.url, addr)
	pid := p.f.Actor.PracticeID
	noPartial := func() {
		var partial []string
		require.NoError(t, p.db.Select(&partial, `
			SELECT r.id::text FROM receipts r LEFT JOIN splits s ON s.practice_id = r.practice_id AND s.receipt_id = r.id
			 WHERE r.practice_id = $1 GROUP BY r.id, r.amount
			HAVING coalesce(sum(s.amount), 0) <> r.amount OR count(s.id) <> 2`, pid))
		require.Empty(t, partial, "receipts whose splits do not sum to their amount")
	}
	noPartial()
	// Each receipt committed with its idempotency record, and each
	// acknowledged one is there once, under its key.
	var byKey []struct {
		Key string `db:"key"`
		ID  string `db:"id"`
	}
	require.NoError(t, p.db.Select(&byKey, `SELECT i.key, r.id::text AS id
		  FROM receipts r FULL JOIN idempotency_records i ON i.practice_id = r.practice_id AND i.result_id = r.id
		 WHERE coalesce(r.practice_id, i.practice_id) = $1`, pid))
	stored := map[string]string{}
	for _, r := range byKey {
		require.NotEmpty(t, r.Key, "receipt %s has no idempotency record", r.ID)
		require.NotEmpty(t, r.ID, "idempotency key %s has no receipt", r.Key)
		stored[r.Key] = r.ID
	}
	require.Len(t, stored, len(byKey), "a key maps to one receipt")
	for key, id := range acked {
		require.Equal(t, id, stored[key], "acknowledged %s", key)
	}
	t.Logf("%d receipts committed (%d acknowledged, %d committed but unanswered)", len(stored), len(acked), len(stored)-len(acked))

	// The client sends the unanswered requests again: each is posted once.
	client := &http.Client{}
	for _, key := range sent {
		status, body, err := gql(client, addr, p.key, crashPost, map[string]any{"in": input(key)})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		require.Nil(t, body["errors"], "%s: %v", key, body)
		id := body["data"].(map[string]any)["postReceipt"].(map[string]any)["receipt"].(map[string]any)["id"].(string)
		if want, ok := stored[key]; ok {
			require.Equal(t, want, id, "%s answered with another receipt", key)
		}
	}
	noPartial()
	var n int
	require.NoError(t, p.db.Get(&n, `SELECT count(*) FROM receipts WHERE practice_id = $1`, pid))
	require.Equal(t, len(sent), n, "every request sent is posted exactly once")

	status, body, err := gql(client, addr, p.key, `query Balance { guarantors(first: 5) { edges { node { balance } } } }`, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	edges := body["data"].(map[string]any)["guarantors"].(map[string]any)["edges"].([]any)
	require.Len(t, edges, 1)
	want := decimal.New(10000-300*int64(n), -2).StringFixed(2)
	require.Equal(t, want, edges[0].(map[string]any)["node"].(map[string]any)["balance"], "100.00 charged, 3.00 received %d times", n)
}

const (
	crashStartRun = `mutation Start($in: StartRunInput!) { startRun(input: $in) { run { id status familiesTotal } } }`
	crashResume   = `mutation Resume($in: ResumeRunInput!) { resumeRun(input: $in) { run { id status } } }`
)

// runState is a run as the database holds it.
type runState struct {
	Status string `db:"status"`
	Total  int    `db:"families_total"`
	Done   int    `db:"families_done"`
	Error  string `db:"error"`
}

// balancerRunSetup adds n unbalanced families to the practice and starts a
// practice-wide INCOME_TRANSFER run on the server; it returns the run's id
// and every family's total before the run.
func balancerRunSetup(t *testing.T, p *practiceDB, addr string, n int) (string, map[ledger.ID]string) {
	t.Helper()
	unbalancedFamilies(t, p.f, n)
	totals := familyTotals(t, p)
	status, body, err := gql(&http.Client{}, addr, p.key, crashStartRun, map[string]any{"in": map[string]any{
		"kind": "BALANCE", "method": "INCOME_TRANSFER", "policy": "fifo", "note": "crash test"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, body["errors"], "%v", body)
	run := body["data"].(map[string]any)["startRun"].(map[string]any)["run"].(map[string]any)
	require.Equal(t, float64(n+1), run["familiesTotal"])
	return run["id"].(string), totals
}

func familyTotals(t *testing.T, p *practiceDB) map[ledger.ID]string {
	t.Helper()
	var gids []ledger.ID
	require.NoError(t, p.db.Select(&gids, `SELECT id FROM guarantors WHERE practice_id = $1`, p.f.Actor.PracticeID))
	b, err := p.f.Store.GuarantorBalances(context.Background(), p.f.Actor.PracticeID, gids)
	require.NoError(t, err)
	out := map[ledger.ID]string{}
	for _, g := range gids {
		out[g] = b[g].Balance.String()
	}
	return out
}

func readRun(t *testing.T, p *practiceDB, id string) runState {
	t.Helper()
	var r runState
	require.NoError(t, p.db.Get(&r, `SELECT status, families_total, families_done, coalesce(error, '') AS error FROM runs
		WHERE practice_id = $1 AND id = $2`, p.f.Actor.PracticeID, id))
	return r
}

// committedConsistently checks that what the run says it committed is what
// the ledger holds: one result per family done, and every transfer receipt
// is one a recorded family result names (no batch half-written).
func committedConsistently(t *testing.T, p *practiceDB, id string) int {
	t.Helper()
	pid := p.f.Actor.PracticeID
	r := readRun(t, p, id)
	var results, changed, orphans int
	require.NoError(t, p.db.Get(&results, `SELECT count(*) FROM run_families WHERE practice_id = $1 AND run_id = $2`, pid, id))
	require.Equal(t, r.Done, results, "families done = family results")
	require.NoError(t, p.db.Get(&changed, `SELECT count(*) FROM run_families WHERE practice_id = $1 AND run_id = $2 AND status = 'CHANGED'`, pid, id))
	require.Equal(t, changed, countReceipts(t, p.db, pid, ledger.ReceiptTransfer), "one transfer per changed family")
	require.NoError(t, p.db.Get(&orphans, `SELECT count(*) FROM receipts r WHERE r.practice_id = $1 AND r.kind = 'TRANSFER'
		AND NOT EXISTS (SELECT 1 FROM run_families f WHERE f.practice_id = r.practice_id AND r.id = ANY (f.receipt_ids))`, pid))
	require.Zero(t, orphans, "a transfer no family result names")
	var twice []string
	require.NoError(t, p.db.Select(&twice, `SELECT pa.guarantor_id::text FROM receipts r
		JOIN splits s ON s.practice_id = r.practice_id AND s.receipt_id = r.id
		JOIN patients pa ON pa.practice_id = s.practice_id AND pa.id = s.patient_id
		WHERE r.practice_id = $1 AND r.kind = 'TRANSFER' GROUP BY pa.guarantor_id HAVING count(DISTINCT r.id) > 1`, pid))
	require.Empty(t, twice, "families balanced twice")
	return r.Done
}

// SIGKILL in the middle of a practice-wide balancer run: the families
// already committed stay committed (with their results), the restarted
// server marks the run INTERRUPTED, resuming it does the rest, no family is
// balanced twice and no family's total changes.
func TestCrashMidBalancerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server")
	}
	p := newPracticeDB(t)
	bin := buildPaysplit(t)
	addr := freeAddr(t)
	// One family per transaction, so that the kill lands between commits.
	srv := startServeEnv(t, bin, p.url, addr, "PAYSPLIT_RUN_BATCH=1")
	const n = 60
	id, totals := balancerRunSetup(t, p, addr, n)
	eventually(t, "the run commits a few families", func() bool { return readRun(t, p, id).Done >= 3 })
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGKILL))
	<-srv.done

	killed := readRun(t, p, id)
	require.Equal(t, "RUNNING", killed.Status, "nobody said the run stopped")
	require.Less(t, killed.Done, n+1, "the kill came after the whole run")
	require.Equal(t, killed.Done, committedConsistently(t, p, id))
	t.Logf("SIGKILL after %d of %d families", killed.Done, killed.Total)
	// The killed server's PostgreSQL session (and with it its lock on the
	// run) ends once its backend sees the connection gone; recovery at the
	// next start relies on that, so wait for it.
	runID, err := ledger.ParseID(id)
	require.NoError(t, err)
	eventually(t, "the killed server's lock on the run is released", func() bool {
		claim, ok, err := p.f.Store.ClaimRun(context.Background(), p.f.Actor.PracticeID, runID)
		require.NoError(t, err)
		if ok {
			claim.Release()
		}
		return ok
	})

	srv = startServe(t, bin, p.url, addr)
	after := readRun(t, p, id)
	require.Equal(t, "INTERRUPTED", after.Status, "the restarted server recovered the run")
	require.Contains(t, after.Error, "resume it to continue")
	require.Equal(t, killed.Done, after.Done, "the committed families stay committed")
	require.Contains(t, srv.out.String(), "run marked INTERRUPTED")
	require.Contains(t, srv.out.String(), id)

	status, body, err := gql(&http.Client{}, addr, p.key, crashResume, map[string]any{"in": map[string]any{"runId": id}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, body["errors"], "%v", body)
	eventually(t, "the resumed run completes", func() bool { return readRun(t, p, id).Status == "COMPLETED" })
	require.Equal(t, n+1, committedConsistently(t, p, id))
	require.Equal(t, n, countReceipts(t, p.db, p.f.Actor.PracticeID, ledger.ReceiptTransfer))
	require.Equal(t, totals, familyTotals(t, p), "a transfer never changes a family's total")
}

// SIGTERM in the middle of a run: the server stops it at a batch boundary
// and marks it INTERRUPTED on its way out (no recovery needed); resuming it
// from the command line completes it.
func TestServeStopsRunOnShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and stops the server")
	}
	p := newPracticeDB(t)
	bin := buildPaysplit(t)
	addr := freeAddr(t)
	srv := startServeEnv(t, bin, p.url, addr, "PAYSPLIT_RUN_BATCH=1")
	const n = 60
	id, totals := balancerRunSetup(t, p, addr, n)
	eventually(t, "the run commits a few families", func() bool { return readRun(t, p, id).Done >= 2 })
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-srv.done, "serve exits cleanly: %s", srv.out.String())

	stopped := readRun(t, p, id)
	require.Equal(t, "INTERRUPTED", stopped.Status, "marked by the server as it stopped")
	require.Less(t, stopped.Done, n+1)
	committedConsistently(t, p, id)
	t.Logf("SIGTERM: stopped after %d of %d families", stopped.Done, stopped.Total)

	var out bytes.Buffer
	err := runRuns(context.Background(), []string{"resume", id, "--quiet", "--database-url", p.url, "--practice", p.f.Actor.PracticeID.String()},
		&out, &bytes.Buffer{})
	require.NoError(t, err, out.String())
	require.Equal(t, "COMPLETED", readRun(t, p, id).Status)
	require.Equal(t, n+1, committedConsistently(t, p, id))
	require.Equal(t, totals, familyTotals(t, p))
}
