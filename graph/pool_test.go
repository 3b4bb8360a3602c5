package graph_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// boundedHarness is the handler over a practice whose store's pool has
// maxConns connections and waits wait for one, as serve wires it (its ready
// check pings that pool). h.db is a pool of its own, for the test's checks.
func boundedHarness(t *testing.T, maxConns int, wait time.Duration) (*harness, *postgres.Store) {
	t.Helper()
	url := ledgertest.NewDBURL(t)
	pool, err := postgres.Open(url)
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	own, err := sqlx.Connect("postgres", url)
	require.NoError(t, err)
	t.Cleanup(func() { own.Close() })
	f := ledgertest.NewPractice(t, pool)
	f.Store.SetPool(maxConns, wait)
	h := &harness{db: own, f: f, admin: issueKey(t, f, ledger.RoleAdmin), analyst: issueKey(t, f, ledger.RoleAnalyst)}
	h.srv = httptest.NewServer(graph.NewServer(f.Ledger, func(ctx context.Context) error { return pool.PingContext(ctx) }))
	t.Cleanup(h.srv.Close)
	return h, f.Store
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

const postReceiptDoc = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`

// payment is postReceipt's input for amount, unallocated, on patient p.
func payment(p ledger.Patient, amount, key string) map[string]any {
	return map[string]any{"in": map[string]any{"kind": "PATIENT_PAYMENT", "patientId": p.ID.String(), "amount": amount,
		"idempotencyKey": key, "splits": []any{map[string]any{"amount": amount, "patientId": p.ID.String()}}}}
}

// TestPoolExhaustedIsUnavailable: with every connection of the pool taken,
// a request waits the pool's wait and is answered UNAVAILABLE, retryable,
// with nothing written (never INTERNAL), and /readyz says 503; once a
// connection is free the same request, sent again, posts once.
func TestPoolExhaustedIsUnavailable(t *testing.T) {
	t.Parallel()
	h, store := boundedHarness(t, 2, 50*time.Millisecond)
	pat := h.f.Family(t, "Pat")[0]
	held := holdConns(t, store, 2)

	before := rowCounts(t, h.db)
	for _, r := range []response{
		h.do(t, h.analyst, `{ practice { name } }`, nil),
		h.do(t, h.admin, postReceiptDoc, payment(pat, "10.00", "k1")),
	} {
		require.NotEmpty(t, r.Errors, r.Raw)
		for _, e := range r.Errors {
			require.Equal(t, "UNAVAILABLE", e.code(), r.Raw)
			require.Equal(t, true, e.Extensions["retryable"], r.Raw)
		}
	}
	require.Equal(t, before, rowCounts(t, h.db))
	res, err := http.Get(h.srv.URL + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "the ready check waits for a connection at most 2 s")

	held[0].Close()
	h.ok(t, h.admin, postReceiptDoc, payment(pat, "10.00", "k1"))
	h.ok(t, h.admin, postReceiptDoc, payment(pat, "10.00", "k1"))
	var n int
	require.NoError(t, h.db.Get(&n, `SELECT count(*) FROM receipts`))
	require.Equal(t, 1, n)
}

// TestBurstLeavesRoomForOtherPractices: practice A's burst of receipts on
// one family, all stuck behind that family's lock, holds only A's share of
// the pool (half); practice B's receipt, sent meanwhile, is served. Then
// the lock goes and A's receipts all post: they waited, they did not fail.
func TestBurstLeavesRoomForOtherPractices(t *testing.T) {
	t.Parallel()
	h, store := boundedHarness(t, 4, 2*time.Minute) // a share of 2
	a := h.f
	pat := a.Family(t, "Ann")[0]
	b := ledgertest.AddPractice(t, a.Ledger, "Practice B")
	bPat := b.Family(t, "Bea")[0]
	bKey := issueKey(t, b, ledger.RoleBiller)

	// The test holds A's family lock, as a long transaction would.
	lock, err := h.db.Beginx()
	require.NoError(t, err)
	defer lock.Rollback()
	_, err = lock.Exec(`SELECT id FROM guarantors WHERE id = $1 FOR UPDATE`, pat.GuarantorID)
	require.NoError(t, err)

	const burst = 6
	var wg sync.WaitGroup
	results := make([]response, burst)
	for i := range burst {
		wg.Go(func() { results[i] = h.do(t, h.admin, postReceiptDoc, payment(pat, "1.00", "")) })
	}
	eventually(t, "A's burst holding its share and queueing for it", func() bool {
		held, waiting := store.PracticeConns(a.Actor.PracticeID)
		return held == 2 && waiting == burst-2
	})

	d := h.ok(t, bKey, postReceiptDoc, payment(bPat, "5.00", ""))
	require.NotEmpty(t, str(t, d, "postReceipt.receipt.id"))

	require.NoError(t, lock.Rollback())
	wg.Wait()
	for _, r := range results {
		require.Empty(t, r.Errors, r.Raw)
	}
}

// TestReadyzWhenTheCheckHangs: a ready check stuck on a frozen database
// (a driver that does not give up when its context ends) does not hold
// /readyz: it answers 503 within graph.ReadyTimeout, and the stuck check is
// shared, not started again per request. Once the database answers, 200.
func TestReadyzWhenTheCheckHangs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	frozen := make(chan struct{})
	var checks atomic.Int32
	srv := httptest.NewServer(graph.NewServer(h.f.Ledger, func(context.Context) error {
		checks.Add(1)
		<-frozen // ignores its context, as a read from a stopped server does
		return nil
	}))
	t.Cleanup(srv.Close)
	ready := func() int {
		res, err := http.Get(srv.URL + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusServiceUnavailable, ready())
	require.Equal(t, http.StatusServiceUnavailable, ready())
	require.Equal(t, int32(1), checks.Load(), "one stuck check, shared")
	close(frozen)
	eventually(t, "/readyz to answer 200", func() bool { return ready() == http.StatusOK })
}

// eventually waits until cond holds, polling; it fails the test after a
// minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
