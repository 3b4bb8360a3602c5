package rules

import (
	"cmp"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// result turns the planner's moves into a Plan and checks the policy's
// requirements on every proposed split.
func (pl *planner) result() (Plan, error) {
	plan := Plan{
		Policy: pl.p.Name(), PolicyHash: pl.p.Hash(), Operation: pl.req.Operation, AsOf: pl.asOf,
		Moves: make([]Move, 0, len(pl.moves)), Splits: make([]ProposedSplit, 0, 2*len(pl.moves)),
		Warnings: pl.warnings,
	}
	codeFrom, codeTo := CodeTransfer, CodeTransfer
	switch pl.req.Operation {
	case AutoSplit:
		codeFrom, codeTo = CodePay, CodePay
	case Reapply, CreditManagement:
		codeFrom, codeTo = CodeDebit, CodeApplied
	}
	var into []*item // per split: the receiver it fills, if any
	for _, m := range pl.moves {
		amt := fromCents(m.amount)
		plan.Moves = append(plan.Moves, Move{From: m.from, To: m.to, Amount: amt, Stage: m.stage})
		if m.from.Kind != PaymentBucket {
			plan.Splits = append(plan.Splits, proposed(m.from, amt.Neg(), codeFrom, m.stage))
			into = append(into, nil)
		}
		plan.Splits = append(plan.Splits, proposed(m.to, amt, codeTo, m.stage))
		into = append(into, m.into)
	}
	if err := pl.check(plan.Splits, into); err != nil {
		return Plan{}, err
	}
	plan.Balances = pl.balances()
	return plan, nil
}

func proposed(b Bucket, amount decimal.Decimal, code, stage string) ProposedSplit {
	s := ProposedSplit{
		Amount: amount, PatientID: b.PatientID, ProviderID: b.ProviderID, LocationID: b.LocationID,
		Code: code, Stage: stage,
	}
	switch b.Kind {
	case ChargeBucket, MisallocatedBucket:
		s.ChargeID = b.ChargeID
	case UnearnedBucket:
		s.UnearnedTypeID = b.UnearnedTypeID
	}
	return s
}

// check evaluates every requirement on every proposed split, in order; the
// first failure refuses the plan. A requirement's charge is the split's
// charge, or the deficit it refills (into).
func (pl *planner) check(splits []ProposedSplit, into []*item) error {
	if len(pl.p.requirements) == 0 {
		return nil
	}
	none := &chargeEnv{}
	for i := range splits {
		s := &splits[i]
		v := splitEnv{
			Code: s.Code, Stage: s.Stage, Date: pl.asOf.String(), Amount: s.Amount,
			PatientID: s.PatientID, GuarantorID: pl.guarantor[s.PatientID], ProviderID: s.ProviderID,
			LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID, Target: "NONE",
		}
		*pl.env.charge = none
		if r := into[i]; r != nil && r.deficit != nil {
			*pl.env.charge = &r.view
		}
		switch {
		case s.ChargeID != "":
			v.Target = "CHARGE"
			if it := pl.byID[s.ChargeID]; it != nil {
				*pl.env.charge = &it.view
			}
		case s.UnearnedTypeID != "":
			v.Target = "UNEARNED"
			if t := pl.types[s.UnearnedTypeID]; t != nil {
				v.UnearnedType, v.Hidden = t.Name, t.Hidden
			}
		}
		*pl.env.split = &v
		for _, r := range pl.p.requirements {
			ok, err := r.check.bool(&pl.vm, pl.env)
			if err != nil {
				return err
			}
			if !ok {
				return &RejectedError{Requirement: r.name, Message: r.message}
			}
		}
	}
	return nil
}

// balances reports the current state.
func (pl *planner) balances() Balances {
	b := Balances{Charges: make([]ChargeBalance, 0, len(pl.items))}
	items := slices.Clone(pl.items)
	slices.SortFunc(items, func(a, b *item) int {
		return cmp.Or(a.date.Compare(b.date), cmp.Compare(a.rank, b.rank), strings.Compare(a.id, b.id))
	})
	for _, it := range items {
		cb := ChargeBalance{
			ChargeID: it.bucket.ChargeID, PatientID: it.bucket.PatientID,
			Portion: fromCents(it.portion), Linked: fromCents(it.direct), Owed: fromCents(it.value),
		}
		if it.owner != nil {
			cb.FoldedInto = it.owner.bucket.ChargeID
		}
		b.Charges = append(b.Charges, cb)
	}
	b.Credits = make([]CreditBalance, 0, len(pl.pools)+len(pl.flowOrder))
	for _, pp := range pl.pools {
		b.Credits = append(b.Credits, CreditBalance{
			Bucket: pp.bucket, Hidden: pp.hidden,
			Amount: fromCents(pp.amount), Remaining: fromCents(pp.amount + pl.flow[pp.bucket.ID]),
		})
	}
	for _, id := range pl.flowOrder {
		if _, ok := pl.poolByID[id]; ok {
			continue
		}
		bk := pl.flowBucket[id]
		hidden := false
		if t := pl.types[bk.UnearnedTypeID]; t != nil {
			hidden = t.Hidden
		}
		b.Credits = append(b.Credits, CreditBalance{Bucket: bk, Hidden: hidden, Amount: fromCents(0), Remaining: fromCents(pl.flow[id])})
	}
	for _, c := range pl.credits {
		if c.charge != nil {
			b.Credits = append(b.Credits, CreditBalance{Bucket: c.bucket, Amount: c.view.Original, Remaining: fromCents(c.amount)})
		}
	}
	return b
}
