package graph

import (
	"context"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paysplit/paysplit/ledger"
)

// Limits on websockets (docs/security.md#limits, docs/reliability.md).
const (
	// MaxSubscriptionsPerSocket is how many operations (subscriptions, or
	// queries sent over the socket) one websocket may run at once; one
	// more is refused with SUBSCRIPTION_LIMIT_EXCEEDED and the socket
	// stays open.
	MaxSubscriptionsPerSocket = 32
	// LiveDBSlots is how many websocket operations of a server use the
	// database at once, over all its sockets: a subscription's start (its
	// key checked again, its first read), each of its events (the fields
	// resolved for it), a query sent over a socket. The others wait their
	// turn, so subscriptions never hold more than this many of the pool's
	// connections, and HTTP requests of every practice keep the rest.
	LiveDBSlots = 4
)

// liveOp is an operation running over a websocket.
type liveOp struct {
	lv        *live
	sock      *socket
	stream    bool          // a subscription
	eventDone chan struct{} // a response of the stream was made (capacity 1)
}

type liveOpKey struct{}

// admit is the operation middleware for operations over a websocket. The
// key is checked again (revoked: UNAUTHENTICATED, then the socket closes
// with 4403); at most MaxSubscriptionsPerSocket run at once on a socket;
// the check and a subscription's start run in a database slot (LiveDBSlots).
func (lv *live) admit(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	s := socketOf(ctx)
	oc := graphql.GetOperationContext(ctx)
	if s == nil || oc.Operation == nil {
		return next(ctx)
	}
	if s.ops.Add(1) > MaxSubscriptionsPerSocket {
		s.ops.Add(-1)
		err := gqlerror.Errorf("this websocket already runs %d operations, the most it may; complete one first", MaxSubscriptionsPerSocket)
		errcode.Set(err, CodeSubscriptionLimitExceeded)
		return refuseOp(ctx, err, nil)
	}
	var once sync.Once
	done := func() { once.Do(func() { s.ops.Add(-1) }) }
	context.AfterFunc(ctx, done) // the operation's context ends with it

	if !lv.acquire(ctx) {
		done()
		return func(context.Context) *graphql.Response { return nil }
	}
	op := &liveOp{lv: lv, sock: s, stream: oc.Operation.Operation == ast.Subscription, eventDone: make(chan struct{}, 1)}
	ctx = context.WithValue(ctx, liveOpKey{}, op)
	var h graphql.ResponseHandler
	if err := lv.ledger.CheckKey(ctx, s.actor); err != nil {
		h = refuseOp(ctx, err, func() {
			if errors.Is(err, ledger.ErrUnauthenticated) {
				s.end(closeForbidden, "key revoked")
			}
		})
	} else {
		h = next(ctx) // a subscription's resolver runs here; a query's fields run in perEvent
	}
	lv.release()
	return func(ctx context.Context) *graphql.Response {
		r := h(ctx)
		if r == nil {
			done() // before the transport says the operation is complete
		}
		return r
	}
}

// refuseOp answers an operation with err alone; then, if set, runs once the
// answer has been sent.
func refuseOp(ctx context.Context, err error, then func()) graphql.ResponseHandler {
	var path ast.Path
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
		for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, nil) {
			path = ast.Path{ast.PathName(f.Alias)}
			break
		}
	}
	ge, ok := err.(*gqlerror.Error)
	if !ok {
		ge = &gqlerror.Error{Err: err, Message: err.Error()}
	}
	ge.Path = path
	e := presentError(ctx, ge)
	sent := false
	return func(context.Context) *graphql.Response {
		if !sent {
			sent = true
			return &graphql.Response{Errors: gqlerror.List{e}}
		}
		if then != nil {
			then()
		}
		return nil
	}
}

// perEvent is the response middleware for operations over a websocket.
// Each response (each event of a subscription) gets loaders of its own, so
// nothing cached for one event is served with the next (gqlgen runs
// response middleware around each event with the context its fields are
// resolved in). A query's response is made in a database slot; an event's
// slot is the one its stream took (liveStream), held until the response is
// made.
func (lv *live) perEvent(l *ledger.Ledger) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		op, _ := ctx.Value(liveOpKey{}).(*liveOp)
		if op == nil {
			return next(ctx)
		}
		if a, err := actor(ctx); err == nil {
			ctx = context.WithValue(ctx, loadersKey, newLoaders(l.Store(), a.PracticeID))
		}
		if !op.stream {
			if !lv.acquire(ctx) {
				return nil
			}
			defer lv.release()
			return next(ctx)
		}
		r := next(ctx)
		if r != nil {
			select {
			case op.eventDone <- struct{}{}:
			default:
			}
		}
		return r
	}
}

// liveStream passes a subscription's events on (the resolver's channel and
// error, unchanged over HTTP) as the server's database slots allow: each
// event takes a slot before its fields are resolved and gives it back once
// its response is made.
func liveStream[T any](ctx context.Context, in <-chan T, err error) (<-chan T, error) {
	op, _ := ctx.Value(liveOpKey{}).(*liveOp)
	if err != nil || op == nil {
		return in, err
	}
	out := make(chan T)
	go func() {
		defer close(out)
		for v := range in { // in closes when ctx ends
			if !op.lv.acquire(ctx) {
				return
			}
			select {
			case out <- v:
				select { // the response is being made
				case <-op.eventDone:
				case <-ctx.Done():
				}
			case <-ctx.Done():
			}
			op.lv.release()
		}
	}()
	return out, nil
}

// acquire takes a database slot, false if ctx ended first.
func (lv *live) acquire(ctx context.Context) bool {
	select {
	case lv.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (lv *live) release() { <-lv.slots }
