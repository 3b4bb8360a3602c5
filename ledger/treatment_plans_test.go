package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// plannedFamily is a patient with planned procedures, a practice that takes
// prepayments on them, and treatment-plan money to attach.
func plannedFamily(t *testing.T, fees ...string) (*ledgertest.Practice, ledger.Patient, []ledger.Charge) {
	t.Helper()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	allow := true
	_, err := f.Ledger.UpdatePracticeSettings(ctx, f.Actor, ledger.PracticeSettings{PrePayAllowedForTpProcs: &allow})
	require.NoError(t, err)
	pat := f.Family(t, "Plan")[0]
	d := ledger.MustDate("2026-07-01")
	in := ledger.NewEncounter{PatientID: pat.ID, ProviderID: f.Provider, LocationID: f.Location}
	for i, fee := range fees {
		in.Charges = append(in.Charges, ledger.NewCharge{Code: fmt.Sprintf("D27%02d", i), Amount: ledger.MustMoney(fee), Status: ledger.StatusPlanned, ServiceDate: &d})
	}
	enc, err := f.Ledger.PostEncounter(ctx, f.Actor, in)
	require.NoError(t, err)
	lines, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{enc.ID})
	require.NoError(t, err)
	return f, pat, lines
}

// TestAttachRace: concurrent attachments compete for the same prepayment
// under the family's lock: exactly as much is attached as the patient
// holds, never more, and every loser is refused as bad input.
func TestAttachRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, pat, lines := plannedFamily(t, "900.00")
	f.Pay(t, pat, "100.00", ledgertest.Unearned("100.00", f.TPPrepay))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Ledger.AttachPrepayment(ctx, f.Actor, ledger.PrepaymentAttachment{ChargeID: lines[0].ID, Amount: ledger.MustMoney("60.00")})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		var in *ledger.InputError
		require.ErrorAs(t, err, &in)
		require.Equal(t, "amount", in.Field)
	}
	require.Equal(t, 1, won)
	b, err := f.Store.ChargeBalances(ctx, f.Actor.PracticeID, []ledger.ID{lines[0].ID})
	require.NoError(t, err)
	requireMoney(t, "60.00", b[lines[0].ID].Prepaid)
}

// TestTreatmentPlanMoves runs random attachments, detachments, payments,
// completions and removals over a patient's planned procedures. Whatever
// is accepted or refused (refusals are bad input only), the ledger holds:
// no planned line holds less than nothing or more than its fee, a
// completed or removed one holds nothing, the patient's treatment-plan
// money (attached or not) is all in hiddenUnearned and never below zero in
// a bucket, and the moves are zero-sum: the patient's money is what was
// paid.
func TestTreatmentPlanMoves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, pat, lines := plannedFamily(t, "300.00", "150.00", "80.00")
	rng := rand.New(rand.NewPCG(17, 4))
	amount := func() ledger.Money { return ledger.MustMoney(fmt.Sprintf("%d.%02d", rng.IntN(160), rng.IntN(100))) }
	paid := ledger.Money{}
	done := map[int]int{}
	defer func() { t.Logf("accepted per operation: %v", done) }()
	for step := range 120 {
		c := lines[rng.IntN(len(lines))]
		var err error
		op := rng.IntN(6)
		switch op {
		case 0:
			m := amount().Add(ledger.MustMoney("0.01"))
			f.Pay(t, pat, m.String(), ledgertest.Unearned(m.String(), f.TPPrepay))
			paid = paid.Add(m)
		case 1, 2:
			_, err = f.Ledger.AttachPrepayment(ctx, f.Actor, ledger.PrepaymentAttachment{ChargeID: c.ID, Amount: amount()})
		case 3:
			m := amount()
			_, err = f.Ledger.DetachPrepayment(ctx, f.Actor, ledger.PrepaymentDetachment{ChargeID: c.ID, Amount: &m})
		case 4:
			if step < 90 {
				continue // complete late, so the lines take money first
			}
			_, err = f.Ledger.CompletePlanned(ctx, f.Actor, ledger.PlannedCompletion{ChargeID: c.ID})
		case 5:
			if step < 60 {
				continue
			}
			if rng.IntN(2) == 0 { // the reference's steps: detach, then remove
				_, _ = f.Ledger.DetachPrepayment(ctx, f.Actor, ledger.PrepaymentDetachment{ChargeID: c.ID})
			}
			_, err = f.Ledger.RemovePlanned(ctx, f.Actor, ledger.PlannedRemoval{ChargeID: c.ID})
		}
		if err != nil {
			var in *ledger.InputError
			require.ErrorAs(t, err, &in, "step %d: only bad input is refused: %v", step, err)
		} else {
			done[op]++
		}
		requirePlanInvariants(t, f, pat, lines, paid)
	}
}

// requirePlanInvariants checks what TestTreatmentPlanMoves promises.
func requirePlanInvariants(t *testing.T, f *ledgertest.Practice, pat ledger.Patient, lines []ledger.Charge, paid ledger.Money) {
	t.Helper()
	ctx := context.Background()
	pid := f.Actor.PracticeID
	ids := make([]ledger.ID, len(lines))
	for i, c := range lines {
		ids[i] = c.ID
	}
	bal, err := f.Store.ChargeBalances(ctx, pid, ids)
	require.NoError(t, err)
	outs, err := f.Store.PlannedOutcomes(ctx, pid, ids)
	require.NoError(t, err)
	closed := map[ledger.ID]bool{}
	for _, o := range outs {
		closed[o.ChargeID] = true
	}
	for _, c := range lines {
		pre := bal[c.ID].Prepaid
		require.True(t, pre.Sign() >= 0 && pre.Cmp(c.Amount) <= 0, "%s holds %s of a %s fee", c.Code, pre, c.Amount)
		if closed[c.ID] {
			require.True(t, pre.IsZero(), "a completed or removed line holds nothing")
		}
	}
	splits, err := f.Store.SplitsOfPatients(ctx, pid, []ledger.ID{pat.ID})
	require.NoError(t, err)
	var total, tp ledger.Money
	loose := map[string]ledger.Money{}
	for _, s := range splits {
		total = total.Add(s.Amount)
		if s.UnearnedTypeID != nil && *s.UnearnedTypeID == f.TPPrepay {
			tp = tp.Add(s.Amount)
			if s.ChargeID == nil {
				k := fmt.Sprint(s.ProviderID, s.LocationID)
				loose[k] = loose[k].Add(s.Amount)
			}
		}
	}
	requireMoney(t, paid.String(), total, "moves are zero-sum")
	for k, m := range loose {
		require.True(t, m.Sign() >= 0, "bucket %s holds %s", k, m)
	}
	pb, err := f.Store.PatientBalances(ctx, pid, []ledger.ID{pat.ID})
	require.NoError(t, err)
	requireMoney(t, tp.String(), pb[pat.ID].HiddenUnearned)
}
