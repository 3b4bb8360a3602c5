package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// forced is a split paying a charge more than it owes, leaving a credit.
func forced(amount string, c ledger.Charge) ledger.NewSplit {
	s := ledgertest.On(amount, c)
	s.Force = true
	return s
}

func requireInput(t *testing.T, err error, field string) {
	t.Helper()
	var ie *ledger.InputError
	require.True(t, errors.As(err, &ie), "want an *InputError in %s, got %v", field, err)
	require.Equal(t, field, ie.Field, ie.Message)
}

// TestReapplySameEncounterLeftoverStays: a credit on one line goes to
// another line of the same encounter; what the line does not need stays
// where it was, as PD/PCA splits summing to zero.
func TestReapplySameEncounterLeftoverStays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ledgertest.NewPractice(t, ledgertest.NewDB(t))
	pat := f.Family(t, "Gus")[0]
	lines := f.Visit(t, pat, "2026-03-01", "50.00", "20.00")
	f.Pay(t, pat, "80.00", forced("80.00", lines[0]))
	requireMoney(t, "-30.00", owed(t, f, lines[0]))

	cands, err := f.Ledger.ReapplyCandidates(ctx, f.Actor, ledger.CandidateQuery{PatientID: pat.ID})
	require.NoError(t, err)
	require.Len(t, cands.Credits, 1)
	require.Equal(t, lines[0].ID.String(), cands.Credits[0].ID)
	requireMoney(t, "30.00", cands.Credits[0].Amount)
	require.Len(t, cands.Lines, 1)
	require.Equal(t, lines[1].ID, cands.Lines[0].ChargeID)

	req := ledger.ReapplyRequest{PatientID: pat.ID, Sources: []string{cands.Credits[0].ID},
		Targets: []ledger.ReapplyTarget{{ChargeID: lines[1].ID}}}
	plan, err := f.Ledger.PreviewReapply(ctx, f.Actor, req)
	require.NoError(t, err)
	require.Len(t, plan.Splits, 2)
	res, err := f.Ledger.ReapplyCredit(ctx, f.Actor, req)
	require.NoError(t, err)
	require.NotNil(t, res.Receipt)
	require.Equal(t, ledger.ReceiptCreditReapply, res.Receipt.Kind)
	requireSamePlan(t, plan, res.Plan)
	splits, err := f.Store.SplitsOfReceipts(ctx, f.Actor.PracticeID, []ledger.ID{res.Receipt.ID})
	require.NoError(t, err)
	var sum ledger.Money
	codes := map[ledger.SplitCode]ledger.Money{}
	for _, s := range splits {
		sum = sum.Add(s.Amount)
		codes[s.Code] = codes[s.Code].Add(s.Amount)
	}
	requireMoney(t, "0.00", sum)
	requireMoney(t, "-20.00", codes[ledger.CodeDebit])
	requireMoney(t, "20.00", codes[ledger.CodeApplied])
	requireMoney(t, "-10.00", owed(t, f, lines[0]))
	requireMoney(t, "0.00", owed(t, f, lines[1]))
}

func TestReapplyBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	fam := f.Family(t, "Gus", "Kid")
	other := f.Family(t, "Spouse")[0]
	l1 := f.Visit(t, fam[0], "2026-03-01", "50.00")[0]
	l2 := f.Visit(t, fam[1], "2026-03-02", "40.00")[0]
	l9 := f.Visit(t, other, "2026-03-03", "70.00")[0]
	f.Pay(t, fam[0], "80.00", forced("80.00", l1))
	src := []string{l1.ID.String()}
	tenMore := ledger.MustMoney("31.00")  // more than the 30.00 of credit
	overOwed := ledger.MustMoney("45.00") // more than l2's 40.00

	g := ledgertest.AddPractice(t, f.Ledger, "Elsewhere")
	foreign := g.Visit(t, g.Family(t, "Far")[0], "2026-03-01", "10.00")[0]

	var before int
	require.NoError(t, db.Get(&before, `SELECT count(*) FROM receipts`))
	for _, tc := range []struct {
		name  string
		req   ledger.ReapplyRequest
		field string
	}{
		{"more than the source holds", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, Force: true,
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID, Amount: &tenMore}}}, "targets"},
		{"a target in another practice", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: foreign.ID}}}, "targets[0].chargeId"},
		{"another guarantor's patient not named", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: l9.ID}}}, "targets[0].chargeId"},
		{"an unknown credit", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: []string{"unallocated/nobody//"},
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "sources[0]"},
		{"an unknown policy", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, Policy: "nope",
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "policy"},
		{"an unknown batch", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src, BatchID: ptr(ledgertest.NewID()),
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID}}}, "batchId"},
		{"more than the line owes without force", ledger.ReapplyRequest{PatientID: fam[0].ID, Sources: src,
			Targets: []ledger.ReapplyTarget{{ChargeID: l2.ID, Amount: &overOwed}}}, "targets[0].amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.Ledger.ReapplyCredit(ctx, f.Actor, tc.req)
			requireInput(t, err, tc.field)
		})
	}
	var after int
	require.NoError(t, db.Get(&after, `SELECT count(*) FROM receipts`))
	require.Equal(t, before, after)
}
