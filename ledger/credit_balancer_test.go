package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

// receive posts a receipt of kind on p, dated on, whose one split is
// unallocated.
func receive(t *testing.T, f *ledgertest.Practice, p ledger.Patient, kind ledger.ReceiptKind, on, amount string) ledger.Receipt {
	t.Helper()
	d := ledger.MustDate(on)
	r, err := f.Ledger.PostReceipt(context.Background(), f.Actor, ledger.NewReceipt{Kind: kind, PatientID: &p.ID,
		Amount: ledger.MustMoney(amount), ReceivedOn: &d, Splits: []ledger.NewSplit{ledgertest.Unallocated(amount)}})
	require.NoError(t, err)
	return r
}

// unallocated is the patient's unallocated money.
func unallocated(t *testing.T, f *ledgertest.Practice, p ledger.Patient) ledger.Money {
	t.Helper()
	var s string
	require.NoError(t, f.Store.DB().Get(&s, `SELECT coalesce(sum(amount), 0)::numeric(14,2)::text FROM splits
		WHERE practice_id = $1 AND patient_id = $2 AND charge_id IS NULL AND unearned_type_id IS NULL`, f.Actor.PracticeID, p.ID))
	return ledger.MustMoney(s)
}

// TestRecreateSplitsNegativePayments (docs/allocation.md §3.6):
// a refund is offset by an equal positive payment (both stay as they are)
// or goes onto a negative adjustment of its amount; every other payment's
// unallocated money is re-split onto production, oldest line first, dated
// with the payment, which keeps its date and amount. The family's total
// does not change, and a second run proposes nothing.
func TestRecreateSplitsNegativePayments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	ann := f.Family(t, "Ann")[0]
	first := f.Visit(t, ann, "2026-03-01", "100.00")[0]
	second := f.Visit(t, ann, "2026-04-01", "50.00")[0]
	on := ledger.MustDate("2026-04-02")
	adj, err := f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{PatientID: &ann.ID, Amount: ledger.MustMoney("-30.00"),
		Code: "COURTESY", ServiceDate: &on})
	require.NoError(t, err)
	pay := receive(t, f, ann, ledger.ReceiptPatientPayment, "2026-03-10", "80.00")
	refund := receive(t, f, ann, ledger.ReceiptRefund, "2026-03-20", "-20.00")
	offset := receive(t, f, ann, ledger.ReceiptPatientPayment, "2026-03-25", "20.00")
	onAdj := receive(t, f, ann, ledger.ReceiptRefund, "2026-04-03", "-30.00")
	before := guarantorBalance(t, f, ann.GuarantorID)
	requireMoney(t, "70.00", before.Balance) // 150.00 - 30.00 of production, 50.00 received net

	in := ledger.FamilyBalancing{GuarantorID: ann.GuarantorID, Method: ledger.MethodRecreateSplits, Note: "recreate"}
	prev := in
	prev.Preview = true
	_, pfam, err := f.Ledger.BalanceFamily(ctx, f.Actor, prev)
	require.NoError(t, err)
	_, fam, err := f.Ledger.BalanceFamily(ctx, f.Actor, in)
	require.NoError(t, err)
	require.Equal(t, ledger.FamilyChanged, fam.Status, fam.Reason)
	requireMoney(t, pfam.AmountMoved.String(), fam.AmountMoved, "the preview said what the commit did")

	pays, err := fam.Payments()
	require.NoError(t, err)
	byID := map[ledger.ID]ledger.ResplitPayment{}
	for _, p := range pays {
		byID[p.ReceiptID] = p
	}
	require.Len(t, byID, 4)
	require.Equal(t, ledger.ResplitToProduction, byID[pay.ID].Action)
	requireMoney(t, "80.00", byID[pay.ID].ToProduction, "the 80.00 payment's unallocated money goes onto the lines")
	require.Equal(t, "2026-03-10", byID[pay.ID].ReceivedOn.String(), "its original date")
	requireMoney(t, "80.00", byID[pay.ID].Amount, "its original amount")
	require.Equal(t, ledger.ResplitPaired, byID[refund.ID].Action)
	require.Equal(t, &offset.ID, byID[refund.ID].PairedWith)
	require.Equal(t, ledger.ResplitPaired, byID[offset.ID].Action)
	require.Equal(t, ledger.ResplitOnAdjustment, byID[onAdj.ID].Action)
	require.Equal(t, &adj.ID, byID[onAdj.ID].AdjustmentID)

	requireMoney(t, "20.00", owed(t, f, first), "the oldest line took the 80.00")
	requireMoney(t, "50.00", owed(t, f, second))
	requireMoney(t, "0.00", owed(t, f, adj), "the refund went onto the adjustment")
	requireMoney(t, "0.00", unallocated(t, f, ann), "the paired refund and payment net out; nothing else is left unallocated")
	requireMoney(t, before.Balance.String(), guarantorBalance(t, f, ann.GuarantorID).Balance, "the family's total is unchanged")

	// The re-split receipts are zero-sum, dated with their payments, and
	// linked to them; the payments are as they were.
	for _, id := range fam.ReceiptIDs {
		var row struct {
			Kind       string `db:"kind"`
			Amount     string `db:"amount"`
			ReceivedOn string `db:"received_on"`
			Original   string `db:"original_id"`
			Orig       string `db:"orig_on"`
		}
		require.NoError(t, f.Store.DB().Get(&row, `
			SELECT r.kind, r.amount::text, r.received_on::text, o.id::text AS original_id, o.received_on::text AS orig_on
			  FROM receipts r JOIN reallocations x ON x.practice_id = r.practice_id AND x.receipt_id = r.id
			  JOIN receipts o ON o.practice_id = x.practice_id AND o.id = x.original_receipt_id
			 WHERE r.practice_id = $1 AND r.id = $2`, f.Actor.PracticeID, id))
		require.Equal(t, "TRANSFER", row.Kind)
		require.Equal(t, "0.00", row.Amount)
		require.Equal(t, row.Orig, row.ReceivedOn, "a re-split is dated with its payment")
	}
	rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, []ledger.ID{pay.ID})
	require.NoError(t, err)
	requireMoney(t, "80.00", rs[0].Amount)

	_, again, err := f.Ledger.BalanceFamily(ctx, f.Actor, in)
	require.NoError(t, err)
	require.Equal(t, ledger.FamilyUnchanged, again.Status, "a second run proposes nothing: %s", again.Reason)
	require.Empty(t, again.ReceiptIDs)
}

// TestRecreateSplitsFailingFamilyLeavesOthers: a refund nothing offsets
// fails its family, which posts nothing; the practice-wide run goes on and
// balances the others (all or nothing per family, never per run).
func TestRecreateSplitsFailingFamilyLeavesOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	bad := f.Family(t, "Bo")[0]
	f.Visit(t, bad, "2026-03-01", "40.00")
	receive(t, f, bad, ledger.ReceiptPatientPayment, "2026-03-02", "25.00")
	receive(t, f, bad, ledger.ReceiptRefund, "2026-03-05", "-10.00")
	good := f.Family(t, "Gil")[0]
	line := f.Visit(t, good, "2026-03-01", "40.00")[0]
	receive(t, f, good, ledger.ReceiptPatientPayment, "2026-03-02", "25.00")

	r, err := f.Ledger.StartRun(ctx, f.Actor, ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.MethodRecreateSplits})
	require.NoError(t, err)
	r = waitRun(t, f.Ledger, f.Actor, r.ID)
	require.Equal(t, ledger.RunCompleted, r.Status, r.Error)
	require.Equal(t, 1, r.FamiliesFailed)
	require.Equal(t, 1, r.FamiliesChanged)
	fams := families(t, f.Ledger, f.Actor, r.ID)
	require.Equal(t, ledger.FamilyFailed, fams[bad.GuarantorID].Status)
	require.Contains(t, fams[bad.GuarantorID].Reason, "negative payment")
	require.Empty(t, fams[bad.GuarantorID].ReceiptIDs)
	requireMoney(t, "15.00", unallocated(t, f, bad), "the failed family is as it was")
	requireMoney(t, "15.00", owed(t, f, line), "the other family was balanced")
	requireMoney(t, "0.00", unallocated(t, f, good))
}

// TestBalancerPlansAreDeterministic (invariant 8): the same ledger and
// policy version give the same plan, byte for byte, for both methods.
func TestBalancerPlansAreDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Dee", "Dot", "Dan")
	for i, p := range fam {
		f.Visit(t, p, "2026-02-0"+string(rune('1'+i)), "35.00", "15.00")
	}
	receive(t, f, fam[0], ledger.ReceiptPatientPayment, "2026-02-10", "60.00")
	receive(t, f, fam[2], ledger.ReceiptPatientPayment, "2026-02-11", "45.00")
	for _, m := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
		var got [][]byte
		for range 2 {
			_, rf, err := f.Ledger.BalanceFamily(ctx, f.Actor, ledger.FamilyBalancing{GuarantorID: fam[0].GuarantorID, Method: m,
				Policy: "fifo", Preview: true})
			require.NoError(t, err)
			plans, err := rf.Plans()
			require.NoError(t, err)
			require.NotEmpty(t, plans, m)
			b, err := json.Marshal(plans)
			require.NoError(t, err)
			got = append(got, b)
		}
		require.Equal(t, string(got[0]), string(got[1]), m)
	}
}

// TestBalancerIncomeTransferGolden (docs/allocation.md §7): the worked
// transfer examples (Ex 7-12 and the edge cases of
// rules/testdata/golden), each loaded as a family and balanced with
// INCOME_TRANSFER under its policy (rigorous or fifo): the preview proposes
// the scenario's splits; the commit posts them as one zero-sum TRANSFER
// receipt; the family's total is unchanged (invariant 5); balancing again
// proposes nothing (invariant 6). A plan the policy refuses fails the
// family, with the policy's reason, and posts nothing.
func TestBalancerIncomeTransferGolden(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	l := ledger.New(ledgertest.NewPractice(t, db).Store, ledger.WithClock(ledgertest.Clock))
	ran := 0
	for file, g := range loadGolden(t) {
		for _, policy := range g.Policies {
			if policy != "fifo" && policy != "rigorous" {
				continue
			}
			for _, sc := range g.Scenarios {
				req := sc.Input.Request
				if req.Operation != rules.Transfer || req.Scope == rules.ScopePatient || req.PreferPatientID != "" {
					continue
				}
				if why := ledgertest.Representable(sc.Input) + ledgertest.UnsupportedRequest(policy, sc.Input); why != "" {
					continue
				}
				ran++
				t.Run(file+"/"+policy+"/"+sc.Name, func(t *testing.T) { balanceGolden(t, l, policy, sc) })
			}
		}
	}
	require.GreaterOrEqual(t, ran, 8, "the worked transfer examples run through the balancer")
}

func balanceGolden(t *testing.T, l *ledger.Ledger, policy string, sc rules.Scenario) {
	ctx := context.Background()
	s := ledgertest.LoadScenario(t, l, sc.Input)
	req := sc.Input.Request
	asOf := ledger.MustDate(req.AsOf.String())
	var gid ledger.ID
	for _, p := range sc.Input.Patients {
		if p.ID == req.PatientID || req.PatientID == "" {
			gid = *s.ID(p.GuarantorID)
			break
		}
	}
	total := func() ledger.Money {
		b, err := s.Store.GuarantorBalances(ctx, s.Actor.PracticeID, []ledger.ID{gid})
		require.NoError(t, err)
		return b[gid].Balance.Sub(b[gid].HiddenUnearned) // hidden unearned is the family's money too
	}
	before := total()
	in := ledger.FamilyBalancing{GuarantorID: gid, Method: ledger.MethodIncomeTransfer, Policy: policy, Params: req.Params, AsOf: &asOf, Note: "balance"}
	prev := in
	prev.Preview = true
	_, pf, err := l.BalanceFamily(ctx, s.Actor, prev)
	require.NoError(t, err)
	if sc.Expect.Rejected != "" {
		require.Equal(t, ledger.FamilyFailed, pf.Status)
		_, cf, err := l.BalanceFamily(ctx, s.Actor, in)
		require.NoError(t, err)
		require.Equal(t, ledger.FamilyFailed, cf.Status)
		require.Empty(t, cf.ReceiptIDs)
		require.NotContains(t, cf.Reason, "internal error", "the reason is the policy's")
		require.Contains(t, cf.Reason, sc.Expect.Rejected)
		requireMoney(t, before.String(), total())
		return
	}
	require.NotEqual(t, ledger.FamilyFailed, pf.Status, pf.Reason)
	plans, err := pf.Plans()
	require.NoError(t, err)
	if len(sc.Expect.Splits) == 0 {
		require.Empty(t, plans)
		return
	}
	require.Len(t, plans, 1)
	require.Equal(t, expectedSplits(sc.Expect.Splits), plannedSplits(s, plans[0].Splits, sc.Expect.Splits))

	_, cf, err := l.BalanceFamily(ctx, s.Actor, in)
	require.NoError(t, err)
	require.Equal(t, ledger.FamilyChanged, cf.Status, cf.Reason)
	requireMoney(t, pf.AmountMoved.String(), cf.AmountMoved, "the preview reported what the commit did")
	require.Len(t, cf.ReceiptIDs, 1)
	rs, err := s.Store.Receipts(ctx, s.Actor.PracticeID, cf.ReceiptIDs)
	require.NoError(t, err)
	require.Equal(t, ledger.ReceiptTransfer, rs[0].Kind)
	requireMoney(t, "0.00", rs[0].Amount)
	require.Equal(t, "balance", rs[0].Note)
	require.Equal(t, asOf, rs[0].ReceivedOn)
	posted, err := s.Store.SplitsOfReceipts(ctx, s.Actor.PracticeID, cf.ReceiptIDs)
	require.NoError(t, err)
	got := make([]ledger.PlannedSplit, len(posted))
	var sum ledger.Money
	for i, sp := range posted {
		got[i] = ledger.PlannedSplit{Amount: sp.Amount, Code: sp.Code, PatientID: sp.PatientID, ProviderID: sp.ProviderID,
			LocationID: sp.LocationID, ChargeID: sp.ChargeID, UnearnedTypeID: sp.UnearnedTypeID, Stage: plans[0].Splits[i].Stage}
		sum = sum.Add(sp.Amount)
	}
	requireMoney(t, "0.00", sum, "a TRANSFER receipt is zero-sum")
	require.Equal(t, expectedSplits(sc.Expect.Splits), plannedSplits(s, got, sc.Expect.Splits), "the commit posted the scenario's splits")
	planned := map[string]bool{}
	for _, c := range sc.Input.Charges {
		planned[c.ID] = c.Status == rules.Planned
	}
	for id, want := range sc.Expect.Owed {
		if planned[id] {
			// The ledger's ChargeBalance says a planned charge owes nothing
			// yet; the scenario counts its fee. Either way nothing paid it.
			continue
		}
		b, err := s.Store.ChargeBalances(ctx, s.Actor.PracticeID, []ledger.ID{*s.ID(id)})
		require.NoError(t, err)
		require.Equal(t, want.StringFixed(2), b[*s.ID(id)].Owed.String(), "charge %s owes", id)
	}
	requireMoney(t, before.String(), total(), "the family's total is unchanged")

	_, again, err := l.BalanceFamily(ctx, s.Actor, in)
	require.NoError(t, err)
	require.Empty(t, again.ReceiptIDs, "balancing again right after proposes nothing")
	require.NotEqual(t, ledger.FamilyChanged, again.Status)
}

// TestBalancerTransferDateProperties (issue 18): over random families
// (negative production, adjustments, forced and misallocated payments,
// refunds, unearned money, insurance), each balancer method run with a
// transfer date — after the whole history, or in the middle of it — either
// balances the family or leaves it FAILED for a documented reason (a
// policy's refusal, a negative payment nothing offsets), never for a broken
// invariant: every transfer it posts is a zero-sum TRANSFER dated that day,
// the family's money is conserved (its balance and the sum of its splits
// are unchanged, hidden unearned money included), and a rerun with the same date proposes nothing.
func TestBalancerTransferDateProperties(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	provs, locs := twoOfEach(t, f)
	splitSum := func(g ledger.ID) string {
		var s string
		require.NoError(t, f.Store.DB().Get(&s, `SELECT coalesce(sum(s.amount), 0)::numeric(14,2)::text FROM splits s
			JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id WHERE s.practice_id = $1 AND p.guarantor_id = $2`,
			f.Actor.PracticeID, g))
		return s
	}
	changed := map[ledger.BalanceMethod]int{}
	for seed := uint64(3000); seed < 3024; seed++ {
		fam := newRandomFamily(t, f, provs, locs, seed)
		g := fam.patients[0].GuarantorID
		in := ledger.FamilyBalancing{GuarantorID: g, Method: ledger.MethodIncomeTransfer, Policy: []string{"rigorous", "fifo"}[seed/2%2],
			TransferDate: ptr(ledger.MustDate("2026-06-01")), Note: "conversion"}
		if seed%2 == 1 {
			in.Method, in.Policy = ledger.MethodRecreateSplits, ""
		}
		if seed%4 >= 2 {
			in.TransferDate = ptr(ledger.MustDate("2026-03-15")) // in the middle of the history
		}
		what := fmt.Sprintf("seed %d, %s %s as of %s", seed, in.Method, in.Policy, in.TransferDate)
		total := func() ledger.Money { b := guarantorBalance(t, f, g); return b.Balance.Sub(b.HiddenUnearned) } // hidden unearned included
		balance, sum := total(), splitSum(g)
		_, rf, err := f.Ledger.BalanceFamily(ctx, f.Actor, in)
		require.NoError(t, err, what)
		if rf.Status == ledger.FamilyFailed {
			require.True(t, strings.HasPrefix(rf.Reason, "the policy refused the plan") || strings.HasPrefix(rf.Reason, "negative payment"),
				"%s: failed the family: %s", what, rf.Reason)
			require.Empty(t, rf.ReceiptIDs, what)
		}
		if rf.Status == ledger.FamilyChanged {
			changed[in.Method]++
		}
		rs, err := f.Store.Receipts(ctx, f.Actor.PracticeID, rf.ReceiptIDs)
		require.NoError(t, err)
		require.Len(t, rs, len(rf.ReceiptIDs))
		for _, r := range rs {
			require.Equal(t, ledger.ReceiptTransfer, r.Kind, what)
			require.Equal(t, *in.TransferDate, r.ReceivedOn, "%s: dated the transfer date", what)
			requireMoney(t, "0.00", r.Amount, what)
		}
		requireMoney(t, balance.String(), total(), "%s: the family's total", what)
		require.Equal(t, sum, splitSum(g), "%s: the family's money", what)

		_, again, err := f.Ledger.BalanceFamily(ctx, f.Actor, in)
		require.NoError(t, err, what)
		require.NotEqual(t, ledger.FamilyChanged, again.Status, "%s: a rerun proposes nothing: %+v", what, again)
		require.Empty(t, again.ReceiptIDs, what)
	}
	require.Greater(t, changed[ledger.MethodIncomeTransfer], 3, "income transfers were posted")
	require.Greater(t, changed[ledger.MethodRecreateSplits], 1, "re-splits were posted")
}

// TestBalancerPlannedLinesOweNothing: a family whose only line is planned
// and which holds money on account owes nothing yet, so the balancer leaves
// it as it is instead of skipping it with "credit left while owed".
func TestBalancerPlannedLinesOweNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	p := f.Family(t, "Plan")[0]
	d := ledger.MustDate("2026-03-01")
	_, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: p.ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{{Code: "D2740", Amount: ledger.MustMoney("1100.00"), Status: ledger.StatusPlanned}}})
	require.NoError(t, err)
	f.Pay(t, p, "50.00", ledgertest.Unearned("50.00", f.Prepayment))
	for _, m := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
		_, fam, err := f.Ledger.BalanceFamily(ctx, f.Actor, ledger.FamilyBalancing{GuarantorID: p.GuarantorID, Method: m, Preview: true})
		require.NoError(t, err, m)
		require.NotEqual(t, ledger.FamilySkipped, fam.Status, "%s: %s", m, fam.Reason)
		require.NotContains(t, fam.Reason, "is owed", m)
	}
}
