package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestPlansCommands: a biller scripts treatment plans from the command
// line: attach prepayment to a planned procedure, detach it, remove the
// procedure, complete another; bad input is an error that writes nothing.
func TestPlansCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCLIPractice(t, "Plans CLI")
	f := c.f
	pat := f.Family(t, "Plan")[0]
	allow := true
	_, err := f.Ledger.UpdatePracticeSettings(ctx, f.Actor, ledger.PracticeSettings{PrePayAllowedForTpProcs: &allow})
	require.NoError(t, err)
	enc, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: pat.ID, ProviderID: f.Provider, LocationID: f.Location,
		Charges: []ledger.NewCharge{{Code: "D2750", Amount: ledger.MustMoney("900.00"), Status: ledger.StatusPlanned},
			{Code: "D2391", Amount: ledger.MustMoney("200.00"), Status: ledger.StatusPlanned}}})
	require.NoError(t, err)
	lines, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{enc.ID})
	require.NoError(t, err)
	crown, filling := lines[0].ID.String(), lines[1].ID.String()
	if lines[0].Code != "D2750" {
		crown, filling = filling, crown
	}
	f.Pay(t, pat, "100.00", ledgertest.Unearned("100.00", f.TPPrepay))

	plans := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		args = append(args, "--database-url", c.url, "--practice", f.Actor.PracticeID.String())
		err := runPlans(ctx, args, &out, &errOut)
		return out.String(), err
	}
	out, err := plans("attach", filling, "--amount", "100.00", "--note", "prepaid")
	require.NoError(t, err)
	require.Contains(t, out, `"Kind": "TRANSFER"`)
	_, err = plans("remove", filling)
	require.ErrorContains(t, err, "detach it first")
	_, err = plans("attach", crown, "--amount", "-5.00")
	require.ErrorContains(t, err, "positive")
	_, err = plans("detach", filling)
	require.NoError(t, err)
	_, err = plans("remove", filling, "--note", "declined")
	require.NoError(t, err)
	_, err = plans("attach", crown, "--amount", "100.00")
	require.NoError(t, err)
	out, err = plans("complete", crown)
	require.NoError(t, err)
	require.Contains(t, out, `"Status": "COMPLETED"`)

	b, err := f.Store.PatientBalances(ctx, f.Actor.PracticeID, []ledger.ID{pat.ID})
	require.NoError(t, err)
	require.Equal(t, "800.00", b[pat.ID].Owed.String(), "the crown is production, 100.00 of it prepaid")
	_, err = plans("frobnicate", crown)
	require.ErrorContains(t, err, "unknown plans command")
}
