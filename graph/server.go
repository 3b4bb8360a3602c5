package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// Limits on what one request may ask for.
const (
	MaxPageSize     = 500
	defaultPageSize = 50
	complexityLimit = 20000
	maxRequestBytes = 1 << 20
	graphqlEndpoint = "/graphql"
)

// Server is the HTTP face of paysplit: GraphQL at /graphql (POST, and GET for
// queries), the GraphiQL playground at /, and /healthz and /readyz.
type Server struct {
	ledger  *ledger.Ledger
	ready   *readiness // /readyz (ready.go)
	gql     *handler.Server
	live    *live    // websockets and live aging (subscriptions.go)
	metrics *metrics // Prometheus, at /metrics (metrics.go)

	limiter     *rateLimiter             // requests per key (limits.go)
	bodyTimeout time.Duration            // how long a body may take to arrive (limits.go)
	maxUpload   int64                    // largest uploaded file (import_http.go)
	multipart   *transport.MultipartForm // uploads
	accessLog   *slog.Logger             // one line per request (accesslog.go)
}

// NewServer builds the server. ready reports whether the database answers.
func NewServer(l *ledger.Ledger, ready func(context.Context) error, opts ...Option) *Server {
	lv := newLive(l, opts)
	cfg := Config{Resolvers: &Resolver{Ledger: l, Live: lv.hub}}
	page := func(childComplexity int, first *int) int {
		n := defaultPageSize
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*childComplexity
	}
	cfg.Complexity.Query.Guarantors = func(c int, _ *model.GuarantorFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Query.Patients = func(c int, _ *model.PatientFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Query.Receipts = func(c int, _ *model.ReceiptFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Query.Batches = func(c int, _ *model.BatchFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Query.Runs = func(c int, _ *model.RunFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Run.Families = func(c int, _ *model.RunFamilyFilter, first *int, _ *string) int { return page(c, first) }
	cfg.Complexity.Query.Aging, cfg.Complexity.Subscription.AgingUpdated = agingComplexity, agingComplexity

	gql := handler.New(NewExecutableSchema(cfg))
	m := newMetrics()
	gql.Use(metricsExtension{m})
	gql.AddTransport(lv.websocket(l))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(getQueries{}) // a coded refusal of a mutation (import_http.go)
	gql.AddTransport(transport.POST{})
	multipart := &transport.MultipartForm{MaxUploadSize: DefaultMaxUploadBytes + uploadOverhead, MaxMemory: uploadMemory}
	gql.AddTransport(multipartForm{multipart}) // coded refusals (import_http.go)
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	gql.SetParserTokenLimit(MaxTokens) // limits.go
	gql.Use(extension.Introspection{})
	gql.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	// The shape first: gqlgen's complexity walk expands every fragment
	// spread anew, exponential in a document whose fragments spread each
	// other; shapeLimit measures each fragment once and refuses those.
	gql.Use(shapeLimit{depth: MaxQueryDepth, roots: MaxRootFields, fields: MaxFields}) // limits.go
	gql.Use(extension.FixedComplexityLimit(complexityLimit))
	gql.SetErrorPresenter(presentError)
	gql.SetRecoverFunc(recoverPanic)
	gql.AroundRootFields(authorize)       // the role each root field needs (auth.go)
	gql.AroundOperations(recordOperation) // the access log's operation (accesslog.go)
	gql.AroundOperations(lv.admit)        // a websocket's operations: key checked again, limits (socket_limits.go)
	gql.AroundOperations(authorizeSubscriptions)
	gql.AroundResponses(lv.perEvent(l))
	return &Server{ledger: l, ready: &readiness{check: ready}, gql: gql, live: lv, metrics: m, maxUpload: DefaultMaxUploadBytes,
		multipart: multipart, limiter: newRateLimiter(DefaultRateLimit, time.Now), bodyTimeout: DefaultBodyTimeout}
}

// ServeHTTP routes a request. A request's body must arrive within the body
// timeout (limits.go).
// Each request gets a request id and an access-log line (accesslog.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.logged(w, r, s.route) }

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	s.bodyDeadline(w, r, s.bodyTimeout)
	switch r.URL.Path {
	case graphqlEndpoint:
		s.graphql(w, r)
	case "/":
		servePlayground(w, r) // playground.go
	case TemplatePath, HistoryTemplatePath:
		serveTemplate(w, r)
	case "/dashboard":
		serveDashboard(w, r)
	case MetricsPath:
		s.metrics.serve(w, r)
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	case "/readyz":
		s.ready.serve(w, r)
	default:
		if strings.HasPrefix(r.URL.Path, StatementsPath) {
			serveStatement(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, PlaygroundPrefix) {
			servePlayground(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

// graphql authenticates the request, gives it a request id and fresh
// loaders, and hands it to gqlgen. A request with a key that is not valid is
// refused before its body is read; one without a key may send only a small
// body (introspection, balanceForwardTemplate).
func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	upgrade := r.Header.Get("Upgrade") != ""
	if upgrade {
		ctx = s.live.newSocket(ctx) // before the key is checked (sockets.go)
	}
	bodyLimit, timeout := int64(maxRequestBytes), s.bodyTimeout
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		a, err := s.ledger.Authenticate(ctx, strings.TrimSpace(token))
		switch {
		case err == nil:
			ctx = withActor(ctx, s.ledger.Store(), a)
			accessOf(ctx).caller(a)
		case errors.Is(err, ledger.ErrUnauthenticated):
			accessOf(ctx).refuse(err, "")
		}
		switch {
		case err == nil:
		case errors.Is(err, ledger.ErrUnauthenticated) && !upgrade:
			_, msg, _ := classify(err)
			refuse(w, http.StatusUnauthorized, CodeUnauthenticated, "", msg)
			return
		default:
			ctx = context.WithValue(ctx, authErrKey, err)
		}
	} else {
		bodyLimit = anonymousBodyBytes
	}
	if !s.admitRate(w, ctx) { // per-key rate (limits.go)
		return
	}
	if isMultipart(r) {
		if !s.admitUpload(w, r.WithContext(ctx)) { // CSRF, key and size, before reading (import_http.go)
			return
		}
		bodyLimit = s.maxUpload + uploadOverhead
		ctx = withUploadLimit(ctx, s.maxUpload)
		declareUploadLength(r, bodyLimit) // import_http.go
		timeout = s.uploadTimeout()
		s.bodyDeadline(w, r, timeout)
	}
	r.Body = bodyReader{http.MaxBytesReader(w, r.Body, bodyLimit), timeout}
	if upgrade {
		s.live.upgrade(w, r.WithContext(ctx), s.gql.ServeHTTP)
		return
	}
	s.gql.ServeHTTP(w, r.WithContext(ctx))
}
