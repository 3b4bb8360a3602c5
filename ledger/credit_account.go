package ledger

import "context"

// The patient account's transfer rows and the links of re-split payments.

// TransferRow is a patient's "Txfr" row (docs/allocation.md §3.10): one
// per income transfer and patient × provider × location combination it
// touched, with the net of that combination's splits: negative for what was
// transferred from it, positive for what was transferred to it. A move
// between two providers of one patient shows as two rows (−x and +x); a move
// between two procedures of one combination as one 0.00 row. The zero-sum
// receipts RECREATE_SPLITS posts are not transfers on the account: they
// belong to the payment they re-split (Receipt.reallocates).
type TransferRow struct {
	ReceiptID  ID
	PatientID  ID
	ProviderID *ID
	LocationID *ID
	ReceivedOn Date
	Amount     Money
	Note       string
}

// Reallocation links a receipt that re-split a payment to the payment.
type Reallocation struct {
	ReceiptID  ID
	OriginalID ID
	RunID      *ID
}

// CreditReader is the read side of credits in the Store.
type CreditReader interface {
	// TransferRows lists each patient's Txfr rows, oldest first.
	TransferRows(ctx context.Context, practiceID ID, patientIDs []ID) ([]TransferRow, error)
	// Reallocations returns the links of the re-split receipts among ids.
	Reallocations(ctx context.Context, practiceID ID, receiptIDs []ID) ([]Reallocation, error)
	// ReallocationsOf returns the links of the re-splits of the payments
	// among ids.
	ReallocationsOf(ctx context.Context, practiceID ID, originalIDs []ID) ([]Reallocation, error)
}

// CreditWriter is the write side of credits in a Tx.
type CreditWriter interface {
	InsertReallocations(ctx context.Context, practiceID ID, rs []Reallocation) error
}
