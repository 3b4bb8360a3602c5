package graph_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
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
