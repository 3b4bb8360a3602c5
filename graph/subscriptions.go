package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
)

// Option configures a Server.
type Option func(*live)

// WithAgingHub makes the agingUpdated subscription follow h, which the
// caller feeds with the database's change notifications (postgres.Listen)
// and closes. Without it the server makes a hub of its own that hears of no
// change: each subscription then gets only its first report.
func WithAgingHub(h *aginghub.Hub) Option { return func(lv *live) { lv.hub, lv.ownHub = h, false } }

// WithAllowedOrigins lets browser pages from these origins open websockets
// (pages served by paysplit itself always may). A pattern is a host
// ("dash.example.com", "*.example.com") or a scheme and host
// ("https://dash.example.com"), in path.Match syntax.
func WithAllowedOrigins(patterns ...string) Option {
	return func(lv *live) { lv.origins = append(lv.origins, patterns...) }
}

// live is the server's websocket side: subscriptions, the sockets of each
// key (sockets.go), their limits (socket_limits.go) and their shutdown.
type live struct {
	ledger  *ledger.Ledger
	hub     *aginghub.Hub
	ownHub  bool
	origins []string
	slots   chan struct{} // database slots of websocket operations (LiveDBSlots)

	closing context.Context // cancelled by Close: ends every websocket
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	conns   sync.WaitGroup
	sockets map[ledger.ID]map[*socket]struct{} // authenticated sockets by key id
	epoch   uint64                             // revocations heard (and rechecks)
}

func newLive(l *ledger.Ledger, opts []Option) *live {
	lv := &live{ledger: l, hub: aginghub.New(l), ownHub: true, slots: make(chan struct{}, LiveDBSlots),
		sockets: map[ledger.ID]map[*socket]struct{}{}}
	for _, o := range opts {
		o(lv)
	}
	lv.closing, lv.cancel = context.WithCancel(context.Background())
	return lv
}

// websocket is the transport for subscriptions: graphql-transport-ws and the
// legacy graphql-ws, authenticated by connection_init, cross-origin
// upgrades refused unless allowed.
func (lv *live) websocket(l *ledger.Ledger) transport.Websocket {
	return transport.Websocket{
		Implementation: acceptor{transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: lv.origins},
		}},
		InitFunc:              lv.initFunc(l),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 10 * time.Second,
	}
}

// errNoInitKey refuses a websocket that sent no usable key.
var errNoInitKey = errors.New("unauthenticated: send {\"Authorization\": \"Bearer <key>\"} or {\"headers\": {\"Authorization\": \"Bearer <key>\"}} in connection_init")

// initFunc authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer <key>"} or {"headers": {"Authorization": …}},
// or an Authorization header on the upgrade request), files it under its key (so revoking the key closes it),
// and ties the connection to the server's lifetime. A refused connection is
// closed with code 4403.
func (lv *live) initFunc(l *ledger.Ledger) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		refuse := func(err error) (context.Context, *transport.InitPayload, error) {
			accessOf(ctx).refuse(err, err.Error())
			ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, closeForbidden), "Forbidden")
			return ctx, nil, err
		}
		if auth := initAuthorization(p); auth != "" {
			token, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok {
				return refuse(errNoInitKey)
			}
			a, err := l.Authenticate(ctx, strings.TrimSpace(token))
			if err != nil {
				accessOf(ctx).refuse(err, "")
				return refuse(errors.New("unauthenticated: the key is not valid"))
			}
			ctx = withActor(ctx, l.Store(), a)
			accessOf(ctx).caller(a)
		}
		a, err := actor(ctx)
		if err != nil {
			return refuse(errNoInitKey)
		}
		ctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(lv.closing, cancel)
		context.AfterFunc(ctx, func() { stop() })
		if s := socketOf(ctx); s != nil && lv.register(s, a, cancel) {
			if err := l.CheckKey(ctx, a); err != nil { // a revocation came in meanwhile
				cancel()
				return refuse(errors.New("unauthenticated: the key is not valid"))
			}
		}
		return ctx, nil, nil
	}
}

// initAuthorization is the Authorization a connection_init payload
// carries, flat ({"Authorization": …}, as graphql-ws clients are usually set
// up) or nested ({"headers": {"Authorization": …}}, as Apollo's and
// GraphiQL's are); either key may be lower-case.
func initAuthorization(p transport.InitPayload) string {
	if auth := p.Authorization(); auth != "" {
		return strings.TrimSpace(auth)
	}
	if h, ok := p["headers"].(map[string]any); ok {
		return strings.TrimSpace(transport.InitPayload(h).Authorization())
	}
	return ""
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

// upgrade serves a websocket upgrade (its context marked by newSocket),
// refusing it while the server closes, and forgets the socket when its
// connection ends.
func (lv *live) upgrade(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	if !lv.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer lv.exit()
	if s := socketOf(r.Context()); s != nil {
		defer lv.forget(s)
	}
	if !lv.originAllowed(r) {
		refuse(w, http.StatusForbidden, CodeForbidden, "", fmt.Sprintf(
			"websockets from origin %q are not allowed (serve --allowed-origins lists those that are)", cut(r.Header.Get("Origin"), 200)))
		return
	}
	serve(&upgradeWriter{ResponseWriter: w}, r)
}

// originAllowed is the websocket library's origin check, made before it
// runs so that a refusal is answered coded: no Origin (not a browser), the
// server's own host, or a host (or scheme://host) matching one of the
// allowed patterns.
func (lv *live) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range lv.origins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// upgradeWriter keeps the answer the websocket library gives a handshake
// it refuses: gqlgen answers the same failure again, which net/http would
// drop with a "superfluous WriteHeader" log line.
type upgradeWriter struct {
	http.ResponseWriter
	answered bool // the library refused the handshake and answered
}

func (w *upgradeWriter) WriteHeader(code int) {
	if !w.answered {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *upgradeWriter) Write(b []byte) (int, error) {
	if w.answered {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets the websocket library reach the connection to hijack it.
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
