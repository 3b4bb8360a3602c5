package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// Limits on an allocation request.
const (
	maxParams         = 50
	maxParamText      = 200
	maxChosenCharges  = 500
	familiesPerCommit = 200 // families a TransferFamilies transaction posts
)

// TransferRequest asks for an income transfer over one family: zero-sum
// moves of the family's existing credit to what it owes, as the policy
// decides.
type TransferRequest struct {
	GuarantorID ID
	// PatientID, when set, is whose account the transfer is entered on, and
	// makes the request's scope PATIENT (a policy may confine the moves to
	// that patient's money: same-guarantor does; rigorous and fifo, like
	// Open Dental, plan over the whole family either way). Otherwise the
	// receipt goes on the guarantor's own patient record, if any.
	PatientID *ID
	// Policy is "name" or "name@version"; empty is the practice's default
	// for TRANSFER.
	Policy string
	// Params override the policy's declared params by name.
	Params map[string]string
	AsOf   *Date // default today; the receipt's date
	Note   string
	// IdempotencyKey makes a retry return the first result.
	IdempotencyKey string `json:"-"`
}

// UnearnedAllocation asks to move a family's unearned money to chosen
// charges.
type UnearnedAllocation struct {
	GuarantorID ID
	ChargeIDs   []ID
	// Amount caps what is moved; nil moves what the charges owe, as far as
	// unearned money goes.
	Amount *Money
	// Preview plans without writing anything.
	Preview        bool
	Policy         string
	Params         map[string]string
	AsOf           *Date
	Note           string
	IdempotencyKey string `json:"-"`
}

// Allocation asks for a new receipt to be split by a policy instead of by
// explicit splits.
type Allocation struct {
	Policy          string
	PreferPatientID *ID
	Params          map[string]string
}

// AllocationResult is what a committing operation returns: the plan, and
// the receipt it posted, nil when the plan moved nothing (nothing is posted
// then, not even an empty receipt).
type AllocationResult struct {
	Plan    Plan
	Receipt *Receipt
}

// FamilyTransfers asks for an income transfer in each of many families.
type FamilyTransfers struct {
	GuarantorIDs []ID
	Policy       string
	Params       map[string]string
	AsOf         *Date
	Note         string
}

// FamilyTransferResult is one family's outcome in TransferFamilies. Err is
// a refusal (*rules.RejectedError, *rules.EvalError) or an *InvariantError
// for that family alone; nothing was posted for it.
type FamilyTransferResult struct {
	GuarantorID ID
	Plan        Plan
	ReceiptID   *ID
	Err         error
}

// planDate checks an as-of date (default today): the plan's receipt is
// dated on it, so it may not be in the future.
func (l *Ledger) planDate(field string, d *Date) (Date, error) {
	if d == nil {
		return l.Today(), nil
	}
	if d.After(l.Today()) {
		return Date{}, Invalid(field, "cannot be in the future (%s)", d)
	}
	return *d, nil
}

func checkParams(params map[string]string) error {
	if len(params) > maxParams {
		return Invalid("params", "at most %d params", maxParams)
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if err := firstErr(text("params", name, maxParamText, true), text("params."+name, params[name], maxParamText, false)); err != nil {
			return err
		}
	}
	return nil
}

// checkOverrides checks param overrides against the params the policy
// declares: a money param's value is an amount in ParseMoney's grammar, as
// everywhere money enters (a policy document's own defaults and dec()
// literals follow the rules DSL), then the planner's own check.
func (p resolvedPolicy) checkOverrides(params map[string]string) error {
	declared := p.p.Document().Params
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if prm, ok := declared[name]; ok && prm.Type == "money" {
			if _, err := ParseMoney(params[name]); err != nil {
				return Invalid("params."+name, "%v", err)
			}
		}
	}
	return rulesError(p.p.CheckParams(params))
}

// inFamily reports whether patient id belongs to the snapshot's family.
func (s snapshot) inFamily(id ID) bool {
	for _, p := range s.family.Patients {
		if p.ID == id {
			return true
		}
	}
	return false
}

// transferRequest builds the planner's request for a transfer.
func (s snapshot) transferRequest(op rules.Operation, patient *ID, params map[string]string) (rules.Request, error) {
	req := rules.Request{Operation: op, GuarantorID: s.family.GuarantorID.String(), Scope: rules.ScopeGuarantor, Params: params}
	switch {
	case patient != nil:
		if !s.inFamily(*patient) {
			return req, Invalid("patientId", "is not a patient of guarantor %s", s.family.GuarantorID)
		}
		req.PatientID, req.Scope = patient.String(), rules.ScopePatient
	case s.guarantor.SelfPatientID != nil:
		req.PatientID = s.guarantor.SelfPatientID.String()
	}
	return req, nil
}

// PreviewTransfer plans an income transfer without writing anything: the
// moves it would make, the stage behind each, and the splits of the
// TRANSFER receipt it would post. It refuses exactly as TransferIncome
// would on the same ledger.
func (l *Ledger) PreviewTransfer(ctx context.Context, a Actor, in TransferRequest) (Plan, error) {
	pol, asOf, err := l.transferPrelude(ctx, a, in.Policy, in.Params, in.AsOf, in.Note, OperationTransfer)
	if err != nil {
		return Plan{}, err
	}
	snaps, err := loadSnapshots(ctx, l.store, a.PracticeID, []ID{in.GuarantorID}, "guarantorId")
	if err != nil {
		return Plan{}, err
	}
	pl, err := planTransfer(ctx, pol, snaps[0], in.PatientID, in.Params, asOf)
	return pl.plan, err
}

// transferPrelude validates what a transfer-like request shares and
// resolves its policy.
func (l *Ledger) transferPrelude(ctx context.Context, a Actor, policy string, params map[string]string, d *Date, note string, op AllocationOperation) (resolvedPolicy, Date, error) {
	if err := firstErr(noteText("note", note), checkParams(params)); err != nil {
		return resolvedPolicy{}, Date{}, err
	}
	asOf, err := l.planDate("asOf", d)
	if err != nil {
		return resolvedPolicy{}, Date{}, err
	}
	pol, err := l.resolvePolicy(ctx, l.store, a.PracticeID, policy, op, "policy")
	if err != nil {
		return resolvedPolicy{}, Date{}, err
	}
	if err := pol.checkOverrides(params); err != nil {
		return resolvedPolicy{}, Date{}, err
	}
	return pol, asOf, nil
}

// planTransfer plans and checks a transfer for one family.
func planTransfer(ctx context.Context, pol resolvedPolicy, s snapshot, patient *ID, params map[string]string, asOf Date) (planned, error) {
	req, err := s.transferRequest(rules.Transfer, patient, params)
	if err != nil {
		return planned{}, err
	}
	pl, err := planFamily(ctx, pol, s, req, asOf, true)
	if err != nil {
		return planned{}, err
	}
	return pl, s.check(pl, ReceiptTransfer, Money{})
}

// TransferIncome plans an income transfer and posts it: in one transaction
// it locks the family, reloads its ledger, plans again, checks the plan
// against the ledger's invariants and writes one TRANSFER receipt of 0.00
// recording the policy name and version. A plan that moves nothing posts no
// receipt: the result has the (empty) plan and a nil Receipt. It returns
// *InputError for bad input, *rules.RejectedError when the policy refuses,
// *InvariantError when a plan would break the ledger, ErrForbidden and
// ErrConflict as every mutation does.
func (l *Ledger) TransferIncome(ctx context.Context, a Actor, in TransferRequest) (AllocationResult, error) {
	pol, asOf, err := l.transferPrelude(ctx, a, in.Policy, in.Params, in.AsOf, in.Note, OperationTransfer)
	if err != nil {
		return AllocationResult{}, err
	}
	m := mutation{op: "transferIncome", key: in.IdempotencyKey, input: in, policy: pol.ref.Name, polVer: pol.ref.Version}
	return l.commitFamilyTransfer(ctx, a, m, in.GuarantorID, in.Note, func(r Reader) (planned, error) {
		snaps, err := loadSnapshots(ctx, r, a.PracticeID, []ID{in.GuarantorID}, "guarantorId")
		if err != nil {
			return planned{}, err
		}
		return planTransfer(ctx, pol, snaps[0], in.PatientID, in.Params, asOf)
	})
}

// commitFamilyTransfer is the commit both TransferIncome and
// AllocateUnearned end with: in one transaction it locks the family, plans
// again on what the lock lets it read, and posts the plan as one TRANSFER
// receipt.
func (l *Ledger) commitFamilyTransfer(ctx context.Context, a Actor, m mutation, guarantor ID, note string,
	plan func(Reader) (planned, error)) (AllocationResult, error) {
	id, err := l.mutate(ctx, a, m, func(tx Tx) (ID, error) {
		if err := tx.LockFamilies(ctx, a.PracticeID, []ID{guarantor}); err != nil {
			return ID{}, err
		}
		pl, err := plan(tx)
		if err != nil {
			return ID{}, err
		}
		ids, err := l.post(ctx, tx, a.PracticeID, []posting{{plan: pl.plan, kind: ReceiptTransfer, note: note}})
		if err != nil {
			return ID{}, err
		}
		return ids[0], nil
	})
	if err != nil {
		return AllocationResult{}, err
	}
	return l.allocationResult(ctx, a.PracticeID, id)
}

// AllocateUnearned moves a family's unearned money to chosen charges
// (docs/allocation.md §3.5): the charges first show what they truly still
// owe, then unearned money pays them, preferring what the policy's stages
// prefer (the charge's provider first, for the built-ins), up to Amount.
// With Preview it writes nothing; otherwise it posts one TRANSFER receipt
// as TransferIncome does.
func (l *Ledger) AllocateUnearned(ctx context.Context, a Actor, in UnearnedAllocation) (AllocationResult, error) {
	switch {
	case len(in.ChargeIDs) == 0:
		return AllocationResult{}, Invalid("chargeIds", "choose at least one charge")
	case len(in.ChargeIDs) > maxChosenCharges:
		return AllocationResult{}, Invalid("chargeIds", "at most %d charges", maxChosenCharges)
	case in.Amount != nil && in.Amount.Sign() <= 0:
		return AllocationResult{}, Invalid("amount", "must be positive")
	}
	named := make(map[ID]bool, len(in.ChargeIDs))
	for i, id := range in.ChargeIDs {
		if named[id] {
			return AllocationResult{}, Invalid(fmt.Sprintf("chargeIds[%d]", i), "is named twice")
		}
		named[id] = true
	}
	pol, asOf, err := l.transferPrelude(ctx, a, in.Policy, in.Params, in.AsOf, in.Note, OperationAllocateUnearned)
	if err != nil {
		return AllocationResult{}, err
	}
	plan := func(r Reader) (planned, error) {
		snaps, err := loadSnapshots(ctx, r, a.PracticeID, []ID{in.GuarantorID}, "guarantorId")
		if err != nil {
			return planned{}, err
		}
		s := snaps[0]
		charges := byID(s.family.Charges, func(c Charge) ID { return c.ID })
		req := rules.Request{Operation: rules.AllocateUnearned, GuarantorID: in.GuarantorID.String(), Params: in.Params,
			Scope: rules.ScopeGuarantor, ChargeIDs: make([]string, len(in.ChargeIDs))}
		for i, id := range in.ChargeIDs {
			c, ok := charges[id]
			if !ok {
				return planned{}, Invalid(fmt.Sprintf("chargeIds[%d]", i), "is not a charge of guarantor %s's family", in.GuarantorID)
			}
			req.ChargeIDs[i] = id.String()
			if i == 0 {
				req.PatientID = c.PatientID.String()
			}
		}
		if in.Amount != nil {
			req.Amount = decimal.NullDecimal{Decimal: in.Amount.Decimal(), Valid: true}
		}
		pl, err := planFamily(ctx, pol, s, req, asOf, true)
		if err != nil {
			return planned{}, err
		}
		return pl, s.check(pl, ReceiptTransfer, Money{})
	}
	if in.Preview {
		pl, err := plan(l.store)
		return AllocationResult{Plan: pl.plan}, err
	}
	m := mutation{op: "allocateUnearned", key: in.IdempotencyKey, input: in, policy: pol.ref.Name, polVer: pol.ref.Version}
	return l.commitFamilyTransfer(ctx, a, m, in.GuarantorID, in.Note, plan)
}

// payer checks a receipt's batch and reads the patient it is entered on.
func payer(ctx context.Context, r Reader, pid ID, in NewReceipt) (Patient, error) {
	if err := checkBatch(ctx, r, pid, in.BatchID, "batchId"); err != nil {
		return Patient{}, err
	}
	pats, err := r.Patients(ctx, pid, []ID{*in.PatientID})
	return ref(pats, err, "patientId", "patient", *in.PatientID)
}

// autoSplit plans a new patient payment's splits, entered on pat.
func (l *Ledger) autoSplit(ctx context.Context, r Reader, pid ID, pol resolvedPolicy, pat Patient, in NewReceipt, alloc Allocation) (planned, error) {
	snaps, err := loadSnapshots(ctx, r, pid, []ID{pat.GuarantorID}, "patientId")
	if err != nil {
		return planned{}, err
	}
	s := snaps[0]
	// The family as it stands today, however far back the receipt is dated
	// (docs/allocation.md §3.1 step 1); its splits keep its date.
	req := rules.Request{Operation: rules.AutoSplit, PatientID: pat.ID.String(), GuarantorID: pat.GuarantorID.String(),
		Scope: rules.ScopeGuarantor, Params: alloc.Params, Amount: decimal.NullDecimal{Decimal: in.Amount.Decimal(), Valid: true},
		EnteredOn: rulesDate(l.Today())}
	if alloc.PreferPatientID != nil {
		if !s.inFamily(*alloc.PreferPatientID) {
			return planned{}, Invalid("allocation.preferPatientId", "is not a patient of the payer's family")
		}
		req.PreferPatientID = alloc.PreferPatientID.String()
	}
	pl, err := planFamily(ctx, pol, s, req, *in.ReceivedOn, true)
	if err != nil || pl.plan.Empty() && in.Amount.Sign() < 0 {
		return pl, err // a refund the policy does not split: a preview shows it, a commit refuses it
	}
	return pl, s.check(pl, in.Kind, in.Amount)
}

// allocatedPrelude validates a receipt to be split by a policy and
// resolves the policy.
func (l *Ledger) allocatedPrelude(ctx context.Context, a Actor, in *NewReceipt, alloc Allocation) (resolvedPolicy, error) {
	if err := l.validateAllocated(in, alloc); err != nil {
		return resolvedPolicy{}, err
	}
	return l.allocationPolicy(ctx, l.store, a.PracticeID, alloc)
}

// validateAllocated checks, without the database, a receipt to be split
// by a policy.
func (l *Ledger) validateAllocated(in *NewReceipt, alloc Allocation) error {
	if len(in.Splits) > 0 {
		return Invalid("allocation", "give explicit splits or an allocation, not both")
	}
	if in.EncounterID != nil {
		return Invalid("encounterId", "only an insurance payment is made as a claim total")
	}
	if err := l.validateReceiptHeader(in); err != nil {
		return err
	}
	if in.Kind != ReceiptPatientPayment && in.Kind != ReceiptRefund {
		return Invalid("kind", "an allocation splits a PATIENT_PAYMENT or a REFUND; give explicit splits for a %s", in.Kind)
	}
	return prefixed("allocation.", checkParams(alloc.Params))
}

// allocationPolicy resolves an auto-split's policy and checks its
// parameter overrides.
func (l *Ledger) allocationPolicy(ctx context.Context, r Reader, pid ID, alloc Allocation) (resolvedPolicy, error) {
	pol, err := l.resolvePolicy(ctx, r, pid, alloc.Policy, OperationAutoSplit, "allocation.policy")
	if err != nil {
		return resolvedPolicy{}, err
	}
	if err := pol.checkOverrides(alloc.Params); err != nil {
		return resolvedPolicy{}, prefixed("allocation.", err)
	}
	return pol, nil
}

// prefixed puts an *InputError's field under prefix.
func prefixed(prefix string, err error) error {
	var ie *InputError
	if errors.As(err, &ie) && !strings.HasPrefix(ie.Field, prefix) {
		return &InputError{Field: prefix + ie.Field, Message: ie.Message}
	}
	return err
}

// PreviewReceipt plans the splits of a new patient payment under a policy
// (an auto-split) without writing anything. It refuses exactly as
// PostAllocatedReceipt would on the same ledger.
func (l *Ledger) PreviewReceipt(ctx context.Context, a Actor, in NewReceipt, alloc Allocation) (Plan, error) {
	pol, err := l.allocatedPrelude(ctx, a, &in, alloc)
	if err != nil {
		return Plan{}, err
	}
	pat, err := payer(ctx, l.store, a.PracticeID, in)
	if err != nil {
		return Plan{}, err
	}
	pl, err := l.autoSplit(ctx, l.store, a.PracticeID, pol, pat, in, alloc)
	return pl.plan, err
}

// PostAllocatedReceipt posts a new patient payment split by a policy (an
// auto-split, docs/allocation.md §3.1): in one transaction it locks the
// payer's family, plans under the lock, checks the plan and writes the
// receipt, recording the policy name and version. It returns the receipt
// and the plan.
func (l *Ledger) PostAllocatedReceipt(ctx context.Context, a Actor, in NewReceipt, alloc Allocation) (Receipt, Plan, error) {
	if err := l.validateAllocated(&in, alloc); err != nil {
		return Receipt{}, Plan{}, err
	}
	input := struct {
		Receipt    NewReceipt
		Allocation Allocation
	}{in, alloc}
	var pol resolvedPolicy // resolved in the transaction: no transaction of its own
	m := mutation{op: "postReceipt", key: in.IdempotencyKey, input: input, resolved: &pol.ref}
	var posted posting
	id, err := l.mutate(ctx, a, m, func(tx Tx) (ID, error) {
		var err error
		if pol, err = l.allocationPolicy(ctx, tx, a.PracticeID, alloc); err != nil {
			return ID{}, err
		}
		pat, err := payer(ctx, tx, a.PracticeID, in)
		if err != nil {
			return ID{}, err
		}
		if err := tx.LockFamilies(ctx, a.PracticeID, []ID{pat.GuarantorID}); err != nil {
			return ID{}, err
		}
		pl, err := l.autoSplit(ctx, tx, a.PracticeID, pol, pat, in, alloc)
		if err != nil {
			return ID{}, err
		}
		p := posting{plan: pl.plan, kind: in.Kind, note: strings.TrimSpace(in.Note), method: strings.TrimSpace(in.Method),
			reference: strings.TrimSpace(in.Reference), batchID: in.BatchID}
		ps := []posting{p}
		if _, err := l.post(ctx, tx, a.PracticeID, ps); err != nil {
			return ID{}, err
		}
		if ps[0].receipt == nil {
			return ID{}, Invalid("allocation", "a refund is not split automatically while a charge of the family still owes: give its splits (docs/allocation.md §3.7)")
		}
		posted = ps[0]
		return ps[0].receipt.ID, nil
	})
	if err != nil {
		return Receipt{}, Plan{}, err
	}
	if posted.receipt != nil && id == posted.receipt.ID {
		return *posted.receipt, posted.plan, nil // what was just written, without reading it back
	}
	res, err := l.allocationResult(ctx, a.PracticeID, id) // an idempotent replay
	if err != nil {
		return Receipt{}, Plan{}, err
	}
	if res.Receipt == nil {
		return Receipt{}, Plan{}, fmt.Errorf("receipt %s: %w", id, ErrNotFound)
	}
	return *res.Receipt, res.Plan, nil
}

// TransferFamilies runs an income transfer in every family of
// GuarantorIDs under one policy: the bulk entry point (Open Dental's family
// balancer, income-transfer method). Families are taken in batches, each in
// one transaction that locks the batch's families (in id order), loads all
// their ledgers with a fixed number of statements, plans and checks each
// family, and writes every receipt and plan with a fixed number of
// statements. A family the policy refuses, or whose plan would break an
// invariant, gets its error in its result and nothing posted; the others
// proceed. Results are in the order of GuarantorIDs.
func (l *Ledger) TransferFamilies(ctx context.Context, a Actor, in FamilyTransfers) ([]FamilyTransferResult, error) {
	pol, asOf, err := l.transferPrelude(ctx, a, in.Policy, in.Params, in.AsOf, in.Note, OperationTransfer)
	if err != nil {
		return nil, err
	}
	seen := make(map[ID]bool, len(in.GuarantorIDs))
	for i, g := range in.GuarantorIDs {
		if seen[g] {
			return nil, Invalid(fmt.Sprintf("guarantorIds[%d]", i), "is named twice")
		}
		seen[g] = true
	}
	out := make([]FamilyTransferResult, 0, len(in.GuarantorIDs))
	for start := 0; start < len(in.GuarantorIDs); start += familiesPerCommit {
		chunk := in.GuarantorIDs[start:min(start+familiesPerCommit, len(in.GuarantorIDs))]
		var results []FamilyTransferResult
		input := struct {
			GuarantorIDs []ID
			Policy       string
			Params       map[string]string
			AsOf         Date
			Note         string
		}{chunk, pol.ref.String(), in.Params, asOf, in.Note}
		m := mutation{op: "transferFamilies", input: input, policy: pol.ref.Name, polVer: pol.ref.Version}
		_, err := l.mutate(ctx, a, m, func(tx Tx) (ID, error) {
			results = make([]FamilyTransferResult, len(chunk))
			if err := tx.LockFamilies(ctx, a.PracticeID, chunk); err != nil {
				return ID{}, err
			}
			snaps, err := loadSnapshots(ctx, tx, a.PracticeID, chunk, "guarantorIds")
			if err != nil {
				return ID{}, err
			}
			var ps []posting
			var at []int
			for i, s := range snaps {
				results[i].GuarantorID = s.family.GuarantorID
				pl, err := planTransfer(ctx, pol, s, nil, in.Params, asOf)
				if err != nil {
					if familyError(err) {
						results[i].Err = err
						continue
					}
					return ID{}, err
				}
				results[i].Plan = pl.plan
				if !pl.plan.Empty() {
					ps = append(ps, posting{plan: pl.plan, kind: ReceiptTransfer, note: in.Note})
					at = append(at, i)
				}
			}
			ids, err := l.post(ctx, tx, a.PracticeID, ps)
			if err != nil {
				return ID{}, err
			}
			for j, i := range at {
				results[i].ReceiptID = ps[j].receiptID()
			}
			if len(ids) == 0 {
				return newID(), nil // nothing posted: the audit event stands alone
			}
			return ids[0], nil // the batch's first plan
		})
		if err != nil {
			return nil, err
		}
		out = append(out, results...)
	}
	return out, nil
}

// familyError reports whether err concerns one family's plan only: a
// refusal, an invariant, an expression that failed, a plan over its budget.
func familyError(err error) bool {
	var (
		inv *InvariantError
		ev  *rules.EvalError
		in  *InputError
	)
	return errors.Is(err, rules.ErrRejected) || errors.Is(err, rules.ErrBudget) || errors.As(err, &inv) || errors.As(err, &ev) ||
		errors.As(err, &in) && in.Field == ""
}

// posting is a plan to write: the receipt's own fields besides the plan.
type posting struct {
	plan      Plan
	kind      ReceiptKind
	note      string
	method    string
	reference string
	batchID   *ID
	receipt   *Receipt // set by post when the plan moves money
}

func (p posting) receiptID() *ID {
	if p.receipt == nil {
		return nil
	}
	return &p.receipt.ID
}

// post writes the receipts of ps (one per plan that moves money, none for
// an empty plan) and every plan's record, with a fixed number of
// statements. It returns the records' ids and sets each posting's receipt.
func (l *Ledger) post(ctx context.Context, tx Tx, pid ID, ps []posting) ([]ID, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	now := l.stamp()
	var receipts []Receipt
	var splits []Split
	recs := make([]AllocationRecord, len(ps))
	ids := make([]ID, len(ps))
	at := make([]int, len(ps)) // index in receipts, or -1
	for i := range ps {
		p := &ps[i]
		rec := AllocationRecord{ID: newID(), Operation: p.plan.Operation, GuarantorID: p.plan.GuarantorID,
			PolicyName: p.plan.Policy.Name, PolicyVersion: p.plan.Policy.Version, AsOf: p.plan.AsOf, CreatedAt: now}
		at[i] = -1
		if !p.plan.Empty() {
			r := Receipt{ID: newID(), Kind: p.kind, Amount: p.plan.Total, ReceivedOn: p.plan.AsOf, PatientID: p.plan.PatientID,
				Method: p.method, Reference: p.reference, Note: p.note, BatchID: p.batchID,
				PolicyName: p.plan.Policy.Name, PolicyVersion: p.plan.Policy.Version, PostedAt: now}
			for _, s := range p.plan.Splits {
				splits = append(splits, Split{ID: newID(), ReceiptID: r.ID, Amount: s.Amount, Code: s.Code, PatientID: s.PatientID,
					ProviderID: s.ProviderID, LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID})
			}
			at[i] = len(receipts)
			receipts = append(receipts, r)
			rec.ReceiptID = &r.ID
		}
		js, err := p.plan.MarshalJSON()
		if err != nil {
			return nil, err
		}
		rec.Plan = js
		recs[i], ids[i] = rec, rec.ID
	}
	for i := range ps {
		if at[i] >= 0 {
			ps[i].receipt = &receipts[at[i]]
		}
	}
	if len(receipts) > 0 {
		if err := tx.InsertReceipts(ctx, pid, receipts, splits); err != nil {
			return nil, err
		}
	}
	return ids, tx.InsertAllocationRecords(ctx, pid, recs)
}

// allocationResult reads back a committed plan by its id (or its receipt's
// id) and its receipt: what a first call and a replay both return.
func (l *Ledger) allocationResult(ctx context.Context, pid, id ID) (AllocationResult, error) {
	recs, err := l.store.AllocationRecords(ctx, pid, []ID{id})
	rec, err := one(recs, err, "allocation plan", id)
	if err != nil {
		return AllocationResult{}, err
	}
	var res AllocationResult
	if err := res.Plan.UnmarshalJSON(rec.Plan); err != nil {
		return AllocationResult{}, fmt.Errorf("allocation plan %s: %w", rec.ID, err)
	}
	if rec.ReceiptID != nil {
		rows, err := l.store.Receipts(ctx, pid, []ID{*rec.ReceiptID})
		r, err := one(rows, err, "receipt", *rec.ReceiptID)
		if err != nil {
			return AllocationResult{}, err
		}
		res.Receipt = &r
	}
	return res, nil
}

// FamilyBalances is a family as a policy sees it: what each charge still
// owes after the policy's explicit and implicit linking (credits it would
// apply counted as applied, nothing posted), where the credits are, and the
// family's totals.
type FamilyBalances struct {
	GuarantorID ID
	Policy      PolicyRef
	AsOf        Date
	Charges     []ChargeStanding
	Credits     []CreditStanding
	// Owed sums what completed charges still owe (charges that owe only),
	// as a guarantor's balance counts it: planned work owes nothing yet.
	Owed Money
	// Planned sums the planned charges' patient portions: work the family
	// would owe once it is done, shown apart from Owed.
	Planned Money
	// Unallocated and Unearned sum what is left of the family's
	// unallocated and (visible) unearned money after linking.
	Unallocated Money
	Unearned    Money
}

// ChargeStanding is one charge under a policy.
type ChargeStanding struct {
	ChargeID   ID
	PatientID  ID
	Portion    Money // patient portion: amount less insurance, with the adjustments folded into it
	Linked     Money // patient money whose links the policy honours
	Owed       Money // negative when overpaid
	FoldedInto *ID   // an adjustment counted in the procedure it is attached to
}

// CreditStanding is one source of money: an unallocated, unearned or
// misallocated bucket, or an overpaid charge.
type CreditStanding struct {
	Place     Place
	Hidden    bool
	Amount    Money // after explicit linking
	Remaining Money // after implicit linking
}

// FamilyQuery asks for a family's balances under a policy.
type FamilyQuery struct {
	GuarantorID ID
	Policy      string // empty: the practice's default for TRANSFER
	AsOf        *Date
	Params      map[string]string
}

// FamilyBalances returns the family of q.GuarantorID as q.Policy sees it.
func (l *Ledger) FamilyBalances(ctx context.Context, a Actor, q FamilyQuery) (FamilyBalances, error) {
	pol, asOf, err := l.transferPrelude(ctx, a, q.Policy, q.Params, q.AsOf, "", OperationTransfer)
	if err != nil {
		return FamilyBalances{}, err
	}
	snaps, err := loadSnapshots(ctx, l.store, a.PracticeID, []ID{q.GuarantorID}, "guarantorId")
	if err != nil {
		return FamilyBalances{}, err
	}
	s := snaps[0]
	req, err := s.transferRequest(rules.Transfer, nil, q.Params)
	if err != nil {
		return FamilyBalances{}, err
	}
	req.AsOf = rulesDate(asOf)
	pctx, cancel := pol.planning(ctx)
	b, err := pol.p.BalancesContext(pctx, s.input(req))
	cancel()
	if err != nil {
		return FamilyBalances{}, rulesError(err)
	}
	out := FamilyBalances{GuarantorID: q.GuarantorID, Policy: pol.ref, AsOf: asOf,
		Charges: make([]ChargeStanding, len(b.Charges)), Credits: make([]CreditStanding, len(b.Credits))}
	planned := map[string]bool{}
	for _, c := range s.family.Charges {
		planned[c.ID.String()] = c.Status == StatusPlanned
	}
	for i, c := range b.Charges {
		cs := ChargeStanding{}
		var errs [8]error
		var id, pat *ID
		id, errs[0] = optID(c.ChargeID)
		pat, errs[1] = optID(c.PatientID)
		cs.FoldedInto, errs[2] = optID(c.FoldedInto)
		cs.Portion, errs[3] = moneyOf(c.Portion)
		cs.Linked, errs[4] = moneyOf(c.Linked)
		cs.Owed, errs[5] = moneyOf(c.Owed)
		if err := errors.Join(errs[:]...); err != nil {
			return FamilyBalances{}, err
		}
		cs.ChargeID, cs.PatientID = *id, *pat
		switch {
		case planned[c.ChargeID]: // owes nothing yet, like Charge.owed
			out.Planned, cs.Owed = out.Planned.Add(cs.Portion), Money{}
		case cs.Owed.Sign() > 0:
			out.Owed = out.Owed.Add(cs.Owed)
		}
		out.Charges[i] = cs
	}
	for i, c := range b.Credits {
		place, err1 := placeOf(c.Bucket)
		amt, err2 := moneyOf(c.Amount)
		rem, err3 := moneyOf(c.Remaining)
		if err := errors.Join(err1, err2, err3); err != nil {
			return FamilyBalances{}, err
		}
		out.Credits[i] = CreditStanding{Place: place, Hidden: c.Hidden, Amount: amt, Remaining: rem}
		switch {
		case c.Bucket.Kind == rules.UnallocatedBucket:
			out.Unallocated = out.Unallocated.Add(rem)
		case c.Bucket.Kind == rules.UnearnedBucket && !c.Hidden:
			out.Unearned = out.Unearned.Add(rem)
		}
	}
	return out, nil
}
