package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Reference batches (docs/allocation.md §4.3): a control group
// receipts post into. An ADMIN opens one and closes it; a closed batch takes
// no more receipts (the service refuses them with BAD_USER_INPUT, and a
// database trigger refuses them again under a share lock on the batch, so a
// posting racing a close either commits first or is refused). A practice may
// require a batch for every receipt posted into it (checkBatch, receipts.go).

// NewBatch opens a batch.
type NewBatch struct {
	Name string
	// OpenedOn is the batch's date (default today); it may not be in the
	// future.
	OpenedOn       *Date
	IdempotencyKey string `json:"-"`
}

// BatchClosing closes a batch.
type BatchClosing struct {
	BatchID        ID
	IdempotencyKey string `json:"-"`
}

// BatchSettings is the practice's batch setting.
type BatchSettings struct {
	// RequireBatch: every receipt posted must name an open batch.
	RequireBatch   bool
	IdempotencyKey string `json:"-"`
}

// BatchFilter narrows a listing of batches. Zero fields do not filter.
type BatchFilter struct {
	Open *bool // only open (true) or only closed (false) batches
}

// BatchReader is the read side of batches in the Store.
type BatchReader interface {
	// ListBatches lists batches newest first (by the date they were opened
	// on, then id).
	ListBatches(ctx context.Context, practiceID ID, f BatchFilter, p Page) (Paged[Batch], error)
}

// BatchWriter is the write side of batches in a Tx.
type BatchWriter interface {
	// InsertBatch opens a batch. A name already used by an open batch is an
	// *InputError in field "name".
	InsertBatch(ctx context.Context, practiceID ID, b Batch) error
	// CloseBatch closes an open batch at t; closed is false when the batch
	// was already closed (or does not exist).
	CloseBatch(ctx context.Context, practiceID, batchID ID, t time.Time) (closed bool, err error)
	// SetRequireBatch changes the practice's setting.
	SetRequireBatch(ctx context.Context, practiceID ID, require bool) error
}

// OpenBatch opens a reference batch for receipts to post into. Only ADMIN
// keys may open batches.
func (l *Ledger) OpenBatch(ctx context.Context, a Actor, in NewBatch) (Batch, error) {
	name := strings.TrimSpace(in.Name)
	if err := text("name", name, maxName, true); err != nil {
		return Batch{}, err
	}
	if in.OpenedOn == nil {
		today := l.Today()
		in.OpenedOn = &today
	}
	if in.OpenedOn.After(l.Today()) {
		return Batch{}, Invalid("openedOn", "cannot be in the future (%s)", in.OpenedOn)
	}
	var b Batch
	id, err := l.mutate(ctx, a, mutation{op: "openBatch", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		b = Batch{ID: newID(), Name: name, OpenedOn: *in.OpenedOn, CreatedAt: l.stamp()}
		return b.ID, tx.InsertBatch(ctx, a.PracticeID, b)
	})
	if err != nil {
		return Batch{}, err
	}
	if id == b.ID {
		return b, nil
	}
	rows, err := l.store.Batches(ctx, a.PracticeID, []ID{id}) // an idempotent replay
	return one(rows, err, "batch", id)
}

// CloseBatch closes a batch: receipts can no longer post into it. Closing an
// unknown batch is an *InputError; closing a closed one is ErrConflict. Only
// ADMIN keys may close batches.
func (l *Ledger) CloseBatch(ctx context.Context, a Actor, in BatchClosing) (Batch, error) {
	id, err := l.mutate(ctx, a, mutation{op: "closeBatch", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		rows, err := tx.Batches(ctx, a.PracticeID, []ID{in.BatchID})
		b, err := ref(rows, err, "batchId", "batch", in.BatchID)
		if err != nil {
			return ID{}, err
		}
		closed, err := tx.CloseBatch(ctx, a.PracticeID, b.ID, l.stamp())
		if err != nil {
			return ID{}, err
		}
		if !closed {
			return ID{}, fmt.Errorf("%w: batch %q is already closed", ErrConflict, b.Name)
		}
		return b.ID, nil
	})
	if err != nil {
		return Batch{}, err
	}
	rows, err := l.store.Batches(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "batch", id)
}

// UpdateBatchSettings changes whether every receipt of the practice must
// post into an open batch. Only ADMIN keys may change it.
func (l *Ledger) UpdateBatchSettings(ctx context.Context, a Actor, in BatchSettings) (Practice, error) {
	_, err := l.mutate(ctx, a, mutation{op: "updateBatchSettings", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		return a.PracticeID, tx.SetRequireBatch(ctx, a.PracticeID, in.RequireBatch)
	})
	if err != nil {
		return Practice{}, err
	}
	return l.store.Practice(ctx, a.PracticeID)
}

// Batches lists the practice's batches, newest first.
func (l *Ledger) Batches(ctx context.Context, a Actor, f BatchFilter, p Page) (Paged[Batch], error) {
	return l.store.ListBatches(ctx, a.PracticeID, f, p)
}
