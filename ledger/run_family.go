package ledger

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paysplit/paysplit/rules"
)

// What a run does to one family, shared by credit management and both
// methods of the family balancer.

// FamilyOutcome is what a run did (or, in a preview, would do) to a family.
type FamilyOutcome struct {
	GuarantorID ID
	Status      FamilyStatus
	Reason      string
	// CreditsFound is the credit the family held that the operation could
	// move (as balances count credit); AmountMoved the money its receipts
	// move; CreditsLeft the credit that remains after them.
	CreditsFound, AmountMoved, CreditsLeft Money
	Plans                                  []Plan
	ReceiptIDs                             []ID
	// Payments is RECREATE_SPLITS' report: every payment it looked at.
	Payments []ResplitPayment
}

// familyOutcome is an outcome with what to post for it.
type familyOutcome struct {
	FamilyOutcome
	postings  []posting
	originals []*ID // per posting: the payment it re-splits, if any
}

// failed is the outcome of a family whose plan was refused.
func failed(g ID, err error) familyOutcome {
	return familyOutcome{FamilyOutcome: FamilyOutcome{GuarantorID: g, Status: FamilyFailed, Reason: runErrorText(err)}}
}

// familyContext is what a family's plan may read besides its snapshot.
type familyContext struct {
	// resplits maps each receipt that re-split a payment to the payment;
	// reversed holds the payments that were reversed.
	resplits map[ID]ID
	reversed map[ID]bool
}

// familyJob plans one family. Refusals concerning the family alone become
// a FAILED outcome; an error is the run's (the database, a bug).
type familyJob struct {
	plan      func(ctx context.Context, s snapshot, fc familyContext) (familyOutcome, error)
	resplits  bool // reads familyContext.resplits
	reversals bool // reads the encounters (reversed ones are skipped)
}

// jobFor builds the per-family planner of a run.
func (l *Ledger) jobFor(ctx context.Context, pid ID, spec runSpec) (familyJob, error) {
	pol, err := l.resolvePolicy(ctx, l.store, pid, spec.Policy, OperationCreditManagement, "policy")
	if err != nil {
		return familyJob{}, err
	}
	switch {
	case spec.Kind == RunCreditManagement:
		return familyJob{plan: func(ctx context.Context, s snapshot, _ familyContext) (familyOutcome, error) {
			if spec.Spend != nil {
				s = s.within(*spec.Spend)
			}
			return planCreditManagement(ctx, pol, s, spec.Scope, spec.Params, spec.AsOf, spec.Note, spec.BatchID)
		}}, nil
	case spec.Method == MethodIncomeTransfer:
		return familyJob{plan: func(ctx context.Context, s snapshot, _ familyContext) (familyOutcome, error) {
			return planIncomeTransfer(ctx, pol, s, spec.Params, spec.AsOf, spec.Note)
		}}, nil
	case spec.Method == MethodRecreateSplits:
		return familyJob{resplits: true, plan: func(ctx context.Context, s snapshot, fc familyContext) (familyOutcome, error) {
			return planRecreate(ctx, pol, s, fc, spec.Params, spec.AsOf, spec.TransferDate != nil, spec.Note)
		}}, nil
	}
	return familyJob{}, fmt.Errorf("run: unknown kind %s, method %s", spec.Kind, spec.Method)
}

// planFamilies loads the families of gids and plans each.
func (l *Ledger) planFamilies(ctx context.Context, r Reader, pid ID, job familyJob, gids []ID) ([]familyOutcome, error) {
	snaps, err := loadSnapshots(ctx, r, pid, gids, "guarantorIds")
	if err != nil {
		return nil, err
	}
	var fc familyContext
	if job.resplits {
		var transfers, payments []ID
		seen := map[ID]bool{}
		for _, s := range snaps {
			for _, sp := range s.family.Splits {
				if seen[sp.ReceiptID] || sp.ChargeID != nil || sp.UnearnedTypeID != nil {
					continue
				}
				seen[sp.ReceiptID] = true
				switch {
				case sp.ReceiptKind == ReceiptTransfer:
					transfers = append(transfers, sp.ReceiptID)
				case recreatable[sp.ReceiptKind]:
					payments = append(payments, sp.ReceiptID)
				}
			}
		}
		links, err := r.Reallocations(ctx, pid, transfers)
		if err != nil {
			return nil, err
		}
		fc.resplits = make(map[ID]ID, len(links))
		for _, rl := range links {
			fc.resplits[rl.ReceiptID] = rl.OriginalID
		}
		revs, err := r.ReversalsOf(ctx, pid, payments)
		if err != nil {
			return nil, err
		}
		fc.reversed = make(map[ID]bool, len(revs))
		for orig := range revs {
			fc.reversed[orig] = true
		}
	}
	outs := make([]familyOutcome, len(snaps))
	for i, s := range snaps {
		// Each family has the plan timeout for all its plans; one over it
		// is FAILED, and the others go on.
		fctx, cancel := withPlanTimeout(ctx, l.planTimeout)
		o, err := job.plan(fctx, s, fc)
		cancel()
		if err != nil {
			if !familyError(err) {
				return nil, err
			}
			o = failed(s.family.GuarantorID, err)
		}
		o.GuarantorID = s.family.GuarantorID
		outs[i] = o
	}
	return outs, nil
}

// postOutcomes writes every outcome's receipts (and plans, and the links of
// re-split payments) with a fixed number of statements, and fills in the
// outcomes' receipt ids. It returns the first receipt's id, or fallback when
// nothing was posted.
func (l *Ledger) postOutcomes(ctx context.Context, tx Tx, pid ID, runID *ID, outs []familyOutcome) (ID, error) {
	var ps []posting
	var originals []*ID
	var owner []int
	for i, o := range outs {
		ps = append(ps, o.postings...)
		originals = append(originals, o.originals...)
		for range o.postings {
			owner = append(owner, i)
		}
	}
	fallback := newID() // the audit event's id when nothing was posted
	if runID != nil {
		fallback = *runID
	}
	if len(ps) == 0 {
		return fallback, nil
	}
	if _, err := l.post(ctx, tx, pid, ps); err != nil {
		return ID{}, err
	}
	first := fallback
	posted := false
	var links []Reallocation
	for j, p := range ps {
		if p.receipt == nil {
			continue
		}
		if !posted {
			first, posted = p.receipt.ID, true
		}
		o := &outs[owner[j]]
		o.ReceiptIDs = append(o.ReceiptIDs, p.receipt.ID)
		if j < len(originals) && originals[j] != nil {
			links = append(links, Reallocation{ReceiptID: p.receipt.ID, OriginalID: *originals[j], RunID: runID})
		}
	}
	for i := range outs {
		o := &outs[i]
		if len(o.ReceiptIDs) > 0 {
			// A re-split payment's report names the receipt that re-split it.
			for k := range o.Payments {
				for _, rl := range links {
					if rl.OriginalID == o.Payments[k].ReceiptID && o.Payments[k].Action == ResplitToProduction {
						id := rl.ReceiptID
						o.Payments[k].ResplitReceiptID = &id
					}
				}
			}
		}
	}
	if len(links) > 0 {
		if err := tx.InsertReallocations(ctx, pid, links); err != nil {
			return ID{}, err
		}
	}
	return first, nil
}

// amountsOf sums a plan's credits before and after, as balances count
// credit (overpaid lines, unallocated and visible unearned money; not hidden
// types, not money on a charge the policy reads as misallocated), and the
// money it moves: the figures of a family's report. A plan that posts moves
// money, so a family is CHANGED exactly when its moved is above zero.
func amountsOf(pl planned) (found, moved, left Money, err error) {
	for _, c := range pl.raw.Balances.Credits {
		if c.Hidden || c.Bucket.Kind == rules.MisallocatedBucket {
			continue
		}
		if c.Amount.Sign() > 0 {
			a, err := moneyOf(c.Amount)
			if err != nil {
				return found, moved, left, err
			}
			found = found.Add(a)
		}
		if c.Remaining.Sign() > 0 {
			r, err := moneyOf(c.Remaining)
			if err != nil {
				return found, moved, left, err
			}
			left = left.Add(r)
		}
	}
	return found, movedBy(pl.plan), left, nil
}

// movedBy is the money a plan moves.
func movedBy(p Plan) Money {
	var moved Money
	for _, m := range p.Moves {
		moved = moved.Add(m.Amount)
	}
	return moved
}

// BalanceMethod is how the family balancer balances a family.
type BalanceMethod string

// Balancer methods (docs/allocation.md §3.3, §3.4, §3.6).
const (
	// MethodIncomeTransfer posts zero-sum TRANSFER receipts moving income
	// to production, by a policy (rigorous or fifo).
	MethodIncomeTransfer BalanceMethod = "INCOME_TRANSFER"
	// MethodRecreateSplits re-splits each payment's unallocated money onto
	// production, FIFO (credit_balancer.go).
	MethodRecreateSplits BalanceMethod = "RECREATE_SPLITS"
)

// FamilyBalancing asks the balancer to balance one family now.
type FamilyBalancing struct {
	GuarantorID ID
	Method      BalanceMethod
	Policy      string
	Params      map[string]string
	AsOf        *Date
	// TransferDate dates the transfers (RunRequest.TransferDate).
	TransferDate *Date
	Note         string
	// Preview plans and reports without posting.
	Preview        bool
	IdempotencyKey string `json:"-"`
}

// BalanceFamily runs the family balancer over one family and waits for it:
// it is a run of one family (kept, with its result, like any run). It
// returns the run and the family's result.
func (l *Ledger) BalanceFamily(ctx context.Context, a Actor, in FamilyBalancing) (Run, RunFamily, error) {
	return l.runOne(ctx, a, RunRequest{Kind: RunBalance, Method: in.Method, Preview: in.Preview, GuarantorIDs: []ID{in.GuarantorID},
		Policy: in.Policy, Params: in.Params, AsOf: in.AsOf, TransferDate: in.TransferDate, Note: in.Note, IdempotencyKey: in.IdempotencyKey})
}

// runOne starts a run of one family and waits for its end.
func (l *Ledger) runOne(ctx context.Context, a Actor, in RunRequest) (Run, RunFamily, error) {
	r, err := l.runAndWait(ctx, a, in)
	if err != nil {
		return Run{}, RunFamily{}, err
	}
	fams, err := l.store.ListRunFamilies(ctx, a.PracticeID, r.ID, RunFamilyFilter{}, Page{First: 1})
	if err != nil {
		return Run{}, RunFamily{}, err
	}
	if len(fams.Rows) == 0 {
		if r.Error != "" {
			return r, RunFamily{}, fmt.Errorf("%w: run %s ended %s: %s", ErrConflict, r.ID, r.Status, r.Error)
		}
		return r, RunFamily{}, fmt.Errorf("%w: run %s ended %s before the family", ErrConflict, r.ID, r.Status)
	}
	return r, fams.Rows[0], nil
}

// runAndWait starts a run and waits for its end.
func (l *Ledger) runAndWait(ctx context.Context, a Actor, in RunRequest) (Run, error) {
	r, err := l.StartRun(ctx, a, in)
	if err != nil || r.Status.Final() {
		return r, err
	}
	ch, err := l.WatchRun(ctx, a, r.ID)
	if err != nil {
		return Run{}, err
	}
	for r = range ch {
	}
	return l.Run(ctx, a, r.ID)
}

// Plans decodes the plans a preview recorded for the family.
func (f RunFamily) Plans() ([]Plan, error) {
	if len(f.Detail) == 0 {
		return nil, nil
	}
	var d familyDetail
	if err := json.Unmarshal(f.Detail, &d); err != nil {
		return nil, fmt.Errorf("run family %s: %w", f.GuarantorID, err)
	}
	return d.Plans, nil
}
