package graph

import (
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
)

// Resolver is the root of the resolvers: the dependencies they share.
type Resolver struct {
	Ledger *ledger.Ledger
	Live   *aginghub.Hub // live aging for subscriptions
}
