package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// The family balancer (docs/allocation.md §3.3, §3.4,
// §3.6) over one family or the whole practice, by one of two methods:
//
//   - INCOME_TRANSFER: a zero-sum TRANSFER receipt moving the family's income
//     to its production, as the policy (rigorous or fifo) plans it. Totals
//     never change.
//   - RECREATE_SPLITS: each payment's unallocated money re-split onto
//     production, FIFO. Open Dental deletes the payment's unallocated splits
//     and writes new ones; this ledger is append-only, so each re-split is a
//     zero-sum TRANSFER receipt dated with the payment (or, with a run's
//     transfer date, that day) and linked to it (reallocations): a
//     negative split takes the money off unallocated, and positive splits
//     put it on the lines (any excess on unearned). The
//     payment itself, its date and its amount never change. Negative payments
//     must first be offset by an equal negative adjustment (the refund's money
//     goes onto it) or an equal positive payment (both stay as they are);
//     one that cannot be is the family's failure. All or nothing per family.
//
// Both run as runs (run.go) or, for one family, through BalanceFamily.

// planIncomeTransfer plans the income-transfer method for one family.
func planIncomeTransfer(ctx context.Context, pol resolvedPolicy, s snapshot, params map[string]string, asOf Date, note string) (familyOutcome, error) {
	out := familyOutcome{FamilyOutcome: FamilyOutcome{GuarantorID: s.family.GuarantorID}}
	pl, err := planTransfer(ctx, pol, s, nil, params, asOf)
	if err != nil {
		return out, err
	}
	if out.CreditsFound, out.AmountMoved, out.CreditsLeft, err = amountsOf(pl); err != nil {
		return out, err
	}
	planned := map[string]bool{} // planned lines owe nothing yet
	for _, c := range s.family.Charges {
		planned[c.ID.String()] = c.Status == StatusPlanned
	}
	var owed decimal.Decimal
	for _, c := range pl.raw.Balances.Charges {
		if c.Owed.Sign() > 0 && c.FoldedInto == "" && !planned[c.ChargeID] {
			owed = owed.Add(c.Owed)
		}
	}
	if !pl.plan.Empty() {
		out.Status = FamilyChanged
		out.Plans = []Plan{pl.plan}
		out.postings = []posting{{plan: pl.plan, kind: ReceiptTransfer, note: note}}
		out.originals = []*ID{nil}
	} else {
		out.Status = FamilyUnchanged
	}
	if owed.Sign() > 0 && out.CreditsLeft.Sign() > 0 {
		// Credit and debt remain side by side: the policy could not match
		// them (a hidden type, a provider unearned may not keep, ...).
		why := fmt.Sprintf("could not balance: %s of credit is left while %s is owed under policy %s",
			out.CreditsLeft, owed.StringFixed(2), pol.ref)
		if out.Status == FamilyUnchanged {
			out.Status = FamilySkipped
		}
		out.Reason = why
	}
	return out, nil
}

// ResplitAction is what RECREATE_SPLITS did with a payment.
type ResplitAction string

// Resplit actions.
const (
	// ResplitToProduction: the payment's unallocated money was re-split onto
	// production (and any excess onto unearned).
	ResplitToProduction ResplitAction = "RESPLIT"
	// ResplitPaired: a negative payment and a positive payment of the
	// opposite amount offset each other; both stay unallocated.
	ResplitPaired ResplitAction = "PAIRED"
	// ResplitOnAdjustment: a negative payment's money went onto a negative
	// adjustment of the same amount.
	ResplitOnAdjustment ResplitAction = "ON_ADJUSTMENT"
	// ResplitUnavailable: the payment's unallocated money has since been
	// moved elsewhere (by a transfer); nothing is left to re-split.
	ResplitUnavailable ResplitAction = "UNAVAILABLE"
)

// ResplitPayment is one payment RECREATE_SPLITS looked at: its original
// date and amount, and what became of its unallocated money.
type ResplitPayment struct {
	ReceiptID   ID            `json:"receiptId"`
	Kind        ReceiptKind   `json:"kind"`
	ReceivedOn  Date          `json:"receivedOn"`
	Amount      Money         `json:"amount"`      // the payment's own amount, unchanged
	Unallocated Money         `json:"unallocated"` // its unallocated money before
	Action      ResplitAction `json:"action"`
	// ToProduction and ToUnearned are where a re-split put the money.
	ToProduction Money `json:"toProduction"`
	ToUnearned   Money `json:"toUnearned"`
	// PairedWith is the payment that offsets a PAIRED one; AdjustmentID
	// the adjustment an ON_ADJUSTMENT payment went onto.
	PairedWith   *ID `json:"pairedWith,omitempty"`
	AdjustmentID *ID `json:"adjustmentId,omitempty"`
	// ResplitReceiptID is the TRANSFER receipt that re-split it.
	ResplitReceiptID *ID `json:"resplitReceiptId,omitempty"`
}

// unallocatedBucket is a patient's unallocated money at one provider and
// location.
type unallocatedBucket struct {
	patient, provider, location ID // zero: none
}

func unallocatedBucketOf(sp Split) unallocatedBucket {
	k := unallocatedBucket{patient: sp.PatientID}
	if sp.ProviderID != nil {
		k.provider = *sp.ProviderID
	}
	if sp.LocationID != nil {
		k.location = *sp.LocationID
	}
	return k
}

func (k unallocatedBucket) compare(o unallocatedBucket) int {
	return cmp.Or(slices.Compare(k.patient[:], o.patient[:]), slices.Compare(k.provider[:], o.provider[:]),
		slices.Compare(k.location[:], o.location[:]))
}

func idOrNil(id ID) *ID {
	if id == (ID{}) {
		return nil
	}
	return &id
}

// payment is a payment of the family with unallocated money.
type payment struct {
	id       ID
	kind     ReceiptKind
	date     Date
	amount   Money                       // its splits in the family
	payer    ID                          // the patient of its first unallocated split
	held     map[unallocatedBucket]Money // its unallocated money left, per bucket
	total    Money                       // held, summed
	keys     []unallocatedBucket         // held's keys, in order
	avail    map[unallocatedBucket]Money // what its re-split may take, per bucket
	report   *ResplitPayment
	resolved bool // a negative payment and what offsets it
}

// available is what the payment's re-split may take.
func (p *payment) available() Money {
	var amount Money
	for _, m := range p.avail {
		amount = amount.Add(m)
	}
	return amount
}

// recreatable are the receipt kinds whose unallocated money is re-split.
var recreatable = map[ReceiptKind]bool{ReceiptPatientPayment: true, ReceiptRefund: true, ReceiptBalanceForward: true}

// recreate is one family's RECREATE_SPLITS plan in the making
// (docs/allocation.md §3.6). planRecreate runs its phases in order; each
// reads what the ones before it left.
type recreate struct {
	pol    resolvedPolicy
	s      snapshot
	params map[string]string
	asOf   Date
	// onAsOf dates every posting asOf (a run's transfer date) instead of
	// with the payment it re-splits.
	onAsOf bool
	note   string

	out       familyOutcome
	held      map[unallocatedBucket]Money // the family's unallocated money per bucket, not yet spoken for
	pays      []*payment                  // in date order
	postings  []posting
	originals []*ID // per posting, the payment it re-splits
}

// planRecreate plans the recreate-splits method for one family: collect the
// payments holding unallocated money, offset the negative ones, reserve
// what each positive one may still take, re-split them in turn, then check
// the postings together and report. With onAsOf every posting is dated
// asOf (a run's transfer date), else with its payment.
func planRecreate(ctx context.Context, pol resolvedPolicy, s snapshot, fc familyContext, params map[string]string, asOf Date, onAsOf bool,
	note string) (familyOutcome, error) {
	rc := &recreate{pol: pol, s: s, params: params, asOf: asOf, onAsOf: onAsOf, note: note,
		out: familyOutcome{FamilyOutcome: FamilyOutcome{GuarantorID: s.family.GuarantorID}}}
	rc.collectPayments(fc)
	if err := rc.offsetNegatives(); err != nil {
		return rc.out, err
	}
	rc.reserve()
	if err := rc.resplitPayments(ctx); err != nil {
		return rc.out, err
	}
	return rc.outcome()
}

// collectPayments finds what sits in each unallocated bucket as of the
// date, and each payment's share of it (an earlier re-split's money counts
// for the payment it re-split), sorted by date.
func (rc *recreate) collectPayments(fc familyContext) {
	rc.held = map[unallocatedBucket]Money{}
	byReceipt := map[ID]*payment{}
	for _, sp := range rc.s.family.Splits {
		if sp.ChargeID != nil || sp.UnearnedTypeID != nil || sp.ReceivedOn.After(rc.asOf) {
			continue
		}
		k := unallocatedBucketOf(sp.Split)
		rc.held[k] = rc.held[k].Add(sp.Amount)
		owner := sp.ReceiptID
		if orig, ok := fc.resplits[sp.ReceiptID]; ok {
			owner = orig // an earlier re-split of that payment
		} else if !recreatable[sp.ReceiptKind] || fc.reversed[sp.ReceiptID] {
			continue
		}
		p := byReceipt[owner]
		if p == nil {
			p = &payment{id: owner, held: map[unallocatedBucket]Money{}}
			byReceipt[owner] = p
			rc.pays = append(rc.pays, p)
		}
		if owner == sp.ReceiptID {
			p.kind, p.date, p.payer = sp.ReceiptKind, sp.ReceivedOn, sp.PatientID
		}
		p.held[k] = p.held[k].Add(sp.Amount)
	}
	// Each payment's amount (its splits in the family, whatever their target).
	for _, sp := range rc.s.family.Splits {
		if p := byReceipt[sp.ReceiptID]; p != nil {
			p.amount = p.amount.Add(sp.Amount)
		}
	}
	rc.pays = slices.DeleteFunc(rc.pays, func(p *payment) bool { return p.kind == "" }) // re-splits of a payment now out of view
	for _, p := range rc.pays {
		for k, m := range p.held {
			if m.IsZero() {
				delete(p.held, k)
				continue
			}
			p.total = p.total.Add(m)
			p.keys = append(p.keys, k)
		}
		slices.SortFunc(p.keys, unallocatedBucket.compare)
		p.report = &ResplitPayment{ReceiptID: p.id, Kind: p.kind, ReceivedOn: p.date, Amount: p.amount, Unallocated: p.total}
	}
	rc.pays = slices.DeleteFunc(rc.pays, func(p *payment) bool { return p.total.IsZero() })
	slices.SortFunc(rc.pays, func(a, b *payment) int {
		return cmp.Or(a.date.Compare(b.date), slices.Compare(a.id[:], b.id[:]))
	})
}

// offsetNegatives puts each negative payment onto an equal negative
// adjustment, or pairs it with an equal positive payment (§3.6 step 2); one
// that can be neither fails the family.
func (rc *recreate) offsetNegatives() error {
	usedAdj := map[ID]bool{}
	settled := true // no unallocated money left anywhere: a balanced family
	for _, m := range rc.held {
		settled = settled && m.IsZero()
	}
	for _, n := range rc.pays {
		if n.total.Sign() >= 0 {
			continue
		}
		if settled {
			// Its money was moved since (an income transfer spent the
			// payments it nets against): nothing is left to re-split.
			n.resolved, n.report.Action = true, ResplitUnavailable
			continue
		}
		if adj := offsettingAdjustment(rc.s, n, usedAdj, rc.asOf); adj != nil {
			usedAdj[adj.ID] = true
			rc.ontoAdjustment(n, adj)
			continue
		}
		if positive := offsettingPayment(rc.pays, n); positive != nil {
			rc.pair(n, positive)
			continue
		}
		return &InvariantError{Invariant: "recreate", Message: fmt.Sprintf(
			"negative payment %s of %s (%s) has neither a negative adjustment nor a payment of the opposite amount to offset it; the family needs a person",
			n.id, n.total, n.date)}
	}
	return nil
}

// ontoAdjustment posts negative payment n's money onto adjustment adj: a
// transfer taking it off the adjustment and back into n's buckets.
func (rc *recreate) ontoAdjustment(n *payment, adj *Charge) {
	n.resolved = true
	n.report.Action, n.report.AdjustmentID = ResplitOnAdjustment, &adj.ID
	p := Plan{Operation: OperationTransfer, GuarantorID: rc.s.family.GuarantorID, PatientID: &n.payer, Policy: rc.pol.ref, AsOf: rc.dateOf(n)}
	from := Place{Kind: PlaceCharge, PatientID: &adj.PatientID, ProviderID: adj.ProviderID, LocationID: adj.LocationID, ChargeID: &adj.ID}
	for _, k := range n.keys {
		m := n.held[k].Neg()
		to := Place{Kind: PlaceUnallocated, PatientID: &k.patient, ProviderID: idOrNil(k.provider), LocationID: idOrNil(k.location)}
		p.Moves = append(p.Moves, Move{From: from, To: to, Amount: m, Stage: "negativePayment"})
		p.Splits = append(p.Splits,
			PlannedSplit{Amount: m.Neg(), Code: CodeTransfer, PatientID: adj.PatientID, ProviderID: adj.ProviderID, LocationID: adj.LocationID, ChargeID: &adj.ID, Stage: "negativePayment"},
			PlannedSplit{Amount: m, Code: CodeTransfer, PatientID: k.patient, ProviderID: to.ProviderID, LocationID: to.LocationID, Stage: "negativePayment"})
		rc.held[k] = rc.held[k].Add(m)
	}
	rc.postings = append(rc.postings, posting{plan: p, kind: ReceiptTransfer, note: rc.note})
	id := n.id
	rc.originals = append(rc.originals, &id)
}

// pair offsets negative payment n with positive payment p: both stay where
// they are and net out, so neither's money is there for the others.
func (rc *recreate) pair(n, p *payment) {
	n.resolved, p.resolved = true, true
	n.report.Action, n.report.PairedWith = ResplitPaired, &p.id
	p.report.Action, p.report.PairedWith = ResplitPaired, &n.id
	for _, k := range p.keys {
		rc.held[k] = rc.held[k].Sub(p.held[k])
	}
	for _, k := range n.keys {
		rc.held[k] = rc.held[k].Sub(n.held[k])
	}
}

// reserve sets what each positive payment may still take from its buckets:
// newer payments keep their money first (older money is what a transfer
// spent first).
func (rc *recreate) reserve() {
	for i := len(rc.pays) - 1; i >= 0; i-- {
		p := rc.pays[i]
		if p.resolved || p.total.Sign() <= 0 {
			continue
		}
		p.avail = map[unallocatedBucket]Money{}
		for _, k := range p.keys {
			m := p.held[k].Min(rc.held[k]).Max(Money{})
			if m.Sign() > 0 {
				p.avail[k] = m
				rc.held[k] = rc.held[k].Sub(m)
			}
		}
	}
}

// resplitPayments re-splits each payment in turn, as a new receipt of what
// it may take against the lines and only the splits re-created before it
// (§3.6 step 4): the lines as the negative payments' postings leave them (a
// refund on an adjustment has paid it), without the money on no line.
func (rc *recreate) resplitPayments(ctx context.Context) error {
	base := withPostings(rc.s, rc.postings)
	bf := base.family
	bf.Splits = slices.DeleteFunc(slices.Clone(bf.Splits), func(sp PostedSplit) bool { return sp.ChargeID == nil })
	base.family = bf
	for _, p := range rc.pays {
		if p.resolved || p.total.Sign() <= 0 {
			continue
		}
		rc.out.CreditsFound = rc.out.CreditsFound.Add(p.available())
		re, err := rc.resplit(ctx, base, p)
		if err != nil {
			return err
		}
		if re.Empty() {
			continue // nothing to re-split, or the policy leaves the money where it is (same-guarantor keeps it unallocated)
		}
		for _, sp := range re.Splits {
			switch {
			case sp.Amount.Sign() <= 0:
			case sp.ChargeID != nil:
				p.report.ToProduction = p.report.ToProduction.Add(sp.Amount)
				// Later payments see this one's lines as paid.
				base.family.Splits = append(base.family.Splits, PostedSplit{
					Split: Split{ID: newID(), ReceiptID: p.id, Amount: sp.Amount, Code: CodeTransfer, PatientID: sp.PatientID,
						ProviderID: sp.ProviderID, LocationID: sp.LocationID, ChargeID: sp.ChargeID},
					ReceiptKind: ReceiptTransfer, ReceivedOn: rc.dateOf(p)})
			case sp.UnearnedTypeID != nil:
				p.report.ToUnearned = p.report.ToUnearned.Add(sp.Amount)
			}
		}
		rc.out.CreditsLeft = rc.out.CreditsLeft.Add(p.report.ToUnearned)
		rc.postings = append(rc.postings, posting{plan: re, kind: ReceiptTransfer, note: rc.note})
		id := p.id
		rc.originals = append(rc.originals, &id)
	}
	return nil
}

// resplit plans payment p's re-split against base: an auto-split of what it
// may take, turned into a zero-sum transfer from its buckets and checked
// against the ledger as the postings before it leave it. An empty plan
// means nothing to re-split.
func (rc *recreate) resplit(ctx context.Context, base snapshot, p *payment) (Plan, error) {
	amount := p.available()
	if amount.IsZero() {
		p.report.Action = ResplitUnavailable
		return Plan{}, nil
	}
	g := rc.s.family.GuarantorID
	req := rules.Request{Operation: rules.AutoSplit, PatientID: p.payer.String(), GuarantorID: g.String(), Scope: rules.ScopeGuarantor,
		Params: rc.params, Amount: decimal.NullDecimal{Decimal: amount.Decimal(), Valid: true}}
	pl, err := planFamily(ctx, rc.pol, base, req, rc.asOf, true)
	if err != nil {
		return Plan{}, err
	}
	re, err := resplitPlan(pl.plan, p, g, rc.pol.ref, rc.dateOf(p))
	if err != nil {
		return Plan{}, err
	}
	if err := withPostings(rc.s, rc.postings).check(planned{raw: pl.raw, plan: re}, ReceiptTransfer, Money{}); err != nil {
		return Plan{}, err
	}
	p.report.Action = ResplitToProduction
	return re, nil
}

// outcome checks every draw on unallocated money together, within what is
// there (invariant 4), with nothing leaving the family, and reports what
// became of each payment.
func (rc *recreate) outcome() (familyOutcome, error) {
	out := rc.out
	for _, p := range rc.pays {
		if p.total.Sign() >= 0 && p.report.Action == "" {
			p.report.Action = ResplitUnavailable
		}
	}
	if err := checkDraws(rc.s, rc.postings); err != nil {
		return out, err
	}
	for _, p := range rc.pays {
		out.Payments = append(out.Payments, *p.report)
	}
	for _, p := range rc.postings {
		out.AmountMoved = out.AmountMoved.Add(movedBy(p.plan))
	}
	if len(rc.postings) == 0 {
		out.Status = FamilyUnchanged
		if len(rc.pays) == 0 {
			out.Reason = "no payment holds unallocated money"
		} else {
			out.Reason = "nothing left to re-split"
		}
		return out, nil
	}
	out.Status = FamilyChanged
	out.postings, out.originals = rc.postings, rc.originals
	for _, p := range rc.postings {
		out.Plans = append(out.Plans, p.plan)
	}
	return out, nil
}

// dateOf is the date of a posting for payment p: the run's transfer date,
// or the payment's own.
func (rc *recreate) dateOf(p *payment) Date {
	if rc.onAsOf {
		return rc.asOf
	}
	return p.date
}

// offsettingAdjustment finds a negative adjustment of exactly a negative
// payment's amount with no patient money on it yet: the payer's own first,
// then the oldest.
func offsettingAdjustment(s snapshot, n *payment, used map[ID]bool, asOf Date) *Charge {
	var best *Charge
	for i := range s.family.Charges {
		c := &s.family.Charges[i]
		if c.Kind != ChargeAdjustment || used[c.ID] || c.ServiceDate.After(asOf) || !c.Amount.Equal(n.total) ||
			!s.family.Balances[c.ID].PatientPaid.IsZero() {
			continue
		}
		if best == nil || better(c.PatientID == n.payer, best.PatientID == n.payer, c.ServiceDate, best.ServiceDate, c.ID, best.ID) {
			best = c
		}
	}
	return best
}

// offsettingPayment finds a positive payment of exactly the opposite
// amount: dated on or before the negative one, of the same payer, at the
// same location preferred, then the oldest.
func offsettingPayment(pays []*payment, n *payment) *payment {
	var best *payment
	score := func(p *payment) int {
		s := 0
		if !p.date.After(n.date) {
			s += 4
		}
		if p.payer == n.payer {
			s += 2
		}
		if len(p.keys) > 0 && len(n.keys) > 0 && p.keys[0].location == n.keys[0].location {
			s++
		}
		return s
	}
	for _, p := range pays {
		if p.resolved || p.total.Sign() <= 0 || !p.total.Equal(n.total.Neg()) {
			continue
		}
		if best == nil || score(p) > score(best) {
			best = p
		}
	}
	return best
}

// better orders candidates: preferred first, then older, then lower id.
func better(prefA, prefB bool, dateA, dateB Date, idA, idB ID) bool {
	if prefA != prefB {
		return prefA
	}
	if c := dateA.Compare(dateB); c != 0 {
		return c < 0
	}
	return slices.Compare(idA[:], idB[:]) < 0
}

// resplitPlan turns an auto-split of a payment's unallocated money into the
// zero-sum re-split: each move from the new receipt becomes moves from the
// payment's unallocated buckets, in order, except a move into the very
// bucket it comes from. It is dated on.
func resplitPlan(auto Plan, p *payment, g ID, ref PolicyRef, on Date) (Plan, error) {
	out := Plan{Operation: OperationTransfer, GuarantorID: g, PatientID: &p.payer, Policy: ref, AsOf: on, Warnings: auto.Warnings}
	left := make(map[unallocatedBucket]Money, len(p.avail))
	for k, m := range p.avail {
		left[k] = m
	}
	at := 0
	for _, mv := range auto.Moves {
		if mv.From.Kind != PlacePayment {
			return Plan{}, &InvariantError{Invariant: "recreate", Message: "an auto-split moved money that was not the payment's"}
		}
		rest := mv.Amount
		for rest.Sign() > 0 {
			for at < len(p.keys) && left[p.keys[at]].Sign() <= 0 {
				at++
			}
			if at == len(p.keys) {
				return Plan{}, &InvariantError{Invariant: "splits_sum", Message: fmt.Sprintf("payment %s: the re-split places more than its unallocated money", p.id)}
			}
			k := p.keys[at]
			m := rest.Min(left[k])
			left[k], rest = left[k].Sub(m), rest.Sub(m)
			from := Place{Kind: PlaceUnallocated, PatientID: &k.patient, ProviderID: idOrNil(k.provider), LocationID: idOrNil(k.location)}
			if isLoose(mv.To.Kind) && bucketOf(mv.To).ID == bucketOf(from).ID {
				continue // it is there already
			}
			out.Moves = append(out.Moves, Move{From: from, To: mv.To, Amount: m, Stage: mv.Stage})
			out.Splits = append(out.Splits,
				PlannedSplit{Amount: m.Neg(), Code: CodeTransfer, PatientID: k.patient, ProviderID: from.ProviderID, LocationID: from.LocationID, Stage: mv.Stage},
				PlannedSplit{Amount: m, Code: CodeTransfer, PatientID: *mv.To.PatientID, ProviderID: mv.To.ProviderID, LocationID: mv.To.LocationID,
					ChargeID: mv.To.ChargeID, UnearnedTypeID: mv.To.UnearnedTypeID, Stage: mv.Stage})
		}
	}
	for _, m := range left {
		if m.Sign() != 0 {
			return Plan{}, &InvariantError{Invariant: "splits_sum", Message: fmt.Sprintf("payment %s: the re-split left %s unplaced", p.id, m)}
		}
	}
	return out, nil
}

// withPostings returns s with the splits of the family's earlier postings
// in this plan added, so that a posting is checked against the ledger as
// the ones before it leave it (a refund put onto an adjustment gives its
// money back to unallocated before the payments are re-split).
func withPostings(s snapshot, ps []posting) snapshot {
	if len(ps) == 0 {
		return s
	}
	f := s.family
	f.Splits = slices.Clone(f.Splits)
	for _, p := range ps {
		for _, sp := range p.plan.Splits {
			f.Splits = append(f.Splits, PostedSplit{
				Split: Split{Amount: sp.Amount, Code: sp.Code, PatientID: sp.PatientID, ProviderID: sp.ProviderID,
					LocationID: sp.LocationID, ChargeID: sp.ChargeID, UnearnedTypeID: sp.UnearnedTypeID},
				ReceiptKind: p.kind, ReceivedOn: p.plan.AsOf})
		}
	}
	s.family = f
	return s
}

// checkDraws checks a family's re-splits together: what they take from
// each bucket of unallocated money stays within what is there (the buckets
// of snapshot.overdraw), every split stays in the family, and each receipt
// sums to zero.
func checkDraws(s snapshot, ps []posting) error {
	family := map[ID]bool{}
	for _, p := range s.family.Patients {
		family[p.ID] = true
	}
	var moves []Move
	for _, p := range ps {
		var sum Money
		for _, sp := range p.plan.Splits {
			if !family[sp.PatientID] {
				return &InvariantError{Invariant: "family_total", Message: fmt.Sprintf("a re-split reaches patient %s outside the family", sp.PatientID)}
			}
			sum = sum.Add(sp.Amount)
		}
		if !sum.IsZero() {
			return &InvariantError{Invariant: "splits_sum", Message: fmt.Sprintf("a re-split sums to %s, not 0.00", sum)}
		}
		moves = append(moves, p.plan.Moves...)
	}
	if err := s.overdraw(moves); err != nil {
		return &InvariantError{Invariant: "no_overdraw", Message: "re-splits " + err.Error()}
	}
	return nil
}
