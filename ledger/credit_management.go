package ledger

import (
	"context"
	"fmt"
	"slices"

	"github.com/paysplit/paysplit/rules"
)

// Credit management (docs/allocation.md §4.2): every family's
// credits re-applied to its outstanding balances by the same-guarantor
// policy — same encounter first, then the same patient, then (scope
// GUARANTOR) the guarantor's other patients — never across guarantors. Each
// family gets one CREDIT_REAPPLY receipt (PD/PCA) carrying the run's note. It
// runs as a run (run.go); this file plans one family.

// Scope is whose money credit management may move between.
type Scope string

// Credit application scopes.
const (
	// ScopeGuarantor: same encounter, same patient, then the guarantor's
	// other patients.
	ScopeGuarantor Scope = Scope(rules.ScopeGuarantor)
	// ScopePatient: never between patients.
	ScopePatient Scope = Scope(rules.ScopePatient)
)

// reversedEncounters finds the family's reversed encounters: OPS's "reverse
// for deletion/modification" adds equal and opposite production, which this
// ledger records as adjustments attached to the encounter's lines that
// cancel them. An encounter is reversed when it has production and every
// production line is cancelled to zero by its attached adjustments.
func reversedEncounters(s snapshot) map[ID]bool {
	type tally struct{ lines, cancelled int }
	per := map[ID]*tally{}
	for _, c := range s.family.Charges {
		if c.EncounterID == nil || c.Kind == ChargeAdjustment || c.Status == StatusPlanned || c.Amount.Sign() <= 0 {
			continue
		}
		t := per[*c.EncounterID]
		if t == nil {
			t = &tally{}
			per[*c.EncounterID] = t
		}
		t.lines++
		b := s.family.Balances[c.ID]
		if !b.Adjustments.IsZero() && c.Amount.Add(b.Adjustments).IsZero() {
			t.cancelled++
		}
	}
	out := map[ID]bool{}
	for id, t := range per {
		if t.lines > 0 && t.cancelled == t.lines {
			out[id] = true
		}
	}
	return out
}

// withoutEncounters is the family without the lines of the encounters
// given, the adjustments attached to them and the splits on any of them:
// credit management neither takes credit from them nor applies credit to
// them.
func (s snapshot) withoutEncounters(drop map[ID]bool) snapshot {
	if len(drop) == 0 {
		return s
	}
	gone := map[ID]bool{}
	for _, c := range s.family.Charges {
		if c.EncounterID != nil && drop[*c.EncounterID] {
			gone[c.ID] = true
		}
	}
	for _, c := range s.family.Charges {
		if c.AttachedToID != nil && gone[*c.AttachedToID] {
			gone[c.ID] = true
		}
	}
	out := s
	f := s.family
	f.Charges = slices.DeleteFunc(slices.Clone(f.Charges), func(c Charge) bool { return gone[c.ID] })
	f.Splits = slices.DeleteFunc(slices.Clone(f.Splits), func(sp PostedSplit) bool { return sp.ChargeID != nil && gone[*sp.ChargeID] })
	out.family = f
	return out
}

// planCreditManagement plans credit management for one family.
func planCreditManagement(ctx context.Context, pol resolvedPolicy, s snapshot, scope Scope, params map[string]string, asOf Date, note string, batchID *ID) (familyOutcome, error) {
	out := familyOutcome{FamilyOutcome: FamilyOutcome{GuarantorID: s.family.GuarantorID}}
	reversed := reversedEncounters(s)
	s = s.withoutEncounters(reversed)
	base := rules.Request{Operation: rules.CreditManagement, GuarantorID: s.family.GuarantorID.String(), Params: params}
	var reqs []rules.Request
	if scope == ScopePatient {
		// Each patient's money stays with the patient: one plan per
		// patient, all on the one receipt.
		ids := make([]ID, len(s.family.Patients))
		for i, p := range s.family.Patients {
			ids[i] = p.ID
		}
		slices.SortFunc(ids, func(a, b ID) int { return slices.Compare(a[:], b[:]) })
		for _, id := range ids {
			r := base
			r.Scope, r.PatientID = rules.ScopePatient, id.String()
			reqs = append(reqs, r)
		}
	} else {
		r := base
		r.Scope = rules.ScopeGuarantor
		if s.guarantor.SelfPatientID != nil {
			r.PatientID = s.guarantor.SelfPatientID.String()
		}
		reqs = append(reqs, r)
	}
	var merged *Plan
	for i, req := range reqs {
		pl, err := planFamily(ctx, pol, s, req, asOf, true)
		if err != nil {
			return out, err
		}
		if err := s.check(pl, ReceiptCreditReapply, Money{}); err != nil {
			return out, err
		}
		found, moved, left, err := amountsOf(pl)
		if err != nil {
			return out, err
		}
		if i == 0 {
			// Every plan starts from the same credits; each spends its own.
			out.CreditsFound, out.CreditsLeft = found, found
		}
		out.AmountMoved = out.AmountMoved.Add(moved)
		out.CreditsLeft = out.CreditsLeft.Sub(found.Sub(left))
		if pl.plan.Empty() {
			continue
		}
		if merged == nil {
			p := pl.plan
			p.Moves, p.Splits = slices.Clone(p.Moves), slices.Clone(p.Splits)
			merged = &p
			continue
		}
		merged.Moves = append(merged.Moves, pl.plan.Moves...)
		merged.Splits = append(merged.Splits, pl.plan.Splits...)
		merged.Warnings = append(merged.Warnings, pl.plan.Warnings...)
	}
	switch {
	case merged != nil:
		*merged = mergeSplits(*merged)
		if merged.PatientID == nil {
			// The receipt goes on the account of the first credit moved.
			first := merged.Splits[0].PatientID
			merged.PatientID = &first
		}
		out.Status = FamilyChanged
		out.Plans = []Plan{*merged}
		out.postings = []posting{{plan: *merged, kind: ReceiptCreditReapply, note: note, batchID: batchID}}
		out.originals = []*ID{nil}
	case out.CreditsFound.IsZero():
		out.Status, out.Reason = FamilyUnchanged, "no credit to re-apply"
	default:
		out.Status, out.Reason = FamilySkipped, "no balance within the scope to apply the credit to; it is left for a refund or a person"
	}
	if n := len(reversed); n > 0 {
		why := fmt.Sprintf("%d reversed encounter(s) left alone", n)
		if out.Reason == "" {
			out.Reason = why
		} else {
			out.Reason += "; " + why
		}
	}
	return out, nil
}
