package graph

import (
	"context"

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

// moveResponsibility runs billToPatient or billToInsurance.
func (r *mutationResolver) moveResponsibility(ctx context.Context,
	move func(context.Context, ledger.Actor, ledger.ResponsibilityMove) ([]ledger.Charge, error),
	in model.ResponsibilityInput) (model.ResponsibilityPayload, error) {
	a, err := actor(ctx)
	if err != nil {
		return model.ResponsibilityPayload{}, err
	}
	cs, err := move(ctx, a, ledger.ResponsibilityMove{ChargeID: in.ChargeID, EncounterID: in.EncounterID, On: in.On,
		Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey)})
	return model.ResponsibilityPayload{Charges: cs}, err
}
