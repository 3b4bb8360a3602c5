package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// Re-apply patient credit (docs/allocation.md §4.1): credit
// taken from chosen sources — overpaid lines, unallocated money (OPS's
// escrow), unearned or misallocated money — is applied to chosen lines on the
// same encounter, another encounter, another patient of the same guarantor,
// or a patient of another guarantor named explicitly (Additional Patient
// Lookup). It posts one CREDIT_REAPPLY receipt of 0.00: a PD split where the
// credit came from and a PCA split where it went, for each move. Credit not
// placed stays where it was. The planner decides (REAPPLY under the
// same-guarantor or additional-patient policy); this file loads the family
// (and the named patients), checks the request and posts the plan.

// Policies re-apply uses when the request names none.
const (
	SameGuarantorPolicy     = "same-guarantor"
	AdditionalPatientPolicy = "additional-patient"
)

// maxReapplyItems bounds the sources, targets and additional patients of a
// re-apply.
const maxReapplyItems = 200

// ReapplyRequest asks to move a patient credit to chosen lines.
type ReapplyRequest struct {
	// PatientID is the patient whose account the receipt is entered on (the
	// encounter dashboard's patient); their guarantor's family holds the
	// credits.
	PatientID ID
	// Sources are credit ids, as ReapplyCandidates lists them (an overpaid
	// line's credit id is the charge id).
	Sources []string
	// Targets are the lines to pay, in order.
	Targets []ReapplyTarget
	// AdditionalPatientIDs are patients of other guarantors the request
	// names explicitly; only they may receive across guarantors.
	AdditionalPatientIDs []ID
	// Force lets a target receive more than it owes (force apply,
	// docs/allocation.md §4.1): the line then carries the credit.
	Force bool
	// Policy is "name" or "name@version"; empty is same-guarantor, or
	// additional-patient when AdditionalPatientIDs is not empty.
	Policy string
	Params map[string]string
	// AsOf is the receipt's date and the plan's (default today).
	AsOf           *Date
	BatchID        *ID
	Note           string
	IdempotencyKey string `json:"-"`
}

// ReapplyTarget is a line to pay and, optionally, how much (default: as
// much as it owes).
type ReapplyTarget struct {
	ChargeID ID
	Amount   *Money
}

// CandidateFilter chooses which lines ReapplyCandidates lists ("Show",
// docs/allocation.md §4.1 step 1).
type CandidateFilter string

// Candidate filters.
const (
	// CandidatesPatientBalance: lines with a patient balance (the default);
	// lines whose only balance is insurance's are left out.
	CandidatesPatientBalance CandidateFilter = "PATIENT_BALANCE"
	// CandidatesInsuranceOnly: lines insurance still owes on and the
	// patient does not.
	CandidatesInsuranceOnly CandidateFilter = "INSURANCE_BALANCE_ONLY"
	// CandidatesNoBalance: lines nobody owes on (force apply targets).
	CandidatesNoBalance CandidateFilter = "NO_BALANCE"
	// CandidatesAll: every line.
	CandidatesAll CandidateFilter = "ALL"
)

// CandidateQuery asks for the lines and credits of a re-apply screen.
type CandidateQuery struct {
	PatientID ID
	// SameGuarantor includes the other patients of the patient's guarantor
	// ("Include Additional Patients Under the Same Guarantor").
	SameGuarantor bool
	// AdditionalPatientIDs adds patients of other guarantors.
	AdditionalPatientIDs []ID
	Show                 CandidateFilter // default PATIENT_BALANCE
	AsOf                 *Date
}

// Candidates are the lines a credit may go to and the credits there are.
type Candidates struct {
	GuarantorID ID
	AsOf        Date
	Lines       []CandidateLine
	Credits     []Credit
}

// CandidateLine is a line of a re-apply screen.
type CandidateLine struct {
	ChargeID    ID
	PatientID   ID
	EncounterID *ID
	// Owed is the patient balance (negative: a credit on the line);
	// InsuranceBalance is the insurance estimate still pending.
	Owed             Money
	InsuranceBalance Money
}

// Credit is money that may be re-applied: an overpaid line, or a patient's
// unallocated, unearned or misallocated money (per provider and location).
type Credit struct {
	// ID names the credit in ReapplyRequest.Sources.
	ID          string
	Place       Place
	EncounterID *ID
	Amount      Money
}

// reapplyScope is the family of a re-apply, with the named patients of other
// guarantors merged into it.
type reapplyScope struct {
	snap       snapshot
	patient    Patient
	family     map[ID]bool // the guarantor's own patients
	additional map[ID]bool // named patients of other guarantors
	lock       []ID        // every guarantor involved
}

// loadReapplyScope reads the patient's family and the named patients of
// other guarantors. With lock set (in a transaction) it locks their families
// first.
func loadReapplyScope(ctx context.Context, r Reader, pid, patientID ID, additional []ID, lock func([]ID) error) (reapplyScope, error) {
	var sc reapplyScope
	if len(additional) > maxReapplyItems {
		return sc, Invalid("additionalPatientIds", "at most %d patients", maxReapplyItems)
	}
	pats, err := r.Patients(ctx, pid, append([]ID{patientID}, additional...))
	if err != nil {
		return sc, err
	}
	byPat := byID(pats, func(p Patient) ID { return p.ID })
	p, ok := byPat[patientID]
	if !ok {
		return sc, Invalid("patientId", "no patient with id %s", patientID)
	}
	sc.patient = p
	gids := []ID{p.GuarantorID}
	sc.additional = map[ID]bool{}
	for i, id := range additional {
		ap, ok := byPat[id]
		switch {
		case !ok:
			return sc, Invalid(fmt.Sprintf("additionalPatientIds[%d]", i), "no patient with id %s", id)
		case ap.GuarantorID == p.GuarantorID:
			continue // already in the family
		}
		sc.additional[id] = true
		if !slices.Contains(gids, ap.GuarantorID) {
			gids = append(gids, ap.GuarantorID)
		}
	}
	sc.lock = gids
	if lock != nil {
		if err := lock(gids); err != nil {
			return sc, err
		}
	}
	snaps, err := loadSnapshots(ctx, r, pid, gids, "patientId")
	if err != nil {
		return sc, err
	}
	sc.snap = snaps[0]
	sc.family = map[ID]bool{}
	for _, fp := range sc.snap.family.Patients {
		sc.family[fp.ID] = true
	}
	// Merge the named patients' own lines and splits (not their families').
	f := &sc.snap.family
	for _, other := range snaps[1:] {
		for _, op := range other.family.Patients {
			if sc.additional[op.ID] {
				f.Patients = append(f.Patients, op)
			}
		}
		for _, c := range other.family.Charges {
			if sc.additional[c.PatientID] {
				f.Charges = append(f.Charges, c)
				f.Balances[c.ID] = other.family.Balances[c.ID]
			}
		}
		for _, sp := range other.family.Splits {
			if sc.additional[sp.PatientID] {
				f.Splits = append(f.Splits, sp)
			}
		}
		for id, v := range other.insurance {
			sc.snap.insurance[id] = v
		}
	}
	return sc, nil
}

// additionalIDs lists the named patients in the planner's terms.
func (sc reapplyScope) additionalIDs() []string {
	var out []string
	for _, p := range sc.snap.family.Patients {
		if sc.additional[p.ID] {
			out = append(out, p.ID.String())
		}
	}
	return out
}

// reapplyPolicy resolves the policy of a re-apply.
func (l *Ledger) reapplyPolicy(ctx context.Context, pid ID, ref string, additional bool, params map[string]string) (resolvedPolicy, error) {
	if strings.TrimSpace(ref) == "" {
		ref = SameGuarantorPolicy
		if additional {
			ref = AdditionalPatientPolicy
		}
	}
	pol, err := l.resolvePolicy(ctx, l.store, pid, ref, OperationReapply, "policy")
	if err != nil {
		return resolvedPolicy{}, err
	}
	if err := pol.checkOverrides(params); err != nil {
		return resolvedPolicy{}, err
	}
	return pol, nil
}

// credits lists the family's credits that the policy lets move, from the
// planner's view of the family (after explicit linking).
func (sc reapplyScope) credits(ctx context.Context, pol resolvedPolicy, req rules.Request) ([]Credit, error) {
	ctx, cancel := pol.planning(ctx)
	defer cancel()
	b, err := pol.p.BalancesContext(ctx, sc.snap.input(req))
	if err != nil {
		return nil, rulesError(err)
	}
	planned := map[string]bool{}
	for _, c := range sc.snap.family.Charges {
		if c.Status == StatusPlanned {
			planned[c.ID.String()] = true
		}
	}
	var out []Credit
	for _, c := range b.Credits {
		if c.Hidden || c.Amount.Sign() <= 0 || c.Bucket.Kind == rules.PaymentBucket || planned[c.Bucket.ChargeID] {
			continue
		}
		place, err1 := placeOf(c.Bucket)
		amt, err2 := moneyOf(c.Amount)
		enc, err3 := optID(c.Bucket.EncounterID)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if place.PatientID == nil || !sc.family[*place.PatientID] {
			continue // only the guarantor's own money is re-applied
		}
		out = append(out, Credit{ID: c.Bucket.ID, Place: place, EncounterID: enc, Amount: amt})
	}
	slices.SortStableFunc(out, func(a, b Credit) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ReapplyCandidates lists what a re-apply screen shows: the lines of the
// patient (and, with SameGuarantor, of their guarantor's other patients, and
// of the named patients of other guarantors) filtered by Show, and the
// family's credits that may be re-applied.
func (l *Ledger) ReapplyCandidates(ctx context.Context, a Actor, q CandidateQuery) (Candidates, error) {
	switch q.Show {
	case "":
		q.Show = CandidatesPatientBalance
	case CandidatesPatientBalance, CandidatesInsuranceOnly, CandidatesNoBalance, CandidatesAll:
	default:
		return Candidates{}, Invalid("show", "must be PATIENT_BALANCE, INSURANCE_BALANCE_ONLY, NO_BALANCE or ALL")
	}
	asOf, err := l.planDate("asOf", q.AsOf)
	if err != nil {
		return Candidates{}, err
	}
	sc, err := loadReapplyScope(ctx, l.store, a.PracticeID, q.PatientID, q.AdditionalPatientIDs, nil)
	if err != nil {
		return Candidates{}, err
	}
	pol, err := l.reapplyPolicy(ctx, a.PracticeID, "", len(sc.additional) > 0, nil)
	if err != nil {
		return Candidates{}, err
	}
	req := rules.Request{Operation: rules.Reapply, PatientID: sc.patient.ID.String(), GuarantorID: sc.patient.GuarantorID.String(),
		Scope: rules.ScopeGuarantor, AdditionalPatientIDs: sc.additionalIDs(), AsOf: rulesDate(asOf)}
	out := Candidates{GuarantorID: sc.patient.GuarantorID, AsOf: asOf}
	if out.Credits, err = sc.credits(ctx, pol, req); err != nil {
		return Candidates{}, err
	}
	for _, c := range sc.snap.family.Charges {
		switch {
		case c.AttachedToID != nil || c.ServiceDate.After(asOf):
			continue // an attached adjustment is part of its line
		case c.PatientID != sc.patient.ID && !sc.additional[c.PatientID] && !q.SameGuarantor:
			continue
		}
		b := sc.snap.family.Balances[c.ID]
		line := CandidateLine{ChargeID: c.ID, PatientID: c.PatientID, EncounterID: c.EncounterID, Owed: b.Owed, InsuranceBalance: b.InsurancePending}
		keep := true
		switch q.Show {
		case CandidatesPatientBalance:
			keep = b.Owed.Sign() > 0
		case CandidatesInsuranceOnly:
			keep = b.Owed.Sign() <= 0 && b.InsurancePending.Sign() > 0
		case CandidatesNoBalance:
			keep = b.Owed.IsZero() && b.InsurancePending.IsZero()
		}
		if keep {
			out.Lines = append(out.Lines, line)
		}
	}
	return out, nil
}

// reapplyPrelude checks what a re-apply can check without the ledger.
func (l *Ledger) reapplyPrelude(in *ReapplyRequest) (Date, error) {
	switch {
	case len(in.Sources) == 0:
		return Date{}, Invalid("sources", "choose at least one credit to re-apply")
	case len(in.Sources) > maxReapplyItems:
		return Date{}, Invalid("sources", "at most %d credits", maxReapplyItems)
	case len(in.Targets) == 0:
		return Date{}, Invalid("targets", "choose at least one line to apply the credit to")
	case len(in.Targets) > maxReapplyItems:
		return Date{}, Invalid("targets", "at most %d lines", maxReapplyItems)
	}
	for i, s := range in.Sources {
		if strings.TrimSpace(s) == "" || len(s) > maxName || CheckText(s, false) != nil {
			return Date{}, Invalid(fmt.Sprintf("sources[%d]", i), "is not a credit id (list them with reapplyCandidates)")
		}
		if slices.Contains(in.Sources[:i], s) {
			return Date{}, Invalid(fmt.Sprintf("sources[%d]", i), "is named twice")
		}
	}
	for i, t := range in.Targets {
		if t.Amount != nil && t.Amount.Sign() <= 0 {
			return Date{}, Invalid(fmt.Sprintf("targets[%d].amount", i), "must be positive")
		}
		for _, u := range in.Targets[:i] {
			if u.ChargeID == t.ChargeID {
				return Date{}, Invalid(fmt.Sprintf("targets[%d].chargeId", i), "is named twice")
			}
		}
	}
	if err := firstErr(noteText("note", in.Note), checkParams(in.Params)); err != nil {
		return Date{}, err
	}
	return l.planDate("asOf", in.AsOf)
}

// planReapply checks a re-apply against the family and plans it.
func (l *Ledger) planReapply(ctx context.Context, r Reader, pid ID, pol resolvedPolicy, sc reapplyScope, in ReapplyRequest, asOf Date) (planned, error) {
	req := rules.Request{Operation: rules.Reapply, PatientID: sc.patient.ID.String(), GuarantorID: sc.patient.GuarantorID.String(),
		Scope: rules.ScopeGuarantor, AdditionalPatientIDs: sc.additionalIDs(), Force: in.Force, Params: in.Params, AsOf: rulesDate(asOf)}
	credits, err := sc.credits(ctx, pol, req)
	if err != nil {
		return planned{}, err
	}
	held, err := reapplySources(credits, in, &req)
	if err != nil {
		return planned{}, err
	}
	asked, owes, err := reapplyTargets(ctx, r, pid, sc, in, asOf, &req)
	if err != nil {
		return planned{}, err
	}
	if asked.Cmp(held) > 0 {
		return planned{}, Invalid("targets", "re-applies %s but the sources hold %s", asked, held)
	}
	drawDown(in, owes, held, &req)
	pl, err := planFamily(ctx, pol, sc.snap, req, asOf, true)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) && ie.Field == "" { // the planner refused the request's sources or targets
			return planned{}, Invalid("targets", "%s", ie.Message)
		}
		return planned{}, err
	}
	pl.plan = mergeSplits(pl.plan)
	if err := sc.snap.check(pl, ReceiptCreditReapply, Money{}); err != nil {
		return planned{}, err
	}
	if pl.plan.Empty() {
		why := "the lines owe nothing"
		if !in.Force {
			why += "; set force: true to put the credit on a line that owes nothing"
		}
		return planned{}, Invalid("targets", "nothing to re-apply: %s", why)
	}
	return pl, nil
}

// reapplySources checks each source is a credit of the family that may be
// re-applied, adds it to req and returns what the sources hold.
func reapplySources(credits []Credit, in ReapplyRequest, req *rules.Request) (Money, error) {
	byCredit := map[string]Credit{}
	for _, c := range credits {
		byCredit[c.ID] = c
	}
	var held Money
	for i, s := range in.Sources {
		c, ok := byCredit[s]
		if !ok {
			return Money{}, Invalid(fmt.Sprintf("sources[%d]", i), "%q is not a credit of the family that may be re-applied (list them with reapplyCandidates)", s)
		}
		held = held.Add(c.Amount)
		req.Sources = append(req.Sources, s)
	}
	return held, nil
}

// reapplyTargets checks each target is a completed line of the family, not
// an attached adjustment, dated by asOf, asked for no more than it owes
// unless forced; it adds them to req and returns the amounts asked for and
// what each target owes, as the screen shows it.
func reapplyTargets(ctx context.Context, r Reader, pid ID, sc reapplyScope, in ReapplyRequest, asOf Date, req *rules.Request) (Money, []Money, error) {
	charges := byID(sc.snap.family.Charges, func(c Charge) ID { return c.ID })
	var asked Money
	var owes []Money
	for i, t := range in.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		c, ok := charges[t.ChargeID]
		switch {
		case !ok:
			return Money{}, nil, missingTarget(ctx, r, pid, i, t.ChargeID)
		case c.Status == StatusPlanned:
			return Money{}, nil, Invalid(field+".chargeId", "the line is planned and owes nothing yet")
		case c.AttachedToID != nil:
			return Money{}, nil, Invalid(field+".chargeId", "is an adjustment attached to %s; apply the credit to that line", *c.AttachedToID)
		case c.ServiceDate.After(asOf):
			return Money{}, nil, Invalid(field+".chargeId", "the line is dated after %s", asOf)
		}
		owed := sc.snap.family.Balances[c.ID].Owed.Max(Money{})
		if t.Amount != nil {
			if !in.Force && t.Amount.Cmp(owed) > 0 {
				return Money{}, nil, Invalid(field+".amount", "the line owes %s; set force: true to leave a credit on it", owed)
			}
			asked = asked.Add(*t.Amount)
		}
		req.Targets = append(req.Targets, rules.Target{ChargeID: c.ID.String()})
		owes = append(owes, owed)
	}
	return asked, owes, nil
}

// missingTarget says why the i-th target, not a line of the family, cannot
// be paid: it does not exist, or it is another guarantor's patient's.
func missingTarget(ctx context.Context, r Reader, pid ID, i int, id ID) error {
	rows, err := r.Charges(ctx, pid, []ID{id})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return Invalid(fmt.Sprintf("targets[%d].chargeId", i), "no charge with id %s", id)
	}
	return Invalid(fmt.Sprintf("targets[%d].chargeId", i),
		"the line is a patient's of another guarantor; name the patient in additionalPatientIds to apply credit across guarantors")
}

// drawDown is the escrow: the credit is drawn down onto the targets in the
// order given, each taking its amount, or by default what it owes (with
// force, what is left), until the sources are spent. The policy's stages
// then only decide which source pays which target.
func drawDown(in ReapplyRequest, owes []Money, held Money, req *rules.Request) {
	left := held
	for i, t := range in.Targets {
		share := owes[i]
		switch {
		case t.Amount != nil:
			share = *t.Amount
		case in.Force:
			share = left
		}
		share = share.Min(left)
		left = left.Sub(share)
		req.Targets[i].Amount = decimal.NullDecimal{Decimal: share.Decimal(), Valid: true}
	}
}

// PreviewReapply plans a re-apply without writing anything: the moves, the
// stage behind each, and the PD/PCA splits of the CREDIT_REAPPLY receipt
// ReapplyCredit would post. It refuses exactly as ReapplyCredit would.
func (l *Ledger) PreviewReapply(ctx context.Context, a Actor, in ReapplyRequest) (Plan, error) {
	asOf, err := l.reapplyPrelude(&in)
	if err != nil {
		return Plan{}, err
	}
	if err := checkBatch(ctx, l.store, a.PracticeID, in.BatchID, "batchId"); err != nil {
		return Plan{}, err
	}
	sc, err := loadReapplyScope(ctx, l.store, a.PracticeID, in.PatientID, in.AdditionalPatientIDs, nil)
	if err != nil {
		return Plan{}, err
	}
	pol, err := l.reapplyPolicy(ctx, a.PracticeID, in.Policy, len(in.AdditionalPatientIDs) > 0, in.Params)
	if err != nil {
		return Plan{}, err
	}
	pl, err := l.planReapply(ctx, l.store, a.PracticeID, pol, sc, in, asOf)
	return pl.plan, err
}

// ReapplyCredit moves credit from the sources to the targets and posts one
// CREDIT_REAPPLY receipt of 0.00 (PD on each source, PCA on each target)
// into the batch given, in one transaction under the lock of every family
// involved. It returns *InputError for bad input (a source that is not a
// credit of the family, targets asking more than the sources hold, a target
// of another guarantor not named, a closed batch, ...), *rules.RejectedError
// when the policy refuses, and ErrForbidden and ErrConflict as every
// mutation does.
func (l *Ledger) ReapplyCredit(ctx context.Context, a Actor, in ReapplyRequest) (AllocationResult, error) {
	asOf, err := l.reapplyPrelude(&in)
	if err != nil {
		return AllocationResult{}, err
	}
	pol, err := l.reapplyPolicy(ctx, a.PracticeID, in.Policy, len(in.AdditionalPatientIDs) > 0, in.Params)
	if err != nil {
		return AllocationResult{}, err
	}
	input := struct {
		Request ReapplyRequest
		Policy  string // the version planned with
	}{in, pol.ref.String()}
	m := mutation{op: "reapplyCredit", key: in.IdempotencyKey, input: input, policy: pol.ref.Name, polVer: pol.ref.Version}
	id, err := l.mutate(ctx, a, m, func(tx Tx) (ID, error) {
		if err := checkBatch(ctx, tx, a.PracticeID, in.BatchID, "batchId"); err != nil {
			return ID{}, err
		}
		sc, err := loadReapplyScope(ctx, tx, a.PracticeID, in.PatientID, in.AdditionalPatientIDs, func(gids []ID) error {
			return tx.LockFamilies(ctx, a.PracticeID, gids)
		})
		if err != nil {
			return ID{}, err
		}
		pl, err := l.planReapply(ctx, tx, a.PracticeID, pol, sc, in, asOf)
		if err != nil {
			return ID{}, err
		}
		ps := []posting{{plan: pl.plan, kind: ReceiptCreditReapply, note: strings.TrimSpace(in.Note), batchID: in.BatchID}}
		if _, err := l.post(ctx, tx, a.PracticeID, ps); err != nil {
			return ID{}, err
		}
		return ps[0].receipt.ID, nil
	})
	if err != nil {
		return AllocationResult{}, err
	}
	return l.allocationResult(ctx, a.PracticeID, id)
}

// mergeSplits makes a CREDIT_REAPPLY plan's splits one per code and place:
// one PD split where each credit came from and one PCA split where it went,
// however many moves the plan made between them (docs/allocation.md §4.1
// step 6). The moves stay
// as planned; splits keep the order of their first move.
func mergeSplits(p Plan) Plan {
	type key struct {
		code                          SplitCode
		patient                       ID
		provider, location, charge, u string
	}
	at := map[key]int{}
	out := make([]PlannedSplit, 0, len(p.Splits))
	for _, sp := range p.Splits {
		k := key{sp.Code, sp.PatientID, idString(sp.ProviderID), idString(sp.LocationID), idString(sp.ChargeID), idString(sp.UnearnedTypeID)}
		if i, ok := at[k]; ok {
			out[i].Amount = out[i].Amount.Add(sp.Amount)
			continue
		}
		at[k] = len(out)
		out = append(out, sp)
	}
	p.Splits = out
	return p
}
