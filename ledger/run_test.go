package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// waitRun follows a run until it ends and returns it as it ended.
func waitRun(t *testing.T, l *ledger.Ledger, a ledger.Actor, id ledger.ID) ledger.Run {
	t.Helper()
	ch, err := l.WatchRun(context.Background(), a, id)
	require.NoError(t, err)
	var last ledger.Run
	for r := range ch {
		last = r
	}
	require.True(t, last.Status.Final(), "the watch ended with the run %s", last.Status)
	return last
}

// families lists a run's family results by guarantor.
func families(t *testing.T, l *ledger.Ledger, a ledger.Actor, id ledger.ID) map[ledger.ID]ledger.RunFamily {
	t.Helper()
	page, err := l.RunFamilies(context.Background(), a, id, ledger.RunFamilyFilter{}, ledger.Page{First: 500})
	require.NoError(t, err)
	out := map[ledger.ID]ledger.RunFamily{}
	for _, f := range page.Rows {
		out[f.GuarantorID] = f
	}
	return out
}

func guarantorBalance(t *testing.T, f *ledgertest.Practice, g ledger.ID) ledger.Balance {
	t.Helper()
	b, err := f.Store.GuarantorBalances(context.Background(), f.Actor.PracticeID, []ledger.ID{g})
	require.NoError(t, err)
	return b[g]
}

// TestCreditManagementPreviewCommitRerun: a preview reports and posts
// nothing; the commit posts one CREDIT_REAPPLY receipt per family that has
// credit to apply, with the note; a second commit has nothing left to do.
// Reversed encounters are left alone; guarantors are never crossed.
func TestCreditManagementPreviewCommitRerun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	// Family A: Gus's credit on one line pays his own other encounter, then
	// his daughter Kit's line.
	a := f.Family(t, "Gus", "Kit")
	gusLine := f.Visit(t, a[0], "2026-03-01", "50.00")[0]
	gusOther := f.Visit(t, a[0], "2026-03-05", "10.00")[0]
	kitLine := f.Visit(t, a[1], "2026-03-10", "15.00")[0]
	f.Pay(t, a[0], "90.00", forced("90.00", gusLine)) // 40.00 of credit
	// Family B: the only credit sits on a reversed encounter.
	b := f.Family(t, "Bea")
	rev := f.Visit(t, b[0], "2026-02-01", "60.00")[0]
	f.Pay(t, b[0], "60.00", ledgertest.On("60.00", rev))
	_, err := f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{AttachedToID: &rev.ID, Amount: ledger.MustMoney("-60.00"), Code: "REVERSE"})
	require.NoError(t, err)
	bOwes := f.Visit(t, b[0], "2026-04-01", "25.00")[0]
	// Family C: owes, no credit. Spouse of Gus with her own guarantor.
	c := f.Family(t, "Cat")
	catLine := f.Visit(t, c[0], "2026-03-01", "30.00")[0]
	totals := map[ledger.ID]ledger.Money{}
	for _, g := range []ledger.ID{a[0].GuarantorID, b[0].GuarantorID, c[0].GuarantorID} {
		totals[g] = guarantorBalance(t, f, g).Balance
	}

	_, err = f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement})
	requireInput(t, err, "note")

	prev, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Preview: true, Note: "monthly"})
	require.NoError(t, err)
	prev = waitRun(t, f.Ledger, f.Actor, prev.ID)
	require.Equal(t, ledger.RunCompleted, prev.Status)
	require.Equal(t, 3, prev.FamiliesTotal)
	require.Equal(t, 3, prev.FamiliesDone)
	require.Equal(t, 1, prev.FamiliesChanged)
	require.Equal(t, 0, prev.Receipts)
	requireMoney(t, "40.00", prev.CreditsFound)
	requireMoney(t, "25.00", prev.AmountMoved)
	requireMoney(t, "15.00", prev.CreditsLeft)
	fams := families(t, f.Ledger, f.Actor, prev.ID)
	require.Equal(t, ledger.FamilyChanged, fams[a[0].GuarantorID].Status)
	plans, err := fams[a[0].GuarantorID].Plans()
	require.NoError(t, err)
	require.Len(t, plans, 1)
	require.Equal(t, ledger.FamilyUnchanged, fams[b[0].GuarantorID].Status)
	require.Contains(t, fams[b[0].GuarantorID].Reason, "1 reversed encounter(s) left alone")
	require.Equal(t, ledger.FamilyUnchanged, fams[c[0].GuarantorID].Status)
	requireMoney(t, "-40.00", owed(t, f, gusLine)) // nothing posted

	run, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Note: "monthly"})
	require.NoError(t, err)
	run = waitRun(t, f.Ledger, f.Actor, run.ID)
	require.Equal(t, ledger.RunCompleted, run.Status, run.Error)
	require.Equal(t, 1, run.Receipts)
	requireMoney(t, "25.00", run.AmountMoved)
	requireMoney(t, "-15.00", owed(t, f, gusLine))
	requireMoney(t, "0.00", owed(t, f, gusOther))
	requireMoney(t, "0.00", owed(t, f, kitLine))
	requireMoney(t, "25.00", owed(t, f, bOwes)) // the reversed encounter's credit did not move
	requireMoney(t, "30.00", owed(t, f, catLine))
	fam := families(t, f.Ledger, f.Actor, run.ID)[a[0].GuarantorID]
	require.Len(t, fam.ReceiptIDs, 1)
	rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, fam.ReceiptIDs)
	require.NoError(t, err)
	require.Equal(t, ledger.ReceiptCreditReapply, rs[0].Kind)
	require.Equal(t, "monthly", rs[0].Note)
	for g, want := range totals {
		requireMoney(t, want.String(), guarantorBalance(t, f, g).Balance, "family totals never change")
	}

	again, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Note: "monthly"})
	require.NoError(t, err)
	again = waitRun(t, f.Ledger, f.Actor, again.ID)
	require.Equal(t, 0, again.Receipts)
	require.Equal(t, 0, again.FamiliesChanged)
}

// TestRunCancelThenResume: a run cancelled after its first batch keeps
// that batch, ends CANCELLED, and resuming it does the rest exactly once.
func TestRunCancelThenResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	var once sync.Once
	var l *ledger.Ledger
	var actor ledger.Actor
	l = ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithRunBatch(1),
		ledger.WithRunObserver(func(r ledger.Run) {
			if r.FamiliesDone == 1 && !r.Status.Final() {
				once.Do(func() {
					_, err := l.CancelRun(ctx, actor, ledger.RunControl{RunID: r.ID})
					require.NoError(t, err)
				})
			}
		}))
	f := ledgertest.AddPractice(t, l, "Cancel")
	actor = f.Actor
	var lines []ledger.Charge
	for _, name := range []string{"Ann", "Bob", "Cid", "Dee"} {
		fam := f.Family(t, name, name+"'s kid")
		lines = append(lines, f.Visit(t, fam[1], "2026-05-01", "40.00")[0])
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	r, err := l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer, Policy: "fifo"})
	require.NoError(t, err)
	r = waitRun(t, l, f.Actor, r.ID)
	require.Equal(t, ledger.RunCancelled, r.Status)
	require.Equal(t, 1, r.FamiliesDone)
	require.Equal(t, 1, r.Receipts)

	_, err = l.CancelRun(ctx, f.Actor, ledger.RunControl{RunID: r.ID})
	require.ErrorIs(t, err, ledger.ErrConflict)

	r, err = l.ResumeRun(ctx, f.Actor, ledger.RunControl{RunID: r.ID})
	require.NoError(t, err)
	require.Equal(t, ledger.RunRunning, r.Status)
	r = waitRun(t, l, f.Actor, r.ID)
	require.Equal(t, ledger.RunCompleted, r.Status)
	require.Equal(t, 4, r.FamiliesDone)
	require.Equal(t, 4, r.Receipts)
	require.Equal(t, 2, r.Attempts)
	for _, c := range lines {
		requireMoney(t, "0.00", owed(t, f, c))
	}
	_, err = l.ResumeRun(ctx, f.Actor, ledger.RunControl{RunID: r.ID})
	require.ErrorIs(t, err, ledger.ErrConflict)
}

// TestRunInterruptedAndRecovered: a server that stops mid-run marks the
// run INTERRUPTED with its committed families kept; a server that died
// without saying so leaves a RUNNING run that the next start marks
// INTERRUPTED (but never a run another server holds); a new server resumes
// it to the end.
func TestRunInterruptedAndRecovered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	var l *ledger.Ledger
	var once sync.Once
	l = ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithRunBatch(2),
		ledger.WithRunObserver(func(r ledger.Run) {
			if r.FamiliesDone == 2 {
				once.Do(func() {
					gone, cancel := context.WithCancel(ctx)
					cancel() // stop without waiting: this is the run's own goroutine
					require.ErrorIs(t, l.StopRuns(gone), context.Canceled)
				})
			}
		}))
	f := ledgertest.AddPractice(t, l, "Stops")
	for _, name := range []string{"Ann", "Bob", "Cid", "Dee", "Eve"} {
		fam := f.Family(t, name, name+"'s kid")
		f.Visit(t, fam[1], "2026-05-01", "40.00")
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	r, err := l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer})
	require.NoError(t, err)
	r = waitRun(t, l, f.Actor, r.ID)
	require.Equal(t, ledger.RunInterrupted, r.Status)
	require.Equal(t, 2, r.FamiliesDone)
	require.Equal(t, 2, r.Receipts)
	_, err = l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer})
	require.ErrorIs(t, err, ledger.ErrConflict, "a stopped server starts no run")

	// A crash: the run is left RUNNING with nobody holding it. Another run
	// is RUNNING and held (by a live server).
	_, err = db.Exec(`UPDATE runs SET status = 'RUNNING', finished_at = NULL WHERE id = $1`, r.ID)
	require.NoError(t, err)
	next := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	held, err := next.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer,
		GuarantorIDs: []ledger.ID{f.Family(t, "Zed")[0].GuarantorID}})
	require.NoError(t, err)
	held = waitRun(t, next, f.Actor, held.ID)
	_, err = db.Exec(`UPDATE runs SET status = 'RUNNING', finished_at = NULL WHERE id = $1`, held.ID)
	require.NoError(t, err)
	claim, ok, err := f.Store.ClaimRun(ctx, f.Actor.PracticeID, held.ID)
	require.NoError(t, err)
	require.True(t, ok)

	restarted := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	refs, err := restarted.RecoverRuns(ctx)
	require.NoError(t, err)
	require.Equal(t, []ledger.RunRef{{PracticeID: f.Actor.PracticeID, ID: r.ID}}, refs)
	got, err := restarted.Run(ctx, f.Actor, held.ID)
	require.NoError(t, err)
	require.Equal(t, ledger.RunRunning, got.Status, "a run a live server holds is left alone")
	claim.Release()

	_, err = restarted.ResumeRun(ctx, f.Actor, ledger.RunControl{RunID: r.ID})
	require.NoError(t, err)
	r = waitRun(t, restarted, f.Actor, r.ID)
	require.Equal(t, ledger.RunCompleted, r.Status)
	require.Equal(t, 5, r.FamiliesDone)
	require.Equal(t, 5, r.Receipts)
	var posted int
	require.NoError(t, db.Get(&posted, `SELECT count(*) FROM receipts WHERE kind = 'TRANSFER'`))
	require.Equal(t, 5, posted, "no family was balanced twice")
}

// TestRunResumedTheMomentItIsCancelled: a user who resumes a run the
// moment it reports CANCELLED finds it free, because a run gives up its
// claim before its final status can be seen. The window is made certain,
// not left to timing: the run's observer, called from the run's own
// goroutine as soon as the final status has committed, resumes the run
// right there; and it cancels the run again after each family, so the run
// goes through that window once per family before it completes.
func TestRunResumedTheMomentItIsCancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	const n = 6
	var (
		l         *ledger.Ledger
		actor     ledger.Actor
		cancelled int // families done when a cancel was last asked (one run goroutine at a time writes it)
		ended     = make(chan error, 1)
	)
	end := func(err error) {
		select {
		case ended <- err:
		default: // the first outcome is the one reported
		}
	}
	l = ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock), ledger.WithRunBatch(1),
		ledger.WithRunObserver(func(r ledger.Run) {
			switch {
			case r.Status == ledger.RunRunning && r.FamiliesDone > cancelled:
				cancelled = r.FamiliesDone
				if _, err := l.CancelRun(ctx, actor, ledger.RunControl{RunID: r.ID}); err != nil {
					end(fmt.Errorf("cancel after %d families: %w", r.FamiliesDone, err))
				}
			case r.Status == ledger.RunCancelled:
				if _, err := l.ResumeRun(ctx, actor, ledger.RunControl{RunID: r.ID}); err != nil {
					end(fmt.Errorf("resume the moment it was cancelled, after %d families: %w", r.FamiliesDone, err))
				}
			case r.Status == ledger.RunCompleted:
				end(nil)
			case r.Status.Final():
				end(fmt.Errorf("the run ended %s: %s", r.Status, r.Error))
			}
		}))
	f := ledgertest.AddPractice(t, l, "Quick")
	actor = f.Actor
	var lines []ledger.Charge
	for i := range n {
		fam := f.Family(t, fmt.Sprintf("Parent%d", i), "Kid")
		lines = append(lines, f.Visit(t, fam[1], "2026-05-01", "40.00")[0])
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	r, err := l.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodIncomeTransfer, Policy: "fifo"})
	require.NoError(t, err)
	require.NoError(t, <-ended)

	r = waitRun(t, l, f.Actor, r.ID)
	require.Equal(t, ledger.RunCompleted, r.Status)
	require.Equal(t, n, r.FamiliesDone)
	require.Equal(t, n, r.Receipts)
	require.Equal(t, n+1, r.Attempts, "cancelled and resumed after each family")
	for _, c := range lines {
		requireMoney(t, "0.00", owed(t, f, c))
	}
	var posted int
	require.NoError(t, db.Get(&posted, `SELECT count(*) FROM receipts WHERE kind = 'TRANSFER'`))
	require.Equal(t, n, posted, "no family was balanced twice")
}
