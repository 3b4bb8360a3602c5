package ledger

import (
	"context"
	"fmt"
)

// Guarantor statements (docs/reports.md, "Guarantor statements"): what a
// family is sent — its patients, the period's activity as a person reads it,
// the previous and new balance, the aging buckets, unapplied credits, and
// the amount due now (the patient portion) with pending insurance apart.
// The new balance and buckets are aging's (the guarantor's row as of the
// period's end), so a statement never disagrees with the aging report or the
// family's balance; the previous balance is the new one less the period's
// activity, which is aging's as of the day before the period.

// StatementQuery asks for one guarantor's statement.
type StatementQuery struct {
	GuarantorID ID
	AsOf        *Date // the period's last day; default today, never after it
	// From is the period's first day; default the first day of AsOf's
	// month. It may not be after AsOf.
	From *Date
}

// StatementItemKind says what an item of the activity is.
type StatementItemKind string

const (
	ItemCharge          StatementItemKind = "CHARGE"              // a procedure
	ItemPreviousBalance StatementItemKind = "PREVIOUS_BALANCE"    // a balance-forward line ("PREV BAL")
	ItemAdjustment      StatementItemKind = "ADJUSTMENT"          // an adjustment
	ItemWriteOff        StatementItemKind = "INSURANCE_WRITE_OFF" // insurance wrote part of a line off
	ItemBilledToPatient StatementItemKind = "BILLED_TO_PATIENT"   // insurance's estimate became the patient's
	ItemBilledToIns     StatementItemKind = "BILLED_TO_INSURANCE" // and back
	ItemReceipt         StatementItemKind = "RECEIPT"             // money: see ReceiptKind
)

// StatementItem is one line of a statement's activity. Amount is its effect
// on the balance (a charge adds, a payment subtracts; a transfer within the
// family, a bill to patient and money held on a hidden type change nothing).
type StatementItem struct {
	On          Date
	Kind        StatementItemKind
	ReceiptKind ReceiptKind // for a RECEIPT
	PatientID   *ID
	PatientName string // "First Last"
	Code        string // the charge's code; "PREV BAL" for a balance-forward line
	Description string
	Amount      Money
	// Moved is the money a receipt put on lines and credits of the family
	// (its positive splits; for a transfer, what it applied); Held is what
	// it put on hidden types (treatment-plan prepayments).
	Moved, Held Money
	ChargeID    *ID
	ReceiptID   *ID
}

// Statement is one guarantor's statement.
type Statement struct {
	Guarantor Guarantor
	Patients  []Patient
	From      Date
	AsOf      Date
	// PreviousBalance is the balance at the end of the day before From, and
	// NewBalance at the end of AsOf: what the family's lines owe (patient
	// and pending insurance) less its unapplied credits — aging's row total.
	// NewBalance = PreviousBalance + the items' amounts.
	PreviousBalance Money
	Items           []StatementItem
	NewBalance      Money
	// InsurancePending is the part of NewBalance insurance is expected to
	// pay; PatientPortion the rest; AmountDue the patient portion, or zero
	// when the family is in credit.
	InsurancePending Money
	PatientPortion   Money
	AmountDue        Money
	// Buckets age NewBalance (credits netted against the oldest first).
	Buckets       []AgingBucket
	BucketAmounts []Money
	// Unapplied credits: money received on nothing, and visible unearned
	// money (prepayments); Held is hidden unearned money (treatment-plan
	// prepayments), kept for the family and not part of the balance.
	Unallocated, Unearned, Held Money
}

// StatementReader is the read side of statements in the Store.
type StatementReader interface {
	// StatementItems lists the activity of each guarantor's family from
	// `from` to asOf inclusive, by guarantor, date and kind (guarantorIDs
	// nil: every family's).
	StatementItems(ctx context.Context, practiceID ID, guarantorIDs []ID, from, asOf Date) (map[ID][]StatementItem, error)
}

// Statement builds one guarantor's statement (any role may read it).
func (l *Ledger) Statement(ctx context.Context, a Actor, q StatementQuery) (Statement, error) {
	asOf, err := l.reportDate("asOf", q.AsOf)
	if err != nil {
		return Statement{}, err
	}
	from := Date{Year: asOf.Year, Month: asOf.Month, Day: 1}
	if q.From != nil {
		from = *q.From
	}
	if from.After(asOf) {
		return Statement{}, Invalid("from", "the period starts (%s) after it ends (%s)", from, asOf)
	}
	gs, err := l.store.Guarantors(ctx, a.PracticeID, []ID{q.GuarantorID})
	g, err := ref(gs, err, "guarantorId", "guarantor", q.GuarantorID)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{Guarantor: g, From: from, AsOf: asOf}
	if st.Patients, err = l.store.PatientsOfGuarantors(ctx, a.PracticeID, []ID{g.ID}); err != nil {
		return Statement{}, err
	}
	items, err := l.store.StatementItems(ctx, a.PracticeID, []ID{g.ID}, from, asOf)
	if err != nil {
		return Statement{}, err
	}
	st.Items = describe(items[g.ID])
	return st, l.statementBalances(ctx, a, &st)
}

// statementBalances fills in the balances from the family's aging row as of
// the period's end, the previous balance from it less the period's
// activity, and the family's held prepayments.
func (l *Ledger) statementBalances(ctx context.Context, a Actor, st *Statement) error {
	r, err := l.Aging(ctx, a, AgingQuery{AsOf: &st.AsOf, GuarantorIDs: []ID{st.Guarantor.ID}, CreditsToOldest: true,
		NoLastPayment: true, Page: Page{First: 1}})
	if err != nil {
		return err
	}
	now := AgingRow{Buckets: make([]Money, len(r.Buckets))}
	if len(r.Rows) > 0 {
		now = r.Rows[0]
	}
	st.PreviousBalance, st.NewBalance = previousBalance(now.Total, st.Items), now.Total
	st.InsurancePending, st.PatientPortion = now.InsurancePortion, now.Total.Sub(now.InsurancePortion)
	st.AmountDue = st.PatientPortion.Max(Money{})
	st.Buckets, st.BucketAmounts = r.Buckets, now.Buckets
	st.Unallocated, st.Unearned = now.Unallocated, now.Unearned
	held, err := l.NetUnearned(ctx, a, NetUnearnedQuery{AsOf: &st.AsOf, GuarantorID: &st.Guarantor.ID, Visibility: UnearnedHidden})
	st.Held = held.Total
	return err
}

// previousBalance is the balance before a period: the balance at its end
// less the effect of its activity. It is aging's total as of the day before
// the period (docs/reports.md, "Guarantor statements"), read without a
// second report.
func previousBalance(newBalance Money, items []StatementItem) Money {
	for _, it := range items {
		newBalance = newBalance.Sub(it.Amount)
	}
	return newBalance
}

// describe writes each item's description as a person reads it.
func describe(items []StatementItem) []StatementItem {
	for i := range items {
		it := &items[i]
		switch it.Kind {
		case ItemCharge:
			it.Description = "Procedure " + it.Code
		case ItemPreviousBalance:
			it.Code, it.Description = "PREV BAL", "Previous balance carried over"
		case ItemAdjustment:
			it.Description = "Adjustment"
		case ItemWriteOff:
			it.Description = "Insurance write-off on " + it.Code
		case ItemBilledToPatient:
			it.Description = fmt.Sprintf("Insurance did not pay %s: %s is now yours to pay", it.Code, it.Moved)
		case ItemBilledToIns:
			it.Description = fmt.Sprintf("%s on %s is pending insurance again", it.Moved, it.Code)
		case ItemReceipt:
			it.Description = receiptWords(*it)
		}
	}
	return items
}

// receiptWords says what a receipt did, as a statement puts it.
func receiptWords(it StatementItem) string {
	switch it.ReceiptKind {
	case ReceiptPatientPayment:
		if !it.Held.IsZero() {
			return fmt.Sprintf("Payment — thank you (%s held as a treatment-plan prepayment)", it.Held)
		}
		return "Payment — thank you"
	case ReceiptInsurancePayment:
		return "Insurance payment"
	case ReceiptRefund:
		return "Refund to you"
	case ReceiptReversal:
		return "Payment reversed"
	case ReceiptTransfer, ReceiptCreditReapply:
		if !it.Amount.IsZero() {
			return fmt.Sprintf("Prepayment of %s applied to your charges", it.Amount.Neg())
		}
		return fmt.Sprintf("Credit of %s applied to your charges", it.Moved)
	case ReceiptBalanceForward:
		return "Credit carried over"
	}
	return string(it.ReceiptKind)
}
