package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

func TestEngineTransferFamilyCredit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	fam := f.Family(t, "Andy", "Judy")
	andy, judy := fam[0], fam[1]
	c := f.Visit(t, judy, "2026-05-01", "100.00")[0]
	f.Pay(t, andy, "100.00", ledgertest.Unallocated("100.00"))

	req := ledger.TransferRequest{GuarantorID: andy.GuarantorID, Policy: "rigorous"}
	plan, err := f.Ledger.PreviewTransfer(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Len(t, plan.Moves, 1)
	require.Len(t, plan.Splits, 2)
	requireMoney(t, "0.00", plan.Total)

	res, err := f.Ledger.TransferIncome(ctx, f.Actor, req)
	require.NoError(t, err)
	require.NotNil(t, res.Receipt)
	require.Equal(t, ledger.ReceiptTransfer, res.Receipt.Kind)
	require.Equal(t, "rigorous", res.Receipt.PolicyName)
	require.Equal(t, 1, res.Receipt.PolicyVersion)
	requireSamePlan(t, plan, res.Plan)
	requireMoney(t, "0.00", owed(t, f, c))

	again, err := f.Ledger.TransferIncome(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Nil(t, again.Receipt)
	require.Empty(t, again.Plan.Moves)
}

// requireSamePlan compares plans byte for byte, as the engine stores them.
func requireSamePlan(t *testing.T, want, got ledger.Plan) {
	t.Helper()
	a, err := want.MarshalJSON()
	require.NoError(t, err)
	b, err := got.MarshalJSON()
	require.NoError(t, err)
	require.JSONEq(t, string(a), string(b))
}

// TestEngineInsuranceIsNotPatientMoney: insurance money on a charge enters
// the plan as the charge's insurance paid (and a reversal of it as its
// undoing), never as patient money a transfer could move; an insurance
// overpayment is left alone with a warning.
func TestEngineInsuranceIsNotPatientMoney(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Pat")[0]
	d := ledger.MustDate("2026-05-01")
	e, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: pat.ID, ProviderID: f.Provider, LocationID: f.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{
			{Code: "D2740", Amount: money("100.00"), InsuranceEstimate: money("60.00")},
			{Code: "D2750", Amount: money("100.00")},
		}})
	require.NoError(t, err)
	cs, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	crown, over := cs[0], cs[1]
	ins := func(c ledger.Charge, amount string) ledger.Receipt {
		r, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptInsurancePayment, Amount: money(amount),
			Splits: []ledger.NewSplit{{Amount: money(amount), ChargeID: &c.ID, Force: true}}})
		require.NoError(t, err)
		return r
	}
	paid := ins(crown, "90.00")
	ins(over, "120.00")
	f.Pay(t, pat, "50.00", ledgertest.Unallocated("50.00"))
	requireMoney(t, "10.00", owed(t, f, crown))
	requireMoney(t, "-20.00", owed(t, f, over), "insurance overpaid it")

	req := ledger.TransferRequest{GuarantorID: pat.GuarantorID, Policy: "rigorous"}
	res, err := f.Ledger.TransferIncome(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Len(t, res.Plan.Moves, 2)
	m := res.Plan.Moves[0]
	require.Equal(t, ledger.PlaceCharge, m.To.Kind)
	require.Equal(t, crown.ID, *m.To.ChargeID)
	requireMoney(t, "10.00", m.Amount, "only the patient portion is owed")
	require.Equal(t, "leftover", res.Plan.Moves[1].Stage, "the rest of the 50.00 becomes a prepayment")
	require.Equal(t, []string{"charge " + over.ID.String() + ": insurance overpaid it by 20.00; the excess is left alone"}, res.Plan.Warnings)
	requireMoney(t, "-20.00", owed(t, f, over), "insurance overpayment is never moved")

	// Reversing the insurance payment makes its estimate pending again: the
	// crown's patient portion is 40.00 again, 30.00 of it still owed.
	_, err = f.Ledger.ReverseReceipt(ctx, f.Actor, ledger.Reversal{ReceiptID: paid.ID})
	require.NoError(t, err)
	requireMoney(t, "30.00", owed(t, f, crown))
	res, err = f.Ledger.TransferIncome(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Len(t, res.Plan.Moves, 1)
	require.Equal(t, ledger.PlaceUnearned, res.Plan.Moves[0].From.Kind)
	requireMoney(t, "30.00", res.Plan.Moves[0].Amount)
	requireMoney(t, "0.00", owed(t, f, crown))
}

// TestEngineJudgesBucketsAsThePlannerDoes: money paid in under one provider
// and refunded under none leaves the patient 100.00 in the Dr1 bucket and a
// 100.00 debt in the no-provider bucket. The engine judges the buckets the
// planner judges (docs/allocation.md §1.2), so the rigorous plan is not
// refused as an overdraw of the patient's total (it used to answer
// INVARIANT_VIOLATION): it posts, the family's total is unchanged, and a
// rerun proposes nothing.
func TestEngineJudgesBucketsAsThePlannerDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Pat")[0]
	f.Visit(t, pat, "2026-05-01", "50.00")
	f.Pay(t, pat, "100.00", ledger.NewSplit{Amount: money("100.00"), ProviderID: &f.Provider})
	_, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: ledger.ReceiptRefund, PatientID: &pat.ID, Amount: money("-100.00"),
		Splits: []ledger.NewSplit{{Amount: money("-100.00")}}})
	require.NoError(t, err)
	before := familyBalance(t, f, pat).Balance

	req := ledger.TransferRequest{GuarantorID: pat.GuarantorID, Policy: "rigorous"}
	plan, err := f.Ledger.PreviewTransfer(ctx, f.Actor, req)
	require.NoError(t, err)
	require.NotEmpty(t, plan.Moves)
	res, err := f.Ledger.TransferIncome(ctx, f.Actor, req)
	require.NoError(t, err)
	requireSamePlan(t, plan, res.Plan)
	requireMoney(t, before.String(), familyBalance(t, f, pat).Balance)
	again, err := f.Ledger.PreviewTransfer(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Empty(t, again.Moves)
}

// A document's examples run within the request's context: a client that
// went away stops them, and the error is the context's (not bad input, not
// a budget).
func TestPolicyExamplesStopWithTheClient(t *testing.T) {
	t.Parallel()
	l := ledger.New(nil) // validating a document reads nothing
	doc := `name: quiet
stages: [{name: s, match: 'true'}]
examples:
  - name: nothing to move
    input:
      patients: [{id: p, guarantorId: p}]
      charges: [{id: c, kind: PROCEDURE, patientId: p, date: 2024-01-01, amount: "10.00"}]
      request: {operation: TRANSFER, asOf: 2024-01-02}
    expect: {}
`
	analyst := ledger.Actor{Role: ledger.RoleAnalyst}
	_, err := l.ValidatePolicy(context.Background(), analyst, doc)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.ValidatePolicy(ctx, analyst, doc)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, rules.ErrBudget)
	var ie *ledger.InputError
	require.NotErrorAs(t, err, &ie)
}

// TestEnginePastDatedTransferAgreesWithPlanner: a transfer dated in the
// past sees the ledger as of its date, but may only move money that is
// still there today: 100.00 unallocated on 1 March, refunded on 1 June, is
// not there for a transfer dated 1 May (the planner and the engine's
// no-overdraw check judge the same buckets, over every split). Money still
// there moves, and a rerun proposes nothing.
func TestEnginePastDatedTransferAgreesWithPlanner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := ledger.New(ledgertest.NewPractice(t, ledgertest.NewDB(t)).Store, ledger.WithClock(ledgertest.Clock))
	d := func(m time.Month, day int) rules.Date { return rules.NewDate(2024, m, day) }
	in := rules.Input{
		Patients:      []rules.Patient{{ID: "pat", GuarantorID: "pat"}},
		UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}},
		Charges: []rules.Charge{
			{ID: "p1", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: d(2, 1), Amount: decimal.RequireFromString("100.00")},
			{ID: "p2", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: d(2, 2), Amount: decimal.RequireFromString("40.00")},
		},
		Splits: []rules.Split{
			{ID: "s1", Date: d(3, 1), Amount: decimal.RequireFromString("100.00"), PatientID: "pat", ProviderID: "dr1"},
			{ID: "s2", Date: d(6, 1), Amount: decimal.RequireFromString("-100.00"), PatientID: "pat", ProviderID: "dr1"},
			{ID: "s3", Date: d(3, 2), Amount: decimal.RequireFromString("40.00"), PatientID: "pat", ProviderID: "dr1", UnearnedTypeID: "prepay"},
			{ID: "s4", Date: d(6, 2), Amount: decimal.RequireFromString("-10.00"), PatientID: "pat", ProviderID: "dr1", UnearnedTypeID: "prepay"},
		},
	}
	s := ledgertest.LoadScenario(t, l, in)
	asOf := ledger.MustDate("2024-05-01")
	for _, policy := range rules.BuiltinNames() {
		req := ledger.TransferRequest{GuarantorID: *s.ID("pat"), Policy: policy, AsOf: &asOf, Params: map[string]string{}}
		if policy == "rigorous" || policy == "fifo" {
			req.Params["unearnedKeepsProvider"] = "true"
		}
		plan, err := l.PreviewTransfer(ctx, s.Actor, req)
		var ie *ledger.InvariantError
		require.False(t, errors.As(err, &ie), "%s: %v", policy, err)
		if err != nil {
			var re *rules.RejectedError
			require.ErrorAs(t, err, &re, policy)
			continue
		}
		if policy == "rigorous" || policy == "fifo" {
			require.NotEmpty(t, plan.Moves, "%s: the unearned money left moves", policy)
		}
		for _, m := range plan.Moves {
			require.NotEqual(t, ledger.PlaceUnallocated, m.From.Kind, "%s: the refunded money is not there to move", policy)
			if m.From.Kind == ledger.PlaceUnearned {
				requireMoney(t, "30.00", m.Amount, "%s: only what is left of the unearned money moves", policy)
			}
		}
	}
}
