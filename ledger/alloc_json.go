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
	AsOf        Date                `json:"asOf"`
	Total       Money               `json:"total"`
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
	Amount Money     `json:"amount"`
	Stage  string    `json:"stage"`
}

type splitJSON struct {
	Amount         Money     `json:"amount"`
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
		Policy: policyRefJSON(p.Policy), AsOf: p.AsOf, Total: p.Total,
		Moves: make([]moveJSON, len(p.Moves)), Splits: make([]splitJSON, len(p.Splits)), Warnings: p.Warnings,
	}
	for i, m := range p.Moves {
		out.Moves[i] = moveJSON{From: placeJSON(m.From), To: placeJSON(m.To), Amount: m.Amount, Stage: m.Stage}
	}
	for i, s := range p.Splits {
		out.Splits[i] = splitJSON(s)
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes a plan encoded by MarshalJSON.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var in planJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	out := Plan{
		Operation: in.Operation, GuarantorID: in.GuarantorID, PatientID: in.PatientID, Policy: PolicyRef(in.Policy),
		AsOf: in.AsOf, Total: in.Total, Moves: make([]Move, len(in.Moves)), Splits: make([]PlannedSplit, len(in.Splits)),
		Warnings: in.Warnings,
	}
	for i, m := range in.Moves {
		out.Moves[i] = Move{From: Place(m.From), To: Place(m.To), Amount: m.Amount, Stage: m.Stage}
	}
	for i, s := range in.Splits {
		out.Splits[i] = PlannedSplit(s)
	}
	*p = out
	return nil
}
