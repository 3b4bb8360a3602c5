package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// ledgerID parses an id the API returned.
func ledgerID(t *testing.T, s string) ledger.ID {
	t.Helper()
	id, err := ledger.ParseID(s)
	require.NoError(t, err)
	return id
}

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

// TestInsuranceFacts (issue 17): an insurance write-off lowers a line's
// patient portion, and an insurance payment made as a total on a claim is
// spread over the encounter's lines as insurance money; neither is patient
// money, so the family holds no credit a transfer could move. Reversing the
// claim total and correcting a write-off put the lines back.
func TestInsuranceFacts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	kid := f.Family(t, "Ins")[0]
	d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { id charges { id } } } }`,
		obj{"in": obj{"patientId": kid.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(), "serviceFrom": "2026-05-01",
			"charges": []any{obj{"code": "D1110", "amount": "100.00", "insuranceEstimate": "60.00"},
				obj{"code": "D0274", "amount": "50.00", "insuranceEstimate": "20.00", "serviceDate": "2026-05-02"}}}})
	enc := str(t, d, "postEncounter.encounter.id")
	lines := list(t, d, "postEncounter.encounter.charges")
	c1, c2 := str(t, lines[0], "id"), str(t, lines[1], "id")
	const lineFields = `owed insurancePending insurancePaid insuranceWriteOff patientPaid`
	line := func(id string) map[string]any {
		return at(t, h.ok(t, h.analyst, `query($id: ID!) { charge(id: $id) { `+lineFields+` } }`, obj{"id": id}), "charge").(map[string]any)
	}
	requireLine := func(id, owed, pending, paid, writeOff string) {
		t.Helper()
		l := line(id)
		requireMoney(t, owed, l, "owed")
		requireMoney(t, pending, l, "insurancePending")
		requireMoney(t, paid, l, "insurancePaid")
		requireMoney(t, writeOff, l, "insuranceWriteOff")
		requireMoney(t, "0.00", l, "patientPaid")
	}
	// balances checks the patient's balance, and aging's patient and
	// pending insurance portions.
	balances := func(balance, pending string) {
		t.Helper()
		d := h.ok(t, h.analyst, `query($p: ID!) { patient(id: $p) { balance owed unallocated unearned credit } }`, obj{"p": kid.ID.String()})
		requireBalances(t, at(t, d, "patient"), balance, balance, "0.00", "0.00", "0.00")
		d = h.ok(t, h.analyst, `{ aging(input: {groupBy: PATIENT}) { summary { patientPortion insurancePortion credits } } }`, nil)
		requireMoney(t, balance, d, "aging.summary.patientPortion")
		requireMoney(t, pending, d, "aging.summary.insurancePortion")
		requireMoney(t, "0.00", d, "aging.summary.credits")
	}
	requireLine(c1, "40.00", "60.00", "0.00", "0.00")
	balances("70.00", "80.00")

	// A write-off of 15.00 on the first line.
	d = h.ok(t, h.admin, `mutation($in: PostInsuranceWriteOffInput!) { postInsuranceWriteOff(input: $in) { writeOff { id amount writtenOn note charge { id } } } }`,
		obj{"in": obj{"chargeId": c1, "amount": "15.00", "writtenOn": "2026-06-01", "note": "PPO"}})
	requireMoney(t, "15.00", d, "postInsuranceWriteOff.writeOff.amount")
	require.Equal(t, c1, str(t, d, "postInsuranceWriteOff.writeOff.charge.id"))
	require.Equal(t, "2026-06-01", str(t, d, "postInsuranceWriteOff.writeOff.writtenOn"))
	requireLine(c1, "25.00", "60.00", "0.00", "15.00")
	balances("55.00", "80.00")

	// A claim paid as a total of 100.00: the first line takes what it
	// owes with its estimate (85.00), the last line the rest; both
	// estimates are settled.
	d = h.ok(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id kind amount encounter { id } splits { amount code charge { id } } } } }`,
		obj{"in": obj{"kind": "INSURANCE_PAYMENT", "encounterId": enc, "amount": "100.00", "reference": "claim 7"}})
	rc := at(t, d, "postReceipt.receipt")
	require.Equal(t, enc, str(t, rc, "encounter.id"))
	splits := list(t, rc, "splits")
	require.Len(t, splits, 2)
	for i, want := range []struct{ amount, charge string }{{"85.00", c1}, {"15.00", c2}} {
		requireMoney(t, want.amount, splits[i], "amount")
		require.Equal(t, "INS", str(t, splits[i], "code"))
		require.Equal(t, want.charge, str(t, splits[i], "charge.id"))
	}
	requireLine(c1, "0.00", "0.00", "85.00", "15.00")
	requireLine(c2, "35.00", "0.00", "15.00", "0.00")
	balances("35.00", "0.00")
	for _, policy := range []string{"rigorous", "fifo"} {
		d = h.ok(t, h.analyst, `query($g: ID!, $p: String) { familyLedger(guarantorId: $g, policy: $p) { owed unallocated } }`,
			obj{"g": kid.GuarantorID.String(), "p": policy})
		requireMoney(t, "35.00", d, "familyLedger.owed")
		requireMoney(t, "0.00", d, "familyLedger.unallocated")
		d = h.ok(t, h.admin, `query($g: ID!, $p: String) { previewTransfer(input: {guarantorId: $g, policy: $p}) { moves { amount } } }`,
			obj{"g": kid.GuarantorID.String(), "p": policy})
		require.Empty(t, list(t, d, "previewTransfer.moves"), "%s: insurance money is not patient money", policy)
	}

	// Reversing the claim total puts the estimates back; so does a
	// correction of the write-off, which may not take back more than was
	// written off.
	d = h.ok(t, h.admin, `mutation($id: ID!) { reverseReceipt(input: {receiptId: $id}) { receipt { encounter { id } } } }`, obj{"id": str(t, rc, "id")})
	require.Equal(t, enc, str(t, d, "reverseReceipt.receipt.encounter.id"))
	requireLine(c1, "25.00", "60.00", "0.00", "15.00")
	requireLine(c2, "30.00", "20.00", "0.00", "0.00")
	h.ok(t, h.admin, `mutation($c: ID!) { postInsuranceWriteOff(input: {chargeId: $c, amount: "-5.00"}) { writeOff { id } } }`, obj{"c": c1})
	requireLine(c1, "30.00", "60.00", "0.00", "10.00")
	e, _ := h.fail(t, h.admin, `mutation($c: ID!) { postInsuranceWriteOff(input: {chargeId: $c, amount: "-10.01"}) { writeOff { id } } }`, obj{"c": c1})
	require.Equal(t, "BAD_USER_INPUT", e.code())
	require.Equal(t, "amount", e.field())
	balances("60.00", "80.00")
	// Aging as of before the write-off leaves it out.
	d = h.ok(t, h.analyst, `{ aging(input: {groupBy: PATIENT, asOf: "2026-05-31"}) { summary { patientPortion } } }`, nil)
	requireMoney(t, "70.00", d, "aging.summary.patientPortion")
}

// TestUnearnedTypes (issue 17): an ADMIN creates, renames, shows and hides
// unearned types and chooses the default and the treatment-plan type; a
// BILLER may not. Balances and aging count visible types' money as unearned
// credit and show hidden types' money apart (hiddenUnearned), never as
// credit.
func TestUnearnedTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	biller := issueKey(t, f, "BILLER")
	pat := f.Family(t, "Types")[0]
	const typesDoc = `{ practice { unearnedTypes { id name hidden isDefault isTreatmentPlan } } }`
	types := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, u := range list(t, h.ok(t, h.analyst, typesDoc, nil), "practice.unearnedTypes") {
			out[str(t, u, "name")] = u.(map[string]any)
		}
		return out
	}
	ts := types()
	require.Equal(t, true, ts["PREPAYMENT"]["isDefault"])
	require.Equal(t, true, ts["TP_PREPAYMENT"]["isTreatmentPlan"])
	require.Equal(t, true, ts["TP_PREPAYMENT"]["hidden"])

	const create = `mutation($in: CreateUnearnedTypeInput!) { createUnearnedType(input: $in) { unearnedType { id name hidden isDefault isTreatmentPlan } } }`
	const update = `mutation($in: UpdateUnearnedTypeInput!) { updateUnearnedType(input: $in) { unearnedType { id name hidden isDefault isTreatmentPlan } } }`
	e, _ := h.fail(t, biller, create, obj{"in": obj{"name": "Escrow"}})
	require.Equal(t, "FORBIDDEN", e.code())
	d := h.ok(t, h.admin, create, obj{"in": obj{"name": " Escrow ", "hidden": true}})
	escrow := at(t, d, "createUnearnedType.unearnedType").(map[string]any)
	require.Equal(t, "Escrow", escrow["name"], "names are trimmed")
	require.Equal(t, true, escrow["hidden"])
	d = h.ok(t, h.admin, create, obj{"in": obj{"name": "Ortho prepayment", "isDefault": true}})
	ortho := str(t, d, "createUnearnedType.unearnedType.id")
	ts = types()
	require.Equal(t, false, ts["PREPAYMENT"]["isDefault"], "the default moved")
	require.Equal(t, true, ts["Ortho prepayment"]["isDefault"])

	// Rename; make Escrow the treatment-plan type.
	d = h.ok(t, h.admin, update, obj{"in": obj{"id": f.Prepayment.String(), "name": "Prepayment"}})
	require.Equal(t, "Prepayment", str(t, d, "updateUnearnedType.unearnedType.name"))
	h.ok(t, h.admin, update, obj{"in": obj{"id": escrow["id"], "isTreatmentPlan": true}})
	ts = types()
	require.Equal(t, false, ts["TP_PREPAYMENT"]["isTreatmentPlan"])
	require.Equal(t, true, ts["Escrow"]["isTreatmentPlan"])

	// Money on a visible and a hidden type.
	f.Pay(t, pat, "80.00", ledgertest.Unearned("30.00", ledgerID(t, ortho)), ledgertest.Unearned("50.00", ledgerID(t, escrow["id"].(string))))
	check := func(unearned, hidden string) {
		t.Helper()
		d := h.ok(t, h.analyst, `query($p: ID!, $g: ID!) { patient(id: $p) { balance owed unallocated unearned credit hiddenUnearned }
			guarantor(id: $g) { hiddenUnearned } }`, obj{"p": pat.ID.String(), "g": pat.GuarantorID.String()})
		requireBalances(t, at(t, d, "patient"), "-"+unearned, "0.00", "0.00", unearned, unearned)
		requireMoney(t, hidden, d, "patient.hiddenUnearned")
		requireMoney(t, hidden, d, "guarantor.hiddenUnearned")
		d = h.ok(t, h.analyst, `{ aging(input: {groupBy: PATIENT}) { summary { unearned credits } } }`, nil)
		requireMoney(t, unearned, d, "aging.summary.unearned")
		requireMoney(t, unearned, d, "aging.summary.credits")
	}
	check("30.00", "50.00")
	h.ok(t, h.admin, update, obj{"in": obj{"id": escrow["id"], "hidden": false}})
	check("80.00", "0.00")
	h.ok(t, h.admin, update, obj{"in": obj{"id": escrow["id"], "hidden": true}})
	check("30.00", "50.00")
}

// TestTransferRows (issue 17; docs/allocation.md §3.10): a patient
// account's Txfr rows are per patient × provider × location combination:
// 180.00 moved between two providers of one patient shows as −180.00 and
// +180.00; a move between two procedures of one combination as one 0.00 row.
func TestTransferRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	dr2, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Two"})
	require.NoError(t, err)
	kid := f.Family(t, "Txfr")[0]
	a := f.Visit(t, kid, "2026-05-01", "180.00", "60.00", "40.00")
	b, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: kid.ID, ProviderID: dr2.ID, LocationID: f.Location,
		Charges: []ledger.NewCharge{{Code: "D2740", Amount: ledger.MustMoney("180.00")}}})
	require.NoError(t, err)
	bLines, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{b.ID})
	require.NoError(t, err)
	f.Pay(t, kid, "230.00", ledgertest.On("180.00", a[0]), ledgertest.On("50.00", a[1]))

	const transfer = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`
	move := func(from, to ledger.ID, amount string) string {
		d := h.ok(t, h.admin, transfer, obj{"in": obj{"kind": "TRANSFER", "patientId": kid.ID.String(), "amount": "0.00",
			"splits": []any{obj{"amount": "-" + amount, "chargeId": from.String()}, obj{"amount": amount, "chargeId": to.String()}}}})
		return str(t, d, "postReceipt.receipt.id")
	}
	between := move(a[0].ID, bLines[0].ID, "180.00")
	within := move(a[1].ID, a[2].ID, "40.00")

	d := h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { transfers { receipt { id } amount provider { id } location { id } } } }`,
		obj{"id": kid.ID.String()})
	rows := list(t, d, "patient.transfers")
	require.Len(t, rows, 3)
	for i, want := range []struct{ receipt, amount, provider string }{
		{between, "-180.00", f.Provider.String()},
		{between, "180.00", dr2.ID.String()},
		{within, "0.00", f.Provider.String()},
	} {
		require.Equal(t, want.receipt, str(t, rows[i], "receipt.id"), "row %d", i)
		requireMoney(t, want.amount, rows[i], "amount")
		require.Equal(t, want.provider, str(t, rows[i], "provider.id"), "row %d", i)
		require.Equal(t, f.Location.String(), str(t, rows[i], "location.id"), "row %d", i)
	}
}

// TestFamilyLedgerOwedLeavesPlannedWorkApart (issue 17): with a 20.00 line
// done and a 900.00 crown planned, guarantor.owed and familyLedger.owed
// both say 20.00; familyLedger.planned shows the crown's 900.00 apart, and
// its line owes 0.00 there as on the charge.
func TestFamilyLedgerOwedLeavesPlannedWorkApart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Crown")[0]
	d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { charges { id owed } } } }`,
		obj{"in": obj{"patientId": pat.ID.String(), "providerId": f.Provider.String(), "locationId": f.Location.String(), "serviceFrom": "2026-06-01",
			"charges": []any{obj{"code": "D0120", "amount": "20.00"}, obj{"code": "D2750", "amount": "900.00", "status": "PLANNED"}}}})
	crown := str(t, list(t, d, "postEncounter.encounter.charges")[1], "id")
	for _, policy := range []string{"rigorous", "fifo"} {
		d = h.ok(t, h.analyst, `query($g: ID!, $p: String) { guarantor(id: $g) { owed }
			familyLedger(guarantorId: $g, policy: $p) { owed planned charges { charge { id } portion owed } } }`,
			obj{"g": pat.GuarantorID.String(), "p": policy})
		requireMoney(t, "20.00", d, "guarantor.owed")
		requireMoney(t, "20.00", d, "familyLedger.owed")
		requireMoney(t, "900.00", d, "familyLedger.planned")
		for _, c := range list(t, d, "familyLedger.charges") {
			if str(t, c, "charge.id") == crown {
				requireMoney(t, "900.00", c, "portion")
				requireMoney(t, "0.00", c, "owed")
			}
		}
	}
}
