package graph

import (
	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// toLedgerNetUnearned turns the report's input (which may be absent) into
// the ledger's query.
func toLedgerNetUnearned(in *model.NetUnearnedInput) ledger.NetUnearnedQuery {
	if in == nil {
		return ledger.NetUnearnedQuery{}
	}
	q := ledger.NetUnearnedQuery{AsOf: in.AsOf, GuarantorID: in.GuarantorID, ProviderID: in.ProviderID,
		LocationID: in.LocationID, UnearnedTypeID: in.UnearnedTypeID}
	if in.Visibility != nil {
		q.Visibility = *in.Visibility
	}
	return q
}
