package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/paysplit/paysplit/ledger"
)

// access is what one request's access-log line says, filled in as the
// request goes: who it was (practice and key ids, never the key), which
// GraphQL operation, and why its key was refused. Patient data is never in
// it: the operation's name and type, not its variables or answer.
type access struct {
	mu       sync.Mutex
	opName   string
	opType   string
	ops      int // operations run (a websocket runs many)
	practice ledger.ID
	key      ledger.ID
	refused  string
}

type accessKeyT struct{}

var accessKey accessKeyT

func accessOf(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey).(*access)
	if a == nil {
		return &access{} // a context that did not come through ServeHTTP
	}
	return a
}

// caller records the authenticated caller.
func (a *access) caller(act ledger.Actor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.practice, a.key = act.PracticeID, act.KeyID
}

// refuse records why authentication failed and, for a well-formed token,
// the practice and key it named; fallback is the reason for an error that
// is no *ledger.AuthRefusal, unless a reason is known already.
func (a *access) refuse(err error, fallback string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var r *ledger.AuthRefusal
	switch {
	case errors.As(err, &r):
		a.refused, a.practice, a.key = r.Reason, r.PracticeID, r.KeyID
	case a.refused == "":
		a.refused = fallback
	}
}

// recordOperation notes each GraphQL operation the request runs.
func recordOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil {
		a := accessOf(ctx)
		a.mu.Lock()
		if a.ops == 0 {
			a.opName, a.opType = oc.Operation.Name, string(oc.Operation.Operation)
		}
		a.ops++
		a.mu.Unlock()
	}
	return next(ctx)
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and the websocket upgrade) reach
// the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SetAccessLog sets where the access log goes (default slog.Default()).
func (s *Server) SetAccessLog(l *slog.Logger) { s.accessLog = l }

// logged serves r through h and writes its access-log line: method, path,
// GraphQL operation name and type, status, duration, request id, practice
// and key ids, and why authentication was refused. A websocket's line comes
// when it closes, with the number of operations it ran.
func (s *Server) logged(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request)) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	w.Header().Set("X-Request-Id", id)
	a := &access{}
	ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey, id), accessKey, a)
	sw := &statusWriter{ResponseWriter: w}
	h(sw, r.WithContext(ctx))
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	log := s.accessLog
	if log == nil {
		log = slog.Default()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("request_id", id)}
	if a.ops > 0 {
		attrs = append(attrs, slog.String("operation", a.opName), slog.String("operation_type", a.opType))
		if a.ops > 1 {
			attrs = append(attrs, slog.Int("operations", a.ops))
		}
	}
	if a.practice != (ledger.ID{}) {
		attrs = append(attrs, slog.String("practice", a.practice.String()), slog.String("key", a.key.String()))
	}
	level := slog.LevelInfo
	if a.refused != "" {
		attrs, level = append(attrs, slog.String("auth_refused", a.refused)), slog.LevelWarn
	}
	log.LogAttrs(context.Background(), level, "request", attrs...)
}
