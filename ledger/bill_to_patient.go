package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bill to patient (docs/reports.md, "Bill to patient"): a line's pending
// insurance estimate becomes the patient's to pay, as when a practice stops
// waiting for insurance (or never sends the claim, as for a balance carried
// over from a prior system). Each move is a ResponsibilityChange of its own,
// never an edit; billing back to insurance is the inverse move. Moves on a
// line alternate and their dates never go backwards.

// Responsible is who a line's pending estimate is billed to.
type Responsible string

const (
	ResponsiblePatient   Responsible = "PATIENT"
	ResponsibleInsurance Responsible = "INSURANCE"
)

// ResponsibilityChange records that, from ChangedOn, a line's pending
// estimate is billed to Responsible.
type ResponsibilityChange struct {
	ID          ID
	ChargeID    ID
	Responsible Responsible
	ChangedOn   Date
	Note        string
	PostedAt    time.Time
}

// ResponsibilityMove asks to bill one line, or every line of an encounter
// (a visit or a balance-forward superbill), to the patient or back to
// insurance.
type ResponsibilityMove struct {
	ChargeID       *ID
	EncounterID    *ID
	On             *Date // default today
	Note           string
	IdempotencyKey string `json:"-"`
}

// ResponsibilityReader is the read side of bill to patient in the Store.
type ResponsibilityReader interface {
	// ResponsibilityChangesOf lists the moves of each charge, oldest first.
	ResponsibilityChangesOf(ctx context.Context, practiceID ID, chargeIDs []ID) ([]ResponsibilityChange, error)
}

// ResponsibilityWriter is the write side in a Tx.
type ResponsibilityWriter interface {
	InsertResponsibilityChanges(ctx context.Context, practiceID ID, cs []ResponsibilityChange) error
}

// BillToPatient moves the pending insurance estimate of the line (or of
// every line of the encounter that has one) to the patient. It returns the
// lines named. A line with nothing pending is bad input; a line already
// billed to the patient is a conflict.
func (l *Ledger) BillToPatient(ctx context.Context, a Actor, in ResponsibilityMove) ([]Charge, error) {
	return l.moveResponsibility(ctx, a, "billToPatient", ResponsiblePatient, in)
}

// BillToInsurance undoes BillToPatient: the estimate is pending again from
// the date given. A line not billed to the patient is a conflict.
func (l *Ledger) BillToInsurance(ctx context.Context, a Actor, in ResponsibilityMove) ([]Charge, error) {
	return l.moveResponsibility(ctx, a, "billToInsurance", ResponsibleInsurance, in)
}

func (l *Ledger) moveResponsibility(ctx context.Context, a Actor, op string, to Responsible, in ResponsibilityMove) ([]Charge, error) {
	if in.On == nil {
		today := l.Today()
		in.On = &today
	}
	err := text("note", in.Note, maxText, false)
	switch {
	case err != nil:
	case (in.ChargeID == nil) == (in.EncounterID == nil):
		err = Invalid("chargeId", "give chargeId or encounterId (one of them)")
	case in.On.After(l.Today()):
		err = Invalid("on", "cannot be in the future (%s)", in.On)
	}
	if err != nil {
		return nil, err
	}
	var lines []Charge
	_, err = l.mutate(ctx, a, mutation{op: op, key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		var err error
		if lines, err = responsibilityLines(ctx, tx, a.PracticeID, in); err != nil {
			return ID{}, err
		}
		field := "chargeId"
		if in.EncounterID != nil {
			field = "encounterId"
		}
		moves, err := l.planMoves(ctx, tx, a.PracticeID, to, *in.On, strings.TrimSpace(in.Note), field, lines)
		if err != nil {
			return ID{}, err
		}
		return moves[0].ID, tx.InsertResponsibilityChanges(ctx, a.PracticeID, moves)
	})
	if err != nil {
		return nil, err
	}
	if lines == nil { // an idempotent replay: read the lines again
		lines, err = responsibilityLines(ctx, l.store, a.PracticeID, in)
	}
	return lines, err
}

// responsibilityLines returns the completed procedure and balance-forward
// lines the move names, after locking their family when r is a Tx.
func responsibilityLines(ctx context.Context, r Reader, pid ID, in ResponsibilityMove) ([]Charge, error) {
	var patient ID
	var lines []Charge
	if in.ChargeID != nil {
		rows, err := r.Charges(ctx, pid, []ID{*in.ChargeID})
		c, err := ref(rows, err, "chargeId", "charge", *in.ChargeID)
		if err != nil {
			return nil, err
		}
		if c.Kind == ChargeAdjustment || c.Status != StatusCompleted {
			return nil, Invalid("chargeId", "only a completed procedure or balance-forward line can be billed")
		}
		patient, lines = c.PatientID, []Charge{c}
	} else {
		encs, err := r.Encounters(ctx, pid, []ID{*in.EncounterID})
		enc, err := ref(encs, err, "encounterId", "encounter", *in.EncounterID)
		if err != nil {
			return nil, err
		}
		if lines, err = r.ChargesOfEncounters(ctx, pid, []ID{enc.ID}); err != nil {
			return nil, err
		}
		lines = slices.DeleteFunc(lines, func(c Charge) bool { return c.Kind == ChargeAdjustment || c.Status != StatusCompleted })
		patient = enc.PatientID
	}
	if tx, ok := r.(Tx); ok {
		if err := lockFamilyOfPatient(ctx, tx, pid, patient); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// planMoves returns a move to `to` for every line that can make it; none is
// a conflict (every line is already there) or bad input (nothing pending).
func (l *Ledger) planMoves(ctx context.Context, tx Tx, pid ID, to Responsible, on Date, note, field string, lines []Charge) ([]ResponsibilityChange, error) {
	ids := make([]ID, len(lines))
	for i, c := range lines {
		ids[i] = c.ID
	}
	bal, err := tx.ChargeBalances(ctx, pid, ids)
	if err != nil {
		return nil, err
	}
	past, err := tx.ResponsibilityChangesOf(ctx, pid, ids)
	if err != nil {
		return nil, err
	}
	last := map[ID]Date{}
	for _, m := range past {
		last[m.ChargeID] = m.ChangedOn
	}
	var moves []ResponsibilityChange
	already := 0
	for _, c := range lines {
		b := bal[c.ID]
		billed := b.BilledToPatientOn != nil
		switch {
		case billed == (to == ResponsiblePatient):
			already++
			continue
		case to == ResponsiblePatient && b.InsurancePending.Sign() <= 0:
			continue // nothing pending: insurance paid, or never expected
		case on.Before(c.ServiceDate):
			return nil, Invalid("on", "is before the line's date of service %s", c.ServiceDate)
		case on.Before(last[c.ID]):
			return nil, Invalid("on", "is before the line's last move, on %s", last[c.ID])
		}
		moves = append(moves, ResponsibilityChange{ID: newID(), ChargeID: c.ID, Responsible: to, ChangedOn: on, Note: note, PostedAt: l.stamp()})
	}
	switch {
	case len(moves) > 0:
		return moves, nil
	case already > 0 && to == ResponsiblePatient:
		return nil, fmt.Errorf("%w: already billed to the patient", ErrConflict)
	case to == ResponsibleInsurance:
		return nil, fmt.Errorf("%w: not billed to the patient", ErrConflict)
	}
	return nil, Invalid(field, "has no insurance pending to bill to the patient")
}
