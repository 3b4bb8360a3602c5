package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

func money(s string) ledger.Money { return ledger.MustMoney(s) }

// requireMoney compares amounts exactly.
func requireMoney(t *testing.T, want string, got ledger.Money, msg ...any) {
	t.Helper()
	require.Equal(t, want, got.String(), msg...)
}

func owed(t *testing.T, f *ledgertest.Practice, c ledger.Charge) ledger.Money {
	t.Helper()
	b, err := f.Store.ChargeBalances(context.Background(), f.Actor.PracticeID, []ledger.ID{c.ID})
	require.NoError(t, err)
	return b[c.ID].Owed
}

func patientBalance(t *testing.T, f *ledgertest.Practice, p ledger.Patient) ledger.Balance {
	t.Helper()
	b, err := f.Store.PatientBalances(context.Background(), f.Actor.PracticeID, []ledger.ID{p.ID})
	require.NoError(t, err)
	return b[p.ID]
}

func familyBalance(t *testing.T, f *ledgertest.Practice, p ledger.Patient) ledger.Balance {
	t.Helper()
	b, err := f.Store.GuarantorBalances(context.Background(), f.Actor.PracticeID, []ledger.ID{p.GuarantorID})
	require.NoError(t, err)
	return b[p.GuarantorID]
}

func TestBalancesThroughEncountersAdjustmentsReceiptsAndReversals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat", "Kid")
	parent, kid := fam[0], fam[1]

	// The parent's visit: 80.00 with a 60.00 insurance estimate owes 20.00.
	d := ledger.MustDate("2026-05-01")
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: parent.ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{
			{Code: "D2740", Amount: money("80.00"), InsuranceEstimate: money("60.00")},
			{Code: "D2750", Amount: money("900.00"), Status: ledger.StatusPlanned, ServiceDate: ptr(ledger.MustDate("2026-07-01"))},
		}, ServiceTo: ptr(ledger.MustDate("2026-07-01"))})
	require.NoError(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	crown, planned := cs[0], cs[1]
	requireMoney(t, "20.00", owed(t, f, crown))
	requireMoney(t, "0.00", owed(t, f, planned), "a planned charge owes nothing yet")

	kidCharges := f.Visit(t, kid, "2026-05-02", "100.00", "50.00")
	requireMoney(t, "150.00", patientBalance(t, f, kid).Owed)

	// The parent pays 40.00: 10.00 on the crown, 30.00 left unallocated.
	f.Pay(t, parent, "40.00", ledgertest.On("10.00", crown), ledgertest.Unallocated("30.00"))
	pb := patientBalance(t, f, parent)
	requireMoney(t, "10.00", pb.Owed)
	requireMoney(t, "30.00", pb.Unallocated)
	requireMoney(t, "30.00", pb.Credit)
	requireMoney(t, "-20.00", pb.Balance)

	// Insurance pays 55.00 on the crown: the estimate is settled, so the
	// patient portion becomes 80 − 55 − 10 = 15.
	ins, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptInsurancePayment, Amount: money("55.00"),
		Splits: []ledger.NewSplit{{Amount: money("55.00"), ChargeID: &crown.ID}}})
	require.NoError(t, err)
	requireMoney(t, "15.00", owed(t, f, crown))

	// A write-off attached to the crown folds into it; an unattached
	// adjustment on the kid owes on its own line.
	_, err = f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{AttachedToID: &crown.ID, Amount: money("-15.00"), Code: "WO"})
	require.NoError(t, err)
	requireMoney(t, "0.00", owed(t, f, crown))
	adj, err := f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{PatientID: &kid.ID, Amount: money("5.00"), Code: "LATE"})
	require.NoError(t, err)
	require.Nil(t, adj.ProviderID)
	requireMoney(t, "5.00", owed(t, f, adj))

	// A prepayment on the hidden treatment-plan type is kept out of balances.
	f.Pay(t, parent, "200.00", ledgertest.Unearned("200.00", f.TPPrepay))
	f.Pay(t, kid, "25.00", ledgertest.Unearned("25.00", f.Prepayment))

	fb := familyBalance(t, f, parent)
	requireMoney(t, "155.00", fb.Owed) // kid 100 + 50 + 5
	requireMoney(t, "30.00", fb.Unallocated)
	requireMoney(t, "25.00", fb.Unearned)
	requireMoney(t, "55.00", fb.Credit)
	requireMoney(t, "100.00", fb.Balance)

	// Reversing the insurance payment brings the estimate back:
	// 80 − 15 − 10 − 60 = −5, a credit on the line.
	rev, err := f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: ins.ID, Note: "posted to the wrong claim"})
	require.NoError(t, err)
	require.Equal(t, ledger.ReceiptReversal, rev.Kind)
	requireMoney(t, "-55.00", rev.Amount)
	requireMoney(t, "-5.00", owed(t, f, crown))
	fb = familyBalance(t, f, parent)
	requireMoney(t, "60.00", fb.Credit) // the line credit joins the family's credits
	requireMoney(t, "95.00", fb.Balance)

	// Paying the kid's first line in full clears it.
	f.Pay(t, kid, "100.00", ledgertest.On("100.00", kidCharges[0]))
	requireMoney(t, "0.00", owed(t, f, kidCharges[0]))
}

func ptr[T any](v T) *T { return &v }

func TestReversalRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat")
	c := f.Visit(t, fam[0], "2026-05-01", "100.00")[0]
	pay := f.Pay(t, fam[0], "100.00", ledgertest.Unallocated("100.00"))

	// The unallocated money is moved onto the charge by a transfer...
	_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptTransfer, PatientID: &fam[0].ID,
		Splits: []ledger.NewSplit{{Amount: money("-100.00")}, {Amount: money("100.00"), ChargeID: &c.ID}}})
	require.NoError(t, err)
	// ...so the payment cannot be reversed until the transfer is.
	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: pay.ID})
	var inv *ledger.InvariantError
	require.ErrorAs(t, err, &inv)

	rev, err := f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: mustLatestTransfer(t, f, fam[0]).ID})
	require.NoError(t, err)
	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: pay.ID})
	require.NoError(t, err)

	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: pay.ID})
	require.ErrorIs(t, err, ledger.ErrConflict, "a receipt is reversed at most once")
	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: rev.ID})
	var in *ledger.InputError
	require.ErrorAs(t, err, &in, "a reversal is not reversed")
	requireMoney(t, "100.00", owed(t, f, c))
	requireMoney(t, "0.00", patientBalance(t, f, fam[0]).Credit)
}

func mustLatestTransfer(t *testing.T, f *ledgertest.Practice, p ledger.Patient) ledger.Receipt {
	t.Helper()
	page, err := f.Store.ListReceipts(context.Background(), f.Actor.PracticeID,
		ledger.ReceiptFilter{PatientID: &p.ID, Kind: ledger.ReceiptTransfer}, ledger.Page{First: 1})
	require.NoError(t, err)
	require.Len(t, page.Rows, 1)
	return page.Rows[0]
}

func TestMoneyMovesAreChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat")
	other := f.Family(t, "Stranger")
	c := f.Visit(t, fam[0], "2026-05-01", "50.00")[0]
	strangerCharge := f.Visit(t, other[0], "2026-05-01", "50.00")[0]
	f.Pay(t, fam[0], "20.00", ledgertest.Unearned("20.00", f.Prepayment))

	post := func(in ledger.NewReceipt) error {
		if in.PatientID == nil {
			in.PatientID = &fam[0].ID
		}
		_, err := f.Ledger.PostReceipt(ctx, f.Actor, in)
		return err
	}
	field := func(err error) string {
		var in *ledger.InputError
		require.ErrorAs(t, err, &in)
		return in.Field
	}
	// Overpaying a charge needs force, which leaves a credit on the line.
	err := post(ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, Amount: money("60.00"), Splits: []ledger.NewSplit{ledgertest.On("60.00", c)}})
	require.Equal(t, "splits[0].amount", field(err))
	forced := ledgertest.On("60.00", c)
	forced.Force = true
	require.NoError(t, post(ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, Amount: money("60.00"), Splits: []ledger.NewSplit{forced}}))
	requireMoney(t, "-10.00", owed(t, f, c))

	// A refund cannot take more prepayment than there is.
	err = post(ledger.NewReceipt{Kind: ledger.ReceiptRefund, Amount: money("-25.00"), Splits: []ledger.NewSplit{ledgertest.Unearned("-25.00", f.Prepayment)}})
	require.Equal(t, "splits[0].amount", field(err))
	require.NoError(t, post(ledger.NewReceipt{Kind: ledger.ReceiptRefund, Amount: money("-20.00"), Splits: []ledger.NewSplit{ledgertest.Unearned("-20.00", f.Prepayment)}}))

	// A transfer cannot take more off a charge than the patient put on it
	// (and, under the default rigorous policy, puts it somewhere).
	err = post(ledger.NewReceipt{Kind: ledger.ReceiptTransfer, Splits: []ledger.NewSplit{ledgertest.On("-70.00", c), ledgertest.Unearned("70.00", f.Prepayment)}})
	require.Equal(t, "splits[0].amount", field(err))
	require.NoError(t, post(ledger.NewReceipt{Kind: ledger.ReceiptTransfer, Splits: []ledger.NewSplit{ledgertest.On("-10.00", c), ledgertest.Unearned("10.00", f.Prepayment)}}))

	// Another family's charge needs crossFamily.
	err = post(ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, Amount: money("5.00"), Splits: []ledger.NewSplit{ledgertest.On("5.00", strangerCharge)}})
	require.Equal(t, "splits[0].crossFamily", field(err))
	cross := ledgertest.On("5.00", strangerCharge)
	cross.CrossFamily = true
	require.NoError(t, post(ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, Amount: money("5.00"), Splits: []ledger.NewSplit{cross}}))
}

func TestIdempotentReplayAndConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat")
	in := ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment, PatientID: &fam[0].ID, Amount: money("10.00"),
		Splits: []ledger.NewSplit{ledgertest.Unallocated("10.00")}, IdempotencyKey: "front-desk-1"}
	r1, err := f.Ledger.PostReceipt(ctx, f.Actor, in)
	require.NoError(t, err)
	r2, err := f.Ledger.PostReceipt(ctx, f.Actor, in)
	require.NoError(t, err)
	require.Equal(t, r1.ID, r2.ID, "a replay returns the first result")
	requireMoney(t, "10.00", patientBalance(t, f, fam[0]).Unallocated, "and posts nothing")

	in.Amount, in.Splits = money("11.00"), []ledger.NewSplit{ledgertest.Unallocated("11.00")}
	_, err = f.Ledger.PostReceipt(ctx, f.Actor, in)
	require.ErrorIs(t, err, ledger.ErrConflict)
}

func TestAnalystCannotPost(t *testing.T) {
	t.Parallel()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	analyst := f.Actor
	analyst.Role = ledger.RoleAnalyst
	_, err := f.Ledger.CreateProvider(context.Background(), analyst, ledger.NewProvider{Name: "Dr. Two"})
	require.ErrorIs(t, err, ledger.ErrForbidden)
}

func TestConcurrentPaymentsNeverOverpayACharge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Pat", "Kid")
	c := f.Visit(t, fam[1], "2026-05-01", "100.00")[0]

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptPatientPayment,
				PatientID: &fam[i%2].ID, Amount: money("30.00"), Splits: []ledger.NewSplit{ledgertest.On("30.00", c)}})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var in *ledger.InputError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &in):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 3, ok, "three 30.00 payments fit in 100.00")
	requireMoney(t, "10.00", owed(t, f, c))
}

// A write-off posted before insurance pays must not leave the patient a
// phantom credit: the pending estimate is capped at what the line is worth.
func TestPendingEstimateNeverExceedsTheLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	p := f.Family(t, "Pat")[0]
	d := ledger.MustDate("2026-05-01")
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: p.ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{{Code: "D2740", Amount: money("100.00"), InsuranceEstimate: money("80.00")}}})
	require.NoError(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	requireMoney(t, "20.00", owed(t, f, cs[0]))
	_, err = f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{AttachedToID: &cs[0].ID, Amount: money("-30.00"), Code: "WO"})
	require.NoError(t, err)
	requireMoney(t, "0.00", owed(t, f, cs[0]), "70.00 left, all of it expected from insurance")
	b, err := f.Store.ChargeBalances(ctx, f.Actor.PracticeID, []ledger.ID{cs[0].ID})
	require.NoError(t, err)
	requireMoney(t, "70.00", b[cs[0].ID].InsurancePending)
	requireMoney(t, "0.00", patientBalance(t, f, p).Credit)
}
