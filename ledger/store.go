package ledger

import (
	"context"
	"time"
)

// Store is the storage the ledger needs. Every method is scoped to one
// practice: rows of other practices are invisible (a lookup of another
// practice's id is ErrNotFound, a batch lookup omits it). Batch lookups
// return rows in no particular order; callers index them by id.
type Store interface {
	Reader
	// InTx runs fn in one database transaction: everything fn writes commits
	// together or not at all. A transient conflict (serialization failure,
	// deadlock) is returned wrapped in ErrRetryable.
	InTx(ctx context.Context, fn func(Tx) error) error
	RunClaimer // run.go

	// APIKey returns a key by id, revoked or not.
	APIKey(ctx context.Context, practiceID, keyID ID) (APIKey, error)
	// TouchAPIKey records that a key was used at t.
	TouchAPIKey(ctx context.Context, practiceID, keyID ID, t time.Time) error
}

// Reader is the read side of the Store, shared by Store and Tx.
type Reader interface {
	AgingReader          // aging.go
	AllocationReader     // policies.go
	ImportReader         // import.go
	KeyReader            // key_admin.go
	AuditReader          // audit.go
	BatchReader          // batches.go
	CreditReader         // credit_account.go
	RunReader            // run.go
	TreatmentPlanReader  // treatment_plans.go
	ReportReader         // report_unearned.go
	ResponsibilityReader // bill_to_patient.go
	StatementReader      // statement.go
	StatementRunReader   // statement_run.go

	Practice(ctx context.Context, id ID) (Practice, error)
	Providers(ctx context.Context, practiceID ID, ids []ID) ([]Provider, error)
	Locations(ctx context.Context, practiceID ID, ids []ID) ([]Location, error)
	Guarantors(ctx context.Context, practiceID ID, ids []ID) ([]Guarantor, error)
	Patients(ctx context.Context, practiceID ID, ids []ID) ([]Patient, error)
	Encounters(ctx context.Context, practiceID ID, ids []ID) ([]Encounter, error)
	Charges(ctx context.Context, practiceID ID, ids []ID) ([]Charge, error)
	Receipts(ctx context.Context, practiceID ID, ids []ID) ([]Receipt, error)
	Batches(ctx context.Context, practiceID ID, ids []ID) ([]Batch, error)
	UnearnedTypes(ctx context.Context, practiceID ID) ([]UnearnedType, error)
	InsuranceWriteOffs(ctx context.Context, practiceID ID, ids []ID) ([]InsuranceWriteOff, error)

	// NodeKind names the kind of the practice's object with this id:
	// Guarantor, Patient, Encounter, Charge or Receipt; ErrNotFound if none.
	NodeKind(ctx context.Context, practiceID, id ID) (string, error)

	// PatientsOfGuarantors lists the patients of each guarantor.
	PatientsOfGuarantors(ctx context.Context, practiceID ID, guarantorIDs []ID) ([]Patient, error)
	// EncountersOfPatients lists encounters by patient, oldest first.
	EncountersOfPatients(ctx context.Context, practiceID ID, patientIDs []ID) ([]Encounter, error)
	// ChargesOfEncounters lists the charges on each encounter.
	ChargesOfEncounters(ctx context.Context, practiceID ID, encounterIDs []ID) ([]Charge, error)
	// ChargesOfPatients lists every charge of each patient, oldest first.
	ChargesOfPatients(ctx context.Context, practiceID ID, patientIDs []ID) ([]Charge, error)
	// AdjustmentsOf lists the adjustments attached to each charge.
	AdjustmentsOf(ctx context.Context, practiceID ID, chargeIDs []ID) ([]Charge, error)
	// ProvidersOfPractice and LocationsOfPractice list them all, by name.
	ProvidersOfPractice(ctx context.Context, practiceID ID) ([]Provider, error)
	LocationsOfPractice(ctx context.Context, practiceID ID) ([]Location, error)
	// SplitsOfCharges lists the splits targeting each charge.
	SplitsOfCharges(ctx context.Context, practiceID ID, chargeIDs []ID) ([]Split, error)
	// SplitsOfReceipts lists the splits of each receipt.
	SplitsOfReceipts(ctx context.Context, practiceID ID, receiptIDs []ID) ([]Split, error)
	// SplitsOfPatients lists every split of each patient.
	SplitsOfPatients(ctx context.Context, practiceID ID, patientIDs []ID) ([]Split, error)
	// FamilySnapshots loads everything the allocation engine reads about each
	// family: its patients, every charge with its balance, and every split of
	// its patients with the kind and date of its receipt.
	FamilySnapshots(ctx context.Context, practiceID ID, guarantorIDs []ID) ([]FamilySnapshot, error)
	// ReversalsOf maps each receipt that has been reversed to its reversal.
	ReversalsOf(ctx context.Context, practiceID ID, receiptIDs []ID) (map[ID]ID, error)

	// ChargeBalances returns, for each charge, what it still owes and how.
	ChargeBalances(ctx context.Context, practiceID ID, chargeIDs []ID) (map[ID]ChargeBalance, error)
	// PatientBalances sums each patient's lines and credits.
	PatientBalances(ctx context.Context, practiceID ID, patientIDs []ID) (map[ID]Balance, error)
	// GuarantorBalances sums each family's lines and credits.
	GuarantorBalances(ctx context.Context, practiceID ID, guarantorIDs []ID) (map[ID]Balance, error)

	ListGuarantors(ctx context.Context, practiceID ID, f GuarantorFilter, p Page) (Paged[Guarantor], error)
	ListPatients(ctx context.Context, practiceID ID, f PatientFilter, p Page) (Paged[Patient], error)
	ListReceipts(ctx context.Context, practiceID ID, f ReceiptFilter, p Page) (Paged[Receipt], error)
}

// Tx is the Store inside one transaction.
type Tx interface {
	Reader
	AllocationWriter     // policies.go
	AgingWriter          // aging.go
	ImportWriter         // import.go
	KeyWriter            // key_admin.go
	BatchWriter          // batches.go
	CreditWriter         // credit_account.go
	RunWriter            // run.go
	ResponsibilityWriter // bill_to_patient.go
	TreatmentPlanWriter  // treatment_plans.go
	// UpdatePracticeSettings writes the settings given (nil fields stay).
	UpdatePracticeSettings(ctx context.Context, practiceID ID, s PracticeSettings) error
	StatementRunWriter // statement_run.go
	// LockFamilies takes row locks on the guarantors, in id order, so that
	// concurrent postings on one family serialise and never deadlock.
	LockFamilies(ctx context.Context, practiceID ID, guarantorIDs []ID) error
	// LockIdempotencyKey serialises requests carrying the same key.
	LockIdempotencyKey(ctx context.Context, practiceID ID, key string) error
	// IdempotencyRecord returns the record for key; ok is false if none.
	IdempotencyRecord(ctx context.Context, practiceID ID, key string) (rec IdempotencyRecord, ok bool, err error)
	// RecordMutation writes what every mutation leaves behind, in one
	// statement: its audit event, its idempotency record (if rec is not
	// nil) and the change notification NotifyChanged would queue.
	RecordMutation(ctx context.Context, practiceID ID, rec *IdempotencyRecord, e AuditEvent) error

	InsertPractice(ctx context.Context, p Practice) error
	InsertUnearnedType(ctx context.Context, practiceID ID, u UnearnedType) error
	// UpdateUnearnedType writes u; a type taking the default or
	// treatment-plan role takes it from the type that had it.
	UpdateUnearnedType(ctx context.Context, practiceID ID, u UnearnedType) error
	InsertAPIKey(ctx context.Context, k APIKey) error
	InsertProvider(ctx context.Context, practiceID ID, p Provider) error
	InsertLocation(ctx context.Context, practiceID ID, l Location) error
	InsertGuarantor(ctx context.Context, practiceID ID, g Guarantor) error
	InsertPatient(ctx context.Context, practiceID ID, p Patient) error
	InsertEncounter(ctx context.Context, practiceID ID, e Encounter) error
	InsertCharges(ctx context.Context, practiceID ID, cs []Charge) error
	InsertInsuranceWriteOff(ctx context.Context, practiceID ID, w InsuranceWriteOff) error
	// InsertReceipt writes a receipt and all of its splits.
	InsertReceipt(ctx context.Context, practiceID ID, r Receipt, splits []Split) error
}

// IdempotencyRecord remembers the first result of a keyed mutation.
type IdempotencyRecord struct {
	Key         string
	Operation   string
	RequestHash string
	ResultID    ID
	CreatedAt   time.Time
}

// AuditEvent records who did what, when.
type AuditEvent struct {
	ID            ID
	At            time.Time
	KeyID         *ID
	Role          Role
	Operation     string
	InputDigest   string
	CreatedIDs    []ID
	PolicyName    string
	PolicyVersion int
}

// Page asks for the first n rows after a cursor (keyset pagination).
type Page struct {
	First int
	After *Cursor
}

// Cursor is a keyset position: the sort key and id of the last row seen.
type Cursor struct {
	Key string
	ID  ID
}

// Paged is one page of a listing.
type Paged[T any] struct {
	Rows    []T
	Cursors []Cursor // one per row
	HasNext bool
	Total   int
}

// GuarantorFilter narrows ListGuarantors. Zero fields do not filter.
type GuarantorFilter struct {
	Name       string // case-insensitive substring
	ExternalID string
}

// PatientFilter narrows ListPatients. Zero fields do not filter.
type PatientFilter struct {
	GuarantorID *ID
	Name        string // case-insensitive substring of first or last name
	ExternalID  string
	BirthDate   *Date
}

// ReceiptFilter narrows ListReceipts. Zero fields do not filter.
type ReceiptFilter struct {
	GuarantorID *ID // receipts with a split for, or paid by, a patient of this family
	PatientID   *ID
	Kind        ReceiptKind
	From, To    *Date // received on, inclusive
	BatchID     *ID
}

// FamilySnapshot is one family's whole ledger as the allocation engine sees
// it, loaded at one moment (Store.FamilySnapshots). (GraphQL's FamilyLedger
// is a different thing: a family's balances under a policy, FamilyBalances.)
type FamilySnapshot struct {
	GuarantorID ID
	Patients    []Patient
	Charges     []Charge // oldest first
	Balances    map[ID]ChargeBalance
	Splits      []PostedSplit
}

// PostedSplit is a split with the kind and date of its receipt.
type PostedSplit struct {
	Split
	ReceiptKind ReceiptKind
	ReceivedOn  Date
}
