package main

import (
	"bytes"
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
)

// crashServer is paysplit serve running as a process of its own.
type crashServer struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
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
	s := &crashServer{out: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--database-url", url, "--addr", addr)
	s.cmd.Env = append(os.Environ(), "DATABASE_URL=", "PAYSPLIT_DATABASE_URL=")
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
