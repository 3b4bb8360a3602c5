package ledger

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// The allocation engine. It loads a family's snapshot (FamilySnapshots), turns it
// into a rules.Input, and asks a compiled policy for a plan: the pure
// planner of package rules decides, the engine never does. A preview returns
// the plan; a commit, in one transaction under the family's lock, reloads,
// re-plans, checks the plan against the ledger's invariants (docs/design.md §5:
// 1 splits sum to the receipt, 4 no source over-drawn and no charge
// over-paid, 5 family totals unchanged by a transfer, 8 the same ledger and
// policy version give the same plan) and writes one receipt recording the
// policy name and version, with the plan beside it.

// PlaceKind is what a Place is.
type PlaceKind string

// Place kinds.
const (
	PlacePayment      PlaceKind = PlaceKind(rules.PaymentBucket)      // the new receipt of an auto-split
	PlaceCharge       PlaceKind = PlaceKind(rules.ChargeBucket)       // a charge: paid, or overpaid as a source
	PlaceMisallocated PlaceKind = PlaceKind(rules.MisallocatedBucket) // money on a charge by a link the policy does not honour
	PlaceUnallocated  PlaceKind = PlaceKind(rules.UnallocatedBucket)  // money on nothing
	PlaceUnearned     PlaceKind = PlaceKind(rules.UnearnedBucket)     // money on an unearned type
)

// Place is where money sits or goes: a charge, or a patient's unallocated,
// unearned (by type) or misallocated money, per provider and location.
type Place struct {
	Kind           PlaceKind
	PatientID      *ID // nil only for a payment with no patient
	ProviderID     *ID
	LocationID     *ID
	ChargeID       *ID
	UnearnedTypeID *ID
}

// Move is one transfer of money in a plan, and the stage of the policy that
// produced it ("leftover" and "shortfall" for the planner's own steps).
type Move struct {
	From, To Place
	Amount   Money
	Stage    string
}

// PlannedSplit is a split a plan posts. It targets ChargeID, UnearnedTypeID
// or nothing (unallocated).
type PlannedSplit struct {
	Amount         Money
	Code           SplitCode
	PatientID      ID
	ProviderID     *ID
	LocationID     *ID
	ChargeID       *ID
	UnearnedTypeID *ID
	Stage          string
}

// Plan is what a policy proposes for one family: the moves, each with the
// stage that produced it, and the splits that post them. A TRANSFER or
// ALLOCATE_UNEARNED plan is made of ± pairs summing to 0.00; an AUTO_SPLIT
// plan sums to the receipt's amount.
type Plan struct {
	Operation   AllocationOperation
	GuarantorID ID
	PatientID   *ID // whose account the receipt is entered on
	Policy      PolicyRef
	AsOf        Date
	Total       Money // the sum of the splits: the receipt's amount
	Moves       []Move
	Splits      []PlannedSplit
	Warnings    []string
}

// Empty reports whether the plan moves nothing.
func (p Plan) Empty() bool { return len(p.Splits) == 0 }

// snapshot is one family as the engine reads it.
type snapshot struct {
	family FamilySnapshot
	types  []UnearnedType
	// insurance marks receipts whose money on a charge is insurance money
	// (insurance payments and their reversals): it enters the plan as the
	// charge's insurance paid, not as patient money.
	insurance map[ID]bool
	guarantor Guarantor
}

// loadSnapshots reads the families of gids with a fixed number of
// statements, whatever their number. A guarantor that does not exist in the
// practice is bad input in field.
func loadSnapshots(ctx context.Context, r Reader, pid ID, gids []ID, field string) ([]snapshot, error) {
	gs, err := r.Guarantors(ctx, pid, gids)
	if err != nil {
		return nil, err
	}
	byG := byID(gs, func(g Guarantor) ID { return g.ID })
	for _, g := range gids {
		if _, ok := byG[g]; !ok {
			return nil, Invalid(field, "no guarantor with id %s", g)
		}
	}
	fams, err := r.FamilySnapshots(ctx, pid, gids)
	if err != nil {
		return nil, err
	}
	types, err := r.UnearnedTypes(ctx, pid)
	if err != nil {
		return nil, err
	}
	// Reversals on charges: find which reverse insurance payments.
	var revs []ID
	seen := map[ID]bool{}
	for _, f := range fams {
		for _, s := range f.Splits {
			if s.ReceiptKind == ReceiptReversal && s.ChargeID != nil && !seen[s.ReceiptID] {
				seen[s.ReceiptID] = true
				revs = append(revs, s.ReceiptID)
			}
		}
	}
	insurance := map[ID]bool{}
	if len(revs) > 0 {
		rs, err := r.Receipts(ctx, pid, revs)
		if err != nil {
			return nil, err
		}
		var origIDs []ID
		for _, rc := range rs {
			if rc.ReversesID != nil {
				origIDs = append(origIDs, *rc.ReversesID)
			}
		}
		origs, err := r.Receipts(ctx, pid, origIDs)
		if err != nil {
			return nil, err
		}
		orig := byID(origs, func(rc Receipt) ID { return rc.ID })
		for _, rc := range rs {
			if rc.ReversesID != nil && orig[*rc.ReversesID].Kind == ReceiptInsurancePayment {
				insurance[rc.ID] = true
			}
		}
	}
	out := make([]snapshot, len(fams))
	for i, f := range fams {
		out[i] = snapshot{family: f, types: types, insurance: insurance, guarantor: byG[f.GuarantorID]}
	}
	return out, nil
}

func idString(id *ID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

func rulesDate(d Date) rules.Date { return rules.NewDate(d.Year, d.Month, d.Day) }

// input converts a snapshot and a request into the planner's Input.
func (s snapshot) input(req rules.Request) rules.Input {
	f := s.family
	in := rules.Input{
		Patients:      make([]rules.Patient, len(f.Patients)),
		Charges:       make([]rules.Charge, len(f.Charges)),
		Splits:        make([]rules.Split, 0, len(f.Splits)),
		UnearnedTypes: make([]rules.UnearnedType, len(s.types)),
		Request:       req,
	}
	for i, p := range f.Patients {
		in.Patients[i] = rules.Patient{ID: p.ID.String(), GuarantorID: p.GuarantorID.String()}
	}
	for i, c := range f.Charges {
		b := f.Balances[c.ID]
		in.Charges[i] = rules.Charge{
			ID: c.ID.String(), Kind: rules.ChargeKind(c.Kind), Status: rules.ChargeStatus(c.Status), Code: c.Code,
			PatientID: c.PatientID.String(), ProviderID: idString(c.ProviderID), LocationID: idString(c.LocationID),
			EncounterID: idString(c.EncounterID), Date: rulesDate(c.ServiceDate), Amount: c.Amount.Decimal(),
			InsuranceEstimate: b.InsurancePending.Decimal(), InsurancePaid: b.InsurancePaid.Decimal(),
			InsuranceWriteOff: b.InsuranceWriteOff.Decimal(), AttachedTo: idString(c.AttachedToID),
		}
	}
	for _, sp := range f.Splits {
		if rs, ok := s.patientSplit(sp); ok {
			in.Splits = append(in.Splits, rs)
		}
	}
	for i, t := range s.types {
		in.UnearnedTypes[i] = rules.UnearnedType{ID: t.ID.String(), Name: t.Name, Hidden: t.Hidden, Default: t.IsDefault}
	}
	return in
}

// patientSplit is sp as the planner sees it, or false for insurance money
// on a charge (which is in the charge's InsurancePaid instead) and for
// prepayment attached to a planned procedure (held for it: no plan may
// spend it until it is detached, treatment_plans.go).
func (s snapshot) patientSplit(sp PostedSplit) (rules.Split, bool) {
	if sp.ChargeID != nil && (sp.ReceiptKind == ReceiptInsurancePayment || s.insurance[sp.ReceiptID] || sp.UnearnedTypeID != nil) {
		return rules.Split{}, false
	}
	return rules.Split{
		ID: sp.ID.String(), ReceiptID: sp.ReceiptID.String(), ReceiptKind: string(sp.ReceiptKind), Code: string(sp.Code),
		Date: rulesDate(sp.ReceivedOn), Amount: sp.Amount.Decimal(), PatientID: sp.PatientID.String(),
		ProviderID: idString(sp.ProviderID), LocationID: idString(sp.LocationID),
		ChargeID: idString(sp.ChargeID), UnearnedTypeID: idString(sp.UnearnedTypeID),
	}, true
}

// reversed is the same input with every list in the opposite order: the
// same ledger, so it must give the same plan (invariant 8).
func reversed(in rules.Input) rules.Input {
	out := in
	out.Patients = slices.Clone(in.Patients)
	out.Charges = slices.Clone(in.Charges)
	out.Splits = slices.Clone(in.Splits)
	out.UnearnedTypes = slices.Clone(in.UnearnedTypes)
	slices.Reverse(out.Patients)
	slices.Reverse(out.Charges)
	slices.Reverse(out.Splits)
	slices.Reverse(out.UnearnedTypes)
	return out
}

// planned is a plan as the planner made it and as the ledger speaks of it.
type planned struct {
	raw  rules.Plan
	plan Plan
	// force: the request let targets receive more than they owe (a re-apply's
	// force apply, docs/allocation.md §4.1), so invariant 4's no-overpay half
	// does not hold for them.
	force bool
}

// planFamily asks the policy for a plan for one family, within ctx and the
// plan timeout. With verify set it plans a second time from the same ledger
// listed in the opposite order and requires the two plans to be identical
// byte for byte (invariant 8). Errors from the rules package are
// translated: a bad param is an *InputError in params.<name>; a refusal
// stays a *rules.RejectedError, a plan over budget a *rules.BudgetError.
func planFamily(ctx context.Context, pol resolvedPolicy, s snapshot, req rules.Request, asOf Date, verify bool) (planned, error) {
	ctx, cancel := pol.planning(ctx)
	defer cancel()
	req.AsOf = rulesDate(asOf)
	in := s.input(req)
	raw, err := pol.p.PlanContext(ctx, in)
	if err != nil {
		return planned{}, rulesError(err)
	}
	if verify {
		again, err := pol.p.PlanContext(ctx, reversed(in))
		if errors.Is(err, rules.ErrBudget) || ctx.Err() != nil {
			return planned{}, err
		}
		if err != nil {
			return planned{}, &InvariantError{Invariant: "same_plan", Message: fmt.Sprintf("policy %s planned once and then refused the same ledger: %v", pol.ref, err)}
		}
		a, errA := json.Marshal(raw)
		b, errB := json.Marshal(again)
		if err := cmp.Or(errA, errB); err != nil {
			return planned{}, err
		}
		if !bytes.Equal(a, b) {
			return planned{}, &InvariantError{Invariant: "same_plan", Message: fmt.Sprintf("policy %s gave two different plans for the same ledger", pol.ref)}
		}
	}
	p, err := fromRulesPlan(raw)
	if err != nil {
		return planned{}, err
	}
	p.GuarantorID, p.Policy, p.AsOf = s.family.GuarantorID, pol.ref, asOf
	if req.PatientID != "" {
		id, err := uuid.Parse(req.PatientID)
		if err != nil {
			return planned{}, err
		}
		p.PatientID = &id
	}
	return planned{raw: raw, plan: p, force: req.Force}, nil
}

// rulesError turns the planner's input errors into ledger errors; refusals,
// evaluation errors and anything else pass through.
func rulesError(err error) error {
	var pe *rules.ParamError
	switch {
	case errors.As(err, &pe):
		if errors.Is(err, rules.ErrUnknownParam) {
			return Invalid("params."+pe.Name, "the policy declares no param %q", pe.Name)
		}
		return Invalid("params."+pe.Name, "%q: %v", pe.Value, errors.Unwrap(pe.Err))
	case errors.Is(err, rules.ErrInvalidInput):
		return Invalid("", "%v", err)
	}
	return err
}

// optID parses an optional id from the planner ("" is none).
func optID(s string) (*ID, error) {
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("engine: planner returned id %q: %w", s, err)
	}
	return &id, nil
}

func moneyOf(d decimal.Decimal) (Money, error) {
	m, err := MoneyFromDecimal(d)
	if err != nil {
		return Money{}, fmt.Errorf("engine: planner returned amount %s: %w", d, err)
	}
	return m, nil
}

func placeOf(b rules.Bucket) (Place, error) {
	p := Place{Kind: PlaceKind(b.Kind)}
	var errs [5]error
	p.PatientID, errs[0] = optID(b.PatientID)
	p.ProviderID, errs[1] = optID(b.ProviderID)
	p.LocationID, errs[2] = optID(b.LocationID)
	p.ChargeID, errs[3] = optID(b.ChargeID)
	p.UnearnedTypeID, errs[4] = optID(b.UnearnedTypeID)
	return p, errors.Join(errs[:]...)
}

func fromRulesPlan(rp rules.Plan) (Plan, error) {
	p := Plan{
		Operation: AllocationOperation(rp.Operation), Moves: make([]Move, len(rp.Moves)),
		Splits: make([]PlannedSplit, len(rp.Splits)), Warnings: rp.Warnings,
	}
	for i, m := range rp.Moves {
		from, err1 := placeOf(m.From)
		to, err2 := placeOf(m.To)
		amt, err3 := moneyOf(m.Amount)
		if err := errors.Join(err1, err2, err3); err != nil {
			return Plan{}, err
		}
		p.Moves[i] = Move{From: from, To: to, Amount: amt, Stage: m.Stage}
	}
	for i, s := range rp.Splits {
		amt, err := moneyOf(s.Amount)
		if err != nil {
			return Plan{}, err
		}
		pat, err := uuid.Parse(s.PatientID)
		if err != nil {
			return Plan{}, fmt.Errorf("engine: planner returned patient %q: %w", s.PatientID, err)
		}
		var errs [4]error
		sp := PlannedSplit{Amount: amt, Code: SplitCode(s.Code), PatientID: pat, Stage: s.Stage}
		sp.ProviderID, errs[0] = optID(s.ProviderID)
		sp.LocationID, errs[1] = optID(s.LocationID)
		sp.ChargeID, errs[2] = optID(s.ChargeID)
		sp.UnearnedTypeID, errs[3] = optID(s.UnearnedTypeID)
		if err := errors.Join(errs[:]...); err != nil {
			return Plan{}, err
		}
		p.Splits[i] = sp
		p.Total = p.Total.Add(amt)
	}
	return p, nil
}

// check verifies a plan against the ledger's invariants before it is
// posted as a receipt of kind and amount (docs/design.md §5):
//
//  1. the splits sum to the receipt's amount, none is zero;
//  4. no source gives more than it holds and no charge receives more than
//     it owes: judged per bucket for loose money (overdraw: the planner's
//     own buckets, over every split, whatever its date), and in the
//     policy's terms (its linking decides what a charge owes) for charges;
//     nothing pays a planned charge;
//  5. a zero-sum receipt leaves every family's total unchanged: the splits
//     of each family sum to zero, and no split leaves the family.
//
// Invariant 8 is checked by planFamily. A failure is an *InvariantError:
// a plan that breaks these is a fault of the policy or the engine, not of
// the request.
func (s snapshot) check(pl planned, kind ReceiptKind, amount Money) error {
	p := pl.plan
	fail := func(inv, format string, args ...any) error {
		return &InvariantError{Invariant: inv, Message: fmt.Sprintf("policy %s: ", p.Policy) + fmt.Sprintf(format, args...)}
	}
	// 1.
	if !p.Total.Equal(amount) {
		return fail("splits_sum", "the splits sum to %s, not the receipt's %s", p.Total, amount)
	}
	family := map[ID]bool{}
	for _, pt := range s.family.Patients {
		family[pt.ID] = true
	}
	charges := map[ID]Charge{}
	for _, c := range s.family.Charges {
		charges[c.ID] = c
	}
	types := map[ID]bool{}
	for _, t := range s.types {
		types[t.ID] = true
	}
	// 5, and 4 for loose money.
	for i, sp := range p.Splits {
		switch {
		case sp.Amount.IsZero():
			return fail("splits_sum", "split %d is zero", i)
		case kind == ReceiptPatientPayment && sp.Amount.Sign() < 0:
			return fail("splits_sign", "split %d of a payment is negative", i)
		case !family[sp.PatientID]:
			return fail("family_total", "split %d is for patient %s, outside the family", i, sp.PatientID)
		case sp.ChargeID != nil && sp.UnearnedTypeID != nil:
			return fail("one_target", "split %d targets a charge and an unearned type", i)
		case sp.UnearnedTypeID != nil && !types[*sp.UnearnedTypeID]:
			return fail("no_overdraw", "split %d names unknown unearned type %s", i, *sp.UnearnedTypeID)
		}
		if sp.ChargeID != nil {
			c, ok := charges[*sp.ChargeID]
			switch {
			case !ok:
				return fail("family_total", "split %d is on charge %s, outside the family", i, *sp.ChargeID)
			case c.PatientID != sp.PatientID:
				return fail("split_patient", "split %d carries another patient than its charge's", i)
			case c.Status == StatusPlanned && sp.Amount.Sign() > 0:
				return fail("no_overpay", "split %d pays planned charge %s", i, c.ID)
			}
		}
	}
	if kind == ReceiptTransfer && !p.Total.IsZero() {
		return fail("family_total", "a transfer changes the family's total by %s", p.Total)
	}
	if err := s.overdraw(p.Moves); err != nil {
		return fail("no_overdraw", "%v", err)
	}
	// 4 in the policy's terms, from the planner's balances after the plan.
	owed := map[string]decimal.Decimal{}
	for _, c := range pl.raw.Balances.Charges {
		owed[c.ChargeID] = c.Owed
	}
	credits := map[string]rules.CreditBalance{}
	for _, c := range pl.raw.Balances.Credits {
		credits[c.Bucket.ID] = c
	}
	for _, m := range pl.raw.Moves {
		if m.From.Kind == rules.ChargeBucket {
			if c, ok := credits[m.From.ID]; ok && c.Remaining.Sign() < 0 {
				return fail("no_overdraw", "takes more from charge %s than its credit", m.From.ChargeID)
			}
		}
		if m.To.Kind == rules.ChargeBucket {
			if o, ok := owed[m.To.ChargeID]; ok && o.Sign() < 0 && !pl.force {
				return fail("no_overpay", "pays charge %s more than it owes", m.To.ChargeID)
			}
		}
	}
	return nil
}

// bucketOf is the planner's bucket of a place where loose money sits.
func bucketOf(p Place) rules.Bucket {
	return rules.NewBucket(rules.BucketKind(p.Kind), idString(p.PatientID), idString(p.ProviderID), idString(p.LocationID),
		idString(p.ChargeID), idString(p.UnearnedTypeID))
}

// isLoose reports whether money at a place of kind k is judged per bucket:
// unallocated, unearned, or on a charge by a link the policy does not
// honour.
func isLoose(k PlaceKind) bool {
	return k == PlaceUnallocated || k == PlaceUnearned || k == PlaceMisallocated
}

// overdraw checks what moves take from loose money against what the
// family's splits hold there (invariant 4), bucket by bucket: patient ×
// provider × location × (unearned type | unallocated | the charge a
// misallocated split names), the very buckets the planner sums splits by
// (rules.NewBucket, docs/allocation.md §1.2). What the moves put back into
// a bucket counts; a bucket below zero lends nothing; every split counts,
// whatever its date. The receipt's own money (an auto-split's) and a
// shortfall (money allocate-unearned draws beyond what there is, by the
// policy's choice) are not drawn from a bucket. Money on a charge is judged
// in the policy's terms by check.
func (s snapshot) overdraw(moves []Move) error {
	net := map[string]Money{}
	var drawn []rules.Bucket
	for _, m := range moves {
		if isLoose(m.From.Kind) && m.Stage != "shortfall" {
			b := bucketOf(m.From)
			if _, ok := net[b.ID]; !ok {
				drawn = append(drawn, b)
			}
			net[b.ID] = net[b.ID].Sub(m.Amount)
		}
		if isLoose(m.To.Kind) {
			b := bucketOf(m.To)
			net[b.ID] = net[b.ID].Add(m.Amount)
		}
	}
	var have map[string]Money
	for _, b := range drawn {
		n := net[b.ID]
		if n.Sign() >= 0 {
			continue
		}
		if have == nil {
			have = map[string]Money{}
			for _, sp := range s.family.Splits {
				if rs, ok := s.patientSplit(sp); ok {
					id := rules.SplitBucket(rs).ID
					have[id] = have[id].Add(sp.Amount)
				}
			}
		}
		if n.Neg().Cmp(have[b.ID].Max(Money{})) > 0 {
			return fmt.Errorf("takes %s from %s, which holds %s", n.Neg(), describeBucket(b), have[b.ID])
		}
	}
	return nil
}

// describeBucket names a bucket in an error.
func describeBucket(b rules.Bucket) string {
	what := "unallocated money"
	switch b.Kind {
	case rules.UnearnedBucket:
		what = "unearned money of type " + b.UnearnedTypeID
	case rules.MisallocatedBucket:
		what = "money on charge " + b.ChargeID
	}
	or := func(s string) string { return cmp.Or(s, "none") }
	return fmt.Sprintf("patient %s's %s (provider %s, location %s)", b.PatientID, what, or(b.ProviderID), or(b.LocationID))
}
