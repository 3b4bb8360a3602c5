package rules

import (
	"fmt"
	"slices"
)

// runStages runs the policy's stages over the credits cs and the receivers
// rs (whose capacities are set). emit says whether the moves post (a plan)
// or only link (implicit linking: nothing is posted, and park stages are
// skipped).
func (pl *planner) runStages(cs []*credit, rs []*item, emit bool) error {
	return pl.runStageList(pl.p.stages, cs, rs, emit)
}

func (pl *planner) runStageList(stages []*stage, cs []*credit, rs []*item, emit bool) error {
	pl.phase = cs
	for _, st := range stages {
		if st.when != nil {
			ok, err := st.when.bool(&pl.vm, pl.env)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		switch {
		case st.park != nil:
			if emit {
				if err := pl.park(st); err != nil {
					return err
				}
			}
		case st.match != nil:
			if err := pl.match(st, rs, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// usable is what credit c may still move.
func usable(c *credit, emit bool) int64 {
	if emit {
		return min(c.spendable, c.amount)
	}
	return c.amount
}

// park moves every credit of the phase that the stage's park expression
// accepts, whole, into unearned in its own bucket. The new unearned credits
// join the phase in credit order.
func (pl *planner) park(st *stage) error {
	var parked []*credit
	for _, c := range pl.phase {
		amt := usable(c, true)
		if amt <= 0 || c.bucket.Kind == PaymentBucket {
			continue
		}
		*pl.env.credit = &c.view
		ok, err := st.park.bool(&pl.vm, pl.env)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		to, err := pl.unearnedBucket(c)
		if err != nil {
			return err
		}
		if to.ID == c.bucket.ID {
			continue
		}
		if cp := st.cap; cp != nil || pl.p.cap != nil {
			if cp == nil {
				cp = pl.p.cap
			}
			*pl.env.charge = &chargeEnv{}
			limit, err := cp.cents(&pl.vm, pl.env)
			if err != nil {
				return err
			}
			amt = min(amt, limit)
			if amt <= 0 {
				continue
			}
		}
		if err := pl.emitTo(c, to, amt, st.name); err != nil {
			return err
		}
		nc, err := pl.newUnearnedCredit(to, amt)
		if err != nil {
			return err
		}
		if nc.passes {
			parked = append(parked, nc)
		}
	}
	if len(parked) > 0 {
		merged := append(slices.Clone(pl.phase), parked...)
		slices.SortStableFunc(merged, func(a, b *credit) int { return compareOrder(&a.order, &b.order) })
		pl.phase = merged
	}
	return nil
}

// newUnearnedCredit makes a credit of amt cents in unearned bucket b, dated
// as of the plan.
func (pl *planner) newUnearnedCredit(b Bucket, amt int64) (*credit, error) {
	c := &credit{bucket: b, amount: amt, order: order{date: pl.asOf, rank: 2, id: b.ID}}
	c.view = pl.creditView(b, UnearnedBucket, amt, pl.asOf)
	if t := pl.types[b.UnearnedTypeID]; t != nil {
		c.view.UnearnedType, c.view.Hidden = t.Name, t.Hidden
	}
	c.seq = pl.nextSeq()
	if err := pl.prepareCredit(c); err != nil {
		return nil, err
	}
	return c, nil
}

// unearnedType resolves the policy's unearned type.
func (pl *planner) unearnedType() (*UnearnedType, error) {
	name := pl.p.unearnedType
	if name == "" {
		if pl.defType == nil {
			return nil, invalidInput("no default unearned type: mark one UnearnedType as Default")
		}
		return pl.defType, nil
	}
	if t := pl.types[name]; t != nil {
		return t, nil
	}
	for i := range pl.in.UnearnedTypes {
		if t := &pl.in.UnearnedTypes[i]; t.Name == name {
			return t, nil
		}
	}
	return nil, invalidInput("policy %s names unearned type %q, which the practice does not have", pl.p.Name(), name)
}

// unearnedBucket is where credit c goes when it is parked: unearned of the
// policy's type, in c's patient and location, with c's provider if the
// policy's keepProvider says so.
func (pl *planner) unearnedBucket(c *credit) (Bucket, error) {
	t, err := pl.unearnedType()
	if err != nil {
		return Bucket{}, err
	}
	provider := ""
	if pl.p.keepProvider != nil {
		*pl.env.credit = &c.view
		keep, err := pl.p.keepProvider.bool(&pl.vm, pl.env)
		if err != nil {
			return Bucket{}, err
		}
		if keep {
			provider = c.bucket.ProviderID
		}
	}
	return NewBucket(UnearnedBucket, c.bucket.PatientID, provider, c.bucket.LocationID, "", t.ID), nil
}

// take removes amt from credit c.
func (pl *planner) take(c *credit, amt int64, emit bool) {
	c.amount -= amt
	if emit {
		c.spendable -= amt
	}
	switch {
	case c.charge != nil:
		c.charge.value += amt
		c.charge.view.Owed = fromCents(c.charge.value)
	case c.bucket.Kind != PaymentBucket:
		pl.addFlow(c.bucket, -amt)
	}
	c.view.Amount = fromCents(c.amount)
}

// give adds amt to receiver r.
func (pl *planner) give(r *item, amt int64) {
	r.value -= amt
	r.capacity -= amt
	r.view.Owed = fromCents(r.value)
	if r.deficit != nil {
		pl.addFlow(r.bucket, amt)
	}
}

// addFlow records amt cents arriving in (or, negative, leaving) bucket b.
func (pl *planner) addFlow(b Bucket, amt int64) {
	if b.Kind == ChargeBucket || b.Kind == PaymentBucket {
		return
	}
	if _, seen := pl.flowBucket[b.ID]; !seen {
		pl.flowBucket[b.ID] = b
		pl.flowOrder = append(pl.flowOrder, b.ID)
	}
	pl.flow[b.ID] += amt
}

// emitTo records a move whose destination is not a receiver (parking,
// leftovers).
func (pl *planner) emitTo(c *credit, to Bucket, amt int64, stage string) error {
	pl.take(c, amt, true)
	pl.addFlow(to, amt)
	return pl.move(rawMove{from: c.bucket, to: to, amount: amt, stage: stage})
}

// move records a move, within the plan's budget of MaxPlanMoves.
func (pl *planner) move(m rawMove) error {
	if len(pl.moves) >= MaxPlanMoves {
		return &BudgetError{Budget: "moves", Message: fmt.Sprintf("the plan would make more than %d moves", MaxPlanMoves)}
	}
	pl.moves = append(pl.moves, m)
	return nil
}

// group is the credits of a match stage that share a bucket key, with the
// index of the first one that may still have money.
type group struct {
	cs    []*credit
	first int
}

// match runs a match stage: receivers in order, each taking from the
// matching credits in order. When the match has equality conjuncts the
// credits are bucketed by key, so each receiver only looks at its bucket;
// the moves are the same, in the same order, as testing every pair.
func (pl *planner) match(st *stage, rs []*item, emit bool) error {
	m := st.match
	for _, p := range m.constant {
		ok, err := p.bool(&pl.vm, pl.env)
		if err != nil || !ok {
			return err
		}
	}
	var cs []*credit
	for _, c := range pl.phase {
		if usable(c, emit) <= 0 || !emit && c.view.Hidden {
			continue // hidden unearned never pays implicitly
		}
		*pl.env.credit = &c.view
		ok, err := allTrue(pl, m.credit)
		if err != nil {
			return err
		}
		if ok {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil
	}
	var live []*item
	for _, r := range rs {
		if r.capacity <= 0 {
			continue
		}
		*pl.env.charge = &r.view
		ok, err := allTrue(pl, m.charge)
		if err != nil {
			return err
		}
		if ok {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return nil
	}
	groupOf := make([]*group, len(live))
	if len(m.keys) == 0 {
		g := &group{cs: cs}
		for i := range live {
			groupOf[i] = g
		}
	} else {
		if pl.groups == nil {
			pl.groups = map[groupKey]*group{}
		}
		groups := pl.groups
		clear(groups)
		for i, r := range live {
			*pl.env.charge = &r.view
			k, err := pl.groupKey(m, false)
			if err != nil {
				return err
			}
			g := groups[k]
			if g == nil {
				g = &group{}
				groups[k] = g
			}
			groupOf[i] = g
		}
		for _, c := range cs {
			*pl.env.credit = &c.view
			k, err := pl.groupKey(m, true)
			if err != nil {
				return err
			}
			if g := groups[k]; g != nil {
				g.cs = append(g.cs, c)
			}
		}
	}
	for i, r := range live {
		if err := pl.fill(st, r, groupOf[i], emit); err != nil {
			return err
		}
	}
	return nil
}

func allTrue(pl *planner, ps []*program) (bool, error) {
	for _, p := range ps {
		ok, err := p.bool(&pl.vm, pl.env)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// groupKey evaluates the credit-side (or charge-side) keys of m. Stages
// with more than four key pairs join the rest into the last slot.
func (pl *planner) groupKey(m *matcher, creditSide bool) (groupKey, error) {
	pl.steps++
	var k groupKey
	for i, kp := range m.keys {
		p := kp.charge
		if creditSide {
			p = kp.credit
		}
		v, err := p.key(&pl.vm, pl.env)
		if err != nil {
			return k, err
		}
		if i < len(k)-1 {
			k[i] = v
		} else {
			k[len(k)-1] += v + "\x00"
		}
	}
	return k, nil
}

type groupKey [4]string

// fill gives receiver r what it may take from the credits of its group, in
// order. Exhausted credits at the front of the group are skipped for good,
// so without pair conditions or caps a stage is linear in its size.
func (pl *planner) fill(st *stage, r *item, g *group, emit bool) error {
	capP := st.cap
	if capP == nil {
		capP = pl.p.cap
	}
	pair := st.match.pair
	for j := g.first; j < len(g.cs) && r.capacity > 0; j++ {
		pl.steps++
		if err := pl.env.meter.step(st.path); err != nil {
			return err
		}
		c := g.cs[j]
		amt := usable(c, emit)
		if amt <= 0 {
			if j == g.first {
				g.first++
			}
			continue
		}
		amt = min(amt, r.capacity)
		if len(pair) > 0 || capP != nil {
			*pl.env.credit, *pl.env.charge = &c.view, &r.view
			ok, err := allTrue(pl, pair)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if capP != nil {
				limit, err := capP.cents(&pl.vm, pl.env)
				if err != nil {
					return err
				}
				if amt = min(amt, limit); amt <= 0 {
					continue
				}
			}
		}
		if pl.limit != nil && emit {
			if amt = min(amt, *pl.limit); amt <= 0 {
				return nil
			}
			*pl.limit -= amt
		}
		pl.take(c, amt, emit)
		pl.give(r, amt)
		if emit {
			if err := pl.move(rawMove{from: c.bucket, to: r.bucket, into: r, amount: amt, stage: st.name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// leftover applies the leftover rules to what is left of the phase's
// credits. Unearned money stays where it is. A new receipt's money is
// always placed: leftover to unearned, keep leaves it unallocated.
func (pl *planner) leftover(cs []*credit) error {
	for _, c := range cs {
		isPayment := c.bucket.Kind == PaymentBucket
		switch {
		case isPayment && c.amount == 0:
			continue
		case !isPayment && (c.amount <= 0 || c.bucket.Kind == UnearnedBucket):
			continue
		}
		*pl.env.credit = &c.view
		var rule *leftoverRule
		for i := range pl.p.leftover {
			l := &pl.p.leftover[i]
			ok := true
			if l.when != nil {
				var err error
				if ok, err = l.when.bool(&pl.vm, pl.env); err != nil {
					return err
				}
			}
			if ok {
				rule = l
				break
			}
		}
		to := LeftoverKeep
		if rule != nil {
			to = rule.to
		}
		amt := usable(c, true)
		if isPayment {
			amt = c.amount
		}
		switch to {
		case LeftoverRefuse:
			return &RejectedError{Requirement: rule.path, Message: rule.message}
		case LeftoverKeep:
			if !isPayment {
				continue
			}
			b := NewBucket(UnallocatedBucket, c.bucket.PatientID, "", c.bucket.LocationID, "", "")
			if err := pl.emitTo(c, b, amt, "leftover"); err != nil {
				return err
			}
		case LeftoverUnearned:
			if amt == 0 {
				continue
			}
			b, err := pl.unearnedBucket(c)
			if err != nil {
				return err
			}
			if err := pl.emitTo(c, b, amt, "leftover"); err != nil {
				return err
			}
		}
	}
	return nil
}
