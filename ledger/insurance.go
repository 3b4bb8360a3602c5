package ledger

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// Insurance facts (docs/ledger.md, "Insurance"): write-offs on a charge, and
// insurance payments made as a total on a claim. Both lower what the patient
// owes and neither is patient money: a write-off is not money at all, and a
// claim total is kept as insurance money on the claim's lines.

// NewInsuranceWriteOff asks for an insurance write-off on a charge.
type NewInsuranceWriteOff struct {
	ChargeID ID
	// Amount is written off; negative corrects (takes back) earlier
	// write-offs on the charge.
	Amount         Money
	WrittenOn      *Date // default today
	Note           string
	IdempotencyKey string `json:"-"`
}

// PostInsuranceWriteOff records an insurance write-off on a completed
// procedure or balance-forward line. A write-off may not exceed what the
// patient and insurance still owe on the line (its owed plus pending
// estimate); a correction may not take back more than was written off.
func (l *Ledger) PostInsuranceWriteOff(ctx context.Context, a Actor, in NewInsuranceWriteOff) (InsuranceWriteOff, error) {
	if in.WrittenOn == nil {
		today := l.Today()
		in.WrittenOn = &today
	}
	err := text("note", in.Note, maxText, false)
	switch {
	case err != nil:
	case in.Amount.IsZero():
		err = Invalid("amount", "must not be zero")
	case in.WrittenOn.After(l.Today()):
		err = Invalid("writtenOn", "cannot be in the future (%s)", in.WrittenOn)
	}
	if err != nil {
		return InsuranceWriteOff{}, err
	}
	w := InsuranceWriteOff{ID: newID(), ChargeID: in.ChargeID, Amount: in.Amount, WrittenOn: *in.WrittenOn,
		Note: strings.TrimSpace(in.Note)}
	id, err := l.mutate(ctx, a, mutation{op: "postInsuranceWriteOff", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		rows, err := tx.Charges(ctx, pid, []ID{in.ChargeID})
		c, err := ref(rows, err, "chargeId", "charge", in.ChargeID)
		if err != nil {
			return ID{}, err
		}
		switch {
		case c.Kind == ChargeAdjustment:
			return ID{}, Invalid("chargeId", "write off the procedure the adjustment is attached to, not the adjustment")
		case c.Status != StatusCompleted:
			return ID{}, Invalid("chargeId", "the charge is planned and owes nothing yet")
		case c.ServiceDate.After(w.WrittenOn):
			return ID{}, Invalid("writtenOn", "is before the charge's date of service %s", c.ServiceDate)
		}
		if err := lockFamilyOfPatient(ctx, tx, pid, c.PatientID); err != nil {
			return ID{}, err
		}
		bal, err := tx.ChargeBalances(ctx, pid, []ID{c.ID})
		if err != nil {
			return ID{}, err
		}
		b := bal[c.ID]
		if room := b.Owed.Add(b.InsurancePending); w.Amount.Sign() > 0 && w.Amount.Cmp(room) > 0 {
			return ID{}, Invalid("amount", "writes off %s on a charge that owes %s", w.Amount, room.Max(Money{}))
		}
		if w.Amount.Sign() < 0 && w.Amount.Neg().Cmp(b.InsuranceWriteOff) > 0 {
			return ID{}, Invalid("amount", "takes back %s of write-offs on a charge that has %s written off", w.Amount.Neg(), b.InsuranceWriteOff)
		}
		w.PostedAt = l.stamp()
		return w.ID, tx.InsertInsuranceWriteOff(ctx, pid, w)
	})
	if err != nil {
		return InsuranceWriteOff{}, err
	}
	rows, err := l.store.InsuranceWriteOffs(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "insurance write-off", id)
}

// lockFamilyOfPatient locks the family of one patient.
func lockFamilyOfPatient(ctx context.Context, tx Tx, pid, patient ID) error {
	pats, err := tx.Patients(ctx, pid, []ID{patient})
	if err != nil {
		return err
	}
	if len(pats) == 0 {
		return Invalid("patientId", "no patient with id %s", patient)
	}
	return tx.LockFamilies(ctx, pid, []ID{pats[0].GuarantorID})
}

// claimTotalSplits spreads an insurance payment made as a total on an
// encounter over the encounter's completed procedure and balance-forward
// lines, oldest first (date of service, then id): each line takes what
// the patient and insurance still owe on it (owed plus pending estimate),
// and the last line takes whatever is left beyond that (an insurance
// overpayment, left on the line). It locks the patient's family first, so
// the lines' balances cannot change before the receipt is posted.
func claimTotalSplits(ctx context.Context, tx Tx, pid, encounterID ID, amount Money) ([]NewSplit, error) {
	encs, err := tx.Encounters(ctx, pid, []ID{encounterID})
	enc, err := ref(encs, err, "encounterId", "encounter", encounterID)
	if err != nil {
		return nil, err
	}
	if err := lockFamilyOfPatient(ctx, tx, pid, enc.PatientID); err != nil {
		return nil, err
	}
	charges, err := tx.ChargesOfEncounters(ctx, pid, []ID{encounterID})
	if err != nil {
		return nil, err
	}
	charges = slices.DeleteFunc(charges, func(c Charge) bool { return c.Kind == ChargeAdjustment || c.Status != StatusCompleted })
	if len(charges) == 0 {
		return nil, Invalid("encounterId", "the encounter has no completed line for insurance to pay")
	}
	slices.SortFunc(charges, func(a, b Charge) int {
		return cmp.Or(a.ServiceDate.Compare(b.ServiceDate), strings.Compare(a.ID.String(), b.ID.String()))
	})
	ids := make([]ID, len(charges))
	for i, c := range charges {
		ids[i] = c.ID
	}
	bal, err := tx.ChargeBalances(ctx, pid, ids)
	if err != nil {
		return nil, err
	}
	var out []NewSplit
	left := amount
	for i, c := range charges {
		take := bal[c.ID].Owed.Add(bal[c.ID].InsurancePending).Max(Money{}).Min(left)
		last := i == len(charges)-1
		if last {
			take = left
		}
		if take.Sign() > 0 {
			out = append(out, NewSplit{Amount: take, ChargeID: &c.ID, Force: last})
		}
		left = left.Sub(take)
	}
	return out, nil
}
