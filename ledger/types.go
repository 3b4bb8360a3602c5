package ledger

import (
	"time"

	"github.com/google/uuid"
)

// ID identifies any row. IDs are UUIDv7: unique, opaque on the wire, and
// roughly ordered by creation, which makes them a stable final tie-break.
type ID = uuid.UUID

// ParseID reads an ID in its canonical text form.
func ParseID(s string) (ID, error) {
	if len(s) != 36 {
		return ID{}, errInvalidID
	}
	return uuid.Parse(s)
}

// Role is what an API key may do.
type Role string

const (
	RoleAdmin   Role = "ADMIN"   // everything, including keys, policies and batches
	RoleBiller  Role = "BILLER"  // reads and posts
	RoleAnalyst Role = "ANALYST" // reads only
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleBiller || r == RoleAnalyst }

// CanPost reports whether r may change the ledger.
func (r Role) CanPost() bool { return r == RoleAdmin || r == RoleBiller }

// Actor is who performs an operation: a key of one practice with a role.
type Actor struct {
	PracticeID ID
	KeyID      ID
	Role       Role
}

// Key is the actor's API key id as the records that name who did something
// keep it: nil for an actor without a key (the CLI, as the operator).
func (a Actor) Key() *ID {
	if a.KeyID == (ID{}) {
		return nil
	}
	k := a.KeyID
	return &k
}

// Practice is the tenant. No operation spans practices.
type Practice struct {
	ID           ID
	Name         string
	RequireBatch bool
	// PrePayAllowedForTpProcs lets prepayments be attached to planned
	// procedures (Open Dental's PrePayAllowedForTpProcs; off by default).
	PrePayAllowedForTpProcs bool
	// BalancesDontSubtractIns: balances set no pending insurance estimate
	// aside (Open Dental's BalancesDontSubtractIns; off by default). A line's
	// patient portion is then all it still owes, for balances, aging and the
	// planner alike, and its insurancePending reads 0.00.
	BalancesDontSubtractIns bool
	CreatedAt               time.Time
}

// Provider renders services.
type Provider struct {
	ID        ID
	Name      string
	Code      string
	CreatedAt time.Time
}

// Location is where services are rendered (Open Dental's clinic).
type Location struct {
	ID        ID
	Name      string
	Code      string
	CreatedAt time.Time
}

// Guarantor is the responsible party for a family. SelfPatientID is set when
// the guarantor is also one of the patients.
type Guarantor struct {
	ID            ID
	Name          string
	ExternalID    string
	SelfPatientID *ID
	CreatedAt     time.Time
}

// Patient belongs to exactly one guarantor.
type Patient struct {
	ID          ID
	GuarantorID ID
	FirstName   string
	LastName    string
	BirthDate   *Date
	ExternalID  string
	CreatedAt   time.Time
}

// EncounterKind distinguishes visits from balances brought forward.
type EncounterKind string

const (
	EncounterVisit          EncounterKind = "VISIT"
	EncounterBalanceForward EncounterKind = "BALANCE_FORWARD"
)

// Encounter is a visit (superbill, claim) of one patient.
type Encounter struct {
	ID          ID
	PatientID   ID
	ProviderID  ID
	LocationID  ID
	Kind        EncounterKind
	ServiceFrom Date
	ServiceTo   Date
	Note        string
	CreatedAt   time.Time
}

// ChargeKind is the kind of a line of production.
type ChargeKind string

const (
	ChargeProcedure      ChargeKind = "PROCEDURE"
	ChargeAdjustment     ChargeKind = "ADJUSTMENT"
	ChargeBalanceForward ChargeKind = "BALANCE_FORWARD"
)

// ChargeStatus says whether a charge is owed yet.
type ChargeStatus string

const (
	StatusCompleted ChargeStatus = "COMPLETED"
	StatusPlanned   ChargeStatus = "PLANNED" // treatment-planned: owes nothing yet
)

// Charge is one line of production. Adjustments may be negative, may be
// attached to another charge (AttachedToID) and may lack an encounter,
// provider or location.
type Charge struct {
	ID                ID
	EncounterID       *ID
	PatientID         ID
	ProviderID        *ID
	LocationID        *ID
	Kind              ChargeKind
	Status            ChargeStatus
	Code              string
	ServiceDate       Date
	Amount            Money
	InsuranceEstimate Money
	AttachedToID      *ID
	Note              string
	PostedAt          time.Time
}

// ReceiptKind is the kind of money received or moved.
type ReceiptKind string

const (
	ReceiptPatientPayment   ReceiptKind = "PATIENT_PAYMENT"
	ReceiptInsurancePayment ReceiptKind = "INSURANCE_PAYMENT"
	ReceiptRefund           ReceiptKind = "REFUND"
	ReceiptTransfer         ReceiptKind = "TRANSFER"       // zero-sum income transfer (Txfr)
	ReceiptCreditReapply    ReceiptKind = "CREDIT_REAPPLY" // zero-sum, PD/PCA splits
	ReceiptReversal         ReceiptKind = "REVERSAL"
)

// Receipt is money received or moved. Receipts are never edited: corrections
// are reversals.
type Receipt struct {
	ID         ID
	Kind       ReceiptKind
	Amount     Money
	ReceivedOn Date
	PatientID  *ID
	Method     string
	Reference  string
	Note       string
	BatchID    *ID
	ReversesID *ID
	// EncounterID is the claim an insurance payment made as a total paid
	// (its splits spread it over the encounter's lines), and its reversal's.
	EncounterID   *ID
	PolicyName    string
	PolicyVersion int
	PostedAt      time.Time
}

// SplitCode labels a split on statements.
type SplitCode string

const (
	CodePayment   SplitCode = "PAY"
	CodeInsurance SplitCode = "INS"
	CodeRefund    SplitCode = "REF"
	CodeTransfer  SplitCode = "TXFR"
	CodeDebit     SplitCode = "PD"  // patient debit: where a re-applied credit came from
	CodeApplied   SplitCode = "PCA" // patient credit applied: where it went
	CodeReversal  SplitCode = "REV"
)

// Split is a signed part of a receipt. It targets a charge, an unearned type,
// or nothing (unallocated money).
type Split struct {
	ID             ID
	ReceiptID      ID
	Amount         Money
	Code           SplitCode
	PatientID      ID
	ProviderID     *ID
	LocationID     *ID
	ChargeID       *ID
	UnearnedTypeID *ID
}

// Unallocated reports whether the split targets nothing.
func (s Split) Unallocated() bool { return s.ChargeID == nil && s.UnearnedTypeID == nil }

// UnearnedType is a bucket for money not yet earned: prepayments (the
// default), and hidden types such as treatment-plan prepayments. A practice
// has exactly one default type (visible) and at most one treatment-plan type.
type UnearnedType struct {
	ID              ID
	Name            string
	Hidden          bool
	IsDefault       bool
	IsTreatmentPlan bool
}

// Batch is a reference/deposit batch receipts post into.
type Batch struct {
	ID        ID
	Name      string
	OpenedOn  Date
	ClosedAt  *time.Time
	CreatedAt time.Time
}

// APIKey authenticates requests for one practice with one role. The secret is
// never stored, only its hash.
type APIKey struct {
	PracticeID ID
	ID         ID
	Name       string
	Role       Role
	SecretHash []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Balance summarises what a patient or a family owes. Owed is the sum of
// what each charge line still owes; Credit is what the patient holds:
// overpaid lines, unallocated money and (visible) unearned money. Balance is
// Owed − Credit: negative means the practice owes the patient.
type Balance struct {
	Balance     Money
	Owed        Money
	Unallocated Money
	Unearned    Money
	Credit      Money
	// HiddenUnearned is the money on hidden unearned types (treatment-plan
	// prepayments): held for the patient, shown apart, never a credit.
	HiddenUnearned Money
}

// ChargeBalance is where a charge stands. Owed is its patient portion still
// owed: the amount, plus adjustments attached to it, minus insurance paid and
// written off, minus the insurance estimate while no insurance payment has settled it,
// minus patient money linked to it. Negative Owed is a credit on the line.
// Planned charges and attached adjustments owe nothing themselves.
type ChargeBalance struct {
	Owed              Money
	Adjustments       Money // sum of adjustments attached to the charge
	InsurancePaid     Money // insurance money on the charge and its adjustments
	InsuranceWriteOff Money // insurance write-offs on the charge
	InsurancePending  Money // the estimate, until an insurance payment settles it
	PatientPaid       Money // all other money on the charge and its adjustments
	// Prepaid is prepayment attached to a planned line: unearned money held
	// for it, not paid on it (treatment_plans.go).
	Prepaid Money
	// BilledToPatientOn is the day the line was billed to the patient (its
	// pending estimate moved to the patient), nil unless it is now.
	BilledToPatientOn *Date
}

// InsuranceWriteOff is an amount insurance wrote off a charge: it lowers the
// line's patient portion and is never money. A negative write-off corrects
// (takes back) earlier ones. Write-offs are never edited.
type InsuranceWriteOff struct {
	ID        ID
	ChargeID  ID
	Amount    Money
	WrittenOn Date
	Note      string
	PostedAt  time.Time
}
