package graph

import (
	"context"
	"database/sql"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
)

// MetricsPath is where the server serves its Prometheus metrics.
const MetricsPath = "/metrics"

// Operation-name labels. A client names its operations, so the names are
// bounded: a name that is not a GraphQL name, or that would exceed
// maxOperationNames distinct names, is counted as "other".
const (
	anonymousOperation = "anonymous"
	otherOperation     = "other"
	maxOperationNames  = 200
)

var operationName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,63}$`)

// metrics are one server's Prometheus metrics, on a registry of its own so
// that several servers (tests) do not share counters. It is also the gqlgen
// extension that records them (metricsExtension).
type metrics struct {
	reg           *prometheus.Registry
	duration      *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	subscriptions prometheus.Gauge

	mu    sync.Mutex
	names map[string]bool
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "paysplit",
			Name:      "graphql_request_duration_seconds",
			Help:      "Time to answer a GraphQL query or mutation, by operation name (\"anonymous\" when unnamed) and type.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"operation", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "paysplit",
			Name:      "graphql_errors_total",
			Help:      "GraphQL errors returned, by extensions.code.",
		}, []string{"code"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "paysplit",
			Name:      "graphql_active_subscriptions",
			Help:      "Subscriptions currently open.",
		}),
		names: map[string]bool{},
	}
	m.reg.MustRegister(m.duration, m.errors, m.subscriptions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterMetrics adds collectors to the server's registry, served at
// /metrics: the database pool's (collectors.NewDBStatsCollector) and the
// change listener's reconnects, which the server does not own.
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.metrics.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// DBStatsMetrics is the database pool's collector: go_sql_* series
// labelled db_name="paysplit" (open, in-use and idle connections, waits,
// closes).
func DBStatsMetrics(db *sql.DB) prometheus.Collector {
	return collectors.NewDBStatsCollector(db, "paysplit")
}

// ListenerReconnectsMetric is paysplit_change_listener_reconnects_total,
// read from n (postgres.Listener.Reconnects) at each scrape.
func ListenerReconnectsMetric(n func() int) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "paysplit",
		Name:      "change_listener_reconnects_total",
		Help:      "Times the change listener (LISTEN for live aging) lost its database connection and reconnected.",
	}, func() float64 { return float64(n()) })
}

// RunProgressMetrics are paysplit_runs_active and
// paysplit_run_families_done_total, read from progress
// ((*ledger.Ledger).RunProgress) at each scrape.
func RunProgressMetrics(progress func() (active int, familiesDone int64)) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "paysplit", Name: "runs_active",
			Help: "Long runs (credit management, the family balancer) this server is running now.",
		}, func() float64 { n, _ := progress(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "paysplit", Name: "run_families_done_total",
			Help: "Families the runs of this server have finished (committed, or planned for a preview).",
		}, func() float64 { _, n := progress(); return float64(n) }),
	}
}

// serve answers a Prometheus scrape.
func (m *metrics) serve(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}).ServeHTTP(w, r)
}

// label is the operation label of an operation context.
func (m *metrics) label(oc *graphql.OperationContext) string {
	name := oc.OperationName
	if oc.Operation != nil && oc.Operation.Name != "" {
		name = oc.Operation.Name
	}
	if name == "" {
		return anonymousOperation
	}
	if !operationName.MatchString(name) {
		return otherOperation
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.names[name] {
		if len(m.names) >= maxOperationNames {
			return otherOperation
		}
		m.names[name] = true
	}
	return name
}

// metricsExtension is the gqlgen extension that records the metrics.
type metricsExtension struct{ m *metrics }

var (
	_ graphql.HandlerExtension     = metricsExtension{}
	_ graphql.OperationInterceptor = metricsExtension{}
	_ graphql.ResponseInterceptor  = metricsExtension{}
)

func (metricsExtension) ExtensionName() string                   { return "Metrics" }
func (metricsExtension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation counts a subscription as active from its start until
// its context ends (the client stopped it, the websocket closed, or the
// server closed it).
func (e metricsExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		e.m.subscriptions.Inc()
		context.AfterFunc(ctx, e.m.subscriptions.Dec)
	}
	return next(ctx)
}

// InterceptResponse counts the response's errors by code and, for a query
// or mutation, observes the time since the operation started. Responses
// refused before an operation was chosen (a syntax error) count as
// "anonymous".
func (e metricsExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	for _, err := range resp.Errors {
		code, _ := err.Extensions["code"].(string)
		if code == "" {
			code = CodeInternal
		}
		e.m.errors.WithLabelValues(code).Inc()
	}
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	typ := "invalid"
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
	}
	if typ == string(ast.Subscription) || oc.Stats.OperationStart.IsZero() {
		return resp
	}
	e.m.duration.WithLabelValues(e.m.label(oc), typ).Observe(time.Since(oc.Stats.OperationStart).Seconds())
	return resp
}
