package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// Converters and helpers of the credits resolvers (credits.graphqls).

func toLedgerCandidateQuery(in model.ReapplyCandidatesInput) ledger.CandidateQuery {
	q := ledger.CandidateQuery{PatientID: in.PatientID, SameGuarantor: flag(in.SameGuarantor),
		AdditionalPatientIDs: in.AdditionalPatientIds, AsOf: in.AsOf}
	if in.Show != nil {
		q.Show = *in.Show
	}
	return q
}

func toLedgerReapplyRequest(in model.ReapplyCreditInput) (ledger.ReapplyRequest, error) {
	params, err := toLedgerParams("params", in.Params)
	req := ledger.ReapplyRequest{
		PatientID: in.PatientID, Sources: in.Sources, AdditionalPatientIDs: in.AdditionalPatientIds, Force: flag(in.Force),
		Policy: str(in.Policy), Params: params, AsOf: in.AsOf, BatchID: in.BatchID, Note: str(in.Note),
		IdempotencyKey: str(in.IdempotencyKey),
	}
	req.Targets = make([]ledger.ReapplyTarget, len(in.Targets))
	for i, t := range in.Targets {
		req.Targets[i] = ledger.ReapplyTarget{ChargeID: t.ChargeID, Amount: t.Amount}
	}
	return req, err
}

func toLedgerRunRequest(in model.StartRunInput) (ledger.RunRequest, error) {
	params, err := toLedgerParams("params", in.Params)
	req := ledger.RunRequest{
		Kind: in.Kind, Preview: flag(in.Preview), GuarantorIDs: in.GuarantorIds, Policy: str(in.Policy), Params: params,
		AsOf: in.AsOf, TransferDate: in.TransferDate, ChangedSince: in.ChangedSince, Note: str(in.Note), BatchID: in.BatchID, IdempotencyKey: str(in.IdempotencyKey),
	}
	if in.Method != nil {
		req.Method = *in.Method
	}
	if in.Scope != nil {
		req.Scope = *in.Scope
	}
	if sp := in.Spend; sp != nil {
		d := ledger.DefaultCreditSpend
		req.Spend = &ledger.CreditSpend{LineCredits: flagOr(sp.LineCredits, d.LineCredits), Unallocated: flagOr(sp.Unallocated, d.Unallocated),
			UnearnedTypeIDs: sp.UnearnedTypeIds, ForcedLines: flagOr(sp.ForcedLines, d.ForcedLines)}
	}
	return req, err
}

// flagOr is an optional boolean, or def when it is left out.
func flagOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func toLedgerFamilyBalancing(in model.BalanceFamilyInput) (ledger.FamilyBalancing, error) {
	params, err := toLedgerParams("params", in.Params)
	return ledger.FamilyBalancing{
		GuarantorID: in.GuarantorID, Method: in.Method, Preview: flag(in.Preview), Policy: str(in.Policy), Params: params,
		AsOf: in.AsOf, TransferDate: in.TransferDate, Note: str(in.Note), IdempotencyKey: str(in.IdempotencyKey),
	}, err
}

// balanceFamilyError names the input's own field: balanceFamily is a run
// of one family, whose refusals name the run's guarantorIds[0].
func balanceFamilyError(err error) error {
	var ie *ledger.InputError
	if errors.As(err, &ie) && strings.HasPrefix(ie.Field, "guarantorIds") {
		return ledger.Invalid("guarantorId", "%s", ie.Message)
	}
	return err
}

func toLedgerRunFilter(in *model.RunFilter) ledger.RunFilter {
	var f ledger.RunFilter
	if in != nil {
		if in.Kind != nil {
			f.Kind = *in.Kind
		}
		if in.Status != nil {
			f.Status = *in.Status
		}
	}
	return f
}

func toLedgerRunFamilyFilter(in *model.RunFamilyFilter) ledger.RunFamilyFilter {
	var f ledger.RunFamilyFilter
	if in != nil && in.Status != nil {
		f.Status = *in.Status
	}
	return f
}

// expectPlace announces what an AllocationPlace's fields load at site.
func expectPlace(ls *loaders, site string, p ledger.Place) {
	ls.patient.expect(site, opt(p.PatientID)...)
	ls.provider.expect(site, opt(p.ProviderID)...)
	ls.location.expect(site, opt(p.LocationID)...)
	ls.charge.expect(site, opt(p.ChargeID)...)
	ls.unearnedType.expect(site, opt(p.UnearnedTypeID)...)
}

// receiptsByID loads receipts in the order of ids.
func receiptsByID(ctx context.Context, ids []ledger.ID) ([]ledger.Receipt, error) {
	if len(ids) == 0 {
		return []ledger.Receipt{}, nil
	}
	rs, err := loadersFor(ctx).receipt.LoadAll(ctx, ids)
	if err != nil {
		_, err = found(ledger.Receipt{}, err)
	}
	return rs, err
}
