package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/demo"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// TestNetUnearnedWorkedExample: docs/reports.md's example, on the aging
// scenario: Kid's 10.00 prepayment (visible) and 40.00 treatment-plan
// prepayment (hidden), nothing before they were received, and the filters.
func TestNetUnearnedWorkedExample(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	ctx := context.Background()
	r, err := s.Ledger.NetUnearned(ctx, s.Actor, ledger.NetUnearnedQuery{})
	require.NoError(t, err)
	require.Equal(t, "50.00 10.00 40.00", amounts([]ledger.Money{r.Total, r.Visible, r.Hidden}))
	require.Len(t, r.Families, 1)
	require.Len(t, r.Families[0].Patients, 1)
	require.Equal(t, s.Kid.ID, r.Families[0].Patients[0].PatientID)
	require.Len(t, r.ByType, 2)
	require.Equal(t, "PREPAYMENT", r.ByType[0].Name)
	require.Equal(t, "10.00", r.ByType[0].Amount.String())
	require.Equal(t, "40.00", r.ByType[1].Amount.String())
	var csv bytes.Buffer
	require.NoError(t, r.WriteCSV(&csv))
	require.Contains(t, csv.String(), ",TP_PREPAYMENT,yes,,,40.00\n")
	require.Contains(t, csv.String(), ",TOTAL HIDDEN,,,,yes,,,40.00\n")

	r, err = s.Ledger.NetUnearned(ctx, s.Actor, ledger.NetUnearnedQuery{AsOf: date("2026-06-11")})
	require.NoError(t, err)
	require.Empty(t, r.Families)
	require.True(t, r.Total.IsZero())

	r, err = s.Ledger.NetUnearned(ctx, s.Actor, ledger.NetUnearnedQuery{Visibility: ledger.UnearnedHidden})
	require.NoError(t, err)
	require.Equal(t, "40.00 0.00 40.00", amounts([]ledger.Money{r.Total, r.Visible, r.Hidden}))
	r, err = s.Ledger.NetUnearned(ctx, s.Actor, ledger.NetUnearnedQuery{ProviderID: &s.ProviderTwo})
	require.NoError(t, err)
	require.Empty(t, r.Families)
}

// TestNetUnearnedAgreesWithBalances: on the demo practice and on a
// synthetic one, every family's visible unearned money in the report is
// its balance's unearned, its hidden money the balance's hiddenUnearned,
// every family holding any is listed, and the practice's visible total is
// aging's unearned credit.
func TestNetUnearnedAgreesWithBalances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ledgertest.NewDB(t)
	l := ledger.New(postgres.NewStore(db), ledger.WithClock(ledgertest.Clock))
	p, err := synth.Generate(synth.Config{Size: synth.Small, Seed: 7, AsOf: ledger.MustDate("2026-06-15")})
	require.NoError(t, err)
	_, err = synth.Load(ctx, db.DB, p)
	require.NoError(t, err)
	d, err := demo.Load(ctx, l, "Demo")
	require.NoError(t, err)
	for name, pid := range map[string]ledger.ID{"synthetic": p.Practice.ID, "demo": d.ID} {
		t.Run(name, func(t *testing.T) {
			requireUnearnedAgrees(t, db, l, ledger.Actor{PracticeID: pid, Role: ledger.RoleAnalyst})
		})
	}
}

func requireUnearnedAgrees(t *testing.T, db *sqlx.DB, l *ledger.Ledger, a ledger.Actor) {
	ctx := context.Background()
	r, err := l.NetUnearned(ctx, a, ledger.NetUnearnedQuery{})
	require.NoError(t, err)
	var gids []ledger.ID
	require.NoError(t, db.Select(&gids, `SELECT id FROM guarantors WHERE practice_id = $1`, a.PracticeID))
	bal, err := l.Store().GuarantorBalances(ctx, a.PracticeID, gids)
	require.NoError(t, err)
	listed := map[ledger.ID]ledger.NetUnearnedFamily{}
	for _, f := range r.Families {
		listed[f.GuarantorID] = f
	}
	holding := 0
	for _, g := range gids {
		f, b := listed[g], bal[g]
		require.Equal(t, b.Unearned.String(), f.Visible.String(), "family %s visible", g)
		require.Equal(t, b.HiddenUnearned.String(), f.Hidden.String(), "family %s hidden", g)
		if !b.Unearned.IsZero() || !b.HiddenUnearned.IsZero() {
			holding++
		}
	}
	require.Positive(t, holding, "the practice holds unearned money")
	ag, err := l.Aging(ctx, a, ledger.AgingQuery{GroupBy: ledger.AgingByPractice, Page: ledger.Page{First: 1}})
	require.NoError(t, err)
	require.Equal(t, ag.Summary.Unearned.String(), r.Visible.String())
	require.False(t, r.Hidden.IsZero(), "treatment-plan prepayments are in the report")
}

// TestNetUnearnedAttachedPrepayment: prepayment attached to a planned
// procedure stays unearned money in the report, hidden and naming the
// procedure, so the family's hidden total is still its hiddenUnearned.
func TestNetUnearnedAttachedPrepayment(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	ctx := context.Background()
	on := true
	_, err := s.Ledger.UpdatePracticeSettings(ctx, s.Actor, ledger.PracticeSettings{PrePayAllowedForTpProcs: &on})
	require.NoError(t, err)
	d := ledger.MustDate("2026-07-01")
	e, err := s.Ledger.PostEncounter(ctx, s.Actor, ledger.NewEncounter{PatientID: s.Kid.ID, ProviderID: s.Provider, LocationID: s.Location,
		ServiceFrom: &d, Charges: []ledger.NewCharge{{Code: "D2750", Amount: ledger.MustMoney("900.00"), Status: ledger.StatusPlanned, ServiceDate: &d}}})
	require.NoError(t, err)
	planned, err := s.Store.ChargesOfEncounters(ctx, s.Actor.PracticeID, []ledger.ID{e.ID})
	require.NoError(t, err)
	_, err = s.Ledger.AttachPrepayment(ctx, s.Actor, ledger.PrepaymentAttachment{ChargeID: planned[0].ID, Amount: ledger.MustMoney("30.00")})
	require.NoError(t, err)

	r, err := s.Ledger.NetUnearned(ctx, s.Actor, ledger.NetUnearnedQuery{})
	require.NoError(t, err)
	require.Equal(t, "50.00 10.00 40.00", amounts([]ledger.Money{r.Total, r.Visible, r.Hidden}))
	var attached []ledger.NetUnearnedLine
	for _, ln := range r.Families[0].Patients[0].Lines {
		if ln.ChargeID != nil {
			attached = append(attached, ln)
		}
	}
	require.Len(t, attached, 1)
	require.Equal(t, planned[0].ID, *attached[0].ChargeID)
	require.True(t, attached[0].Hidden)
	require.Equal(t, "30.00", attached[0].Amount.String())
	bal, err := s.Store.GuarantorBalances(ctx, s.Actor.PracticeID, []ledger.ID{s.Pat.GuarantorID})
	require.NoError(t, err)
	require.Equal(t, bal[s.Pat.GuarantorID].HiddenUnearned.String(), r.Families[0].Hidden.String())
	require.Equal(t, bal[s.Pat.GuarantorID].Unearned.String(), r.Families[0].Visible.String())
}
