package graph_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// liveDB is a test database shared by one or more server instances.
type liveDB struct {
	url string
	db  *sqlx.DB
}

func newLiveDB(t *testing.T) *liveDB {
	t.Helper()
	db, url := ledgertest.NewDBAndURL(t)
	return &liveDB{url: url, db: db}
}

// instance is one paysplit server as cmd/paysplit wires it: its own ledger,
// aging hub and change listener, over a shared database.
type instance struct {
	ledger   *ledger.Ledger
	hub      *aginghub.Hub
	listener *postgres.Listener
	gs       *graph.Server
	srv      *httptest.Server
	h        *harness // HTTP helpers against this instance
}

func (d *liveDB) start(t *testing.T, f *ledgertest.Practice) *instance {
	t.Helper()
	return d.startWith(t, f, true)
}

// startWith is start; unless revocations is set, the instance does not hear
// of revoked keys (its sockets stay open until they next ask for something).
func (d *liveDB) startWith(t *testing.T, f *ledgertest.Practice, revocations bool) *instance {
	t.Helper()
	in := &instance{ledger: ledger.New(postgres.NewStore(d.db), ledger.WithClock(ledgertest.Clock))}
	in.hub = aginghub.New(in.ledger)
	in.gs = graph.NewServer(in.ledger, func(ctx context.Context) error { return d.db.PingContext(ctx) },
		graph.WithAgingHub(in.hub), graph.WithAllowedOrigins("https://dash.example.com", "*.trusted.example"))
	var opts []postgres.ListenOption
	if revocations {
		opts = append(opts, postgres.WithRevocations(in.gs))
	}
	var err error
	in.listener, err = postgres.Listen(listenerURL(t, d.url), in.hub, nil, opts...)
	require.NoError(t, err)
	in.srv = httptest.NewServer(in.gs)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsWait)
		defer cancel()
		require.NoError(t, in.gs.Close(ctx))
		in.srv.Close()
		in.hub.Close()
		require.NoError(t, in.listener.Close())
	})
	in.h = &harness{db: d.db, f: f, srv: in.srv, admin: issueKey(t, f, ledger.RoleAdmin), analyst: issueKey(t, f, ledger.RoleAnalyst)}
	return in
}

// listenerApp is the application_name of the test instances' change
// listeners, by which a test finds a listener's session to end it (its last
// query is LISTEN only until its first keepalive).
const listenerApp = "paysplit-test-listener"

func listenerURL(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", listenerApp)
	u.RawQuery = q.Encode()
	return u.String()
}

// liveScenario is the worked aging example served by one instance.
func liveScenario(t *testing.T) (*liveDB, *ledgertest.AgingScenario, *instance) {
	t.Helper()
	d := newLiveDB(t)
	s := ledgertest.BuildAging(t, ledgertest.NewPractice(t, d.db))
	return d, s, d.start(t, s.Practice)
}

const agingTotals = `subscription($input: AgingInput!) {
  agingUpdated(input: $input) { asOf summary { total buckets accounts } }
}`

func summaryTotal(t *testing.T, data map[string]any) string {
	t.Helper()
	return str(t, data, "agingUpdated.summary.total")
}

func TestAgingSubscriptionOverBothProtocols(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{transportWS, legacyWS} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			_, s, in := liveScenario(t)
			c := connectWS(t, in.srv.URL, proto, in.h.analyst)
			c.subscribe("1", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
			first := c.next("1")
			require.Equal(t, "238.00", summaryTotal(t, first))
			require.Equal(t, "2026-06-15", str(t, first, "agingUpdated.asOf"))

			// A receipt posted over HTTP reaches the subscriber once committed.
			data := in.h.ok(t, in.h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
				map[string]any{"in": map[string]any{"kind": "PATIENT_PAYMENT", "patientId": s.Pat.ID.String(), "amount": "40.00",
					"splits": []any{map[string]any{"amount": "40.00", "chargeId": s.C1.ID.String()}}}})
			require.NotEmpty(t, str(t, data, "postReceipt.receipt.id"))
			require.Equal(t, "198.00", summaryTotal(t, c.next("1")))

			// Stopping ends the operation.
			c.stop("1")
			if proto == transportWS { // graphql-transport-ws acknowledges nothing after a client's complete
				return
			}
			m := c.read()
			require.Equal(t, "complete", m.Type)
		})
	}
}

// A report that a commit does not change is not sent again; a commit that
// changes it is. The next message after an irrelevant commit is therefore
// the update for a relevant one.
func TestAgingSubscriptionSendsOnlyChanges(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("a")))

	_, err := s.Ledger.CreateProvider(context.Background(), s.Actor, ledger.NewProvider{Name: "Dr. Three"})
	require.NoError(t, err)
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.On("1.00", s.SoloCharge))
	require.Equal(t, "237.00", summaryTotal(t, c.next("a")))
}

// A 500-receipt import commits once: one notification, one update. The
// sentinel receipt after it proves nothing else was queued.
func TestAgingSubscriptionCoalescesABurst(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, legacyWS, in.h.analyst)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("a")))

	ctx := context.Background()
	err := s.Store.InTx(ctx, func(tx ledger.Tx) error {
		for i := range 500 {
			r := ledger.Receipt{ID: ledgertest.NewID(), Kind: ledger.ReceiptPatientPayment, Amount: ledger.MustMoney("1.00"),
				ReceivedOn: ledgertest.Today, PatientID: &s.Solo.ID, Reference: fmt.Sprint("import-", i), PostedAt: ledgertest.Clock()}
			sp := ledger.Split{ID: ledgertest.NewID(), ReceiptID: r.ID, Amount: r.Amount, Code: ledger.CodePayment, PatientID: s.Solo.ID}
			if err := tx.InsertReceipt(ctx, s.Actor.PracticeID, r, []ledger.Split{sp}); err != nil {
				return err
			}
			if err := tx.NotifyChanged(ctx, s.Actor.PracticeID); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "-262.00", summaryTotal(t, c.next("a"))) // 500.00 of unallocated credit

	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.Unallocated("1.00"))
	require.Equal(t, "-263.00", summaryTotal(t, c.next("a")))
}

func TestAgingSubscriptionSeesOnlyItsPractice(t *testing.T) {
	t.Parallel()
	d, s, in := liveScenario(t)
	other := ledgertest.AddPractice(t, s.Ledger, "Other Practice")
	otherKey := issueKey(t, other, ledger.RoleAnalyst)
	pat := other.Family(t, "Olga")[0]
	other.Visit(t, pat, "2026-06-01", "70.00")
	_ = d

	c := connectWS(t, in.srv.URL, transportWS, otherKey)
	c.subscribe("o", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "70.00", summaryTotal(t, c.next("o")))

	// Commits in the first practice send this subscriber nothing: its next
	// message is the update for its own practice's commit.
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "3.00", "2026-06-15", ledgertest.On("3.00", s.SoloCharge))
	other.Pay(t, pat, "20.00", ledgertest.Unallocated("20.00"))
	require.Equal(t, "50.00", summaryTotal(t, c.next("o")))
}

func TestAgingSubscriptionAuthentication(t *testing.T) {
	t.Parallel()
	_, _, in := liveScenario(t)
	for _, proto := range []string{transportWS, legacyWS} {
		for _, token := range []string{"", "psk_not-a-key"} {
			c := openWS(t, in.srv.URL, proto)
			c.init(token)
			if proto == legacyWS { // the legacy protocol says why before closing
				m := c.read()
				require.Equal(t, "connection_error", m.Type)
				require.Contains(t, string(m.Payload), "unauthenticated")
			}
			require.EqualValues(t, 4403, c.closed(), "%s with %q", proto, token)
		}
	}
	// An Authorization header on the upgrade request also authenticates.
	conn, _, err := dialWS(t, in.srv.URL, transportWS, http.Header{"Authorization": {"Bearer " + in.h.analyst}})
	require.NoError(t, err)
	defer conn.CloseNow()
	c := &wsClient{t: t, conn: conn, proto: transportWS}
	c.init("")
	require.Equal(t, "connection_ack", c.read().Type)
}

func TestAgingSubscriptionRefusesOtherOrigins(t *testing.T) {
	t.Parallel()
	_, _, in := liveScenario(t)
	for origin, ok := range map[string]bool{
		"https://evil.example":        false,
		"http://dash.example.com":     false, // the scheme is part of the pattern
		"https://dash.example.com":    true,
		"https://app.trusted.example": true,
		in.srv.URL:                    true, // same origin
	} {
		conn, res, err := dialWS(t, in.srv.URL, transportWS, http.Header{"Origin": {origin}})
		if ok {
			require.NoError(t, err, origin)
			conn.CloseNow()
			continue
		}
		require.Error(t, err, origin)
		require.Equal(t, http.StatusForbidden, res.StatusCode, origin)
	}
	// The refusal is coded, and a handshake the websocket library refuses
	// is answered once, by it alone (gqlgen's second answer is dropped).
	upgrade := func(h http.Header) (int, string) {
		req, err := http.NewRequest(http.MethodGet, in.srv.URL+"/graphql", nil)
		require.NoError(t, err)
		req.Header = h
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	status, body := upgrade(http.Header{"Origin": {"https://evil.example"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"graphql-transport-ws"}})
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, `"code":"FORBIDDEN"`)
	require.Contains(t, body, "evil.example")
	status, body = upgrade(http.Header{"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Protocol": {"graphql-transport-ws"}})
	require.Equal(t, http.StatusBadRequest, status, body)
	require.NotContains(t, body, "unable to upgrade", "gqlgen's second answer is not appended to the library's")
}

// Two instances behind a load balancer: a commit through either reaches
// subscribers of both.
func TestAgingSubscriptionAcrossTwoInstances(t *testing.T) {
	t.Parallel()
	d, s, one := liveScenario(t)
	two := d.start(t, s.Practice)
	c1 := connectWS(t, one.srv.URL, transportWS, one.h.analyst)
	c2 := connectWS(t, two.srv.URL, legacyWS, two.h.analyst)
	c1.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	c2.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c1.next("a")))
	require.Equal(t, "238.00", summaryTotal(t, c2.next("a")))

	post := func(in *instance, amount string) {
		in.h.ok(t, in.h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			map[string]any{"in": map[string]any{"kind": "PATIENT_PAYMENT", "patientId": s.Kid.ID.String(), "amount": amount,
				"splits": []any{map[string]any{"amount": amount}}}})
	}
	post(two, "8.00")
	require.Equal(t, "230.00", summaryTotal(t, c1.next("a")))
	require.Equal(t, "230.00", summaryTotal(t, c2.next("a")))
	post(one, "10.00")
	require.Equal(t, "220.00", summaryTotal(t, c1.next("a")))
	require.Equal(t, "220.00", summaryTotal(t, c2.next("a")))
}

// The listener's database connection is killed (as a database restart
// would): it reconnects by itself and the subscription carries on, including
// for a commit made while it was away.
func TestAgingSubscriptionSurvivesListenerReconnect(t *testing.T) {
	t.Parallel()
	d, s, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("a")))

	var killed int
	require.NoError(t, d.db.Get(&killed, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	    WHERE datname = current_database() AND application_name = $1) k`, listenerApp))
	require.Equal(t, 1, killed)
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.On("1.00", s.SoloCharge))
	require.Equal(t, "237.00", summaryTotal(t, c.next("a")))
	require.Eventually(t, func() bool { return in.listener.Reconnects() >= 1 }, wsWait, 10*time.Millisecond)

	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "2.00", "2026-06-15", ledgertest.On("2.00", s.SoloCharge))
	require.Equal(t, "235.00", summaryTotal(t, c.next("a")))
}

// Shutdown ends subscriptions and closes their websockets, which
// http.Server.Shutdown would leave open, and refuses new ones.
func TestAgingSubscriptionsEndOnShutdown(t *testing.T) {
	t.Parallel()
	_, _, in := liveScenario(t)
	var clients []*wsClient
	for _, proto := range []string{transportWS, legacyWS} {
		c := connectWS(t, in.srv.URL, proto, in.h.analyst)
		c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
		require.Equal(t, "238.00", summaryTotal(t, c.next("a")))
		clients = append(clients, c)
	}
	require.Equal(t, 2, in.hub.Watchers())

	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	require.NoError(t, in.gs.Close(ctx))
	for _, c := range clients {
		require.EqualValues(t, 1000, c.closed())
	}
	require.Equal(t, 0, in.hub.Watchers())
	_, res, err := dialWS(t, in.srv.URL, transportWS, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}

// Every event is resolved with loaders of its own: a family's balance read
// through a row's guarantor is current in each update, not cached from the
// first.
func TestAgingSubscriptionLoadersAreFreshPerEvent(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	c.subscribe("a", `subscription { agingUpdated(input: {first: 1}) {
	  rows { edges { node { total guarantor { name balance } } } } } }`, nil)
	first := c.next("a")
	require.Equal(t, "Pat Family", str(t, first, "agingUpdated.rows.edges.0.node.guarantor.name"))
	require.Equal(t, "245.00", str(t, first, "agingUpdated.rows.edges.0.node.guarantor.balance"))

	s.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "45.00", "2026-06-15", ledgertest.On("45.00", s.C1))
	next := c.next("a")
	require.Equal(t, "200.00", str(t, next, "agingUpdated.rows.edges.0.node.total"))
	require.Equal(t, "200.00", str(t, next, "agingUpdated.rows.edges.0.node.guarantor.balance"))
}

func TestAgingSubscriptionRefusesBadInput(t *testing.T) {
	t.Parallel()
	_, _, in := liveScenario(t)
	c := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"buckets": []int{60, 30}}})
	// gqlgen sends the resolver's error as the operation's only result, then completes it.
	m := c.read()
	require.Equal(t, "next", m.Type, "%s", m.Payload)
	require.Contains(t, string(m.Payload), `"code":"BAD_USER_INPUT","field":"buckets[1]"`)
	require.Equal(t, "complete", c.read().Type)
}
