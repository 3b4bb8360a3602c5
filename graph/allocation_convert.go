package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/rules"
)

// Converters and helpers of the allocation resolvers (allocation.graphqls).

// toLedgerParams checks param overrides: a JSON object of strings. Values
// are text ("true", "12.50"); numbers are refused, as they are for Money.
func toLedgerParams(field string, in map[string]any) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		s, ok := v.(string)
		if !ok {
			return nil, ledger.Invalid(field+"."+k, "a param value is a string such as \"true\" or \"12.50\", not %T", v)
		}
		out[k] = s
	}
	return out, nil
}

func toLedgerTransferRequest(in model.TransferInput) (ledger.TransferRequest, error) {
	params, err := toLedgerParams("params", in.Params)
	return ledger.TransferRequest{
		GuarantorID: in.GuarantorID, PatientID: in.PatientID, Policy: str(in.Policy), Params: params,
		AsOf: in.AsOf, Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}, err
}

func toLedgerUnearnedAllocation(in model.AllocateUnearnedInput) (ledger.UnearnedAllocation, error) {
	params, err := toLedgerParams("params", in.Params)
	return ledger.UnearnedAllocation{
		GuarantorID: in.GuarantorID, ChargeIDs: in.ChargeIds, Amount: in.Amount, Preview: flag(in.Preview),
		Policy: str(in.Policy), Params: params, AsOf: in.AsOf, Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}, err
}

// toLedgerAllocation converts a receipt's allocation; the receipt must not
// also carry splits.
func toLedgerAllocation(in model.PostReceiptInput) (ledger.NewReceipt, ledger.Allocation, error) {
	r := toLedgerNewReceipt(in)
	if in.Allocation == nil {
		return r, ledger.Allocation{}, ledger.Invalid("allocation", "give allocation to have a policy split the receipt")
	}
	if in.Splits != nil {
		return r, ledger.Allocation{}, ledger.Invalid("splits", "give explicit splits or an allocation, not both")
	}
	params, err := toLedgerParams("allocation.params", in.Allocation.Params)
	return r, ledger.Allocation{Policy: str(in.Allocation.Policy), PreferPatientID: in.Allocation.PreferPatientID, Params: params}, err
}

// presentCompileErrors reports every problem of a policy document: all but
// the last are added to the response here, the last is returned. Each
// becomes a RULE_COMPILE_FAILED error of its own.
func presentCompileErrors(ctx context.Context, err error) error {
	var ces rules.CompileErrors
	if !errors.As(err, &ces) || len(ces) < 2 {
		return err
	}
	for _, ce := range ces[:len(ces)-1] {
		graphql.AddError(ctx, ce)
	}
	return ces[len(ces)-1]
}
