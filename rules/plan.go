package rules

import "github.com/shopspring/decimal"

// Plan is what a policy proposes for one request: the moves, the splits that
// post them, and what every charge owes afterwards.
type Plan struct {
	Policy     string    `json:"policy"`
	PolicyHash string    `json:"policyHash"`
	Operation  Operation `json:"operation"`
	AsOf       Date      `json:"asOf"`
	// Moves in the order the stages produced them.
	Moves []Move `json:"moves"`
	// Splits to post, derived from Moves: for each move a negative split on
	// its source (except a new receipt's own money) and a positive split on
	// its destination. A TRANSFER, ALLOCATE_UNEARNED, REAPPLY or
	// CREDIT_MANAGEMENT plan is made of ± pairs and sums to zero; an
	// AUTO_SPLIT plan sums to the receipt amount.
	Splits []ProposedSplit `json:"splits"`
	// Balances after the plan.
	Balances Balances `json:"balances"`
	// Warnings are things the plan leaves alone on purpose, such as
	// insurance overpayments.
	Warnings []string `json:"warnings,omitempty"`
}

// BucketKind says what a Bucket is.
type BucketKind string

// Bucket kinds.
const (
	// PaymentBucket is the new receipt of an AUTO_SPLIT.
	PaymentBucket BucketKind = "PAYMENT"
	// ChargeBucket is a charge: a destination, or (overpaid) a source.
	ChargeBucket BucketKind = "CHARGE"
	// MisallocatedBucket is money split onto a charge by a link the policy
	// does not honour (wrong patient, provider or location).
	MisallocatedBucket BucketKind = "MISALLOCATED"
	// UnallocatedBucket is money split onto nothing.
	UnallocatedBucket BucketKind = "UNALLOCATED"
	// UnearnedBucket is money split onto an unearned type.
	UnearnedBucket BucketKind = "UNEARNED"
)

// Bucket is where money sits: a charge, or a patient/provider/location
// bucket of unallocated, unearned or misallocated money.
type Bucket struct {
	Kind BucketKind `json:"kind"`
	// ID is stable across plans: the charge id for CHARGE, "payment" for
	// PAYMENT, and for the others an id built from the bucket's key, which
	// is what REAPPLY's Request.Sources name.
	ID             string `json:"id"`
	ChargeID       string `json:"chargeId,omitempty"`
	UnearnedTypeID string `json:"unearnedTypeId,omitempty"`
	PatientID      string `json:"patientId"`
	ProviderID     string `json:"providerId,omitempty"`
	LocationID     string `json:"locationId,omitempty"`
	EncounterID    string `json:"encounterId,omitempty"`
}

// Move is one transfer of money from a credit to a destination.
type Move struct {
	From Bucket `json:"from"`
	To   Bucket `json:"to"`
	// Amount is positive, except for the leftover of a negative receipt
	// (a refund that is never spread over charges).
	Amount decimal.Decimal `json:"amount"`
	// Stage names the stage that produced the move, or "leftover" /
	// "shortfall".
	Stage string `json:"stage"`
}

// ProposedSplit is a split the plan would post. Its target is ChargeID,
// UnearnedTypeID, or neither (unallocated).
type ProposedSplit struct {
	Amount         decimal.Decimal `json:"amount"`
	PatientID      string          `json:"patientId"`
	ProviderID     string          `json:"providerId,omitempty"`
	LocationID     string          `json:"locationId,omitempty"`
	ChargeID       string          `json:"chargeId,omitempty"`
	UnearnedTypeID string          `json:"unearnedTypeId,omitempty"`
	// Code is PAY (AUTO_SPLIT), TXFR (TRANSFER, ALLOCATE_UNEARNED), or PD
	// on the source and PCA on the destination (REAPPLY,
	// CREDIT_MANAGEMENT).
	Code  string `json:"code"`
	Stage string `json:"stage"`
}

// Split codes.
const (
	CodePay      = "PAY"
	CodeTransfer = "TXFR"
	CodeDebit    = "PD"
	CodeApplied  = "PCA"
)

// Balances is the family under the policy's linking: what each charge still
// owes and where the credits are.
type Balances struct {
	Charges []ChargeBalance `json:"charges"`
	Credits []CreditBalance `json:"credits"`
}

// ChargeBalance is one charge.
type ChargeBalance struct {
	ChargeID  string `json:"chargeId"`
	PatientID string `json:"patientId"`
	// Portion is the patient portion: amount minus insurance, plus the
	// adjustments folded into it.
	Portion decimal.Decimal `json:"portion"`
	// Linked is the patient money whose links the policy honours, on this
	// charge itself.
	Linked decimal.Decimal `json:"linked"`
	// Owed is what the charge still owes; negative when overpaid. For
	// Policy.Balances it counts implicit linking: credits the policy would
	// apply, as if they had been.
	Owed decimal.Decimal `json:"owed"`
	// FoldedInto is set on an adjustment counted in the procedure it is
	// attached to; its Owed is then zero.
	FoldedInto string `json:"foldedInto,omitempty"`
}

// CreditBalance is one source of money: an unallocated, unearned or
// misallocated bucket (negative when its splits sum below zero), or an
// overpaid charge.
type CreditBalance struct {
	Bucket Bucket `json:"bucket"`
	Hidden bool   `json:"hidden,omitempty"`
	// Amount is the money there after explicit linking.
	Amount decimal.Decimal `json:"amount"`
	// Remaining is what is left after the plan (or, for Policy.Balances,
	// after implicit linking).
	Remaining decimal.Decimal `json:"remaining"`
}

// NewBucket returns the bucket of kind UNALLOCATED, UNEARNED (of
// unearnedTypeID) or MISALLOCATED (money on chargeID whose link is not
// honoured) for a patient, provider and location, with its ID. This is the
// one definition of where loose money sits (docs/allocation.md §1.2): the
// planner sums existing splits by it, and the engine judges what a plan
// takes from each bucket by it, so the two never disagree.
func NewBucket(kind BucketKind, patient, provider, location, chargeID, unearnedTypeID string) Bucket {
	b := Bucket{Kind: kind, PatientID: patient, ProviderID: provider, LocationID: location}
	switch kind {
	case MisallocatedBucket:
		b.ChargeID = chargeID
		b.ID = poolID(kind, chargeID, patient, provider, location)
	case UnearnedBucket:
		b.UnearnedTypeID = unearnedTypeID
		b.ID = poolID(kind, unearnedTypeID, patient, provider, location)
	default:
		b.ID = poolID(kind, patient, provider, location)
	}
	return b
}

// SplitBucket is the bucket an existing split's money sits in: unearned of
// its type, unallocated, or — for a split on a charge — that charge's money
// in the split's patient, provider and location, a MISALLOCATED bucket
// unless the policy honours the link.
func SplitBucket(s Split) Bucket {
	switch {
	case s.ChargeID != "":
		return NewBucket(MisallocatedBucket, s.PatientID, s.ProviderID, s.LocationID, s.ChargeID, "")
	case s.UnearnedTypeID != "":
		return NewBucket(UnearnedBucket, s.PatientID, s.ProviderID, s.LocationID, "", s.UnearnedTypeID)
	}
	return NewBucket(UnallocatedBucket, s.PatientID, s.ProviderID, s.LocationID, "", "")
}
