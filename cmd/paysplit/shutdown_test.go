package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// waitFor bounds a single network exchange of the reliability tests (a
// websocket dial, one request), so a hang fails the test instead of
// stalling it. It is not a performance threshold.
const waitFor = time.Minute

// eventually polls cond until it holds. It waits for a state, not for a
// time: a loaded machine only makes it wait longer. It gives up shortly
// before the test binary's own deadline (go test -timeout), so that a state
// never reached fails this test with its name rather than the whole binary.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := giveUpAt(t)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond) // between polls
	}
}

// giveUpAt is when eventually stops waiting: 30 s before the test's
// deadline, or never when it has none (go test -timeout 0).
func giveUpAt(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-30 * time.Second)
	}
	return time.Now().AddDate(100, 0, 0)
}

// freeAddr is a free local TCP address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// practiceDB is a migrated test database holding one practice with a
// family and a charge, and an ADMIN key for it.
type practiceDB struct {
	url string
	db  *sqlx.DB
	f   *ledgertest.Practice
	key string
	pat ledger.Patient
}

func newPracticeDB(t *testing.T) *practiceDB {
	t.Helper()
	p := &practiceDB{url: ledgertest.NewDBURL(t)}
	var err error
	p.db, err = sqlx.Connect("postgres", p.url)
	require.NoError(t, err)
	t.Cleanup(func() { p.db.Close() })
	p.f = ledgertest.AddPractice(t, ledger.New(postgres.NewStore(p.db)), "Reliability Dental")
	p.pat = p.f.Family(t, "Ada")[0]
	p.f.Visit(t, p.pat, "2026-06-01", "100.00")
	_, p.key, err = p.f.Ledger.IssueKey(context.Background(), p.f.Actor.PracticeID, "admin", ledger.RoleAdmin)
	require.NoError(t, err)
	return p
}

// gql posts a GraphQL request with key and decodes the answer.
func gql(client *http.Client, addr, key, query string, vars map[string]any) (int, map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	err = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out, err
}

// Shutting serve down (SIGTERM or SIGINT cancels its context) closes the
// subscriptions, stops accepting connections, and lets a request already
// running finish with its answer before serve returns.
func TestServeShutsDownGracefully(t *testing.T) {
	p := newPracticeDB(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--database-url", p.url, "--addr", addr}) }()
	waitHealthy(t, "http://"+addr+"/healthz", done)

	// A subscription, running.
	dial, stopDial := context.WithTimeout(context.Background(), waitFor)
	defer stopDial()
	ws, _, err := websocket.Dial(dial, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	send := func(m map[string]any) {
		b, _ := json.Marshal(m)
		require.NoError(t, ws.Write(dial, websocket.MessageText, b))
	}
	read := func() (map[string]any, error) {
		_, b, err := ws.Read(dial)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		return m, nil
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + p.key}})
	m, err := read()
	require.NoError(t, err)
	require.Equal(t, "connection_ack", m["type"])
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { agingUpdated(input: {first: 0}) { summary { total } } }`}})
	m, err = read()
	require.NoError(t, err)
	require.Equal(t, "next", m["type"], "%v", m)

	// A request in flight: it waits for a lock the test holds.
	tx, err := p.db.Beginx()
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`LOCK TABLE guarantors IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	inflight := make(chan answer, 1)
	go func() {
		s, b, err := gql(&http.Client{}, addr, p.key, `query InFlight { guarantors(first: 5) { totalCount } }`, nil)
		inflight <- answer{s, b, err}
	}()
	eventually(t, "the request to wait for the lock", func() bool {
		var n int
		require.NoError(t, p.db.Get(&n, `SELECT count(*) FROM pg_stat_activity
		    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%guarantors%'`))
		return n > 0
	})

	cancel() // shutdown begins

	// The subscription ends: its websocket is closed normally.
	for {
		if _, err = read(); err != nil {
			break
		}
	}
	require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "%v", err)

	// New connections are refused while the request in flight still runs.
	eventually(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("serve returned before its request in flight finished: %v", err)
	case a := <-inflight:
		t.Fatalf("the request in flight finished while the test held its lock: %+v", a)
	default:
	}

	// The request finishes with its answer; then serve returns cleanly.
	require.NoError(t, tx.Rollback())
	a := <-inflight
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status)
	require.Nil(t, a.body["errors"], "%v", a.body)
	require.EqualValues(t, 1, a.body["data"].(map[string]any)["guarantors"].(map[string]any)["totalCount"])
	require.NoError(t, <-done)
}
