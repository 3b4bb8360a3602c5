package ledger

import (
	"context"
	"fmt"
	"slices"
)

// What a credit-management run may spend (docs/credits.md, "Credit
// management"). By default it spends overpaid lines' credit and unallocated
// money, and keeps every unearned type's money (a prepayment the practice
// means to keep stays) and every line a force apply left overpaid (a
// deliberate move is not undone); a run names what else it may spend.

// CreditSpend is the credit a credit-management run may spend. The zero
// value spends nothing; nil in a RunRequest is DefaultCreditSpend.
type CreditSpend struct {
	LineCredits bool `json:"lineCredits"` // credit on overpaid lines
	Unallocated bool `json:"unallocated"` // money on nothing
	// UnearnedTypeIDs are the unearned types whose (visible) money it may
	// spend.
	UnearnedTypeIDs []ID `json:"unearnedTypeIds,omitempty"`
	// ForcedLines lets it spend the credit on a line a re-apply left
	// overpaid (a PCA split on a line that owes less than nothing).
	ForcedLines bool `json:"forcedLines"`
}

// DefaultCreditSpend is what a run spends when it does not say.
var DefaultCreditSpend = CreditSpend{LineCredits: true, Unallocated: true}

// checkSpend validates a run's spend: its types must be the practice's.
func checkSpend(ctx context.Context, r Reader, pid ID, sp *CreditSpend) (CreditSpend, error) {
	if sp == nil {
		return DefaultCreditSpend, nil
	}
	types, err := r.UnearnedTypes(ctx, pid)
	if err != nil {
		return CreditSpend{}, err
	}
	have := byID(types, func(u UnearnedType) ID { return u.ID })
	for i, id := range sp.UnearnedTypeIDs {
		if _, ok := have[id]; !ok {
			return CreditSpend{}, Invalid(fmt.Sprintf("spend.unearnedTypeIds[%d]", i), "no unearned type with id %s", id)
		}
	}
	return *sp, nil
}

// within is the family as a run that spends sp sees it: money it may not
// spend is left out, so no plan touches it.
func (s snapshot) within(sp CreditSpend) snapshot {
	types := map[ID]bool{}
	for _, id := range sp.UnearnedTypeIDs {
		types[id] = true
	}
	forced := map[ID]bool{}
	for _, x := range s.family.Splits {
		if x.ChargeID != nil && x.Code == CodeApplied && x.Amount.Sign() > 0 {
			forced[*x.ChargeID] = true
		}
	}
	keep := map[ID]bool{} // overpaid lines left out, and what is attached to them
	for _, c := range s.family.Charges {
		if s.family.Balances[c.ID].Owed.Sign() < 0 && (!sp.LineCredits || forced[c.ID] && !sp.ForcedLines) {
			keep[c.ID] = true
		}
	}
	for _, c := range s.family.Charges {
		if c.AttachedToID != nil && keep[*c.AttachedToID] {
			keep[c.ID] = true
		}
	}
	out, f := s, s.family
	f.Charges = slices.DeleteFunc(slices.Clone(f.Charges), func(c Charge) bool { return keep[c.ID] })
	f.Splits = slices.DeleteFunc(slices.Clone(f.Splits), func(x PostedSplit) bool {
		switch {
		case x.ChargeID != nil:
			return keep[*x.ChargeID]
		case x.UnearnedTypeID != nil:
			return !types[*x.UnearnedTypeID]
		}
		return !sp.Unallocated
	})
	out.family = f
	return out
}
