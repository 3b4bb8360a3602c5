package rules

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// Plan plans in.Request under the policy. It is a pure function of the
// policy and in: the same input gives the same plan, byte for byte,
// whatever the order of in's slices.
//
// It returns a *ParamError for a bad param override, a *RejectedError when a
// requirement or a leftover rule refuses the plan, an *EvalError when an
// expression fails, a *BudgetError when the plan goes over a budget, and an
// error wrapping ErrInvalidInput for a malformed snapshot or request.
func (p *Policy) Plan(in Input) (Plan, error) { return p.PlanContext(context.Background(), in) }

// PlanContext is Plan within ctx: when ctx's deadline passes, planning stops
// with a *BudgetError (budget "time"); when ctx is cancelled, it stops with
// an error wrapping ctx's error. It looks at ctx between evaluations.
func (p *Policy) PlanContext(ctx context.Context, in Input) (Plan, error) {
	pl, err := newPlanner(ctx, p, &in)
	if err != nil {
		return Plan{}, err
	}
	if err := pl.run(); err != nil {
		return Plan{}, err
	}
	return pl.result()
}

// run plans the request: the offsets, then the operation.
func (pl *planner) run() error {
	if err := pl.offsets(); err != nil {
		return err
	}
	switch pl.req.Operation {
	case AutoSplit:
		return pl.autoSplit()
	case Transfer, CreditManagement:
		return pl.transfer()
	case AllocateUnearned:
		return pl.allocateUnearned()
	case Reapply:
		return pl.reapply()
	}
	return invalidInput("unknown operation %q", pl.req.Operation)
}

// Balances returns the family as the policy sees it: explicit links, the
// offsets, then implicit linking (every credit the policy would apply
// applied, posting nothing). Request.Operation may be empty.
func (p *Policy) Balances(in Input) (Balances, error) {
	return p.BalancesContext(context.Background(), in)
}

// BalancesContext is Balances within ctx, as PlanContext.
func (p *Policy) BalancesContext(ctx context.Context, in Input) (Balances, error) {
	if in.Request.Operation == "" {
		in.Request.Operation = Transfer
	}
	pl, err := newPlanner(ctx, p, &in)
	if err != nil {
		return Balances{}, err
	}
	if err := pl.offsets(); err != nil {
		return Balances{}, err
	}
	if err := pl.runStages(pl.activeCredits(nil), pl.receivers(true), false); err != nil {
		return Balances{}, err
	}
	return pl.balances(), nil
}

// activeCredits returns the credits the policy lets move, optionally only
// those keep accepts.
func (pl *planner) activeCredits(keep func(*credit) bool) []*credit {
	var cs []*credit
	for _, c := range pl.credits {
		if c.passes && (keep == nil || keep(c)) {
			cs = append(cs, c)
		}
	}
	return cs
}

// receivers returns, in order, the items the policy lets receive money and
// that owe something, with capacity set to what they owe. Deficits come
// along when withDeficits is set.
func (pl *planner) receivers(withDeficits bool) []*item {
	var rs []*item
	add := func(it *item) {
		if it.passes && it.owner == nil && it.value > 0 {
			it.capacity = it.value
			rs = append(rs, it)
		}
	}
	if !withDeficits {
		for _, it := range pl.items {
			add(it)
		}
		return rs
	}
	// Merge the two sorted lists.
	i, j := 0, 0
	for i < len(pl.items) || j < len(pl.deficits) {
		if j == len(pl.deficits) || (i < len(pl.items) && compareOrder(&pl.items[i].order, &pl.deficits[j].order) <= 0) {
			add(pl.items[i])
			i++
		} else {
			add(pl.deficits[j])
			j++
		}
	}
	return rs
}

// offsets runs the policy's offsets, silently.
func (pl *planner) offsets() error {
	if len(pl.p.offsets) == 0 {
		return nil
	}
	return pl.runStageList(pl.p.offsets, pl.activeCredits(nil), pl.receivers(true), false)
}

// autoSplit: docs/allocation.md §3.1. Existing credits are linked
// implicitly first (silently), so older money is consumed first; then the
// new receipt goes through the stages, and what is left goes by the leftover
// rules (a receipt is always fully placed). A negative receipt is never
// spread over charges: while any charge still owes, it gets no splits at
// all; otherwise it goes whole to its leftover (§3.7).
func (pl *planner) autoSplit() error {
	if !pl.req.Amount.Valid {
		return invalidInput("AUTO_SPLIT needs request.amount")
	}
	if pl.req.PatientID == "" {
		return invalidInput("AUTO_SPLIT needs request.patientId")
	}
	if err := pl.runStages(pl.activeCredits(nil), pl.receivers(true), false); err != nil {
		return err
	}
	amount, _ := toCents(pl.req.Amount.Decimal)
	if amount < 0 && len(pl.receivers(false)) > 0 {
		return nil // a refund is never spread, and while a charge still owes it is not guessed at either
	}
	b := Bucket{Kind: PaymentBucket, ID: "payment", PatientID: pl.req.PatientID, LocationID: pl.req.LocationID, EncounterID: pl.req.EncounterID}
	pay := &credit{bucket: b, amount: amount, spendable: amount, passes: true, order: order{date: pl.asOf, rank: 2, id: b.ID}}
	pay.view = pl.creditView(b, PaymentBucket, amount, pl.asOf)
	pay.seq = pl.nextSeq()
	cs := []*credit{pay}
	if err := pl.runStages(cs, pl.receivers(false), true); err != nil {
		return err
	}
	return pl.leftover(cs)
}

// transfer: docs/allocation.md §3.3 and §3.4 (and credit management): every
// credit the policy accepts goes through the stages, posting ± pairs, then
// the leftover rules.
func (pl *planner) transfer() error {
	if err := pl.relink(); err != nil {
		return err
	}
	cs := pl.activeCredits(nil)
	if err := pl.runStages(cs, pl.receivers(true), true); err != nil {
		return err
	}
	return pl.leftover(pl.phase)
}

// relink re-links the money on adjustments folded into their procedures
// (relinkFolded) before anything else moves: −x from the adjustment to
// unearned, then from unearned to the procedure, at most what the procedure
// owes; the rest stays a credit on the adjustment, for the stages.
func (pl *planner) relink() error {
	for _, c := range pl.activeCredits(func(c *credit) bool { return c.charge != nil && c.charge.owner != nil }) {
		owner := c.charge.owner
		amt := min(usable(c, true), owner.value)
		if amt <= 0 {
			continue
		}
		to, err := pl.unearnedBucket(c)
		if err != nil {
			return err
		}
		if err := pl.emitTo(c, to, amt, "relink"); err != nil {
			return err
		}
		pl.addFlow(to, -amt)
		pl.give(owner, amt)
		if err := pl.move(rawMove{from: to, to: owner.bucket, into: owner, amount: amt, stage: "relink"}); err != nil {
			return err
		}
	}
	return nil
}

// allocateUnearned: docs/allocation.md §3.5. Charges first show what they
// truly still need (implicit linking without unallocated and unearned
// money); then unearned money pays the chosen charges, up to
// request.amount. With force, an amount beyond the unearned money there is
// is drawn from the default unearned type anyway.
func (pl *planner) allocateUnearned() error {
	isLoose := func(c *credit) bool {
		return c.bucket.Kind == UnearnedBucket || c.bucket.Kind == UnallocatedBucket
	}
	selected := map[string]bool{}
	for _, id := range pl.req.ChargeIDs {
		if pl.byID[id] == nil {
			return invalidInput("request.chargeIds: unknown charge %s", id)
		}
		selected[id] = true
	}
	// The selected charges are linked last, so money on other lines lands
	// on the others first and the selected ones can still take unearned
	// money (§3.5 step 1).
	linking := pl.receivers(true)
	slices.SortStableFunc(linking, func(a, b *item) int {
		return cmp.Compare(b2i(selected[a.bucket.ID]), b2i(selected[b.bucket.ID]))
	})
	if err := pl.runStages(pl.activeCredits(func(c *credit) bool { return !isLoose(c) }), linking, false); err != nil {
		return err
	}
	var rs []*item
	for _, it := range pl.receivers(false) {
		if len(selected) == 0 || selected[it.bucket.ID] {
			rs = append(rs, it)
		}
	}
	if pl.req.Amount.Valid {
		limit, _ := toCents(pl.req.Amount.Decimal)
		pl.limit = &limit
	}
	cs := pl.activeCredits(func(c *credit) bool { return c.bucket.Kind == UnearnedBucket })
	if err := pl.runStages(cs, rs, true); err != nil {
		return err
	}
	if pl.limit == nil || *pl.limit <= 0 {
		return nil
	}
	draw := pl.req.Force
	if !draw && pl.p.shortfall != nil {
		var err error
		if draw, err = pl.p.shortfall.bool(&pl.vm, pl.env); err != nil {
			return err
		}
	}
	if !draw {
		pl.warnings = append(pl.warnings, fmt.Sprintf("%s of the amount asked for was not allocated: the unearned money there is, or what the charges owe, is less", fromCents(*pl.limit).StringFixed(2)))
		return nil
	}
	return pl.shortfall(rs)
}

// b2i is 1 for true, 0 for false (false sorts first).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shortfall draws what ALLOCATE_UNEARNED still has to allocate from the
// default unearned type, with no provider, leaving it negative.
func (pl *planner) shortfall(rs []*item) error {
	t, err := pl.unearnedType()
	if err != nil {
		return err
	}
	for _, r := range rs {
		amt := min(r.capacity, *pl.limit)
		if amt <= 0 {
			continue
		}
		from := NewBucket(UnearnedBucket, r.bucket.PatientID, "", r.bucket.LocationID, "", t.ID)
		pl.give(r, amt)
		pl.addFlow(from, -amt)
		*pl.limit -= amt
		if err := pl.move(rawMove{from: from, to: r.bucket, amount: amt, stage: "shortfall"}); err != nil {
			return err
		}
	}
	return nil
}

// reapply: re-apply patient credit (docs/allocation.md §4.1). The named
// credits go to the named targets, in the order given, through the stages; a
// target gets at most its amount (default: what it owes), and with force it
// may get more than it owes.
func (pl *planner) reapply() error {
	if len(pl.req.Sources) == 0 || len(pl.req.Targets) == 0 {
		return invalidInput("REAPPLY needs request.sources and request.targets")
	}
	var cs []*credit
	var total int64
	taken := map[*credit]bool{}
	for _, id := range pl.req.Sources {
		c := pl.creditIDs[id]
		if c == nil {
			return invalidInput("request.sources: no credit %s", id)
		}
		if !c.passes {
			return invalidInput("request.sources: policy %s does not let credit %s move", pl.p.Name(), id)
		}
		if !taken[c] {
			taken[c] = true
			cs = append(cs, c)
			total += c.amount
		}
	}
	slices.SortFunc(cs, func(a, b *credit) int { return compareOrder(&a.order, &b.order) })
	var rs []*item
	named := map[*item]bool{}
	for _, t := range pl.req.Targets {
		it := pl.byID[t.ChargeID]
		if it == nil {
			return invalidInput("request.targets: unknown charge %s", t.ChargeID)
		}
		if !it.passes {
			return invalidInput("request.targets: policy %s does not let charge %s receive money", pl.p.Name(), t.ChargeID)
		}
		if named[it] {
			return invalidInput("request.targets: charge %s is named twice", t.ChargeID)
		}
		named[it] = true
		owed := max(it.value, 0)
		switch {
		case t.Amount.Valid:
			amt, err := toCents(t.Amount.Decimal)
			if err != nil || amt < 0 {
				return invalidInput("request.targets: charge %s: bad amount %s", t.ChargeID, t.Amount.Decimal)
			}
			it.capacity = amt
			if !pl.req.Force {
				it.capacity = min(amt, owed)
			}
		case pl.req.Force:
			it.capacity = max(total, owed)
		default:
			it.capacity = owed
		}
		rs = append(rs, it)
	}
	if err := pl.runStages(cs, rs, true); err != nil {
		return err
	}
	return pl.leftover(pl.phase)
}
