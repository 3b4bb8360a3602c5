package ledger

import (
	"context"
	"fmt"
	"strings"
)

const (
	maxCode             = 40
	maxChargesPerVisit  = 500
	maxSplitsPerReceipt = 500
)

// NewEncounter describes a visit (or a balance-forward holder) and its lines.
type NewEncounter struct {
	PatientID      ID
	ProviderID     ID
	LocationID     ID
	Kind           EncounterKind // default VISIT
	ServiceFrom    *Date         // default: the earliest line's date
	ServiceTo      *Date         // default: the latest line's date
	Note           string
	Charges        []NewCharge
	IdempotencyKey string `json:"-"`
}

// NewCharge is one line of a new encounter. Provider and location default to
// the encounter's; the service date defaults to the encounter's first date.
type NewCharge struct {
	Kind              ChargeKind   // PROCEDURE (default) or BALANCE_FORWARD
	Status            ChargeStatus // COMPLETED (default) or PLANNED
	Code              string
	ServiceDate       *Date
	Amount            Money
	InsuranceEstimate Money
	ProviderID        *ID
	LocationID        *ID
	Note              string
}

// PostEncounter records an encounter with its charge lines. Completed lines
// owe their patient portion at once; planned lines owe nothing yet.
func (l *Ledger) PostEncounter(ctx context.Context, a Actor, in NewEncounter) (Encounter, error) {
	if err := l.normalizeEncounter(&in); err != nil {
		return Encounter{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "postEncounter", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		pats, err := tx.Patients(ctx, pid, []ID{in.PatientID})
		if _, err := ref(pats, err, "patientId", "patient", in.PatientID); err != nil {
			return ID{}, err
		}
		provIDs, locIDs := []ID{in.ProviderID}, []ID{in.LocationID}
		for _, c := range in.Charges {
			provIDs, locIDs = append(provIDs, *c.ProviderID), append(locIDs, *c.LocationID)
		}
		if err := checkRefs(ctx, tx, pid, provIDs, locIDs, func(i int) string {
			if i == 0 {
				return ""
			}
			return fmt.Sprintf("charges[%d].", i-1)
		}); err != nil {
			return ID{}, err
		}
		now := l.stamp()
		e := Encounter{ID: newID(), PatientID: in.PatientID, ProviderID: in.ProviderID, LocationID: in.LocationID,
			Kind: in.Kind, ServiceFrom: *in.ServiceFrom, ServiceTo: *in.ServiceTo, Note: strings.TrimSpace(in.Note), CreatedAt: now}
		if err := tx.InsertEncounter(ctx, pid, e); err != nil {
			return ID{}, err
		}
		cs := make([]Charge, len(in.Charges))
		for i, c := range in.Charges {
			cs[i] = Charge{ID: newID(), EncounterID: &e.ID, PatientID: e.PatientID, ProviderID: c.ProviderID, LocationID: c.LocationID,
				Kind: c.Kind, Status: c.Status, Code: strings.TrimSpace(c.Code), ServiceDate: *c.ServiceDate, Amount: c.Amount,
				InsuranceEstimate: c.InsuranceEstimate, Note: strings.TrimSpace(c.Note), PostedAt: now}
		}
		return e.ID, tx.InsertCharges(ctx, pid, cs)
	})
	if err != nil {
		return Encounter{}, err
	}
	rows, err := l.store.Encounters(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "encounter", id)
}

// normalizeEncounter validates a new encounter and fills in its defaults.
func (l *Ledger) normalizeEncounter(in *NewEncounter) error {
	today := l.Today()
	switch in.Kind {
	case "":
		in.Kind = EncounterVisit
	case EncounterVisit, EncounterBalanceForward:
	default:
		return Invalid("kind", "must be VISIT or BALANCE_FORWARD")
	}
	if err := noteText("note", in.Note); err != nil {
		return err
	}
	if len(in.Charges) == 0 {
		return Invalid("charges", "an encounter needs at least one charge line")
	}
	if len(in.Charges) > maxChargesPerVisit {
		return Invalid("charges", "at most %d lines per encounter", maxChargesPerVisit)
	}
	if in.ServiceFrom != nil && in.ServiceTo != nil && in.ServiceTo.Before(*in.ServiceFrom) {
		return Invalid("serviceTo", "is before serviceFrom")
	}
	first := in.ServiceFrom
	if first == nil {
		first = &today
	}
	var lo, hi Date
	for i := range in.Charges {
		c := &in.Charges[i]
		f := func(name string) string { return fmt.Sprintf("charges[%d].%s", i, name) }
		switch c.Kind {
		case "":
			c.Kind = ChargeProcedure
			if in.Kind == EncounterBalanceForward {
				c.Kind = ChargeBalanceForward
			}
		case ChargeProcedure, ChargeBalanceForward:
		case ChargeAdjustment:
			return Invalid(f("kind"), "adjustments are posted with postAdjustment")
		default:
			return Invalid(f("kind"), "must be PROCEDURE or BALANCE_FORWARD")
		}
		switch c.Status {
		case "":
			c.Status = StatusCompleted
		case StatusCompleted, StatusPlanned:
		default:
			return Invalid(f("status"), "must be COMPLETED or PLANNED")
		}
		if err := firstErr(text(f("code"), c.Code, maxCode, true), noteText(f("note"), c.Note)); err != nil {
			return err
		}
		if err := checkLineMoney(c, f); err != nil {
			return err
		}
		if c.ServiceDate == nil {
			d := *first
			c.ServiceDate = &d
		}
		if c.Status == StatusCompleted && c.ServiceDate.After(today) {
			return Invalid(f("serviceDate"), "a completed service cannot be dated in the future (%s)", c.ServiceDate)
		}
		if in.ServiceFrom != nil && c.ServiceDate.Before(*in.ServiceFrom) || in.ServiceTo != nil && c.ServiceDate.After(*in.ServiceTo) {
			return Invalid(f("serviceDate"), "%s is outside the encounter's service dates", c.ServiceDate)
		}
		if c.ProviderID == nil {
			c.ProviderID = &in.ProviderID
		}
		if c.LocationID == nil {
			c.LocationID = &in.LocationID
		}
		if i == 0 || c.ServiceDate.Before(lo) {
			lo = *c.ServiceDate
		}
		if i == 0 || c.ServiceDate.After(hi) {
			hi = *c.ServiceDate
		}
	}
	if in.ServiceFrom == nil {
		in.ServiceFrom = &lo
	}
	if in.ServiceTo == nil {
		in.ServiceTo = &hi
		if hi.Before(*in.ServiceFrom) {
			in.ServiceTo = in.ServiceFrom
		}
	}
	return nil
}

// checkLineMoney checks a line's amount and insurance estimate. A procedure
// may have a negative fee: negative production, a credit on its line
// (docs/ledger.md). A balance-forward line may not (a credit is brought
// forward as a receipt), and a line below zero expects no insurance.
func checkLineMoney(c *NewCharge, f func(string) string) error {
	switch {
	case c.Amount.Sign() < 0 && c.Kind == ChargeBalanceForward:
		return Invalid(f("amount"), "a balance-forward line must not be negative; bring a credit forward as a receipt")
	case c.InsuranceEstimate.Sign() < 0:
		return Invalid(f("insuranceEstimate"), "must not be negative")
	case c.Amount.Sign() < 0 && c.InsuranceEstimate.Sign() > 0:
		return Invalid(f("insuranceEstimate"), "a line with a negative fee (%s) expects no insurance", c.Amount)
	case c.Amount.Sign() >= 0 && c.InsuranceEstimate.Cmp(c.Amount) > 0:
		return Invalid(f("insuranceEstimate"), "%s is more than the amount %s", c.InsuranceEstimate, c.Amount)
	}
	return nil
}

// checkRefs verifies that providers and locations exist in the practice.
// prefix(i) names the input holding the i-th id.
func checkRefs(ctx context.Context, r Reader, pid ID, provIDs, locIDs []ID, prefix func(int) string) error {
	if len(provIDs) > 0 {
		provs, err := r.Providers(ctx, pid, provIDs)
		if err != nil {
			return err
		}
		have := byID(provs, func(p Provider) ID { return p.ID })
		for i, id := range provIDs {
			if _, ok := have[id]; !ok {
				return Invalid(prefix(i)+"providerId", "no provider with id %s", id)
			}
		}
	}
	if len(locIDs) > 0 {
		locs, err := r.Locations(ctx, pid, locIDs)
		if err != nil {
			return err
		}
		have := byID(locs, func(l Location) ID { return l.ID })
		for i, id := range locIDs {
			if _, ok := have[id]; !ok {
				return Invalid(prefix(i)+"locationId", "no location with id %s", id)
			}
		}
	}
	return nil
}

// NewAdjustment describes an adjustment: a positive or negative line,
// attached to a charge (whose patient, encounter, provider and location it
// takes by default) or standing alone on a patient.
type NewAdjustment struct {
	PatientID      *ID
	AttachedToID   *ID
	EncounterID    *ID
	Amount         Money
	Code           string // default "ADJ"
	ServiceDate    *Date  // default today
	ProviderID     *ID
	LocationID     *ID
	Note           string
	IdempotencyKey string `json:"-"`
}

// PostAdjustment records an adjustment.
func (l *Ledger) PostAdjustment(ctx context.Context, a Actor, in NewAdjustment) (Charge, error) {
	if in.Code == "" {
		in.Code = "ADJ"
	}
	if in.ServiceDate == nil {
		today := l.Today()
		in.ServiceDate = &today
	}
	err := firstErr(text("code", in.Code, maxCode, true), noteText("note", in.Note))
	switch {
	case err != nil:
	case in.Amount.IsZero():
		err = Invalid("amount", "must not be zero")
	case in.PatientID == nil && in.AttachedToID == nil:
		err = Invalid("patientId", "give the patient, or attachedToId for an adjustment on a charge")
	case in.ServiceDate.After(l.Today()):
		err = Invalid("serviceDate", "cannot be in the future (%s)", in.ServiceDate)
	}
	if err != nil {
		return Charge{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "postAdjustment", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		pid := a.PracticeID
		c := Charge{ID: newID(), Kind: ChargeAdjustment, Status: StatusCompleted, Code: strings.TrimSpace(in.Code),
			ServiceDate: *in.ServiceDate, Amount: in.Amount, Note: strings.TrimSpace(in.Note), PostedAt: l.stamp(),
			EncounterID: in.EncounterID, ProviderID: in.ProviderID, LocationID: in.LocationID, AttachedToID: in.AttachedToID}
		if in.AttachedToID != nil {
			rows, err := tx.Charges(ctx, pid, []ID{*in.AttachedToID})
			target, err := ref(rows, err, "attachedToId", "charge", *in.AttachedToID)
			if err != nil {
				return ID{}, err
			}
			switch {
			case target.Kind == ChargeAdjustment:
				return ID{}, Invalid("attachedToId", "an adjustment attaches to a procedure or balance-forward line, not to another adjustment")
			case target.Status != StatusCompleted:
				return ID{}, Invalid("attachedToId", "the charge is planned; adjust it once it is completed")
			case in.PatientID != nil && *in.PatientID != target.PatientID:
				return ID{}, Invalid("patientId", "differs from the patient of the charge it is attached to")
			case in.EncounterID != nil && (target.EncounterID == nil || *in.EncounterID != *target.EncounterID):
				return ID{}, Invalid("encounterId", "differs from the encounter of the charge it is attached to")
			}
			c.PatientID, c.EncounterID = target.PatientID, target.EncounterID
			if c.ProviderID == nil {
				c.ProviderID = target.ProviderID
			}
			if c.LocationID == nil {
				c.LocationID = target.LocationID
			}
		} else {
			c.PatientID = *in.PatientID
			pats, err := tx.Patients(ctx, pid, []ID{c.PatientID})
			if _, err := ref(pats, err, "patientId", "patient", c.PatientID); err != nil {
				return ID{}, err
			}
			if in.EncounterID != nil {
				encs, err := tx.Encounters(ctx, pid, []ID{*in.EncounterID})
				enc, err := ref(encs, err, "encounterId", "encounter", *in.EncounterID)
				if err != nil {
					return ID{}, err
				}
				if enc.PatientID != c.PatientID {
					return ID{}, Invalid("encounterId", "belongs to another patient")
				}
			}
		}
		var provs, locs []ID
		if c.ProviderID != nil {
			provs = []ID{*c.ProviderID}
		}
		if c.LocationID != nil {
			locs = []ID{*c.LocationID}
		}
		if err := checkRefs(ctx, tx, pid, provs, locs, func(int) string { return "" }); err != nil {
			return ID{}, err
		}
		return c.ID, tx.InsertCharges(ctx, pid, []Charge{c})
	})
	if err != nil {
		return Charge{}, err
	}
	rows, err := l.store.Charges(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "charge", id)
}
