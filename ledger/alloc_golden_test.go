package ledger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

// goldenFile is a file of rules/testdata/golden: scenarios (ledger in,
// request, splits and moves out) and the policies they hold under.
type goldenFile struct {
	Policies  []string         `yaml:"policies"`
	Scenarios []rules.Scenario `yaml:"scenarios"`
}

func loadGolden(t *testing.T) map[string]goldenFile {
	t.Helper()
	files, err := filepath.Glob("../rules/testdata/golden/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]goldenFile{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		var g goldenFile
		require.NoError(t, yaml.UnmarshalWithOptions(src, &g, yaml.DisallowUnknownField()), f)
		out[filepath.Base(f)] = g
	}
	return out
}

// TestEngineGolden runs the rules package's golden scenarios through the
// engine over a real database: each scenario's ledger is written as rows,
// the request is made with the engine's operations, and the plan, the
// posted receipt and a second plan after posting are checked.
func TestEngineGolden(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	l := ledger.New(ledgertest.NewPractice(t, db).Store, ledger.WithClock(ledgertest.Clock))
	ran := 0
	for file, g := range loadGolden(t) {
		for _, policy := range g.Policies {
			for _, sc := range g.Scenarios {
				name := file + "/" + policy + "/" + sc.Name
				if why := ledgertest.Representable(sc.Input) + ledgertest.UnsupportedRequest(policy, sc.Input); why != "" {
					t.Logf("%s: skipped: %s", name, why)
					continue
				}
				ran++
				t.Run(name, func(t *testing.T) { runGolden(t, l, policy, sc) })
			}
		}
	}
	require.GreaterOrEqual(t, ran, 30, "most golden scenarios run through the engine")
}

func runGolden(t *testing.T, l *ledger.Ledger, policy string, sc rules.Scenario) {
	ctx := context.Background()
	s := ledgertest.LoadScenario(t, l, sc.Input)
	req := sc.Input.Request
	asOf := ledger.MustDate(req.AsOf.String())
	params := req.Params
	guarantor := func(patient string) ledger.ID {
		for _, p := range sc.Input.Patients {
			if p.ID == patient {
				return *s.ID(p.GuarantorID)
			}
		}
		t.Fatalf("no patient %s", patient)
		return ledger.ID{}
	}

	var preview func() (ledger.Plan, error)
	var commit func() (ledger.Plan, *ledger.Receipt, error)
	switch req.Operation {
	case rules.AutoSplit:
		amount, err := ledger.MoneyFromDecimal(req.Amount.Decimal)
		require.NoError(t, err)
		kind := ledger.ReceiptPatientPayment
		if amount.Sign() < 0 {
			kind = ledger.ReceiptRefund
		}
		in := ledger.NewReceipt{Kind: kind, PatientID: s.ID(req.PatientID), Amount: amount, ReceivedOn: &asOf}
		alloc := ledger.Allocation{Policy: policy, PreferPatientID: s.ID(req.PreferPatientID), Params: params}
		preview = func() (ledger.Plan, error) { return l.PreviewReceipt(ctx, s.Actor, in, alloc) }
		commit = func() (ledger.Plan, *ledger.Receipt, error) {
			r, p, err := l.PostAllocatedReceipt(ctx, s.Actor, in, alloc)
			return p, &r, err
		}
	case rules.Transfer:
		in := ledger.TransferRequest{GuarantorID: guarantor(req.PatientID), Policy: policy, Params: params, AsOf: &asOf}
		if req.Scope == rules.ScopePatient || req.PatientID != "" && *s.ID(req.PatientID) != in.GuarantorID {
			in.PatientID = s.ID(req.PatientID)
		}
		preview = func() (ledger.Plan, error) { return l.PreviewTransfer(ctx, s.Actor, in) }
		commit = func() (ledger.Plan, *ledger.Receipt, error) {
			res, err := l.TransferIncome(ctx, s.Actor, in)
			return res.Plan, res.Receipt, err
		}
	case rules.AllocateUnearned:
		in := ledger.UnearnedAllocation{GuarantorID: guarantor(req.PatientID), Policy: policy, Params: params, AsOf: &asOf}
		for _, c := range req.ChargeIDs {
			in.ChargeIDs = append(in.ChargeIDs, *s.ID(c))
		}
		if req.Amount.Valid {
			m, err := ledger.MoneyFromDecimal(req.Amount.Decimal)
			require.NoError(t, err)
			in.Amount = &m
		}
		preview = func() (ledger.Plan, error) {
			p := in
			p.Preview = true
			res, err := l.AllocateUnearned(ctx, s.Actor, p)
			return res.Plan, err
		}
		commit = func() (ledger.Plan, *ledger.Receipt, error) {
			res, err := l.AllocateUnearned(ctx, s.Actor, in)
			return res.Plan, res.Receipt, err
		}
	}

	plan, err := preview()
	if sc.Expect.Rejected != "" {
		var re *rules.RejectedError
		require.True(t, errors.As(err, &re), "want a refusal by %s, got %v", sc.Expect.Rejected, err)
		require.Equal(t, sc.Expect.Rejected, re.Requirement)
		_, _, err = commit()
		require.True(t, errors.As(err, &re), "the commit refuses as the preview did: %v", err)
		return
	}
	require.NoError(t, err)
	require.Equal(t, expectedSplits(sc.Expect.Splits), plannedSplits(s, plan.Splits, sc.Expect.Splits))
	if len(sc.Expect.Moves) > 0 {
		require.Equal(t, expectedMoves(sc.Expect.Moves), plannedMoves(s, plan.Moves, sc.Expect.Moves))
	}
	again, err := preview()
	require.NoError(t, err)
	requireSamePlan(t, plan, again)

	committed, receipt, err := commit()
	if req.Operation == rules.AutoSplit && plan.Empty() {
		var ie *ledger.InputError
		require.ErrorAs(t, err, &ie, "a refund with nothing to split is refused: it takes explicit splits")
		require.Equal(t, "allocation", ie.Field)
		return
	}
	require.NoError(t, err)
	requireSamePlan(t, plan, committed)
	if plan.Empty() {
		require.Nil(t, receipt)
		return
	}
	require.NotNil(t, receipt)
	require.Equal(t, policy, receipt.PolicyName)
	require.Equal(t, 1, receipt.PolicyVersion)
	requireMoney(t, plan.Total.String(), receipt.Amount)
	posted, err := s.Store.SplitsOfReceipts(ctx, s.Actor.PracticeID, []ledger.ID{receipt.ID})
	require.NoError(t, err)
	require.Len(t, posted, len(plan.Splits))
	for i, sp := range posted {
		ps := plan.Splits[i]
		require.Equal(t, ps.Amount.String(), sp.Amount.String())
		require.Equal(t, []string{s.Name(&ps.PatientID), s.Name(ps.ProviderID), s.Name(ps.LocationID), s.Name(ps.ChargeID), s.Name(ps.UnearnedTypeID), string(ps.Code)},
			[]string{s.Name(&sp.PatientID), s.Name(sp.ProviderID), s.Name(sp.LocationID), s.Name(sp.ChargeID), s.Name(sp.UnearnedTypeID), string(sp.Code)})
	}
	if req.Operation == rules.Transfer {
		after, err := preview()
		require.NoError(t, err)
		require.Empty(t, after.Moves, "a transfer re-run right after its commit proposes nothing")
	}
}

// goldenSplit is a split as a scenario names it.
type goldenSplit struct {
	Amount, Patient, Provider, Location, Charge, UnearnedType, Code, Stage string
}

func expectedSplits(want []rules.ProposedSplit) []goldenSplit {
	out := make([]goldenSplit, len(want))
	for i, w := range want {
		out[i] = goldenSplit{w.Amount.StringFixed(2), w.PatientID, w.ProviderID, w.LocationID, w.ChargeID, w.UnearnedTypeID, w.Code, w.Stage}
	}
	return out
}

// plannedSplits names a plan's splits as the scenario does; code and stage
// only where the scenario gives them.
func plannedSplits(s *ledgertest.ScenarioPractice, got []ledger.PlannedSplit, want []rules.ProposedSplit) []goldenSplit {
	out := make([]goldenSplit, len(got))
	for i, g := range got {
		out[i] = goldenSplit{g.Amount.String(), s.Name(&g.PatientID), s.Name(g.ProviderID), s.Name(g.LocationID), s.Name(g.ChargeID),
			s.Name(g.UnearnedTypeID), string(g.Code), g.Stage}
		if i < len(want) {
			if want[i].Code == "" {
				out[i].Code = ""
			}
			if want[i].Stage == "" {
				out[i].Stage = ""
			}
		}
	}
	return out
}

type goldenMove struct{ From, To, Amount, Stage string }

func expectedMoves(want []rules.ExpectedMove) []goldenMove {
	out := make([]goldenMove, len(want))
	for i, w := range want {
		out[i] = goldenMove{w.From, w.To, w.Amount.StringFixed(2), w.Stage}
	}
	return out
}

func plannedMoves(s *ledgertest.ScenarioPractice, got []ledger.Move, want []rules.ExpectedMove) []goldenMove {
	out := make([]goldenMove, len(got))
	for i, g := range got {
		out[i] = goldenMove{ledgertest.BucketID(s, g.From), ledgertest.BucketID(s, g.To), g.Amount.String(), g.Stage}
		if i < len(want) && want[i].Stage == "" {
			out[i].Stage = ""
		}
	}
	return out
}
