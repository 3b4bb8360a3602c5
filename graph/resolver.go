package graph

import "github.com/paysplit/paysplit/ledger"

// Resolver is the root of the resolvers: the dependencies they share.
type Resolver struct {
	Ledger *ledger.Ledger
	Live   *ledger.AgingHub // live aging for subscriptions
}
