package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

// randomFamily builds a family from seed through the ledger's own
// operations: one to three patients; visits with two providers at two
// locations, some lines planned, some with insurance estimates, some with
// negative fees (negative production), some written off by insurance;
// attached and loose adjustments of either sign (some under another
// provider); payments on charges (some forced past what they owe, some under
// another provider than the charge's), unallocated, unearned and
// hidden-unearned money; insurance payments on lines and as claim totals;
// refunds of unallocated money.
type randomFamily struct {
	patients   []ledger.Patient
	charges    []ledger.Charge
	encounters []ledger.ID
}

func newRandomFamily(t *testing.T, f *ledgertest.Practice, provs, locs []ledger.ID, seed uint64) randomFamily {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	names := []string{"Ann", "Ben", "Cy"}[:1+r.IntN(3)]
	fam := randomFamily{patients: f.Family(t, fmt.Sprintf("Seed%d", seed), names[1:]...)}
	day := func() ledger.Date { return ledger.MustDate("2026-01-01").AddDays(r.IntN(150)) }
	cents := func(lo, hi int) ledger.Money { return ledger.Cents(int64(lo*100 + r.IntN((hi-lo)*100+1))) }
	pick := func(ids []ledger.ID) ledger.ID { return ids[r.IntN(len(ids))] }

	for range 1 + r.IntN(4) {
		p := fam.patients[r.IntN(len(fam.patients))]
		d := day()
		in := ledger.NewEncounter{PatientID: p.ID, ProviderID: pick(provs), LocationID: pick(locs), ServiceFrom: &d}
		for range 1 + r.IntN(3) {
			c := ledger.NewCharge{Code: "D0120", Amount: cents(10, 300)}
			switch r.IntN(7) {
			case 0, 1:
				c.InsuranceEstimate = cents(1, 9)
			case 2:
				c.Code, c.Amount = "D9999", cents(1, 120).Neg() // negative production
			}
			if r.IntN(8) == 0 {
				c.Status = ledger.StatusPlanned
			}
			if r.IntN(4) == 0 {
				prov := pick(provs)
				c.ProviderID = &prov
			}
			in.Charges = append(in.Charges, c)
		}
		e, err := f.Ledger.PostEncounter(ctx, f.Actor, in)
		require.NoError(t, err)
		cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
		require.NoError(t, err)
		fam.charges = append(fam.charges, cs...)
		fam.encounters = append(fam.encounters, e.ID)
		for _, c := range cs {
			if c.Status == ledger.StatusCompleted && c.Amount.Sign() > 0 && r.IntN(5) == 0 {
				_, err := f.Ledger.PostInsuranceWriteOff(ctx, f.Actor, ledger.NewInsuranceWriteOff{ChargeID: c.ID, Amount: cents(1, 9)})
				require.NoError(t, err)
			}
		}
	}
	var completed []ledger.Charge
	for _, c := range fam.charges {
		if c.Status == ledger.StatusCompleted {
			completed = append(completed, c)
		}
	}
	// Adjustments.
	for range r.IntN(3) {
		amt := cents(1, 40)
		if r.IntN(2) == 0 {
			amt = amt.Neg()
		}
		in := ledger.NewAdjustment{Amount: amt, ServiceDate: ptr(ledger.MustDate("2026-05-31"))}
		if len(completed) > 0 && r.IntN(2) == 0 {
			c := completed[r.IntN(len(completed))]
			in.AttachedToID = &c.ID
			if r.IntN(3) == 0 {
				prov := pick(provs)
				in.ProviderID = &prov
			}
		} else {
			p := fam.patients[r.IntN(len(fam.patients))]
			prov, loc := pick(provs), pick(locs)
			in.PatientID, in.ProviderID, in.LocationID = &p.ID, &prov, &loc
		}
		_, err := f.Ledger.PostAdjustment(ctx, f.Actor, in)
		require.NoError(t, err)
	}
	// Payments.
	for range r.IntN(5) {
		p := fam.patients[r.IntN(len(fam.patients))]
		var splits []ledger.NewSplit
		var sum ledger.Money
		for range 1 + r.IntN(3) {
			var s ledger.NewSplit
			switch k := r.IntN(6); {
			case k < 2 && len(completed) > 0:
				c := completed[r.IntN(len(completed))]
				s = ledger.NewSplit{Amount: cents(1, 60), ChargeID: &c.ID, Force: true}
				if r.IntN(3) == 0 {
					prov := pick(provs)
					s.ProviderID = &prov
				}
			case k == 2:
				s = ledger.NewSplit{Amount: cents(1, 80)}
			case k == 3:
				s = ledger.NewSplit{Amount: cents(1, 80), UnearnedTypeID: &f.Prepayment}
				if r.IntN(2) == 0 {
					prov := pick(provs)
					s.ProviderID = &prov
				}
			case k == 4:
				s = ledger.NewSplit{Amount: cents(1, 40), UnearnedTypeID: &f.TPPrepay}
			default:
				s = ledger.NewSplit{Amount: cents(1, 80), PatientID: &fam.patients[r.IntN(len(fam.patients))].ID}
			}
			splits = append(splits, s)
			sum = sum.Add(s.Amount)
		}
		d := day()
		_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &p.ID,
			Amount: sum, ReceivedOn: &d, Splits: splits})
		require.NoError(t, err)
		if r.IntN(4) == 0 && splits[0].ChargeID == nil && splits[0].UnearnedTypeID == nil && splits[0].PatientID == nil {
			// Refund part of that unallocated money, from the same place.
			back := ledger.Cents(1 + int64(r.IntN(int(splits[0].Amount.Decimal().Shift(2).IntPart()))))
			_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptRefund, PatientID: &p.ID,
				Amount: back.Neg(), ReceivedOn: &d, Splits: []ledger.NewSplit{{Amount: back.Neg()}}})
			require.NoError(t, err)
		}
	}
	// Insurance pays some claims as a total, and some lines.
	for _, e := range fam.encounters {
		if r.IntN(4) == 0 {
			_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptInsurancePayment, Amount: cents(1, 200), EncounterID: &e})
			if err != nil {
				require.ErrorContains(t, err, "no completed line", "only an encounter of planned lines refuses a claim total")
			}
		}
	}
	for _, c := range completed {
		if r.IntN(5) == 0 {
			_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptInsurancePayment, Amount: ledger.Cents(500),
				Splits: []ledger.NewSplit{{Amount: ledger.Cents(500), ChargeID: &c.ID, Force: true}}})
			require.NoError(t, err)
		}
	}
	return fam
}

// familyState is what the properties compare before and after a transfer.
type familyState struct {
	balance ledger.Balance
	owed    map[ledger.ID]ledger.Money
	pools   map[string]ledger.Money // unallocated and unearned money per patient and type
}

func stateOf(t *testing.T, f *ledgertest.Practice, fam randomFamily) familyState {
	t.Helper()
	ctx := context.Background()
	pid := f.Actor.PracticeID
	st := familyState{owed: map[ledger.ID]ledger.Money{}, pools: map[string]ledger.Money{}}
	bs, err := f.Store.GuarantorBalances(ctx, pid, []ledger.ID{fam.patients[0].GuarantorID})
	require.NoError(t, err)
	st.balance = bs[fam.patients[0].GuarantorID]
	var ids []ledger.ID
	for _, c := range fam.charges {
		ids = append(ids, c.ID)
	}
	cb, err := f.Store.ChargeBalances(ctx, pid, ids)
	require.NoError(t, err)
	for id, b := range cb {
		st.owed[id] = b.Owed
	}
	var pats []ledger.ID
	for _, p := range fam.patients {
		pats = append(pats, p.ID)
	}
	splits, err := f.Store.SplitsOfPatients(ctx, pid, pats)
	require.NoError(t, err)
	for _, s := range splits {
		if s.ChargeID == nil {
			k := s.PatientID.String() + "/" + fmt.Sprint(s.UnearnedTypeID)
			st.pools[k] = st.pools[k].Add(s.Amount)
		}
	}
	return st
}

// TestEngineTransferProperties checks, over random families (seeded) and
// both built-in transfer policies, through the engine and the database:
// the same input gives the same plan and the commit posts the preview; the
// receipt's splits sum to zero in ± pairs; no source is over-drawn and no
// charge over-paid; family totals are unchanged; re-running right after a
// commit proposes nothing. Half the families go through TransferIncome one
// by one, the rest through TransferFamilies in one call.
func TestEngineTransferProperties(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	provs, locs := twoOfEach(t, f)

	for _, policy := range []string{"rigorous", "fifo"} {
		const families = 16
		fams := make([]randomFamily, families)
		before := make([]familyState, families)
		for i := range fams {
			seed := uint64(i + 1)
			if policy == "fifo" {
				seed += 1000
			}
			fams[i] = newRandomFamily(t, f, provs, locs, seed)
			before[i] = stateOf(t, f, fams[i])
		}
		plans := make([]ledger.Plan, families)
		for i, fam := range fams {
			req := ledger.TransferRequest{GuarantorID: fam.patients[0].GuarantorID, Policy: policy}
			p1, err := f.Ledger.PreviewTransfer(ctx, f.Actor, req)
			require.NoError(t, err, "%s family %d", policy, i)
			p2, err := f.Ledger.PreviewTransfer(ctx, f.Actor, req)
			require.NoError(t, err)
			requireSamePlan(t, p1, p2)
			plans[i] = p1
			checkZeroSumPairs(t, p1)
		}
		// The first half one by one, the second half in one batch.
		half := families / 2
		for i := range half {
			res, err := f.Ledger.TransferIncome(ctx, f.Actor, ledger.TransferRequest{GuarantorID: fams[i].patients[0].GuarantorID, Policy: policy})
			require.NoError(t, err, "%s family %d", policy, i)
			requireSamePlan(t, plans[i], res.Plan)
			require.Equal(t, plans[i].Empty(), res.Receipt == nil)
		}
		var gids []ledger.ID
		for _, fam := range fams[half:] {
			gids = append(gids, fam.patients[0].GuarantorID)
		}
		results, err := f.Ledger.TransferFamilies(ctx, f.Actor, ledger.FamilyTransfers{GuarantorIDs: gids, Policy: policy})
		require.NoError(t, err)
		require.Len(t, results, len(gids))
		for j, res := range results {
			require.NoError(t, res.Err)
			require.Equal(t, gids[j], res.GuarantorID)
			requireSamePlan(t, plans[half+j], res.Plan)
			require.Equal(t, res.Plan.Empty(), res.ReceiptID == nil)
		}
		moved := 0
		for i, fam := range fams {
			after := stateOf(t, f, fam)
			b := before[i]
			requireMoney(t, b.balance.Balance.Sub(b.balance.HiddenUnearned).String(), after.balance.Balance.Sub(after.balance.HiddenUnearned),
				"%s family %d: the family's total (hidden unearned included) is unchanged", policy, i)
			for id, o := range b.owed {
				if o.Sign() >= 0 {
					require.GreaterOrEqual(t, after.owed[id].Sign(), 0, "%s family %d: charge %s over-paid (%s → %s)", policy, i, id, o, after.owed[id])
				} else {
					require.GreaterOrEqual(t, after.owed[id].Cmp(o), 0, "%s family %d: charge %s more overpaid", policy, i, id)
				}
			}
			for k, m := range after.pools {
				require.GreaterOrEqual(t, m.Cmp(b.pools[k].Min(ledger.Money{})), 0, "%s family %d: %s over-drawn (%s → %s)", policy, i, k, b.pools[k], m)
			}
			again, err := f.Ledger.PreviewTransfer(ctx, f.Actor, ledger.TransferRequest{GuarantorID: fam.patients[0].GuarantorID, Policy: policy})
			require.NoError(t, err)
			require.Empty(t, again.Moves, "%s family %d: a re-run right after the commit proposes nothing", policy, i)
			if !plans[i].Empty() {
				moved++
			}
		}
		require.Greater(t, moved, families/2, "%s: most random families have money to move", policy)
		// A second batch over every family moves nothing.
		var all []ledger.ID
		for _, fam := range fams {
			all = append(all, fam.patients[0].GuarantorID)
		}
		results, err = f.Ledger.TransferFamilies(ctx, f.Actor, ledger.FamilyTransfers{GuarantorIDs: all, Policy: policy})
		require.NoError(t, err)
		for _, res := range results {
			require.True(t, res.Plan.Empty())
			require.Nil(t, res.ReceiptID)
		}
	}
}

// checkZeroSumPairs: a transfer's splits are ± pairs, one per move, each
// summing to zero.
func checkZeroSumPairs(t *testing.T, p ledger.Plan) {
	t.Helper()
	require.Len(t, p.Splits, 2*len(p.Moves))
	var sum ledger.Money
	for i, m := range p.Moves {
		from, to := p.Splits[2*i], p.Splits[2*i+1]
		requireMoney(t, m.Amount.Neg().String(), from.Amount)
		requireMoney(t, m.Amount.String(), to.Amount)
		require.Equal(t, m.Stage, from.Stage)
		sum = sum.Add(from.Amount).Add(to.Amount)
	}
	requireMoney(t, "0.00", sum)
	requireMoney(t, "0.00", p.Total)
}

// TestEngineConcurrentTransfersAndReceipt: two transfers and an
// auto-split receipt on the same family at once never double-spend a
// credit: every commit re-plans under the family's lock.
func TestEngineConcurrentTransfersAndReceipt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	for round := range 4 {
		fam := f.Family(t, fmt.Sprintf("Race%d", round), "Kid")
		g, kid := fam[0], fam[1]
		cs := f.Visit(t, kid, "2026-05-01", "60.00", "80.00")
		f.Pay(t, g, "100.00", ledgertest.Unallocated("100.00"))
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 3)
		var receipts [2]*ledger.Receipt
		for i, policy := range []string{"rigorous", "fifo"} {
			wg.Go(func() {
				<-start
				res, err := f.Ledger.TransferIncome(ctx, f.Actor, ledger.TransferRequest{GuarantorID: g.GuarantorID, Policy: policy})
				errs[i], receipts[i] = err, res.Receipt
			})
		}
		wg.Go(func() {
			<-start
			_, _, errs[2] = f.Ledger.PostAllocatedReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment,
				PatientID: &kid.ID, Amount: ledger.MustMoney("50.00")}, ledger.Allocation{Policy: "fifo"})
		})
		close(start)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.True(t, receipts[0] == nil || receipts[1] == nil, "round %d: only one transfer finds the credit to move", round)
		// The guarantor's 100.00 was spent once: it is gone, the kid's
		// lines are paid, and the family holds the receipt's leftover.
		requireMoney(t, "0.00", patientBalance(t, f, g).Unallocated, "round %d", round)
		for _, c := range cs {
			requireMoney(t, "0.00", owed(t, f, c), "round %d", round)
		}
		fb := familyBalance(t, f, g)
		requireMoney(t, "-10.00", fb.Balance, "round %d: 140.00 owed − 100.00 − 50.00", round)
		requireMoney(t, "10.00", fb.Credit, "round %d", round)
	}
}

// TestEngineOperationsOnRandomFamilies: over random families (negative
// production, adjustments of either sign under any provider, forced and
// misallocated payments, hidden unearned, planned lines, insurance), every
// planning operation of the built-in transfer policies — auto-split,
// allocate unearned, both balancer methods, credit management — either
// plans or is refused by a policy requirement (RULE_REJECTED) or, for
// recreate-splits, by its documented all-or-nothing rule; none answers a
// broken invariant.
func TestEngineOperationsOnRandomFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	provs, locs := twoOfEach(t, f)
	allowed := func(err error) bool {
		var rej *rules.RejectedError
		return err == nil || errors.As(err, &rej)
	}
	negatives := 0
	for seed := uint64(2000); seed < 2012; seed++ {
		fam := newRandomFamily(t, f, provs, locs, seed)
		g := fam.patients[0].GuarantorID
		var completed []ledger.ID
		for _, c := range fam.charges {
			if c.Status == ledger.StatusCompleted {
				completed = append(completed, c.ID)
			}
			if c.Amount.Sign() < 0 {
				negatives++
			}
		}
		for _, policy := range []string{"rigorous", "fifo"} {
			for _, params := range []map[string]string{nil, {"negativeProductionIsIncome": "false"}} {
				what := fmt.Sprintf("seed %d, %s %v", seed, policy, params)
				_, err := f.Ledger.PreviewReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &fam.patients[0].ID,
					Amount: ledger.MustMoney("75.00")}, ledger.Allocation{Policy: policy, Params: params})
				require.True(t, allowed(err), "%s: auto-split: %v", what, err)
				if len(completed) > 0 {
					_, err = f.Ledger.AllocateUnearned(ctx, f.Actor, ledger.UnearnedAllocation{GuarantorID: g, ChargeIDs: completed,
						Preview: true, Policy: policy, Params: params})
					require.True(t, allowed(err), "%s: allocate unearned: %v", what, err)
				}
				for _, m := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
					_, rf, err := f.Ledger.BalanceFamily(ctx, f.Actor, ledger.FamilyBalancing{GuarantorID: g, Method: m, Policy: policy,
						Params: params, Preview: true})
					require.NoError(t, err, "%s: %s", what, m)
					if rf.Status == ledger.FamilyFailed {
						require.True(t, strings.HasPrefix(rf.Reason, "the policy refused the plan") || strings.HasPrefix(rf.Reason, "negative payment"),
							"%s: %s failed the family: %s", what, m, rf.Reason)
					}
				}
			}
		}
		run, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunCreditManagement, Preview: true,
			GuarantorIDs: []ledger.ID{g}, Note: "property"})
		require.NoError(t, err)
		run = waitRun(t, f.Ledger, f.Actor, run.ID)
		fams, err := f.Ledger.RunFamilies(ctx, f.Actor, run.ID, ledger.RunFamilyFilter{}, ledger.Page{First: 10})
		require.NoError(t, err)
		for _, rf := range fams.Rows {
			require.NotEqual(t, ledger.FamilyFailed, rf.Status, "seed %d: credit management: %s", seed, rf.Reason)
		}
	}
	require.Greater(t, negatives, 2, "the families hold negative production")
}

// twoOfEach gives the practice a second provider and location, and returns
// both of each (the fixture's first).
func twoOfEach(t *testing.T, f *ledgertest.Practice) (provs, locs []ledger.ID) {
	t.Helper()
	ctx := context.Background()
	p2, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Two"})
	require.NoError(t, err)
	l2, err := f.Ledger.CreateLocation(ctx, f.Actor, ledger.NewLocation{Name: "South"})
	require.NoError(t, err)
	return []ledger.ID{f.Provider, p2.ID}, []ledger.ID{f.Location, l2.ID}
}
