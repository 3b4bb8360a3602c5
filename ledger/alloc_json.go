package ledger

import (
	"encoding/json"
	"fmt"
)

// The JSON form of a Plan, as the engine stores it beside the receipt it
// posted. Money and dates are strings; ids are canonical UUIDs.

type planJSON struct {
	Operation   AllocationOperation `json:"operation"`
	GuarantorID ID                  `json:"guarantorId"`
	PatientID   *ID                 `json:"patientId,omitempty"`
	Policy      policyRefJSON       `json:"policy"`
	AsOf        string              `json:"asOf"`
	Total       string              `json:"total"`
	Moves       []moveJSON          `json:"moves"`
	Splits      []splitJSON         `json:"splits"`
	Warnings    []string            `json:"warnings,omitempty"`
}

type policyRefJSON struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Builtin bool   `json:"builtin,omitempty"`
}

type placeJSON struct {
	Kind           PlaceKind `json:"kind"`
	PatientID      *ID       `json:"patientId,omitempty"`
	ProviderID     *ID       `json:"providerId,omitempty"`
	LocationID     *ID       `json:"locationId,omitempty"`
	ChargeID       *ID       `json:"chargeId,omitempty"`
	UnearnedTypeID *ID       `json:"unearnedTypeId,omitempty"`
}

type moveJSON struct {
	From   placeJSON `json:"from"`
	To     placeJSON `json:"to"`
	Amount string    `json:"amount"`
	Stage  string    `json:"stage"`
}

type splitJSON struct {
	Amount         string    `json:"amount"`
	Code           SplitCode `json:"code"`
	PatientID      ID        `json:"patientId"`
	ProviderID     *ID       `json:"providerId,omitempty"`
	LocationID     *ID       `json:"locationId,omitempty"`
	ChargeID       *ID       `json:"chargeId,omitempty"`
	UnearnedTypeID *ID       `json:"unearnedTypeId,omitempty"`
	Stage          string    `json:"stage"`
}

// MarshalJSON encodes the plan.
func (p Plan) MarshalJSON() ([]byte, error) {
	out := planJSON{
		Operation: p.Operation, GuarantorID: p.GuarantorID, PatientID: p.PatientID,
		Policy: policyRefJSON(p.Policy), AsOf: p.AsOf.String(), Total: p.Total.String(),
		Moves: make([]moveJSON, len(p.Moves)), Splits: make([]splitJSON, len(p.Splits)), Warnings: p.Warnings,
	}
	for i, m := range p.Moves {
		out.Moves[i] = moveJSON{From: placeJSON(m.From), To: placeJSON(m.To), Amount: m.Amount.String(), Stage: m.Stage}
	}
	for i, s := range p.Splits {
		out.Splits[i] = splitJSON{Amount: s.Amount.String(), Code: s.Code, PatientID: s.PatientID, ProviderID: s.ProviderID,
			LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID, Stage: s.Stage}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes a plan encoded by MarshalJSON.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var in planJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	money := func(s string) (Money, error) {
		m, err := readMoney(s)
		if err != nil {
			return Money{}, fmt.Errorf("plan: %w", err)
		}
		return m, nil
	}
	asOf, err := readDate(in.AsOf)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	total, err := money(in.Total)
	if err != nil {
		return err
	}
	out := Plan{
		Operation: in.Operation, GuarantorID: in.GuarantorID, PatientID: in.PatientID, Policy: PolicyRef(in.Policy),
		AsOf: asOf, Total: total, Moves: make([]Move, len(in.Moves)), Splits: make([]PlannedSplit, len(in.Splits)),
		Warnings: in.Warnings,
	}
	for i, m := range in.Moves {
		amt, err := money(m.Amount)
		if err != nil {
			return err
		}
		out.Moves[i] = Move{From: Place(m.From), To: Place(m.To), Amount: amt, Stage: m.Stage}
	}
	for i, s := range in.Splits {
		amt, err := money(s.Amount)
		if err != nil {
			return err
		}
		out.Splits[i] = PlannedSplit{Amount: amt, Code: s.Code, PatientID: s.PatientID, ProviderID: s.ProviderID,
			LocationID: s.LocationID, ChargeID: s.ChargeID, UnearnedTypeID: s.UnearnedTypeID, Stage: s.Stage}
	}
	*p = out
	return nil
}
