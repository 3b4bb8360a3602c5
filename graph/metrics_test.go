package graph_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
)

// scrape GETs /metrics and returns the value of each series ("name{labels}").
func scrape(t *testing.T, h *harness) map[string]string {
	t.Helper()
	status, body := h.getPath(t, graph.MetricsPath)
	require.Equal(t, http.StatusOK, status)
	series := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "metric line %q", line)
		series[line[:i]] = line[i+1:]
	}
	require.NotContains(t, body, "guarantors", "no series is labelled with query text")
	return series
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	d, s, in := liveScenario(t)
	h := in.h
	l := s.Practice.Ledger
	require.NoError(t, in.gs.RegisterMetrics(append(graph.RunProgressMetrics(l.RunProgress),
		graph.DBStatsMetrics(d.db.DB), graph.ListenerReconnectsMetric(in.listener.Reconnects))...))

	const families = `query Families { guarantors(first: 5) { totalCount } }`
	h.ok(t, h.analyst, families, nil)
	h.ok(t, h.analyst, families, nil)
	h.ok(t, h.analyst, `{ guarantors(first: 1) { totalCount } }`, nil)
	e, _ := h.fail(t, "", `query Sneaky { guarantors(first: 1) { totalCount } }`, nil)
	require.Equal(t, graph.CodeUnauthenticated, e.code())
	e, _ = h.fail(t, h.analyst, `query Broken { guarantors(first: `, nil)
	parseCode, _ := e.code().(string)
	require.NotEmpty(t, parseCode)

	m := scrape(t, h)
	require.Equal(t, "2", m[`paysplit_graphql_request_duration_seconds_count{operation="Families",type="query"}`])
	require.Equal(t, "1", m[`paysplit_graphql_request_duration_seconds_count{operation="anonymous",type="query"}`])
	require.Equal(t, "1", m[`paysplit_graphql_request_duration_seconds_count{operation="Sneaky",type="query"}`])
	require.Equal(t, "1", m[`paysplit_graphql_errors_total{code="UNAUTHENTICATED"}`])
	require.Equal(t, "1", m[`paysplit_graphql_errors_total{code="`+parseCode+`"}`])
	require.Equal(t, "0", m[`paysplit_graphql_active_subscriptions`])
	require.Equal(t, "0", m[`paysplit_change_listener_reconnects_total`])
	require.Contains(t, m, `go_sql_max_open_connections{db_name="paysplit"}`)
	require.Contains(t, m, `go_goroutines`)

	// A run's families are counted as they are done.
	require.Equal(t, "0", m[`paysplit_runs_active`])
	require.Equal(t, "0", m[`paysplit_run_families_done_total`])
	run, err := l.StartRun(context.Background(), s.Practice.Actor, ledger.RunRequest{Kind: ledger.RunBalance,
		Method: ledger.MethodIncomeTransfer, Preview: true})
	require.NoError(t, err)
	watch, err := l.WatchRun(context.Background(), s.Practice.Actor, run.ID)
	require.NoError(t, err)
	for run = range watch {
	}
	require.Equal(t, ledger.RunCompleted, run.Status, run.Error)
	require.Positive(t, run.FamiliesDone)
	require.Eventually(t, func() bool { return scrape(t, h)[`paysplit_runs_active`] == "0" }, wsWait, 10*time.Millisecond)
	require.Equal(t, strconv.Itoa(run.FamiliesDone), scrape(t, h)[`paysplit_run_families_done_total`])

	// A subscription is active from its start until it is stopped.
	c := connectWS(t, in.srv.URL, transportWS, h.analyst)
	c.subscribe("a", agingTotals, map[string]any{"input": map[string]any{"first": 0}})
	c.next("a")
	require.Equal(t, "1", scrape(t, h)[`paysplit_graphql_active_subscriptions`])
	c.stop("a")
	require.Eventually(t, func() bool { return scrape(t, h)[`paysplit_graphql_active_subscriptions`] == "0" }, wsWait, 10*time.Millisecond)
	_, counted := scrape(t, h)[`paysplit_graphql_request_duration_seconds_count{operation="anonymous",type="subscription"}`]
	require.False(t, counted, "a subscription has no request duration")

	// The change listener's reconnects.
	var killed int
	require.NoError(t, d.db.Get(&killed, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	    WHERE datname = current_database() AND application_name = $1) k`, listenerApp))
	require.Equal(t, 1, killed)
	require.Eventually(t, func() bool { return scrape(t, h)[`paysplit_change_listener_reconnects_total`] == "1" }, wsWait, 10*time.Millisecond)
}

// Clients name their operations: a name that is not a GraphQL name is
// counted as "other", so a label never carries arbitrary text.
func TestMetricsOperationNamesAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	post := func(body string) response {
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/graphql", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.analyst)
		return send(t, req)
	}
	require.Empty(t, post(`{"query":"query A { __typename } query B { __typename }","operationName":"B"}`).Errors)
	require.NotEmpty(t, post(`{"query":"query A { __typename }","operationName":"select * from receipts"}`).Errors)
	m := scrape(t, h)
	require.Equal(t, "1", m[`paysplit_graphql_request_duration_seconds_count{operation="B",type="query"}`])
	require.Equal(t, "1", m[`paysplit_graphql_request_duration_seconds_count{operation="other",type="invalid"}`])
	for k := range m {
		require.NotContains(t, k, "select", "series %s", k)
	}
}
