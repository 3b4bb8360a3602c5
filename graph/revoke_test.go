package graph_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// subscribed opens a socket on in with token and subscribes "a" to the
// aging totals, having read the first report.
func subscribed(t *testing.T, in *instance, proto, token string) *wsClient {
	t.Helper()
	c := connectWS(t, in.srv.URL, proto, token)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("a")))
	return c
}

// refusal reads the next result of operation id and returns its one error.
func (c *wsClient) refusal(id string) gqlError {
	c.t.Helper()
	for {
		m := c.read()
		if m.ID != id {
			continue // another operation's update
		}
		require.Contains(c.t, []string{"next", "data"}, m.Type, "payload %s", m.Payload)
		var r response
		require.NoError(c.t, json.Unmarshal(m.Payload, &r))
		require.Len(c.t, r.Errors, 1, "%s", m.Payload)
		return r.Errors[0]
	}
}

// Revoking a key through the API of one instance closes, with 4403, the
// key's websockets on every instance sharing the database; another key's
// socket carries on, and the closed sockets leave no trace in the registry.
func TestRevokedKeyClosesItsSocketsOnEveryInstance(t *testing.T) {
	t.Parallel()
	d, s, one := liveScenario(t)
	two := d.start(t, s.Practice)
	doomed := issueKey(t, s.Practice, ledger.RoleAnalyst)
	onOne := subscribed(t, one, legacyWS, doomed)
	onTwo := subscribed(t, two, transportWS, doomed)
	other := subscribed(t, two, transportWS, two.h.analyst)
	require.Equal(t, 2, two.gs.Websockets())

	start := time.Now()
	one.h.ok(t, one.h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})
	require.EqualValues(t, 4403, onTwo.closed(), "the other instance heard of it")
	require.EqualValues(t, 4403, onOne.closed())
	t.Logf("both sockets closed %v after the revocation was sent", time.Since(start))

	// The other key's socket is open and still served.
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.On("1.00", s.SoloCharge))
	require.Equal(t, "237.00", summaryTotal(t, other.next("a")))
	require.Eventually(t, func() bool { return two.gs.Websockets() == 1 && one.gs.Websockets() == 0 }, wsWait, 10*time.Millisecond)
	e, _ := two.h.fail(t, doomed, `{ practice { name } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", e.code())
}

// A socket whose server did not hear of the revocation (an instance that
// does not follow them) is refused its next operation, UNAUTHENTICATED, and
// then closed with 4403; a socket of another key is not.
func TestSubscribeAfterRevocationIsRefused(t *testing.T) {
	t.Parallel()
	d, s, _ := liveScenario(t)
	deaf := d.startWith(t, s.Practice, false)
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			doomed := issueKey(t, s.Practice, ledger.RoleAnalyst)
			c := subscribed(t, deaf, proto, doomed)
			other := subscribed(t, deaf, proto, deaf.h.analyst)
			deaf.h.ok(t, deaf.h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})

			c.subscribe("b", `subscription { agingUpdated(input: {first: 5}) { rows { edges { node { guarantor { name balance } } } } } }`, nil)
			e := c.refusal("b")
			require.Equal(t, "UNAUTHENTICATED", e.code(), "%+v", e)
			require.EqualValues(t, 4403, c.closed())

			other.subscribe("b", agingTotals, map[string]any{"input": map[string]any{"first": 1}})
			require.Equal(t, "238.00", summaryTotal(t, other.next("b")))
		})
	}
}

// A query sent over a socket is an operation like a subscription: checked
// again the same way.
func TestQueryOverSocketAfterRevocationIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doomed := issueKey(t, h.f, ledger.RoleAnalyst)
	c := connectWS(t, h.srv.URL, transportWS, doomed)
	c.subscribe("q", `{ practice { name } }`, nil)
	require.NotEmpty(t, str(t, c.next("q"), "practice.name"))
	require.Equal(t, "complete", c.read().Type)

	h.ok(t, h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})
	c.subscribe("r", `{ practice { name } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", c.refusal("r").code())
	require.EqualValues(t, 4403, c.closed())
}

// After the change listener reconnects, revocations it may have missed are
// found by checking every key with an open socket again (RecheckKeys, which
// the listener calls; called here on an instance that hears no revocation).
func TestRecheckKeysClosesSocketsOfRevokedKeys(t *testing.T) {
	t.Parallel()
	d, s, _ := liveScenario(t)
	deaf := d.startWith(t, s.Practice, false)
	doomed := issueKey(t, s.Practice, ledger.RoleAnalyst)
	c := subscribed(t, deaf, transportWS, doomed)
	other := subscribed(t, deaf, legacyWS, deaf.h.analyst)
	deaf.h.ok(t, deaf.h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})

	deaf.gs.RecheckKeys()
	require.EqualValues(t, 4403, c.closed())
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.On("1.00", s.SoloCharge))
	require.Equal(t, "237.00", summaryTotal(t, other.next("a")))
}

// The listener's connection is killed and a key revoked while it may be
// away: the key's socket is closed all the same, by the notification or by
// the check after reconnecting.
func TestRevocationSurvivesListenerReconnect(t *testing.T) {
	t.Parallel()
	d, s, in := liveScenario(t)
	doomed := issueKey(t, s.Practice, ledger.RoleAnalyst)
	c := subscribed(t, in, transportWS, doomed)
	var killed int
	require.NoError(t, d.db.Get(&killed, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	    WHERE datname = current_database() AND application_name = $1) k`, listenerApp))
	require.Equal(t, 1, killed)
	in.h.ok(t, in.h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})
	require.EqualValues(t, 4403, c.closed())
}

// One socket may run MaxSubscriptionsPerSocket operations at once; the next
// is refused with SUBSCRIPTION_LIMIT_EXCEEDED and the socket stays open;
// completing one makes room.
func TestSubscriptionLimitPerSocket(t *testing.T) {
	t.Parallel()
	_, _, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, legacyWS, in.h.analyst)
	for i := range graph.MaxSubscriptionsPerSocket {
		c.subscribe(fmt.Sprint(i), agingTotals, map[string]any{"input": map[string]any{"first": i % 3}})
	}
	for range graph.MaxSubscriptionsPerSocket {
		m := c.read()
		require.Equal(t, "data", m.Type, "%s", m.Payload)
		require.NotContains(t, string(m.Payload), "errors")
	}
	c.subscribe("over", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	e := c.refusal("over")
	require.Equal(t, graph.CodeSubscriptionLimitExceeded, e.code(), "%+v", e)
	require.Equal(t, "complete", c.read().Type)

	c.stop("0")
	m := c.read()
	require.Equal(t, "complete", m.Type)
	require.Equal(t, "0", m.ID)
	c.subscribe("again", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("again")))
}

// The attack of issue 14: a thousand subscriptions on one socket. Each
// subscription's start reads the database, and all of them ran at once, so
// the pool opened connections until PostgreSQL refused them. Now the socket
// runs MaxSubscriptionsPerSocket and refuses the rest with their code;
// sockets full of subscriptions that load nested fields get every update,
// while another practice's requests are served.
func TestSocketFloodLeavesOtherPracticesServed(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	other := ledgertest.AddPractice(t, s.Ledger, "Other Practice")
	otherKey := issueKey(t, other, ledger.RoleAnalyst)

	flood := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	const n = 1000
	for i := range n {
		flood.subscribe(fmt.Sprint(i), agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	}
	codes := map[string]int{}
	for seen := map[string]bool{}; len(seen) < n; {
		m := flood.read()
		if m.Type == "complete" || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		var r response
		require.NoError(t, json.Unmarshal(m.Payload, &r))
		if len(r.Errors) == 0 {
			codes["admitted"]++
		} else {
			codes[fmt.Sprint(r.Errors[0].code())]++
		}
	}
	require.Equal(t, map[string]int{"admitted": graph.MaxSubscriptionsPerSocket,
		graph.CodeSubscriptionLimitExceeded: n - graph.MaxSubscriptionsPerSocket}, codes)

	const nested = `subscription($input: AgingInput!) { agingUpdated(input: $input) {
	  rows { edges { node { total guarantor { name balance patients { firstName balance } } } } } } }`
	var socks []*wsClient
	for range 4 {
		c := connectWS(t, in.srv.URL, legacyWS, in.h.analyst)
		for i := range graph.MaxSubscriptionsPerSocket {
			c.subscribe(fmt.Sprint(i), nested, map[string]any{"input": map[string]any{"first": 1 + i}})
		}
		socks = append(socks, c)
	}
	updates := func() {
		for _, c := range socks {
			for range graph.MaxSubscriptionsPerSocket {
				m := c.read()
				require.Equal(t, "data", m.Type, "%s", m.Payload)
				require.NotContains(t, string(m.Payload), `"errors"`)
			}
		}
	}
	updates()
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "5.00", "2026-06-15", ledgertest.On("5.00", s.C1))
	// While the server resolves those 128 updates:
	data := in.h.ok(t, otherKey, `{ practice { name } guarantors(first: 10) { edges { node { name balance } } } }`, nil)
	require.Equal(t, "Other Practice", str(t, data, "practice.name"))
	updates()
}

// An instance authenticates a key from its cache, and one that has not
// heard of a revocation (here: never hears) still refuses the key at once: every statement a
// request makes checks, in its transaction, that the key stands. A read is
// UNAUTHENTICATED, a payment is UNAUTHENTICATED with nothing written; the
// revoking instance forgets the key itself and refuses it at the door (401).
func TestRevokedKeyIsRefusedAtOnceByEveryInstance(t *testing.T) {
	t.Parallel()
	d, s, one := liveScenario(t)
	deaf := d.startWith(t, s.Practice, false)
	// As an instance whose listener has not delivered the revocation yet.
	deaf.ledger.CacheKeys()
	one.ledger.CacheKeys()
	doomed := issueKey(t, s.Practice, ledger.RoleBiller)
	for _, in := range []*instance{one, deaf} { // both now hold the key in their caches
		in.h.ok(t, doomed, `{ practice { name } }`, nil)
	}
	one.h.ok(t, one.h.admin, revokeKeyDoc, obj{"in": obj{"id": keyID(doomed)}})

	before := rowCounts(t, d.db)
	e, _ := deaf.h.fail(t, doomed, `{ practice { name } }`, nil)
	require.Equal(t, "UNAUTHENTICATED", e.code(), "%+v", e)
	e, _ = deaf.h.fail(t, doomed, postReceiptDoc, payment(s.Solo, "1.00", ""))
	require.Equal(t, "UNAUTHENTICATED", e.code(), "%+v", e)
	require.Equal(t, before, rowCounts(t, d.db), "nothing written")
	r := one.h.do(t, doomed, `{ practice { name } }`, nil)
	require.Equal(t, 401, r.Status, r.Raw)

	// Another key of the practice is served on both.
	for _, in := range []*instance{one, deaf} {
		in.h.ok(t, in.h.analyst, `{ practice { name } }`, nil)
	}
}
