package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
)

// NewReceipt describes money received (or moved) with explicit splits.
type NewReceipt struct {
	Kind       ReceiptKind // PATIENT_PAYMENT, INSURANCE_PAYMENT, REFUND or TRANSFER
	PatientID  *ID         // whose account it is entered on; required except for insurance
	Amount     Money
	ReceivedOn *Date // default today
	Method     string
	Reference  string
	Note       string
	BatchID    *ID
	Splits     []NewSplit
	// EncounterID makes an insurance payment a claim total: it gives no
	// splits, and the amount is spread over the encounter's lines
	// (claimTotalSplits, insurance.go).
	EncounterID    *ID
	IdempotencyKey string `json:"-"`
}

// NewSplit is one part of a new receipt. It targets a charge (ChargeID), an
// unearned type (UnearnedTypeID) or nothing (unallocated). Patient, provider
// and location default from the charge; otherwise the patient defaults to the
// receipt's and provider and location to none.
type NewSplit struct {
	Amount         Money
	PatientID      *ID
	ChargeID       *ID
	UnearnedTypeID *ID
	ProviderID     *ID
	LocationID     *ID
	// CrossFamily must be set to put a split on a patient of another family.
	CrossFamily bool
	// Force allows paying a charge more than it owes, leaving a credit on it.
	Force bool
}

// splitCodes is the split code each receipt kind posts with.
var splitCodes = map[ReceiptKind]SplitCode{
	ReceiptPatientPayment:   CodePayment,
	ReceiptInsurancePayment: CodeInsurance,
	ReceiptRefund:           CodeRefund,
	ReceiptTransfer:         CodeTransfer,
}

// PostReceipt records a receipt with explicit splits in one transaction. It
// refuses splits that do not sum to the amount, pay a charge more than it
// owes (unless forced), take more from a credit than it holds, or reach into
// another family without saying so.
func (l *Ledger) PostReceipt(ctx context.Context, a Actor, in NewReceipt) (Receipt, error) {
	if err := l.validateReceipt(&in); err != nil {
		return Receipt{}, err
	}
	var posted Receipt
	id, err := l.mutate(ctx, a, mutation{op: "postReceipt", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		r := Receipt{ID: newID(), Kind: in.Kind, Amount: in.Amount, ReceivedOn: *in.ReceivedOn, PatientID: in.PatientID,
			Method: strings.TrimSpace(in.Method), Reference: strings.TrimSpace(in.Reference), Note: strings.TrimSpace(in.Note),
			BatchID: in.BatchID, EncounterID: in.EncounterID, PostedAt: l.stamp()}
		asked := in.Splits
		if in.EncounterID != nil {
			var err error
			if asked, err = claimTotalSplits(ctx, tx, a.PracticeID, *in.EncounterID, in.Amount); err != nil {
				return ID{}, err
			}
		}
		splits, err := l.resolveSplits(ctx, tx, a.PracticeID, r, asked)
		if err != nil {
			return ID{}, err
		}
		if r.Kind == ReceiptTransfer {
			if err := l.checkManualTransfer(ctx, tx, a.PracticeID, r, splits); err != nil {
				return ID{}, err
			}
		}
		posted = r
		return r.ID, tx.InsertReceipt(ctx, a.PracticeID, r, splits)
	})
	if err != nil {
		return Receipt{}, err
	}
	if id == posted.ID {
		return posted, nil // what was just written, without reading it back
	}
	rows, err := l.store.Receipts(ctx, a.PracticeID, []ID{id}) // an idempotent replay
	return one(rows, err, "receipt", id)
}

// validateReceiptHeader checks a receipt's own fields (not its splits)
// without the database; it defaults the date to today.
func (l *Ledger) validateReceiptHeader(in *NewReceipt) error {
	if in.ReceivedOn == nil {
		today := l.Today()
		in.ReceivedOn = &today
	}
	if err := firstErr(text("method", in.Method, maxName, false), text("reference", in.Reference, maxName, false),
		noteText("note", in.Note)); err != nil {
		return err
	}
	if in.ReceivedOn.After(l.Today()) {
		return Invalid("receivedOn", "cannot be in the future (%s)", in.ReceivedOn)
	}
	switch in.Kind {
	case ReceiptPatientPayment:
		if in.Amount.Sign() <= 0 {
			return Invalid("amount", "a patient payment must be positive; post a REFUND to pay money back")
		}
	case ReceiptInsurancePayment:
		if in.Amount.Sign() <= 0 {
			return Invalid("amount", "an insurance payment must be positive")
		}
	case ReceiptRefund:
		if in.Amount.Sign() >= 0 {
			return Invalid("amount", "a refund is negative: the money leaves the practice")
		}
	case ReceiptTransfer:
		if !in.Amount.IsZero() {
			return Invalid("amount", "a transfer moves money and must be 0.00")
		}
	case ReceiptCreditReapply, ReceiptReversal:
		return Invalid("kind", "%s receipts are posted by reapplyCredit and reverseReceipt", in.Kind)
	default:
		return Invalid("kind", "must be PATIENT_PAYMENT, INSURANCE_PAYMENT, REFUND or TRANSFER")
	}
	if in.PatientID == nil && in.Kind != ReceiptInsurancePayment {
		return Invalid("patientId", "a %s is entered on a patient's account", in.Kind)
	}
	return nil
}

// validateReceipt checks what can be checked without the database.
func (l *Ledger) validateReceipt(in *NewReceipt) error {
	if err := l.validateReceiptHeader(in); err != nil {
		return err
	}
	if in.EncounterID != nil {
		switch {
		case in.Kind != ReceiptInsurancePayment:
			return Invalid("encounterId", "only an insurance payment is made as a claim total")
		case len(in.Splits) > 0:
			return Invalid("splits", "a claim total is spread over its encounter's lines; give splits or encounterId, not both")
		}
		return nil
	}
	if len(in.Splits) == 0 {
		return Invalid("splits", "a receipt needs at least one split")
	}
	if len(in.Splits) > maxSplitsPerReceipt {
		return Invalid("splits", "at most %d splits per receipt", maxSplitsPerReceipt)
	}
	var sum Money
	for i, s := range in.Splits {
		f := func(name string) string { return fmt.Sprintf("splits[%d].%s", i, name) }
		switch {
		case s.Amount.IsZero():
			return Invalid(f("amount"), "must not be zero")
		case (in.Kind == ReceiptPatientPayment || in.Kind == ReceiptInsurancePayment) && s.Amount.Sign() < 0:
			return Invalid(f("amount"), "a payment's splits are positive; move money with a TRANSFER")
		case in.Kind == ReceiptRefund && s.Amount.Sign() > 0:
			return Invalid(f("amount"), "a refund's splits are negative")
		case s.Force && (s.ChargeID == nil || s.Amount.Sign() < 0):
			return Invalid(f("force"), "only applies to a positive split on a charge")
		}
		sum = sum.Add(s.Amount)
	}
	if !sum.Equal(in.Amount) {
		return Invalid("splits", "the splits sum to %s, not the receipt's amount %s", sum, in.Amount)
	}
	return nil
}

// resolveSplits loads what the splits refer to, fills in defaults, locks the
// families involved and checks the money against the ledger as it stands
// under those locks.
func (l *Ledger) resolveSplits(ctx context.Context, tx Tx, pid ID, r Receipt, in []NewSplit) ([]Split, error) {
	if err := checkBatchFor(ctx, tx, pid, r.Kind, r.BatchID, "batchId"); err != nil {
		return nil, err
	}
	refs, err := loadSplitRefs(ctx, tx, pid, r, in)
	if err != nil {
		return nil, err
	}
	out := make([]Split, len(in))
	for i, s := range in {
		if out[i], err = refs.resolve(r, i, s); err != nil {
			return nil, err
		}
	}
	if err := checkSplitDirectories(ctx, tx, pid, out); err != nil {
		return nil, err
	}
	if err := lockFamiliesOf(ctx, tx, pid, out, refs.patients); err != nil {
		return nil, err
	}
	force := make(map[ID]bool)
	for _, s := range in {
		if s.Force {
			force[*s.ChargeID] = true
		}
	}
	return out, checkMoney(ctx, tx, pid, r.Kind, out, func(i int) string { return fmt.Sprintf("splits[%d]", i) }, force)
}

// splitRefs is what a receipt's splits name: their charges, the patients
// (the receipt's, the splits', the charges'), the practice's unearned types.
type splitRefs struct {
	charges  map[ID]Charge
	patients map[ID]Patient
	types    map[ID]UnearnedType
}

// loadSplitRefs reads what the splits name; the receipt's patient must exist.
func loadSplitRefs(ctx context.Context, tx Tx, pid ID, r Receipt, in []NewSplit) (splitRefs, error) {
	var chargeIDs, patientIDs []ID
	if r.PatientID != nil {
		patientIDs = append(patientIDs, *r.PatientID)
	}
	for _, s := range in {
		if s.ChargeID != nil {
			chargeIDs = append(chargeIDs, *s.ChargeID)
		}
		if s.PatientID != nil {
			patientIDs = append(patientIDs, *s.PatientID)
		}
	}
	charges, err := tx.Charges(ctx, pid, chargeIDs)
	if err != nil {
		return splitRefs{}, err
	}
	for _, c := range charges {
		patientIDs = append(patientIDs, c.PatientID)
	}
	pats, err := tx.Patients(ctx, pid, patientIDs)
	if err != nil {
		return splitRefs{}, err
	}
	types, err := tx.UnearnedTypes(ctx, pid)
	if err != nil {
		return splitRefs{}, err
	}
	refs := splitRefs{charges: byID(charges, func(c Charge) ID { return c.ID }),
		patients: byID(pats, func(p Patient) ID { return p.ID }), types: byID(types, func(u UnearnedType) ID { return u.ID })}
	if r.PatientID != nil {
		if _, ok := refs.patients[*r.PatientID]; !ok {
			return splitRefs{}, Invalid("patientId", "no patient with id %s", *r.PatientID)
		}
	}
	return refs, nil
}

// resolve makes the i-th split of r: its patient (the charge's, its own or
// the receipt's), provider and location (the charge's unless given), after
// checking what it names exists and stays in the receipt's family unless
// crossFamily says otherwise.
func (refs splitRefs) resolve(r Receipt, i int, s NewSplit) (Split, error) {
	f := func(name string) string { return fmt.Sprintf("splits[%d].%s", i, name) }
	sp := Split{ID: newID(), ReceiptID: r.ID, Amount: s.Amount, Code: splitCodes[r.Kind], ChargeID: s.ChargeID,
		UnearnedTypeID: s.UnearnedTypeID, ProviderID: s.ProviderID, LocationID: s.LocationID}
	switch {
	case s.ChargeID != nil:
		c, ok := refs.charges[*s.ChargeID]
		if !ok {
			return Split{}, Invalid(f("chargeId"), "no charge with id %s", *s.ChargeID)
		}
		if err := checkPrepaySplit(c, s, refs.types, f); err != nil {
			return Split{}, err
		}
		if s.PatientID != nil && *s.PatientID != c.PatientID {
			return Split{}, Invalid(f("patientId"), "differs from the patient of the charge")
		}
		sp.PatientID = c.PatientID
		sp.ProviderID = cmp.Or(sp.ProviderID, c.ProviderID)
		sp.LocationID = cmp.Or(sp.LocationID, c.LocationID)
	case s.PatientID != nil:
		sp.PatientID = *s.PatientID
	case r.PatientID != nil:
		sp.PatientID = *r.PatientID
	default:
		return Split{}, Invalid(f("patientId"), "say whose money this is: a patientId or a chargeId")
	}
	if _, ok := refs.patients[sp.PatientID]; !ok {
		return Split{}, Invalid(f("patientId"), "no patient with id %s", sp.PatientID)
	}
	if s.UnearnedTypeID != nil {
		if _, ok := refs.types[*s.UnearnedTypeID]; !ok {
			return Split{}, Invalid(f("unearnedTypeId"), "no unearned type with id %s", *s.UnearnedTypeID)
		}
	}
	if r.PatientID != nil && r.Kind != ReceiptInsurancePayment && !s.CrossFamily &&
		refs.patients[sp.PatientID].GuarantorID != refs.patients[*r.PatientID].GuarantorID {
		return Split{}, Invalid(f("crossFamily"), "the split's patient is in another family; set crossFamily: true to do this on purpose")
	}
	return sp, nil
}

// checkSplitDirectories checks the providers and locations the splits name
// exist in the practice.
func checkSplitDirectories(ctx context.Context, tx Tx, pid ID, splits []Split) error {
	var provIDs, locIDs []ID
	var provAt, locAt []int
	for i, sp := range splits {
		if sp.ProviderID != nil {
			provIDs, provAt = append(provIDs, *sp.ProviderID), append(provAt, i)
		}
		if sp.LocationID != nil {
			locIDs, locAt = append(locIDs, *sp.LocationID), append(locAt, i)
		}
	}
	if err := checkRefs(ctx, tx, pid, provIDs, nil, func(j int) string { return fmt.Sprintf("splits[%d].", provAt[j]) }); err != nil {
		return err
	}
	return checkRefs(ctx, tx, pid, nil, locIDs, func(j int) string { return fmt.Sprintf("splits[%d].", locAt[j]) })
}

// checkBatchFor is the one batch rule for a receipt of kind (docs/credits.md,
// "Batches"): a TRANSFER moves no money in or out of the practice and posts
// outside batches, whatever posts it (a manual transfer, transferIncome,
// allocateUnearned, the balancer, a treatment-plan move) and however the
// practice is set, and so does its reversal; naming a batch for one is
// refused. Every other receipt follows checkBatch.
func checkBatchFor(ctx context.Context, r Reader, pid ID, kind ReceiptKind, batchID *ID, field string) error {
	if kind != ReceiptTransfer {
		return checkBatch(ctx, r, pid, batchID, field)
	}
	if batchID != nil {
		return Invalid(field, "a transfer moves no money in or out of the practice and posts outside batches")
	}
	return nil
}

// checkBatch refuses a closed or unknown batch, and a missing batch when the
// practice requires one.
func checkBatch(ctx context.Context, r Reader, pid ID, batchID *ID, field string) error {
	if batchID == nil {
		p, err := r.Practice(ctx, pid)
		if err != nil {
			return err
		}
		if p.RequireBatch {
			return Invalid(field, "this practice posts every receipt into an open batch")
		}
		return nil
	}
	rows, err := r.Batches(ctx, pid, []ID{*batchID})
	b, err := ref(rows, err, field, "batch", *batchID)
	if err != nil {
		return err
	}
	if b.ClosedAt != nil {
		return Invalid(field, "batch %q is closed", b.Name)
	}
	return nil
}

// lockFamiliesOf locks the families of every split's patient.
func lockFamiliesOf(ctx context.Context, tx Tx, pid ID, splits []Split, pats map[ID]Patient) error {
	seen := make(map[ID]bool)
	var gids []ID
	for _, s := range splits {
		g := pats[s.PatientID].GuarantorID
		if !seen[g] {
			seen[g] = true
			gids = append(gids, g)
		}
	}
	return tx.LockFamilies(ctx, pid, gids)
}

// source is where money sits: a charge, or a patient's unallocated or
// unearned (by type) money; for a transfer, per provider and location too
// (the income must exist where it is taken from).
type source struct {
	patient ID
	charge  ID
	typ     ID // unearned type; zero with zero charge = unallocated
	bucket  bucket
}

// sourceOf is where split s takes money from or puts it: for a transfer,
// money not on a charge is per provider and location.
func sourceOf(kind ReceiptKind, s Split) source {
	switch {
	case s.ChargeID != nil:
		return source{charge: *s.ChargeID, typ: deref(s.UnearnedTypeID)}
	case kind == ReceiptTransfer:
		return source{patient: s.PatientID, typ: deref(s.UnearnedTypeID), bucket: bucket{deref(s.ProviderID), deref(s.LocationID), ID{}}}
	}
	return source{patient: s.PatientID, typ: deref(s.UnearnedTypeID)}
}

// checkMoney checks proposed splits against the ledger under lock
// (docs/design.md, invariant 4): a positive split never pays a charge more
// than it owes unless forced; a negative split never takes more from a charge,
// or from a patient's unallocated or unearned money, than is there. field(i)
// names the i-th split in errors.
func checkMoney(ctx context.Context, r Reader, pid ID, kind ReceiptKind, splits []Split, field func(int) string, force map[ID]bool) error {
	var chargeIDs, patientIDs []ID
	for _, s := range splits {
		if s.ChargeID != nil && s.UnearnedTypeID == nil {
			chargeIDs = append(chargeIDs, *s.ChargeID)
		} else if s.ChargeID == nil && s.Amount.Sign() < 0 {
			patientIDs = append(patientIDs, s.PatientID)
		}
	}
	bal, err := r.ChargeBalances(ctx, pid, chargeIDs)
	if err != nil {
		return err
	}
	have := make(map[source]Money)
	if len(patientIDs) > 0 {
		existing, err := r.SplitsOfPatients(ctx, pid, patientIDs)
		if err != nil {
			return err
		}
		for _, s := range existing {
			if s.ChargeID == nil {
				k := sourceOf(kind, s)
				have[k] = have[k].Add(s.Amount)
			}
		}
	}
	// Net what this receipt puts on and takes from each place, then compare.
	net := make(map[source]Money)
	first := make(map[source]int)
	for i, s := range splits {
		k := sourceOf(kind, s)
		if _, ok := first[k]; !ok {
			first[k] = i
		}
		net[k] = net[k].Add(s.Amount)
	}
	if err := checkAttached(ctx, r, pid, net, first, field); err != nil {
		return err
	}
	for k, amt := range net {
		i := first[k]
		if k.charge != (ID{}) && k.typ != (ID{}) {
			continue // prepayment on a planned line: checkAttached
		}
		if k.charge != (ID{}) {
			b := bal[k.charge]
			room := b.Owed
			if kind == ReceiptInsurancePayment {
				room = room.Add(b.InsurancePending)
			}
			if amt.Sign() > 0 && amt.Cmp(room) > 0 && !force[k.charge] {
				return Invalid(field(i)+".amount", "pays %s on a charge that owes %s; set force: true to leave a credit on it", amt, room.Max(Money{}))
			}
			onIt := b.PatientPaid
			if kind == ReceiptInsurancePayment {
				onIt = b.InsurancePaid
			}
			if amt.Sign() < 0 && amt.Neg().Cmp(onIt) > 0 {
				return Invalid(field(i)+".amount", "takes %s off a charge that holds %s of that money", amt.Neg(), onIt)
			}
			continue
		}
		if amt.Sign() < 0 && amt.Neg().Cmp(have[k]) > 0 {
			what := "unallocated money"
			if k.typ != (ID{}) {
				what = "unearned money of that type"
			}
			if kind == ReceiptTransfer {
				what += " with that provider and location"
			}
			return Invalid(field(i)+".amount", "takes %s from the patient's %s, which holds %s", amt.Neg(), what, have[k].Max(Money{}))
		}
	}
	return nil
}

// Reversal describes a receipt to reverse.
type Reversal struct {
	ReceiptID      ID
	ReceivedOn     *Date // default today
	BatchID        *ID
	Note           string
	IdempotencyKey string `json:"-"`
}

// ReverseReceipt posts a REVERSAL receipt that negates every split of the
// original. A receipt is reversed at most once; a reversal cannot itself be
// reversed; and a reversal is refused if the money it would take back has
// since been moved elsewhere (reverse that move first).
func (l *Ledger) ReverseReceipt(ctx context.Context, a Actor, in Reversal) (Receipt, error) {
	if in.ReceivedOn == nil {
		today := l.Today()
		in.ReceivedOn = &today
	}
	if err := noteText("note", in.Note); err != nil {
		return Receipt{}, err
	}
	if in.ReceivedOn.After(l.Today()) {
		return Receipt{}, Invalid("receivedOn", "cannot be in the future (%s)", in.ReceivedOn)
	}
	id, err := l.mutate(ctx, a, mutation{op: "reverseReceipt", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		rows, err := tx.Receipts(ctx, pid, []ID{in.ReceiptID})
		orig, err := ref(rows, err, "receiptId", "receipt", in.ReceiptID)
		if err != nil {
			return ID{}, err
		}
		if orig.Kind == ReceiptReversal {
			return ID{}, Invalid("receiptId", "is itself a reversal; post the original again instead")
		}
		if err := checkBatchFor(ctx, tx, pid, orig.Kind, in.BatchID, "batchId"); err != nil {
			return ID{}, err
		}
		splits, err := tx.SplitsOfReceipts(ctx, pid, []ID{orig.ID})
		if err != nil {
			return ID{}, err
		}
		var patientIDs []ID
		for _, s := range splits {
			patientIDs = append(patientIDs, s.PatientID)
		}
		pats, err := tx.Patients(ctx, pid, patientIDs)
		if err != nil {
			return ID{}, err
		}
		rev := Receipt{ID: newID(), Kind: ReceiptReversal, Amount: orig.Amount.Neg(), ReceivedOn: *in.ReceivedOn,
			PatientID: orig.PatientID, Note: strings.TrimSpace(in.Note), BatchID: in.BatchID, ReversesID: &orig.ID,
			EncounterID: orig.EncounterID, PostedAt: l.stamp()}
		out := make([]Split, len(splits))
		for i, s := range splits {
			out[i] = Split{ID: newID(), ReceiptID: rev.ID, Amount: s.Amount.Neg(), Code: CodeReversal, PatientID: s.PatientID,
				ProviderID: s.ProviderID, LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID}
		}
		if err := lockFamiliesOf(ctx, tx, pid, out, byID(pats, func(p Patient) ID { return p.ID })); err != nil {
			return ID{}, err
		}
		done, err := tx.ReversalsOf(ctx, pid, []ID{orig.ID})
		if err != nil {
			return ID{}, err
		}
		if r, ok := done[orig.ID]; ok {
			return ID{}, fmt.Errorf("%w: receipt %s was already reversed by %s", ErrConflict, orig.ID, r)
		}
		// Un-paying a charge is always possible; taking back unallocated or
		// unearned money requires it to still be there.
		var credits []Split
		for _, s := range out {
			if s.ChargeID == nil || s.UnearnedTypeID != nil {
				credits = append(credits, s)
			}
		}
		kind := ReceiptRefund
		if orig.Kind == ReceiptInsurancePayment {
			kind = ReceiptInsurancePayment
		}
		if err := checkMoney(ctx, tx, pid, kind, credits, func(int) string { return "receiptId" }, nil); err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return ID{}, &InvariantError{Invariant: "no_overdraw", Message: "cannot reverse: " + ie.Message + "; reverse what moved it first"}
			}
			return ID{}, err
		}
		return rev.ID, tx.InsertReceipt(ctx, pid, rev, out)
	})
	if err != nil {
		return Receipt{}, err
	}
	rows, err := l.store.Receipts(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "receipt", id)
}
