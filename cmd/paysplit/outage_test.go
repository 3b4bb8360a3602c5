package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/coder/websocket"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// The database goes away under a running server — every session of the
// server's database is terminated and new ones are refused, as while
// PostgreSQL restarts — and comes back. While it is away requests fail
// cleanly (an answer, with UNAVAILABLE, retryable; /readyz says 503; nothing
// hangs) and after it is back they succeed, and a subscription opened before
// the outage carries on: its listener reconnects by itself and it hears of
// a commit made after.
func TestServeRidesOutADatabaseOutage(t *testing.T) {
	p := newPracticeDB(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--database-url", p.url, "--addr", addr}) }()
	waitHealthy(t, "http://"+addr+"/healthz", done)

	// The outage is made from the cluster's maintenance database, as its
	// superuser: the test database's sessions, ours included, all go.
	u, err := url.Parse(p.url)
	require.NoError(t, err)
	dbname := u.Path[1:]
	u.Path = "/postgres"
	admin, err := sqlx.Connect("postgres", u.String())
	require.NoError(t, err)
	defer admin.Close()
	outage := func(on bool) {
		_, err := admin.Exec(`ALTER DATABASE ` + pq.QuoteIdentifier(dbname) + ` WITH ALLOW_CONNECTIONS ` + map[bool]string{true: "false", false: "true"}[on])
		require.NoError(t, err)
		if on {
			_, err = admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbname)
			require.NoError(t, err)
		}
	}
	defer outage(false)

	// A subscription, running, before the outage.
	dial, stopDial := context.WithTimeout(context.Background(), waitFor)
	defer stopDial()
	ws, _, err := websocket.Dial(dial, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	send := func(m map[string]any) {
		b, _ := json.Marshal(m)
		require.NoError(t, ws.Write(dial, websocket.MessageText, b))
	}
	read := func() map[string]any {
		_, b, err := ws.Read(dial)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + p.key}})
	require.Equal(t, "connection_ack", read()["type"])
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { agingUpdated(input: {first: 0}) { summary { total } } }`}})
	first := read()
	require.Equal(t, "next", first["type"], "%v", first)
	total := func(m map[string]any) any {
		return m["payload"].(map[string]any)["data"].(map[string]any)["agingUpdated"].(map[string]any)["summary"].(map[string]any)["total"]
	}
	require.Equal(t, "100.00", total(first))

	pay := func(key string) (int, map[string]any, error) {
		pat := p.pat.ID.String()
		return gql(&http.Client{Timeout: waitFor}, addr, p.key, crashPost, map[string]any{"in": map[string]any{
			"idempotencyKey": key, "kind": "PATIENT_PAYMENT", "patientId": pat, "amount": "10.00",
			"splits": []any{map[string]any{"amount": "10.00", "patientId": pat}}}})
	}

	outage(true)
	status, body, err := pay("during")
	require.NoError(t, err, "the server answers while the database is away")
	require.Equal(t, http.StatusOK, status)
	errs, _ := body["errors"].([]any)
	require.Len(t, errs, 1, "%v", body)
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	require.Equal(t, "UNAVAILABLE", ext["code"], "%v", body)
	require.Equal(t, true, ext["retryable"])
	res, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)

	outage(false)
	eventually(t, "the server to be ready again", func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	// The request that failed is sent again, with its key: it posts once.
	status, body, err = pay("during")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Nil(t, body["errors"], "%v", body)
	var receipts int
	require.NoError(t, p.db.Get(&receipts, `SELECT count(*) FROM receipts`))
	require.Equal(t, 1, receipts)

	// The subscription hears of it: its listener came back by itself. A
	// commit made before the listener is back is announced when it is
	// (the hub sends a fresh report on reconnecting), so wait for the total.
	for {
		m := read()
		require.Equal(t, "next", m["type"], "%v", m)
		if total(m) == "90.00" {
			break
		}
	}
	cancel()
	require.NoError(t, <-done)
}
