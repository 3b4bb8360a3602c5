package graph

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vikstrous/dataloadgen"

	"github.com/paysplit/paysplit/ledger"
)

// found turns a loader miss into ledger.ErrNotFound.
func found[T any](v T, err error) (*T, error) {
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, fmt.Errorf("%w", ledger.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func patientIDs(ps []ledger.Patient) []ledger.ID {
	ids := make([]ledger.ID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// receiptIDs lists the distinct receipts of some splits.
func receiptIDs(lists [][]ledger.Split) []ledger.ID {
	seen := make(map[ledger.ID]bool)
	var ids []ledger.ID
	for _, l := range lists {
		for _, s := range l {
			if !seen[s.ReceiptID] {
				seen[s.ReceiptID] = true
				ids = append(ids, s.ReceiptID)
			}
		}
	}
	return ids
}

// sortedCharges merges per-patient charge lists, oldest first.
func sortedCharges(lists [][]ledger.Charge) []ledger.Charge {
	out := slices.Concat(lists...)
	slices.SortStableFunc(out, func(a, b ledger.Charge) int {
		if c := a.ServiceDate.Compare(b.ServiceDate); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out
}

// newestFirst orders receipts by date received, newest first.
func newestFirst(rs []ledger.Receipt) []ledger.Receipt {
	slices.SortStableFunc(rs, func(a, b ledger.Receipt) int {
		if c := b.ReceivedOn.Compare(a.ReceivedOn); c != 0 {
			return c
		}
		return slices.Compare(b.ID[:], a.ID[:])
	})
	return rs
}
