package ledger

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Treatment plans that move (docs/ledger.md, "Treatment plans"). A planned
// procedure is completed (a new completed line, dated when the work was
// done, names it) or removed (it will not be done); either is recorded as
// its outcome, a row of its own, since charges are never edited.
// Prepayments may be attached to a planned procedure: splits on the
// treatment-plan unearned type that also name the procedure. They are held
// for the work (never a credit, never spent by another operation), follow
// the procedure onto its completed line, and must be detached before the
// procedure can be removed. Every move posts a zero-sum TRANSFER.

// PlannedOutcomeKind is what became of a planned procedure.
type PlannedOutcomeKind string

// Outcomes of a planned procedure.
const (
	OutcomeCompleted PlannedOutcomeKind = "COMPLETED" // done: CompletedChargeID is its production
	OutcomeRemoved   PlannedOutcomeKind = "REMOVED"   // will not be done
)

// PlannedOutcome records what became of a planned procedure. A planned line
// has at most one outcome, never edited.
type PlannedOutcome struct {
	ChargeID          ID // the planned line
	Outcome           PlannedOutcomeKind
	On                Date // when the work was done, or when it was removed
	CompletedChargeID *ID  // the completed line, for COMPLETED
	Note              string
	PostedAt          time.Time
}

// TreatmentPlanReader is the read side of treatment plans in the Store.
type TreatmentPlanReader interface {
	// PlannedOutcomes lists the outcomes whose planned line or completed
	// line is among chargeIDs.
	PlannedOutcomes(ctx context.Context, practiceID ID, chargeIDs []ID) ([]PlannedOutcome, error)
}

// TreatmentPlanWriter is the write side of treatment plans in a Tx.
type TreatmentPlanWriter interface {
	InsertPlannedOutcome(ctx context.Context, practiceID ID, o PlannedOutcome) error
}

// PlannedCompletion asks to complete a planned procedure.
type PlannedCompletion struct {
	ChargeID       ID
	CompletedOn    *Date // default today; not in the future
	Note           string
	IdempotencyKey string `json:"-"`
}

// PlannedRemoval asks to remove a planned procedure that will not be done.
type PlannedRemoval struct {
	ChargeID       ID
	Note           string
	IdempotencyKey string `json:"-"`
}

// PrepaymentAttachment asks to attach a patient's unearned money to one of
// their planned procedures.
type PrepaymentAttachment struct {
	ChargeID ID
	Amount   Money
	// PatientID, when given, is whose prepayment it is: it must be the
	// procedure's patient.
	PatientID *ID
	// UnearnedTypeID is the type the money is taken from (default the
	// treatment-plan type); the attached money is always on the
	// treatment-plan type.
	UnearnedTypeID *ID
	// ProviderID and LocationID name the bucket the money is taken from;
	// when neither is given it is taken from the procedure's provider and
	// location first, then the patient's other buckets of that type.
	ProviderID     *ID
	LocationID     *ID
	Note           string
	IdempotencyKey string `json:"-"`
}

// PrepaymentDetachment asks to detach prepayment from a planned procedure:
// the money stays on the treatment-plan type, with the same provider and
// location, no longer tied to the procedure.
type PrepaymentDetachment struct {
	ChargeID       ID
	Amount         *Money // default everything attached
	Note           string
	IdempotencyKey string `json:"-"`
}

// bucket is where a patient's unearned money sits: a provider, a location
// (zero for none) and its type.
type bucket struct{ provider, location, typ ID }

func splitBucket(s Split) bucket {
	return bucket{deref(s.ProviderID), deref(s.LocationID), deref(s.UnearnedTypeID)}
}

func deref(id *ID) ID {
	if id == nil {
		return ID{}
	}
	return *id
}

// ptrs is the bucket as a split's provider, location and type.
func (b bucket) ptrs() (prov, loc, typ *ID) {
	ptr := func(id ID) *ID {
		if id == (ID{}) {
			return nil
		}
		return &id
	}
	return ptr(b.provider), ptr(b.location), ptr(b.typ)
}

// held is money per bucket, in a fixed order.
type held struct {
	order []bucket
	by    map[bucket]Money
}

func (h *held) add(b bucket, m Money) {
	if h.by == nil {
		h.by = map[bucket]Money{}
	}
	if _, ok := h.by[b]; !ok {
		h.order = append(h.order, b)
	}
	h.by[b] = h.by[b].Add(m)
}

func (h held) total() Money {
	var t Money
	for _, m := range h.by {
		t = t.Add(m)
	}
	return t
}

// sorted puts the buckets of charge c's provider and location first; the
// others follow in provider, location and type order (none first).
func (h held) sorted(c Charge) []bucket {
	out := slices.Clone(h.order)
	at := func(b bucket) bool { return b.provider == deref(c.ProviderID) && b.location == deref(c.LocationID) }
	slices.SortFunc(out, func(a, b bucket) int {
		if at(a) != at(b) {
			if at(a) {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.provider.String(), b.provider.String()),
			strings.Compare(a.location.String(), b.location.String()), strings.Compare(a.typ.String(), b.typ.String()))
	})
	return out
}

// attachedTo is the prepayment attached to a planned charge, per bucket.
func attachedTo(ctx context.Context, r Reader, pid, chargeID ID) (held, error) {
	splits, err := r.SplitsOfCharges(ctx, pid, []ID{chargeID})
	var h held
	for _, s := range splits {
		if s.UnearnedTypeID != nil {
			h.add(splitBucket(s), s.Amount)
		}
	}
	return h, err
}

// unearnedOf is a patient's unattached money on one unearned type, per
// bucket.
func unearnedOf(ctx context.Context, r Reader, pid, patient, typ ID) (held, error) {
	splits, err := r.SplitsOfPatients(ctx, pid, []ID{patient})
	var h held
	for _, s := range splits {
		if s.ChargeID == nil && s.UnearnedTypeID != nil && *s.UnearnedTypeID == typ {
			h.add(splitBucket(s), s.Amount)
		}
	}
	return h, err
}

// openPlanned loads a planned line that has no outcome yet and locks its
// family.
func openPlanned(ctx context.Context, tx Tx, pid, chargeID ID) (Charge, error) {
	rows, err := tx.Charges(ctx, pid, []ID{chargeID})
	c, err := ref(rows, err, "chargeId", "charge", chargeID)
	if err != nil {
		return Charge{}, err
	}
	if c.Status != StatusPlanned {
		return Charge{}, Invalid("chargeId", "the %s line is completed, not planned", c.Code)
	}
	if err := lockFamilyOfPatient(ctx, tx, pid, c.PatientID); err != nil {
		return Charge{}, err
	}
	outs, err := tx.PlannedOutcomes(ctx, pid, []ID{c.ID})
	if err != nil {
		return Charge{}, err
	}
	for _, o := range outs {
		if o.ChargeID == c.ID {
			return Charge{}, Invalid("chargeId", "the planned %s line was already %s on %s", c.Code, strings.ToLower(string(o.Outcome)), o.On)
		}
	}
	return c, nil
}

// openWithPrepayment is openPlanned, with the prepayment attached to the
// line.
func openWithPrepayment(ctx context.Context, tx Tx, pid, chargeID ID) (Charge, held, error) {
	p, err := openPlanned(ctx, tx, pid, chargeID)
	if err != nil {
		return Charge{}, held{}, err
	}
	att, err := attachedTo(ctx, tx, pid, p.ID)
	return p, att, err
}

// treatmentPlanType is the practice's treatment-plan unearned type.
func treatmentPlanType(ctx context.Context, r Reader, pid ID) (UnearnedType, []UnearnedType, error) {
	types, err := r.UnearnedTypes(ctx, pid)
	if err != nil {
		return UnearnedType{}, nil, err
	}
	for _, t := range types {
		if t.IsTreatmentPlan {
			return t, types, nil
		}
	}
	return UnearnedType{}, types, Invalid("chargeId", "the practice has no treatment-plan unearned type (updateUnearnedType isTreatmentPlan)")
}

// postMove writes a zero-sum TRANSFER on patient's account. Transfers post
// outside batches (docs/credits.md, "Batches").
func (l *Ledger) postMove(ctx context.Context, tx Tx, pid, patient ID, on Date, note string, splits []Split) (ID, error) {
	r := Receipt{ID: newID(), Kind: ReceiptTransfer, ReceivedOn: on, PatientID: &patient, Note: note, PostedAt: l.stamp()}
	for i := range splits {
		splits[i].ID, splits[i].ReceiptID, splits[i].Code = newID(), r.ID, CodeTransfer
	}
	return r.ID, tx.InsertReceipt(ctx, pid, r, splits)
}

// CompletePlanned completes a planned procedure: a completed line like it,
// dated CompletedOn, becomes production, and the planned line's outcome
// names it. Prepayment attached to the procedure follows it in one
// TRANSFER: onto the completed line as far as it owes, the rest back to
// the treatment-plan type, unattached. It returns the completed line.
func (l *Ledger) CompletePlanned(ctx context.Context, a Actor, in PlannedCompletion) (Charge, error) {
	on, err := l.planDate("completedOn", in.CompletedOn)
	if err == nil {
		err = noteText("note", in.Note)
	}
	if err != nil {
		return Charge{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "completePlannedCharge", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		p, err := openPlanned(ctx, tx, pid, in.ChargeID)
		if err != nil {
			return ID{}, err
		}
		done := p
		done.ID, done.Status, done.ServiceDate, done.PostedAt = newID(), StatusCompleted, on, l.stamp()
		if n := strings.TrimSpace(in.Note); n != "" {
			done.Note = n
		}
		if err := tx.InsertCharges(ctx, pid, []Charge{done}); err != nil {
			return ID{}, err
		}
		o := PlannedOutcome{ChargeID: p.ID, Outcome: OutcomeCompleted, On: on, CompletedChargeID: &done.ID,
			Note: strings.TrimSpace(in.Note), PostedAt: done.PostedAt}
		if err := tx.InsertPlannedOutcome(ctx, pid, o); err != nil {
			return ID{}, err
		}
		return done.ID, l.followCompletion(ctx, tx, pid, p, done)
	})
	if err != nil {
		return Charge{}, err
	}
	rows, err := l.store.Charges(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "charge", id)
}

// followCompletion moves the prepayment attached to planned line p onto its
// completed line done, as far as done owes; the rest stays on the
// treatment-plan type, unattached, where it was.
func (l *Ledger) followCompletion(ctx context.Context, tx Tx, pid ID, p, done Charge) error {
	att, err := attachedTo(ctx, tx, pid, p.ID)
	if err != nil || att.total().Sign() <= 0 {
		return err
	}
	bal, err := tx.ChargeBalances(ctx, pid, []ID{done.ID})
	if err != nil {
		return err
	}
	room := bal[done.ID].Owed.Max(Money{})
	var splits []Split
	var onLine Money
	for _, b := range att.sorted(p) {
		amt := att.by[b]
		if amt.Sign() <= 0 {
			continue
		}
		prov, loc, typ := b.ptrs()
		splits = append(splits, Split{Amount: amt.Neg(), PatientID: p.PatientID, ProviderID: prov, LocationID: loc,
			ChargeID: &p.ID, UnearnedTypeID: typ})
		take := amt.Min(room)
		room, onLine = room.Sub(take), onLine.Add(take)
		if rest := amt.Sub(take); rest.Sign() > 0 {
			splits = append(splits, Split{Amount: rest, PatientID: p.PatientID, ProviderID: prov, LocationID: loc, UnearnedTypeID: typ})
		}
	}
	if onLine.Sign() > 0 {
		splits = append(splits, Split{Amount: onLine, PatientID: p.PatientID, ProviderID: done.ProviderID,
			LocationID: done.LocationID, ChargeID: &done.ID})
	}
	_, err = l.postMove(ctx, tx, pid, p.PatientID, done.ServiceDate, "prepayment follows completed "+p.Code, splits)
	return err
}

// RemovePlanned records that a planned procedure will not be done. A planned
// line owes nothing, so removing it corrects no history: the line stays,
// with its outcome REMOVED, and leaves the family's planned work. A
// procedure with prepayment attached is refused until it is detached.
func (l *Ledger) RemovePlanned(ctx context.Context, a Actor, in PlannedRemoval) (Charge, error) {
	if err := noteText("note", in.Note); err != nil {
		return Charge{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "removePlannedCharge", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		p, att, err := openWithPrepayment(ctx, tx, pid, in.ChargeID)
		if err != nil {
			return ID{}, err
		}
		if t := att.total(); !t.IsZero() {
			return ID{}, Invalid("chargeId", "the planned %s line holds %s of prepayment; detach it first (detachPrepayment)", p.Code, t)
		}
		return p.ID, tx.InsertPlannedOutcome(ctx, pid, PlannedOutcome{ChargeID: p.ID, Outcome: OutcomeRemoved, On: l.Today(),
			Note: strings.TrimSpace(in.Note), PostedAt: l.stamp()})
	})
	if err != nil {
		return Charge{}, err
	}
	rows, err := l.store.Charges(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "charge", id)
}

// AttachPrepayment ties a patient's unearned money to one of their open
// planned procedures, on the treatment-plan type, with the procedure's
// provider and location, in one TRANSFER. The practice must allow
// prepayments on planned procedures (PrePayAllowedForTpProcs); a procedure
// holds no more prepayment than its fee.
func (l *Ledger) AttachPrepayment(ctx context.Context, a Actor, in PrepaymentAttachment) (Receipt, error) {
	if err := noteText("note", in.Note); err != nil {
		return Receipt{}, err
	}
	if in.Amount.Sign() <= 0 {
		return Receipt{}, Invalid("amount", "must be positive (detachPrepayment takes money off a procedure)")
	}
	id, err := l.mutate(ctx, a, mutation{op: "attachPrepayment", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		pr, err := tx.Practice(ctx, pid)
		if err != nil {
			return ID{}, err
		}
		if !pr.PrePayAllowedForTpProcs {
			return ID{}, Invalid("chargeId", "this practice does not take prepayments on planned procedures (prepayAllowedForTpProcs is off)")
		}
		p, splits, err := l.attachSplits(ctx, tx, pid, in)
		if err != nil {
			return ID{}, err
		}
		return l.postMove(ctx, tx, pid, p.PatientID, l.Today(), strings.TrimSpace(in.Note), splits)
	})
	return l.receiptOf(ctx, a, id, err)
}

// attachSplits checks an attachment under the family's lock and returns
// the planned line and the TRANSFER's splits.
func (l *Ledger) attachSplits(ctx context.Context, tx Tx, pid ID, in PrepaymentAttachment) (Charge, []Split, error) {
	tp, types, err := treatmentPlanType(ctx, tx, pid)
	if err != nil {
		return Charge{}, nil, err
	}
	from := tp.ID
	if in.UnearnedTypeID != nil {
		if _, ok := byID(types, func(u UnearnedType) ID { return u.ID })[*in.UnearnedTypeID]; !ok {
			return Charge{}, nil, Invalid("unearnedTypeId", "no unearned type with id %s", *in.UnearnedTypeID)
		}
		from = *in.UnearnedTypeID
	}
	p, att, err := openWithPrepayment(ctx, tx, pid, in.ChargeID)
	if err != nil {
		return Charge{}, nil, err
	}
	if in.PatientID != nil && *in.PatientID != p.PatientID {
		return Charge{}, nil, Invalid("chargeId", "is a procedure of another patient")
	}
	if sum := att.total().Add(in.Amount); sum.Cmp(p.Amount) > 0 {
		return Charge{}, nil, Invalid("amount", "the planned %s line's fee is %s and it holds %s already", p.Code, p.Amount, att.total())
	}
	have, err := unearnedOf(ctx, tx, pid, p.PatientID, from)
	if err != nil {
		return Charge{}, nil, err
	}
	order := have.sorted(p)
	if in.ProviderID != nil || in.LocationID != nil {
		order = []bucket{{deref(in.ProviderID), deref(in.LocationID), from}}
	}
	splits, left := []Split{}, in.Amount
	for _, b := range order {
		take := have.by[b].Min(left)
		if take.Sign() <= 0 {
			continue
		}
		prov, loc, typ := b.ptrs()
		splits = append(splits, Split{Amount: take.Neg(), PatientID: p.PatientID, ProviderID: prov, LocationID: loc, UnearnedTypeID: typ})
		left = left.Sub(take)
	}
	if left.Sign() > 0 {
		return Charge{}, nil, Invalid("amount", "the patient holds %s of that unearned type there, less than %s", in.Amount.Sub(left), in.Amount)
	}
	splits = append(splits, Split{Amount: in.Amount, PatientID: p.PatientID, ProviderID: p.ProviderID, LocationID: p.LocationID,
		ChargeID: &p.ID, UnearnedTypeID: &tp.ID})
	return p, splits, nil
}

// DetachPrepayment unties prepayment from a planned procedure in one
// TRANSFER: the money stays on its unearned type with the same provider
// and location, no longer tied to the procedure.
func (l *Ledger) DetachPrepayment(ctx context.Context, a Actor, in PrepaymentDetachment) (Receipt, error) {
	if err := noteText("note", in.Note); err != nil {
		return Receipt{}, err
	}
	if in.Amount != nil && in.Amount.Sign() <= 0 {
		return Receipt{}, Invalid("amount", "must be positive: the amount to detach")
	}
	id, err := l.mutate(ctx, a, mutation{op: "detachPrepayment", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		p, att, err := openWithPrepayment(ctx, tx, pid, in.ChargeID)
		if err != nil {
			return ID{}, err
		}
		left := att.total()
		switch {
		case left.Sign() <= 0:
			return ID{}, Invalid("chargeId", "no prepayment is attached to the planned %s line", p.Code)
		case in.Amount != nil && in.Amount.Cmp(left) > 0:
			return ID{}, Invalid("amount", "detaches %s from a planned line that holds %s", *in.Amount, left)
		case in.Amount != nil:
			left = *in.Amount
		}
		var splits []Split
		for _, b := range att.sorted(p) {
			take := att.by[b].Min(left)
			if take.Sign() <= 0 {
				continue
			}
			prov, loc, typ := b.ptrs()
			splits = append(splits,
				Split{Amount: take.Neg(), PatientID: p.PatientID, ProviderID: prov, LocationID: loc, ChargeID: &p.ID, UnearnedTypeID: typ},
				Split{Amount: take, PatientID: p.PatientID, ProviderID: prov, LocationID: loc, UnearnedTypeID: typ})
			left = left.Sub(take)
		}
		return l.postMove(ctx, tx, pid, p.PatientID, l.Today(), strings.TrimSpace(in.Note), splits)
	})
	return l.receiptOf(ctx, a, id, err)
}

// receiptOf reads back the receipt a mutation posted.
func (l *Ledger) receiptOf(ctx context.Context, a Actor, id ID, err error) (Receipt, error) {
	if err != nil {
		return Receipt{}, err
	}
	rows, err := l.store.Receipts(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "receipt", id)
}

// checkPrepaySplit checks a split on charge c: a planned line takes money
// only as prepayment on the treatment-plan type, and a completed line takes
// no unearned type.
func checkPrepaySplit(c Charge, s NewSplit, types map[ID]UnearnedType, f func(string) string) error {
	switch {
	case c.Status == StatusPlanned && s.UnearnedTypeID == nil:
		return Invalid(f("chargeId"), "the charge is planned and owes nothing yet; prepay it on the treatment-plan unearned type (unearnedTypeId) or attachPrepayment")
	case c.Status == StatusPlanned && !types[*s.UnearnedTypeID].IsTreatmentPlan:
		return Invalid(f("unearnedTypeId"), "prepayment on a planned procedure goes on the practice's treatment-plan type")
	case c.Status != StatusPlanned && s.UnearnedTypeID != nil:
		return Invalid(f("unearnedTypeId"), "a split on a completed charge pays it; an unearned type goes with a charge only as prepayment on a planned procedure")
	}
	return nil
}

// checkAttached checks what a receipt puts on or takes off prepayment
// attached to planned lines (net, keyed by charge and type): money is added
// only to an open planned line, when the practice allows it, up to its fee;
// no more is taken off than is attached.
func checkAttached(ctx context.Context, r Reader, pid ID, net map[source]Money, first map[source]int, field func(int) string) error {
	var ids []ID
	adds := false
	for k, amt := range net {
		if k.charge != (ID{}) && k.typ != (ID{}) {
			ids, adds = append(ids, k.charge), adds || amt.Sign() > 0
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if adds {
		p, err := r.Practice(ctx, pid)
		if err != nil {
			return err
		}
		if !p.PrePayAllowedForTpProcs {
			return Invalid("splits", "this practice does not take prepayments on planned procedures (prepayAllowedForTpProcs is off)")
		}
	}
	charges, err := r.Charges(ctx, pid, ids)
	if err != nil {
		return err
	}
	outs, err := r.PlannedOutcomes(ctx, pid, ids)
	if err != nil {
		return err
	}
	closed := byID(outs, func(o PlannedOutcome) ID { return o.ChargeID })
	for _, c := range charges {
		att, err := attachedTo(ctx, r, pid, c.ID)
		if err != nil {
			return err
		}
		for k, amt := range net {
			if k.charge != c.ID || k.typ == (ID{}) {
				continue
			}
			onIt := att.total()
			f := field(first[k]) + ".amount"
			switch o, done := closed[c.ID]; {
			case amt.Sign() > 0 && done:
				return Invalid(field(first[k])+".chargeId", "the planned %s line was %s on %s", c.Code, strings.ToLower(string(o.Outcome)), o.On)
			case amt.Sign() > 0 && onIt.Add(amt).Cmp(c.Amount) > 0:
				return Invalid(f, "the planned %s line's fee is %s and it holds %s already", c.Code, c.Amount, onIt)
			case amt.Sign() < 0 && amt.Neg().Cmp(onIt) > 0:
				return Invalid(f, "takes %s of prepayment off a planned line that holds %s", amt.Neg(), onIt)
			}
		}
	}
	return nil
}
