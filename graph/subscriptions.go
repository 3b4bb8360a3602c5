package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/paysplit/paysplit/ledger"
)

// Option configures a Server.
type Option func(*live)

// WithAgingHub makes the agingUpdated subscription follow h, which the
// caller feeds with the database's change notifications (postgres.Listen)
// and closes. Without it the server makes a hub of its own that hears of no
// change: each subscription then gets only its first report.
func WithAgingHub(h *ledger.AgingHub) Option { return func(lv *live) { lv.hub, lv.ownHub = h, false } }

// WithAllowedOrigins lets browser pages from these origins open websockets
// (pages served by paysplit itself always may). A pattern is a host
// ("dash.example.com", "*.example.com") or a scheme and host
// ("https://dash.example.com"), in path.Match syntax.
func WithAllowedOrigins(patterns ...string) Option {
	return func(lv *live) { lv.origins = append(lv.origins, patterns...) }
}

// live is the server's websocket side: subscriptions and their shutdown.
type live struct {
	hub     *ledger.AgingHub
	ownHub  bool
	origins []string

	closing context.Context // cancelled by Close: ends every websocket
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	conns   sync.WaitGroup
}

func newLive(l *ledger.Ledger, opts []Option) *live {
	lv := &live{hub: ledger.NewAgingHub(l), ownHub: true}
	for _, o := range opts {
		o(lv)
	}
	lv.closing, lv.cancel = context.WithCancel(context.Background())
	return lv
}

// wsKey marks the context of an operation that arrived over a websocket.
type wsKey struct{}

// websocket is the transport for subscriptions: graphql-transport-ws and the
// legacy graphql-ws, authenticated by connection_init, cross-origin
// upgrades refused unless allowed.
func (lv *live) websocket(l *ledger.Ledger) transport.Websocket {
	return transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: lv.origins},
		},
		InitFunc:              lv.initFunc(l),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 10 * time.Second,
	}
}

// initFunc authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer <key>"}, or an Authorization header on the
// upgrade request), and ties the connection to the server's lifetime. A
// refused connection is closed with code 4403.
func (lv *live) initFunc(l *ledger.Ledger) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		refuse := func(err error) (context.Context, *transport.InitPayload, error) {
			ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, 4403), "Forbidden")
			return ctx, nil, err
		}
		if auth := strings.TrimSpace(p.Authorization()); auth != "" {
			token, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok {
				return refuse(errors.New("unauthenticated: send {\"Authorization\": \"Bearer <key>\"} in connection_init"))
			}
			a, err := l.Authenticate(ctx, strings.TrimSpace(token))
			if err != nil {
				return refuse(errors.New("unauthenticated: the key is not valid"))
			}
			ctx = withActor(ctx, l.Store(), a)
		} else if _, err := actor(ctx); err != nil {
			return refuse(errors.New("unauthenticated: send {\"Authorization\": \"Bearer <key>\"} in connection_init"))
		}
		ctx, cancel := context.WithCancel(context.WithValue(ctx, wsKey{}, true))
		stop := context.AfterFunc(lv.closing, cancel)
		context.AfterFunc(ctx, func() { stop() })
		return ctx, nil, nil
	}
}

// freshLoaders gives every response sent over a websocket (each event of a
// subscription) loaders of its own, so nothing cached for one event is
// served with the next. gqlgen runs response middleware around each event
// with the context the event's fields are resolved in.
func freshLoaders(l *ledger.Ledger) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if ctx.Value(wsKey{}) != nil {
			if a, err := actor(ctx); err == nil {
				ctx = context.WithValue(ctx, loadersKey, newLoaders(l.Store(), a.PracticeID))
			}
		}
		return next(ctx)
	}
}

// enter admits a websocket upgrade unless the server is closing; exit is
// called when its connection ends.
func (lv *live) enter() bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.closed {
		return false
	}
	lv.conns.Add(1)
	return true
}

func (lv *live) exit() { lv.conns.Done() }

// upgrade serves a websocket upgrade, refusing it while the server closes.
func (lv *live) upgrade(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	if !lv.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer lv.exit()
	serve(w, r)
}

// Close ends every subscription and closes every websocket (which
// http.Server.Shutdown leaves open: they are hijacked connections), refuses
// new ones, and waits until they are gone or ctx ends. Call it before
// http.Server.Shutdown.
func (s *Server) Close(ctx context.Context) error {
	lv := s.live
	lv.mu.Lock()
	lv.closed = true
	lv.mu.Unlock()
	lv.cancel()
	if lv.ownHub {
		lv.hub.Close()
	}
	done := make(chan struct{})
	go func() { lv.conns.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
