package graph

import (
	"context"

	"github.com/paysplit/paysplit/ledger"
)

type ctxKey int

const (
	actorKey ctxKey = iota
	authErrKey
	loadersKey
	requestIDKey
)

// actor returns the authenticated caller, or why there is none.
func actor(ctx context.Context) (ledger.Actor, error) {
	if a, ok := ctx.Value(actorKey).(ledger.Actor); ok {
		return a, nil
	}
	if err, ok := ctx.Value(authErrKey).(error); ok {
		return ledger.Actor{}, err
	}
	return ledger.Actor{}, ledger.ErrUnauthenticated
}

// loadersFor returns the request's loaders.
func loadersFor(ctx context.Context) *loaders {
	return ctx.Value(loadersKey).(*loaders)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withActor installs the caller and a fresh set of loaders for its practice;
// every statement made for the caller checks that its key still stands
// (ledger.WithKeyCheck).
func withActor(ctx context.Context, s ledger.Reader, a ledger.Actor) context.Context {
	ctx = context.WithValue(ledger.WithKeyCheck(ctx, a), actorKey, a)
	return context.WithValue(ctx, loadersKey, newLoaders(s, a.PracticeID))
}
