package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/paysplit/paysplit/ledger"
)

// Websocket close codes paysplit chooses (gqlgen closes with 1000 otherwise).
const (
	closeForbidden     = 4403 // the key was refused or revoked
	closeTryAgainLater = 1013 // the key could not be checked again; reconnect
)

// socket is one websocket: the key it authenticated with, how to end it
// and with which close code, and how many operations it runs. The server
// keeps every authenticated socket by key id (live.sockets) until its
// connection ends, so revoking a key can close them.
type socket struct {
	epoch  uint64             // live.epoch when the upgrade arrived
	actor  ledger.Actor       // set when connection_init is accepted
	cancel context.CancelFunc // ends the connection (gqlgen closes it)
	close  atomic.Pointer[closeWith]
	ops    atomic.Int32 // operations running (admit)
}

// closeWith is the close code and reason that replace gqlgen's.
type closeWith struct {
	code   int
	reason string
}

type socketKey struct{}

// socketOf returns the websocket an operation arrived on, or nil (HTTP).
func socketOf(ctx context.Context) *socket {
	s, _ := ctx.Value(socketKey{}).(*socket)
	return s
}

// newSocket marks ctx, an upgrade request's, with a new socket. It is
// called before the request's key is checked: a revocation heard from then
// on makes register report the socket stale.
func (lv *live) newSocket(ctx context.Context) context.Context {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return context.WithValue(ctx, socketKey{}, &socket{epoch: lv.epoch})
}

// register files an authenticated socket under its key. stale reports
// that a revocation was heard since the key was checked, which may have
// been this key's: the caller checks it again.
func (lv *live) register(s *socket, a ledger.Actor, cancel context.CancelFunc) (stale bool) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	s.actor, s.cancel = a, cancel
	if lv.sockets[a.KeyID] == nil {
		lv.sockets[a.KeyID] = map[*socket]struct{}{}
	}
	lv.sockets[a.KeyID][s] = struct{}{}
	return lv.epoch != s.epoch
}

// forget removes a socket whose connection ended.
func (lv *live) forget(s *socket) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if set := lv.sockets[s.actor.KeyID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(lv.sockets, s.actor.KeyID)
		}
	}
}

// end closes the socket with code (the first code chosen stays).
func (s *socket) end(code int, reason string) {
	s.close.CompareAndSwap(nil, &closeWith{code, reason})
	s.cancel()
}

// KeyRevoked drops the key from the ledger's authentication cache and
// closes, with code 4403, every websocket of this server that the key
// opened (postgres.Listener calls it when a revocation commits, on any
// server instance).
func (s *Server) KeyRevoked(practiceID, keyID ledger.ID) {
	lv := s.live
	lv.ledger.ForgetKey(practiceID, keyID)
	lv.mu.Lock()
	defer lv.mu.Unlock()
	lv.epoch++
	for sock := range lv.sockets[keyID] {
		if sock.actor.PracticeID == practiceID {
			sock.end(closeForbidden, "key revoked")
		}
	}
}

// RecheckKeys empties the ledger's authentication cache, checks every key
// that has a websocket open here, in the background, and closes the sockets of those revoked since (4403); a
// socket whose key cannot be checked is closed with 1013, to reconnect and
// authenticate again. postgres.Listener calls it after reconnecting, when
// revocations may have been missed.
func (s *Server) RecheckKeys() {
	lv := s.live
	lv.ledger.ForgetKeys()
	lv.mu.Lock()
	lv.epoch++
	keys := make([]ledger.Actor, 0, len(lv.sockets))
	for _, set := range lv.sockets {
		for sock := range set {
			keys = append(keys, sock.actor)
			break
		}
	}
	lv.mu.Unlock()
	go func() {
		for _, a := range keys {
			err := lv.ledger.CheckKey(lv.closing, a)
			switch {
			case err == nil:
			case errors.Is(err, ledger.ErrUnauthenticated):
				s.KeyRevoked(a.PracticeID, a.KeyID)
			case lv.closing.Err() == nil:
				slog.Warn("websockets: could not check a key again; closing its sockets", "key", a.KeyID, "err", err)
				lv.endKey(a.KeyID, closeTryAgainLater, "key not checked; reconnect")
			}
		}
	}()
}

// endKey closes every socket of a key.
func (lv *live) endKey(keyID ledger.ID, code int, reason string) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for sock := range lv.sockets[keyID] {
		sock.end(code, reason)
	}
}

// acceptor accepts websockets as gqlgen's coder/websocket adapter does,
// and lets the server choose the close code: gqlgen closes with 1000 when
// it ends a connection whose context was cancelled.
type acceptor struct {
	transport.CoderWebsocketImplementation
}

// Accept upgrades the connection.
func (a acceptor) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := a.CoderWebsocketImplementation.Accept(w, r, o)
	if err != nil {
		if uw, ok := w.(*upgradeWriter); ok {
			uw.answered = true // the library answered the refusal
		}
		return nil, err
	}
	return &closingConn{WebsocketConn: c, s: socketOf(r.Context())}, nil
}

// closingConn closes with the code its socket chose, if any.
type closingConn struct {
	transport.WebsocketConn
	s *socket
}

func (c *closingConn) WriteClose(code int, reason string) error {
	if c.s != nil {
		if w := c.s.close.Load(); w != nil {
			code, reason = w.code, w.reason
		}
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

// SetReadLimit and SetReadDeadline pass on the adapter's optional methods.
func (c *closingConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *closingConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// Websockets counts the authenticated websockets open on this server.
func (s *Server) Websockets() int {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	n := 0
	for _, set := range s.live.sockets {
		n += len(set)
	}
	return n
}
