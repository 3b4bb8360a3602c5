package rules

import "github.com/shopspring/decimal"

// Input is what the planner sees: a snapshot of one family (or of one
// patient's scope, plus any additional patients the request names) and the
// request. The planner never reads anything else.
type Input struct {
	Patients      []Patient      `json:"patients,omitempty" yaml:"patients,omitempty"`
	Charges       []Charge       `json:"charges,omitempty" yaml:"charges,omitempty"`
	Splits        []Split        `json:"splits,omitempty" yaml:"splits,omitempty"`
	UnearnedTypes []UnearnedType `json:"unearnedTypes,omitempty" yaml:"unearnedTypes,omitempty"`
	Request       Request        `json:"request" yaml:"request"`
}

// Patient maps a patient to their guarantor.
type Patient struct {
	ID          string `json:"id" yaml:"id"`
	GuarantorID string `json:"guarantorId" yaml:"guarantorId"`
}

// ChargeKind is the kind of a charge.
type ChargeKind string

// Charge kinds.
const (
	Procedure      ChargeKind = "PROCEDURE"
	Adjustment     ChargeKind = "ADJUSTMENT"
	BalanceForward ChargeKind = "BALANCE_FORWARD"
)

// ChargeStatus says whether a charge is production or only planned.
type ChargeStatus string

// Charge statuses. A charge with an empty status is COMPLETED.
const (
	Completed ChargeStatus = "COMPLETED"
	Planned   ChargeStatus = "PLANNED"
)

// Charge is one line of production: a procedure, an adjustment (possibly
// negative, possibly attached to a procedure) or a balance forward.
type Charge struct {
	ID          string          `json:"id" yaml:"id"`
	Kind        ChargeKind      `json:"kind" yaml:"kind"`
	Status      ChargeStatus    `json:"status,omitempty" yaml:"status,omitempty"`
	Code        string          `json:"code,omitempty" yaml:"code,omitempty"`
	PatientID   string          `json:"patientId" yaml:"patientId"`
	GuarantorID string          `json:"guarantorId,omitempty" yaml:"guarantorId,omitempty"` // defaults to the patient's
	ProviderID  string          `json:"providerId,omitempty" yaml:"providerId,omitempty"`   // "" for none
	LocationID  string          `json:"locationId,omitempty" yaml:"locationId,omitempty"`   // "" for none
	EncounterID string          `json:"encounterId,omitempty" yaml:"encounterId,omitempty"`
	Date        Date            `json:"date" yaml:"date"`
	Amount      decimal.Decimal `json:"amount" yaml:"amount"`
	// InsuranceEstimate is the insurance payment still expected (pending
	// estimate); it reduces the patient portion.
	InsuranceEstimate decimal.Decimal `json:"insuranceEstimate,omitzero" yaml:"insuranceEstimate,omitempty"`
	// InsurancePaid and InsuranceWriteOff are insurance money received and
	// written off against the charge.
	InsurancePaid     decimal.Decimal `json:"insurancePaid,omitzero" yaml:"insurancePaid,omitempty"`
	InsuranceWriteOff decimal.Decimal `json:"insuranceWriteOff,omitzero" yaml:"insuranceWriteOff,omitempty"`
	// AttachedTo is, for an adjustment, the charge it is attached to.
	AttachedTo string `json:"attachedTo,omitempty" yaml:"attachedTo,omitempty"`
}

// Split is an existing split: a signed part of a receipt. Its target is a
// charge (ChargeID), an unearned type (UnearnedTypeID), or nothing
// (unallocated).
type Split struct {
	ID             string          `json:"id" yaml:"id"`
	ReceiptID      string          `json:"receiptId,omitempty" yaml:"receiptId,omitempty"`
	ReceiptKind    string          `json:"receiptKind,omitempty" yaml:"receiptKind,omitempty"`
	Code           string          `json:"code,omitempty" yaml:"code,omitempty"`
	Date           Date            `json:"date" yaml:"date"`
	Amount         decimal.Decimal `json:"amount" yaml:"amount"`
	PatientID      string          `json:"patientId" yaml:"patientId"`
	ProviderID     string          `json:"providerId,omitempty" yaml:"providerId,omitempty"`
	LocationID     string          `json:"locationId,omitempty" yaml:"locationId,omitempty"`
	ChargeID       string          `json:"chargeId,omitempty" yaml:"chargeId,omitempty"`
	UnearnedTypeID string          `json:"unearnedTypeId,omitempty" yaml:"unearnedTypeId,omitempty"`
}

// UnearnedType is a practice's unearned type. Hidden types (treatment-plan
// prepayments, escrow) are excluded from implicit use by the built-in
// policies; exactly one type should be the Default, where leftovers go.
type UnearnedType struct {
	ID      string `json:"id" yaml:"id"`
	Name    string `json:"name" yaml:"name"`
	Hidden  bool   `json:"hidden,omitempty" yaml:"hidden,omitempty"`
	Default bool   `json:"default,omitempty" yaml:"default,omitempty"`
}

// Operation is what a plan is for.
type Operation string

// Operations.
const (
	// AutoSplit splits a new receipt of Request.Amount over what is owed.
	AutoSplit Operation = "AUTO_SPLIT"
	// Transfer is an income transfer: zero-sum moves of existing credit.
	Transfer Operation = "TRANSFER"
	// AllocateUnearned moves unearned money to Request.ChargeIDs.
	AllocateUnearned Operation = "ALLOCATE_UNEARNED"
	// Reapply moves the credits named in Request.Sources to
	// Request.Targets (re-apply patient credit, docs/allocation.md §4.1).
	Reapply Operation = "REAPPLY"
	// CreditManagement re-applies every credit in scope automatically.
	CreditManagement Operation = "CREDIT_MANAGEMENT"
)

// Scope limits whose money may move.
type Scope string

// Scopes. An empty scope is GUARANTOR.
const (
	ScopePatient   Scope = "PATIENT"
	ScopeGuarantor Scope = "GUARANTOR"
)

// Request is the operation and its arguments.
type Request struct {
	Operation Operation `json:"operation" yaml:"operation"`
	// AsOf is the plan's date: entries dated after it are ignored, and new
	// credits (receipts, parked money) are dated on it. Required.
	AsOf Date `json:"asOf" yaml:"asOf"`
	// EnteredOn is the day an AUTO_SPLIT's receipt is entered, when later
	// than AsOf (a back-dated payment): the auto-split sees the family's
	// ledger as it stands that day, charges and splits dated after AsOf
	// included, while the receipt's splits keep AsOf (docs/allocation.md
	// §3.1 step 1). Other operations ignore it.
	EnteredOn Date `json:"enteredOn,omitzero" yaml:"enteredOn,omitempty"`
	// PatientID is the paying or selected patient; GuarantorID their
	// guarantor (derived from Patients when empty).
	PatientID   string `json:"patientId,omitempty" yaml:"patientId,omitempty"`
	GuarantorID string `json:"guarantorId,omitempty" yaml:"guarantorId,omitempty"`
	// LocationID and EncounterID place a new receipt's money (AUTO_SPLIT).
	LocationID  string `json:"locationId,omitempty" yaml:"locationId,omitempty"`
	EncounterID string `json:"encounterId,omitempty" yaml:"encounterId,omitempty"`
	// PreferPatientID puts that patient's charges first (policies read it
	// as request.preferPatientId).
	PreferPatientID string `json:"preferPatientId,omitempty" yaml:"preferPatientId,omitempty"`
	Scope           Scope  `json:"scope,omitempty" yaml:"scope,omitempty"`
	// Amount is the receipt amount for AUTO_SPLIT (required, may be
	// negative) and the optional total for ALLOCATE_UNEARNED.
	Amount decimal.NullDecimal `json:"amount,omitzero" yaml:"amount,omitempty"`
	// ChargeIDs are the charges ALLOCATE_UNEARNED pays; empty means every
	// charge the policy accepts.
	ChargeIDs []string `json:"chargeIds,omitempty" yaml:"chargeIds,omitempty"`
	// Sources are the credits REAPPLY takes (ids as in CreditBalance.ID;
	// an overpaid charge's credit id is the charge id).
	Sources []string `json:"sources,omitempty" yaml:"sources,omitempty"`
	// Targets are the charges REAPPLY pays, in order.
	Targets []Target `json:"targets,omitempty" yaml:"targets,omitempty"`
	// AdditionalPatientIDs are patients of other guarantors the request
	// names explicitly (Additional Patient Lookup, docs/allocation.md §4.1).
	AdditionalPatientIDs []string `json:"additionalPatientIds,omitempty" yaml:"additionalPatientIds,omitempty"`
	// Force lets REAPPLY targets receive more than they owe, and lets
	// ALLOCATE_UNEARNED draw an Amount beyond the unearned money there is
	// (creating negative unearned for a later transfer to fix).
	Force bool `json:"force,omitempty" yaml:"force,omitempty"`
	// Params override the policy's declared params by name; values are
	// text ("true", "12.50").
	Params map[string]string `json:"params,omitempty" yaml:"params,omitempty"`
}

// Target is one REAPPLY target: a charge, and optionally how much it gets.
type Target struct {
	ChargeID string              `json:"chargeId" yaml:"chargeId"`
	Amount   decimal.NullDecimal `json:"amount,omitzero" yaml:"amount,omitempty"`
}
