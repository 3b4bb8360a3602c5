package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// A statement's previous balance is its new balance less the period's
// activity (one aging report, not two): on a practice after random
// activity — visits, payments on lines, on nothing and on the hidden
// treatment-plan type, insurance payments, reversals, adjustments,
// write-offs, bills to the patient and back, treatment-plan moves with
// their prepayments, imports, transfers — it equals aging's total as of the
// day before the period, for every family and several periods, in a single
// statement and in statement runs (a first run as of an earlier date, then
// one whose periods start after it). A run filtered to a provider states
// the families' whole balances.
func TestStatementPreviousBalanceIsAging(t *testing.T) {
	t.Parallel()
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			w := newAgingWorld(t, seed)
			w.chrono = true
			kinds := []string{"visit", "pay", "insurance", "reverse", "adjust", "writeoff", "plan", "bill", "import"}
			for i := 0; i < 120 || slices.ContainsFunc(kinds, func(k string) bool { return w.done[k] == 0 }); i++ {
				require.Less(t, i, 500, "not every kind of operation succeeded: %v", w.done)
				w.step()
			}
			t.Logf("operations: %v", w.done)
			for range 4 {
				w.checkStatements(*w.date())
			}
			w.checkStatements(ledger.Date{Year: ledgertest.Today.Year, Month: ledgertest.Today.Month, Day: 1})
			w.checkRuns(*w.date())
		})
	}
}

// familyTotals is aging's total of every family as of the date.
func (w *agingWorld) familyTotals(on ledger.Date) map[ledger.ID]ledger.Money {
	rep, err := w.f.Ledger.Aging(context.Background(), w.f.Actor, ledger.AgingQuery{AsOf: &on, CreditsToOldest: true, Page: ledger.Page{First: 1000}})
	require.NoError(w.t, err)
	require.False(w.t, rep.HasNext)
	out := map[ledger.ID]ledger.Money{}
	for _, r := range rep.Rows {
		out[r.Key] = r.Total
	}
	return out
}

// checkStatements compares every family's statement from `from` (to
// today) with aging as of the day before.
func (w *agingWorld) checkStatements(from ledger.Date) {
	before, now := w.familyTotals(from.AddDays(-1)), w.familyTotals(ledgertest.Today)
	gids := map[ledger.ID]bool{}
	for g := range before {
		gids[g] = true
	}
	for g := range now {
		gids[g] = true
	}
	for g := range gids {
		st, err := w.f.Ledger.Statement(context.Background(), w.f.Actor, ledger.StatementQuery{GuarantorID: g, From: &from})
		require.NoError(w.t, err)
		require.Equal(w.t, before[g].String(), st.PreviousBalance.String(), "family %s from %s", g, from)
		require.Equal(w.t, now[g].String(), st.NewBalance.String(), "family %s", g)
	}
}

// checkRuns records a run as of `first`, then previews one as of today:
// each statement's previous balance is aging's the day before its period,
// and the second run's, for a family the first stated, is what the first
// stated as its new balance. A preview filtered to a provider states the
// families' whole balances.
func (w *agingWorld) checkRuns(first ledger.Date) {
	ctx, l, a := context.Background(), w.f.Ledger, w.f.Actor
	everyone := ledger.MustMoney("-99999.99")
	check := func(run ledger.StatementRun) {
		require.NotEmpty(w.t, run.Statements)
		totals := map[ledger.Date]map[ledger.ID]ledger.Money{}
		for _, s := range run.Statements {
			if totals[s.From] == nil {
				totals[s.From] = w.familyTotals(s.From.AddDays(-1))
			}
			require.Equal(w.t, totals[s.From][s.GuarantorID].String(), s.PreviousBalance.String(), "family %s from %s", s.GuarantorID, s.From)
		}
	}
	r1, err := l.RunStatements(ctx, a, ledger.StatementRunRequest{AsOf: &first, MinBalance: &everyone})
	require.NoError(w.t, err)
	check(r1)
	r2, err := l.RunStatements(ctx, a, ledger.StatementRunRequest{MinBalance: &everyone, Preview: true})
	require.NoError(w.t, err)
	check(r2)
	stated := map[ledger.ID]ledger.StatementRecord{}
	for _, s := range r1.Statements {
		stated[s.GuarantorID] = s
	}
	for _, s := range r2.Statements {
		if prev, ok := stated[s.GuarantorID]; ok {
			require.Equal(w.t, first.AddDays(1), s.From)
			require.Equal(w.t, prev.NewBalance.String(), s.PreviousBalance.String(), "family %s", s.GuarantorID)
		}
	}
	now := w.familyTotals(ledgertest.Today)
	r3, err := l.RunStatements(ctx, a, ledger.StatementRunRequest{MinBalance: &everyone, ProviderID: &w.provs[1], Preview: true})
	require.NoError(w.t, err)
	check(r3)
	for _, s := range r3.Statements {
		require.Equal(w.t, now[s.GuarantorID].String(), s.NewBalance.String(), "family %s: its whole balance", s.GuarantorID)
	}
}
