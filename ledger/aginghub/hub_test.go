package aginghub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

func agingScenario(t *testing.T) *ledgertest.AgingScenario {
	t.Helper()
	return ledgertest.BuildAging(t, ledgertest.NewPractice(t, ledgertest.NewDB(t)))
}

// requireMoney compares amounts exactly.
func requireMoney(t *testing.T, want string, got ledger.Money) {
	t.Helper()
	require.Equal(t, want, got.String())
}

// hubWait bounds each wait for a report, so a missing one fails the test.
const hubWait = 30 * time.Second

func nextReport(t *testing.T, ch <-chan ledger.AgingReport) ledger.AgingReport {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "the watch ended")
		return r
	case <-time.After(hubWait):
		t.Fatal("no report")
		return ledger.AgingReport{}
	}
}

func requireEnded(t *testing.T, ch <-chan ledger.AgingReport) {
	t.Helper()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(hubWait):
			t.Fatal("the watch did not end")
		}
	}
}

func watch(t *testing.T, h *aginghub.Hub, ctx context.Context, a ledger.Actor) <-chan ledger.AgingReport {
	t.Helper()
	ch, err := h.Watch(ctx, a, ledger.AgingQuery{})
	require.NoError(t, err)
	return ch
}

// Commits that land before the hub hears of them are reported once, as
// one report, however many change signals follow: the next report after
// them is the one for a later commit.
func TestAgingHubCoalescesChanges(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	h := aginghub.New(s.Ledger)
	defer h.Close()
	ctx := context.Background()
	a := watch(t, h, ctx, s.Actor)
	requireMoney(t, "238.00", nextReport(t, a).Summary.Total)
	b := watch(t, h, ctx, s.Actor) // the same group: one computation per change for both
	requireMoney(t, "238.00", nextReport(t, b).Summary.Total)

	for range 20 {
		s.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "1.00", "2026-06-15", ledgertest.Unallocated("1.00"))
	}
	for range 20 {
		h.Changed(s.Actor.PracticeID)
	}
	requireMoney(t, "218.00", nextReport(t, a).Summary.Total)

	// A change that leaves the report as it was sends nothing.
	_, err := s.Ledger.CreateLocation(ctx, s.Actor, ledger.NewLocation{Name: "Elsewhere"})
	require.NoError(t, err)
	h.Changed(s.Actor.PracticeID)
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "2.00", "2026-06-15", ledgertest.Unallocated("2.00"))
	h.Changed(s.Actor.PracticeID)
	requireMoney(t, "216.00", nextReport(t, a).Summary.Total)

	// b did not take its reports: only the latest waits for it.
	requireMoney(t, "216.00", nextReport(t, b).Summary.Total)
	select {
	case r := <-b:
		t.Fatalf("a stale report was kept: %s", r.Summary.Total)
	default:
	}
}

func TestAgingHubPracticesAreSeparate(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	other := ledgertest.AddPractice(t, s.Ledger, "Other")
	pat := other.Family(t, "Olga")[0]
	h := aginghub.New(s.Ledger)
	defer h.Close()
	ch := watch(t, h, context.Background(), other.Actor)
	requireMoney(t, "0.00", nextReport(t, ch).Summary.Total)

	s.Receive(t, ledger.ReceiptPatientPayment, &s.Kid, "5.00", "2026-06-15", ledgertest.Unallocated("5.00"))
	h.Changed(s.Actor.PracticeID)
	other.Visit(t, pat, "2026-06-01", "70.00")
	h.Changed(other.Actor.PracticeID)
	requireMoney(t, "70.00", nextReport(t, ch).Summary.Total)

	// After a reconnection every practice is looked at again.
	other.Visit(t, pat, "2026-06-02", "5.00")
	h.ChangedAll()
	requireMoney(t, "75.00", nextReport(t, ch).Summary.Total)
}

func TestAgingHubWatchesEnd(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	h := aginghub.New(s.Ledger)
	ctx, cancel := context.WithCancel(context.Background())
	byCtx := watch(t, h, ctx, s.Actor)
	byClose := watch(t, h, context.Background(), s.Actor)
	nextReport(t, byCtx)
	require.Equal(t, 2, h.Watchers())

	cancel()
	requireEnded(t, byCtx)
	require.Eventually(t, func() bool { return h.Watchers() == 1 }, hubWait, time.Millisecond)

	h.Close()
	requireEnded(t, byClose)
	require.Equal(t, 0, h.Watchers())
	requireEnded(t, watch(t, h, context.Background(), s.Actor)) // a closed hub ends new watches at once

	_, err := aginghub.New(s.Ledger).Watch(context.Background(), s.Actor, ledger.AgingQuery{Basis: "BILL_DATE"})
	var ie *ledger.InputError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "basis", ie.Field)
}
