package graph_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestQueryDepthLimit: an operation deeper than graph.MaxQueryDepth fields
// is refused before it runs, counting through fragments; introspection is
// not limited.
func TestQueryDepthLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ok(t, h.analyst, introspectionQuery, nil) // errors_test.go: GraphiQL's query
	// Deeper than the limit, and open without a key.
	h.ok(t, "", `{ __schema { types { fields { type { `+strings.Repeat("ofType { ", graph.MaxQueryDepth)+"name"+strings.Repeat(" }", graph.MaxQueryDepth+4)+` }`, nil)

	// guarantor → patients → guarantor → … : depth grows by one per hop.
	deep := func(hops int) string {
		return `{ guarantor(id: "` + h.f.Actor.PracticeID.String() + `") { ` + strings.Repeat("patients { guarantor { ", hops) +
			"id" + strings.Repeat(" } }", hops) + ` } }`
	}
	ok := h.do(t, h.analyst, deep((graph.MaxQueryDepth-2)/2), nil) // within the limit: NOT_FOUND, not refused
	require.Equal(t, []string{"NOT_FOUND"}, errorCodes(ok), ok.Raw)
	e, r := h.fail(t, h.analyst, deep(graph.MaxQueryDepth/2+1), nil)
	require.Equal(t, "DEPTH_LIMIT_EXCEEDED", e.code(), r.Raw)
	require.Nil(t, r.Data)
	// The same through a fragment.
	frag := `query { guarantor(id: "` + h.f.Actor.PracticeID.String() + `") { ...F } } fragment F on Guarantor { ` +
		strings.Repeat("patients { guarantor { ", graph.MaxQueryDepth/2+1) + "id" + strings.Repeat(" } }", graph.MaxQueryDepth/2+1) + ` }`
	e, r = h.fail(t, h.analyst, frag, nil)
	require.Equal(t, "DEPTH_LIMIT_EXCEEDED", e.code(), r.Raw)
}

// TestRateLimit: a key over its rate is refused with HTTP 429, Retry-After
// and RATE_LIMITED (extensions.retryAfter); other keys are not affected.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv := graph.NewServer(h.f.Ledger, func(ctx context.Context) error { return h.db.PingContext(ctx) })
	srv.SetRateLimit(3) // a token every 20 s
	// The clock stands still: however slowly the requests go, no token is
	// earned back in between.
	now := time.Now()
	graph.SetRateClock(srv, func() time.Time { return now })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	limited := &harness{db: h.db, f: h.f, srv: ts}

	for range 3 {
		limited.ok(t, h.analyst, `{ practice { name } }`, nil)
	}
	r := limited.do(t, h.analyst, `{ practice { name } }`, nil)
	require.Equal(t, 429, r.Status, r.Raw)
	require.Len(t, r.Errors, 1, r.Raw)
	require.Equal(t, "RATE_LIMITED", r.Errors[0].code())
	retry, _ := r.Errors[0].Extensions["retryAfter"].(float64)
	require.Equal(t, float64(20), retry, "a whole token away: %s", r.Raw)
	// Another key has its own bucket.
	limited.ok(t, h.admin, `{ practice { name } }`, nil)
}

// TestFieldLimits: an operation selecting more than graph.MaxRootFields root
// fields (aliases included), or more than graph.MaxFields fields in all
// through fragments, or longer than graph.MaxTokens tokens, is refused with
// FIELD_LIMIT_EXCEEDED before anything runs: the alias bomb that once opened
// a connection per alias (stopped by the token limit), and a document whose
// fragments spread each other twice over (2^30 fields, on which gqlgen's own
// complexity walk never ended).
func TestFieldLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: practice { id }", i)
		}
		return b.String() + " }"
	}
	before := rowCounts(t, h.db)
	for n, msg := range map[int]string{10000: "tokens", graph.MaxRootFields + 1: "root fields"} {
		e, r := h.fail(t, h.analyst, aliases(n), nil)
		require.Equal(t, "FIELD_LIMIT_EXCEEDED", e.code(), r.Raw)
		require.Contains(t, e.Message, msg)
		require.Nil(t, r.Data)
	}
	d := h.ok(t, h.analyst, aliases(graph.MaxRootFields), nil)
	require.Len(t, d, graph.MaxRootFields)

	var f strings.Builder
	f.WriteString(`query { practice { ...F0 } }`)
	for i := range 30 {
		fmt.Fprintf(&f, ` fragment F%d on Practice { ...F%d ...F%d }`, i, i+1, i+1)
	}
	f.WriteString(` fragment F30 on Practice { id }`)
	e, r := h.fail(t, h.analyst, f.String(), nil)
	require.Equal(t, "FIELD_LIMIT_EXCEEDED", e.code(), r.Raw)
	// The same under introspection, open without a key.
	intro := strings.ReplaceAll(f.String(), "on Practice", "on __Type")
	intro = strings.Replace(intro, `{ practice { ...F0 } }`, `{ __schema { queryType { ...F0 } } }`, 1)
	e, r = h.fail(t, "", strings.Replace(intro, "{ id }", "{ name }", 1), nil)
	require.Equal(t, "FIELD_LIMIT_EXCEEDED", e.code(), r.Raw)
	require.Equal(t, before, rowCounts(t, h.db))
}

// TestSlowBodyIsCut: a body that stops arriving is cut at the body timeout
// (short here) with BAD_REQUEST, and its connection closed, whether or not
// the request has a key.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gs := graph.NewServer(h.f.Ledger, func(ctx context.Context) error { return h.db.PingContext(ctx) })
	gs.SetBodyTimeout(50 * time.Millisecond)
	ts := httptest.NewServer(gs)
	t.Cleanup(ts.Close)
	for _, key := range []string{h.analyst, ""} {
		status, body := rawRequest(t, ts.URL, key, `{"query": "{ practice { name `, 4096, true)
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `"code":"BAD_REQUEST"`)
		require.Contains(t, body, "the request body did not arrive within 50ms")
	}
}

// TestBadKeyIsRefusedBeforeItsBody: a request whose key is not valid is
// answered 401 UNAUTHENTICATED without waiting for its body, which never
// comes (the body timeout is an hour).
func TestBadKeyIsRefusedBeforeItsBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gs := graph.NewServer(h.f.Ledger, func(ctx context.Context) error { return h.db.PingContext(ctx) })
	gs.SetBodyTimeout(time.Hour)
	ts := httptest.NewServer(gs)
	t.Cleanup(ts.Close)
	status, body := rawRequest(t, ts.URL, "psk_not-a-key", "", 4096, false)
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, `"code":"UNAUTHENTICATED"`)
}

// rawRequest sends a POST /graphql declaring a body of length bytes but
// sending only part of it, and reads the answer; if closed, it then reads
// to the end of the connection: it returns only once the server closes it.
func rawRequest(t *testing.T, srvURL, key, part string, length int, closed bool) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	// A bound on a broken server, so the test fails instead of hanging.
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	head := "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", length)
	if key != "" {
		head += "Authorization: Bearer " + key + "\r\n"
	}
	_, err = conn.Write([]byte(head + "\r\n" + part))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if closed {
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the server closes the connection")
	}
	return res.StatusCode, string(body)
}

// TestWebsocketOutlivesTheBodyTimeout: a websocket is not a body: with a
// body timeout of a nanosecond, a subscription still gets its updates.
func TestWebsocketOutlivesTheBodyTimeout(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	in.gs.SetBodyTimeout(time.Nanosecond)
	c := connectWS(t, in.srv.URL, transportWS, in.h.analyst)
	c.subscribe("1", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	require.Equal(t, "238.00", summaryTotal(t, c.next("1")))
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Solo, "1.00", "2026-06-15", ledgertest.On("1.00", s.SoloCharge))
	require.Equal(t, "237.00", summaryTotal(t, c.next("1")))
}
