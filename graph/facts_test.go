package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestNegativeProduction (issue 17): a procedure with a negative fee is
// accepted by postEncounter and held as negative production, a credit on its
// line, by the charge, the patient's and family's balances, aging, the
// family ledger a policy reads, and every planning operation, none of which
// refuses the family or reports a broken invariant.
func TestNegativeProduction(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	fam := f.Family(t, "Neg", "Kid")
	g, kid := fam[0], fam[1]
	f.Pay(t, g, "20.00", ledgertest.Unallocated("20.00"))

	d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { charges { id amount owed } } } }`,
		obj{"in": obj{"patientId": kid.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(), "serviceFrom": "2026-05-01",
			"charges": []any{obj{"code": "D0120", "amount": "100.00"}, obj{"code": "D9999", "amount": "-30.00"},
				obj{"code": "D9998", "amount": "-5.00", "status": "PLANNED", "serviceDate": "2026-07-01"}}}})
	lines := list(t, d, "postEncounter.encounter.charges")
	requireMoney(t, "-30.00", lines[1], "amount")
	requireMoney(t, "-30.00", lines[1], "owed")
	requireMoney(t, "0.00", lines[2], "owed")
	neg := str(t, lines[1], "id")

	d = h.ok(t, h.analyst, `query($p: ID!, $g: ID!) { patient(id: $p) { balance owed unallocated unearned credit }
		guarantor(id: $g) { balance owed unallocated unearned credit } }`, obj{"p": kid.ID.String(), "g": g.GuarantorID.String()})
	requireBalances(t, at(t, d, "patient"), "70.00", "100.00", "0.00", "0.00", "30.00")
	requireBalances(t, at(t, d, "guarantor"), "50.00", "100.00", "20.00", "0.00", "50.00")

	d = h.ok(t, h.analyst, `{ aging(input: {groupBy: PATIENT}) { summary { total credits } rows { edges { node { key total credits } } } } }`, nil)
	requireMoney(t, "50.00", d, "aging.summary.total")
	requireMoney(t, "50.00", d, "aging.summary.credits")
	for _, e := range list(t, d, "aging.rows.edges") {
		if str(t, e, "node.key") == kid.ID.String() {
			requireMoney(t, "70.00", e, "node.total")
			requireMoney(t, "30.00", e, "node.credits")
		}
	}

	for _, policy := range []string{"rigorous", "fifo"} {
		vars := obj{"g": g.GuarantorID.String(), "p": policy}
		d = h.ok(t, h.analyst, `query($g: ID!, $p: String) { familyLedger(guarantorId: $g, policy: $p) { owed charges { charge { id } portion owed } } }`, vars)
		found := false
		for _, c := range list(t, d, "familyLedger.charges") {
			if str(t, c, "charge.id") == neg {
				found = true
				requireMoney(t, "-30.00", c, "portion")
			}
		}
		require.True(t, found, "%s: the family ledger holds the negative line", policy)
		for _, params := range []obj{nil, {"negativeProductionIsIncome": "false"}} {
			// With the param off a policy may refuse (RULE_REJECTED), never
			// break an invariant.
			r := h.do(t, h.admin, `query($g: ID!, $p: String, $params: PolicyParams) { previewTransfer(input: {guarantorId: $g, policy: $p, params: $params}) { moves { amount } } }`,
				obj{"g": g.GuarantorID.String(), "p": policy, "params": params})
			for _, e := range r.Errors {
				require.Equal(t, "RULE_REJECTED", e.code(), r.Raw)
			}
		}
		h.ok(t, h.admin, `query($k: ID!, $p: String) { previewReceipt(input: {kind: PATIENT_PAYMENT, patientId: $k, amount: "50.00", allocation: {policy: $p}}) { total } }`,
			obj{"k": kid.ID.String(), "p": policy})
		h.ok(t, h.admin, `mutation($g: ID!, $p: String, $c: [ID!]!) { allocateUnearned(input: {guarantorId: $g, chargeIds: $c, policy: $p, preview: true}) { plan { total } } }`,
			obj{"g": g.GuarantorID.String(), "p": policy, "c": []any{str(t, lines[0], "id"), neg}})
	}
	for _, method := range []string{"INCOME_TRANSFER", "RECREATE_SPLITS"} {
		d = h.ok(t, h.admin, `mutation($g: ID!, $m: BalanceMethod!) { balanceFamily(input: {guarantorId: $g, method: $m, preview: true}) { family { status reason } } }`,
			obj{"g": g.GuarantorID.String(), "m": method})
		require.NotEqual(t, "FAILED", str(t, d, "balanceFamily.family.status"), "%s: %v", method, at(t, d, "balanceFamily.family.reason"))
	}
	// The transfer commits, and a second one proposes nothing.
	h.ok(t, h.admin, `mutation($g: ID!) { transferIncome(input: {guarantorId: $g, policy: "fifo"}) { plan { total } } }`, obj{"g": g.GuarantorID.String()})
	d = h.ok(t, h.admin, `query($g: ID!) { previewTransfer(input: {guarantorId: $g, policy: "fifo"}) { moves { amount } } }`, obj{"g": g.GuarantorID.String()})
	require.Empty(t, list(t, d, "previewTransfer.moves"))
}
