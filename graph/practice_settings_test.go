package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBalancesDontSubtractIns (issue 17): with the practice setting on, a
// pending insurance estimate is not set aside: the line's patient portion
// is the whole of what it still owes — on the charge, in the patient's and
// family's balances and in the family ledger a policy reads —
// and insurancePending reads 0.00. Off again, everything is as before.
func TestBalancesDontSubtractIns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Ins")[0]
	d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { charges { id } } } }`,
		obj{"in": obj{"patientId": pat.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(), "serviceFrom": "2026-05-01",
			"charges": []any{obj{"code": "D2740", "amount": "100.00", "insuranceEstimate": "60.00"}}}})
	line := ids(t, d, "postEncounter.encounter.charges")[0]
	look := func(owed, pending string) {
		t.Helper()
		d := h.ok(t, h.analyst, `query($c: ID!, $p: ID!, $g: ID!) { charge(id: $c) { owed insurancePending }
			patient(id: $p) { owed } guarantor(id: $g) { owed }
			familyLedger(guarantorId: $g, policy: "rigorous") { owed } }`,
			obj{"c": line, "p": pat.ID.String(), "g": pat.GuarantorID.String()})
		requireMoney(t, owed, d, "charge.owed")
		requireMoney(t, pending, d, "charge.insurancePending")
		requireMoney(t, owed, d, "patient.owed")
		requireMoney(t, owed, d, "guarantor.owed")
		requireMoney(t, owed, d, "familyLedger.owed")
	}
	look("40.00", "60.00")
	d = h.ok(t, h.admin, `mutation { updatePracticeSettings(input: {balancesDontSubtractIns: true}) { practice { balancesDontSubtractIns prepayAllowedForTpProcs } } }`, nil)
	require.Equal(t, true, at(t, d, "updatePracticeSettings.practice.balancesDontSubtractIns"))
	require.Equal(t, false, at(t, d, "updatePracticeSettings.practice.prepayAllowedForTpProcs"), "a setting left out stays")
	look("100.00", "0.00")
	h.ok(t, h.admin, `mutation { updatePracticeSettings(input: {balancesDontSubtractIns: false}) { practice { id } } }`, nil)
	look("40.00", "60.00")
}
