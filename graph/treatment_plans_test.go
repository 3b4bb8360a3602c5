package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

const (
	completeDoc = `mutation($in: CompletePlannedChargeInput!) { completePlannedCharge(input: $in) {
		charge { id status serviceDate amount owed patientPaid prepaid completes { id outcome { outcome on completedAs { id } } } } } }`
	removeDoc = `mutation($in: RemovePlannedChargeInput!) { removePlannedCharge(input: $in) { charge { id status outcome { outcome on note completedAs { id } } } } }`
	attachDoc = `mutation($in: AttachPrepaymentInput!) { attachPrepayment(input: $in) { receipt { id kind amount splits { amount charge { id } unearnedType { id } } } } }`
	detachDoc = `mutation($in: DetachPrepaymentInput!) { detachPrepayment(input: $in) { receipt { id kind amount splits { amount charge { id } unearnedType { id } } } } }`
)

// TestTreatmentPlans (issue 17) follows the reference's treatment-plan
// prepayment steps through the API: prepay a planned crown at posting and a
// planned filling by attaching unearned money; the filling will not be
// done, so its prepayment is detached (it stays a treatment-plan
// prepayment, same provider) and the filling removed; the crown is
// completed, becoming production dated when it was done, and its
// prepayment follows it onto the completed line. Balances never count the
// attached money as a credit, and the family ledger shows planned work
// apart until it is done or removed.
func TestTreatmentPlans(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Plan")[0]
	id := func(v interface{ String() string }) string { return v.String() }

	d := h.ok(t, h.admin, `mutation { updatePracticeSettings(input: {prepayAllowedForTpProcs: true}) { practice { prepayAllowedForTpProcs } } }`, nil)
	require.Equal(t, true, at(t, d, "updatePracticeSettings.practice.prepayAllowedForTpProcs"))

	d = h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { charges { id } } } }`,
		obj{"in": obj{"patientId": id(pat.ID), "providerId": id(f.Provider), "locationId": id(f.Location),
			"charges": []any{obj{"code": "D0120", "amount": "20.00", "serviceDate": "2026-06-01"},
				obj{"code": "D2750", "amount": "900.00", "status": "PLANNED", "serviceDate": "2026-06-01"},
				obj{"code": "D2391", "amount": "200.00", "status": "PLANNED", "serviceDate": "2026-06-01"}}}})
	ids := ids(t, d, "postEncounter.encounter.charges")
	crown, filling := ids[1], ids[2]

	// Prepay the crown at posting: a split naming the planned charge and the
	// treatment-plan type.
	h.ok(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "300.00",
			"splits": []any{obj{"amount": "300.00", "chargeId": crown, "unearnedTypeId": id(f.TPPrepay)}}}})
	// 100.00 on the treatment-plan type, then attached to the filling.
	h.ok(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "100.00",
			"splits": []any{obj{"amount": "100.00", "unearnedTypeId": id(f.TPPrepay), "providerId": id(f.Provider), "locationId": id(f.Location)}}}})
	d = h.ok(t, h.admin, attachDoc, obj{"in": obj{"chargeId": filling, "amount": "100.00", "note": "filling prepayment"}})
	require.Equal(t, "TRANSFER", str(t, d, "attachPrepayment.receipt.kind"))
	attach := str(t, d, "attachPrepayment.receipt.id")
	requireMoney(t, "0.00", d, "attachPrepayment.receipt.amount")

	standing := func() map[string]any {
		return h.ok(t, h.analyst, `query($p: ID!, $g: ID!, $c: ID!, $fl: ID!) {
			patient(id: $p) { balance owed unallocated unearned credit hiddenUnearned }
			crown: charge(id: $c) { owed prepaid patientPaid outcome { outcome on completedAs { id serviceDate } } }
			filling: charge(id: $fl) { owed prepaid outcome { outcome } }
			familyLedger(guarantorId: $g, policy: "rigorous") { owed planned } }`,
			obj{"p": id(pat.ID), "g": id(pat.GuarantorID), "c": crown, "fl": filling})
	}
	d = standing()
	requireBalances(t, at(t, d, "patient"), "20.00", "20.00", "0.00", "0.00", "0.00")
	requireMoney(t, "400.00", d, "patient.hiddenUnearned")
	requireMoney(t, "300.00", d, "crown.prepaid")
	requireMoney(t, "0.00", d, "crown.patientPaid")
	requireMoney(t, "0.00", d, "crown.owed")
	requireMoney(t, "100.00", d, "filling.prepaid")
	require.Nil(t, at(t, d, "crown.outcome"))
	requireMoney(t, "20.00", d, "familyLedger.owed")
	requireMoney(t, "1100.00", d, "familyLedger.planned")

	// The filling will not be done: it cannot be removed with money on it.
	before := rowCounts(t, h.db)
	e, r := h.fail(t, h.admin, removeDoc, obj{"in": obj{"chargeId": filling}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
	require.Equal(t, "chargeId", e.field())
	require.Contains(t, e.Message, "detach it first")
	require.Equal(t, before, rowCounts(t, h.db))

	d = h.ok(t, h.admin, detachDoc, obj{"in": obj{"chargeId": filling}})
	splits := list(t, d, "detachPrepayment.receipt.splits")
	require.Len(t, splits, 2)
	requireMoney(t, "-100.00", splits[0], "amount")
	require.Equal(t, filling, str(t, splits[0], "charge.id"))
	requireMoney(t, "100.00", splits[1], "amount")
	require.Nil(t, at(t, splits[1], "charge"), "still a treatment-plan prepayment, no longer on the procedure")
	require.Equal(t, id(f.TPPrepay), str(t, splits[1], "unearnedType.id"))

	d = h.ok(t, h.admin, removeDoc, obj{"in": obj{"chargeId": filling, "note": "patient declined"}})
	require.Equal(t, "PLANNED", str(t, d, "removePlannedCharge.charge.status"))
	require.Equal(t, "REMOVED", str(t, d, "removePlannedCharge.charge.outcome.outcome"))
	require.Equal(t, "2026-06-15", str(t, d, "removePlannedCharge.charge.outcome.on"))
	require.Equal(t, "patient declined", str(t, d, "removePlannedCharge.charge.outcome.note"))

	// The crown is done on 2026-06-10: production, and its prepayment follows.
	d = h.ok(t, h.admin, completeDoc, obj{"in": obj{"chargeId": crown, "completedOn": "2026-06-10"}})
	done := at(t, d, "completePlannedCharge.charge")
	require.Equal(t, "COMPLETED", str(t, done, "status"))
	require.Equal(t, "2026-06-10", str(t, done, "serviceDate"))
	requireMoney(t, "900.00", done, "amount")
	requireMoney(t, "600.00", done, "owed")
	requireMoney(t, "300.00", done, "patientPaid")
	require.Equal(t, crown, str(t, done, "completes.id"))
	require.Equal(t, str(t, done, "id"), str(t, done, "completes.outcome.completedAs.id"))

	d = standing()
	requireBalances(t, at(t, d, "patient"), "620.00", "620.00", "0.00", "0.00", "0.00")
	requireMoney(t, "100.00", d, "patient.hiddenUnearned")
	requireMoney(t, "0.00", d, "crown.prepaid")
	require.Equal(t, "COMPLETED", str(t, d, "crown.outcome.outcome"))
	require.Equal(t, "2026-06-10", str(t, d, "crown.outcome.on"))
	require.Equal(t, "REMOVED", str(t, d, "filling.outcome.outcome"))
	requireMoney(t, "620.00", d, "familyLedger.owed")
	requireMoney(t, "0.00", d, "familyLedger.planned")

	// The filling's attach cannot be reversed now: its money was detached
	// (the reversal would take prepayment off a line that holds none).
	before = rowCounts(t, h.db)
	e, r = h.fail(t, h.admin, `mutation($in: ReverseReceiptInput!) { reverseReceipt(input: $in) { receipt { id } } }`, obj{"in": obj{"receiptId": attach}})
	require.Equal(t, "INVARIANT_VIOLATION", e.code(), r.Raw)
	require.Equal(t, before, rowCounts(t, h.db))

	// Every move is in the audit trail, with what it created.
	d = h.ok(t, h.admin, `{ auditEvents(first: 100) { edges { node { operation createdIds } } } }`, nil)
	audited := map[string]bool{}
	for _, e := range list(t, d, "auditEvents.edges") {
		audited[str(t, e, "node.operation")] = true
	}
	for _, op := range []string{"attachPrepayment", "detachPrepayment", "removePlannedCharge", "completePlannedCharge", "updatePracticeSettings"} {
		require.True(t, audited[op], "%s is audited", op)
	}

	// Aging sees the completed crown as of the day it was done.
	d = h.ok(t, h.analyst, `{ aging(input: {groupBy: PATIENT}) { summary { total } } }`, nil)
	requireMoney(t, "620.00", d, "aging.summary.total")
}

// TestTreatmentPlansBadInput: every refusal of the treatment-plan
// operations is BAD_USER_INPUT naming the field, and writes nothing.
func TestTreatmentPlansBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	fam := f.Family(t, "Plan", "Kid")
	pat, kid := fam[0], fam[1]
	id := func(v interface{ String() string }) string { return v.String() }
	b := ledgertest.AddPractice(t, f.Ledger, "Other Practice")

	planned := func(p string, amount string) string {
		d := h.ok(t, h.admin, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter { charges { id } } } }`,
			obj{"in": obj{"patientId": p, "providerId": id(f.Provider), "locationId": id(f.Location),
				"charges": []any{obj{"code": "D2750", "amount": amount, "status": "PLANNED", "serviceDate": "2026-07-01"}}}})
		return ids(t, d, "postEncounter.encounter.charges")[0]
	}
	crown, kidCrown, bare := planned(id(pat.ID), "900.00"), planned(id(kid.ID), "500.00"), planned(id(pat.ID), "50.00")
	completed := f.Visit(t, pat, "2026-06-01", "80.00")[0]
	f.Pay(t, pat, "200.00", ledgertest.Unearned("200.00", f.TPPrepay))

	// Off by default: attaching is refused until an ADMIN allows it.
	e, r := h.fail(t, h.admin, attachDoc, obj{"in": obj{"chargeId": crown, "amount": "10.00"}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
	require.Contains(t, e.Message, "prepayAllowedForTpProcs")
	e, r = h.fail(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
		obj{"in": obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00",
			"splits": []any{obj{"amount": "10.00", "chargeId": crown, "unearnedTypeId": id(f.TPPrepay)}}}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
	h.ok(t, h.admin, `mutation { updatePracticeSettings(input: {prepayAllowedForTpProcs: true}) { practice { id } } }`, nil)
	h.ok(t, h.admin, attachDoc, obj{"in": obj{"chargeId": crown, "amount": "100.00"}})
	done := str(t, h.ok(t, h.admin, completeDoc, obj{"in": obj{"chargeId": bare}}), "completePlannedCharge.charge.id")

	cases := []struct {
		name, doc string
		in        obj
		field     string
		msg       string
	}{
		{"attach a negative amount", attachDoc, obj{"chargeId": crown, "amount": "-5.00"}, "amount", "positive"},
		{"attach zero", attachDoc, obj{"chargeId": crown, "amount": "0.00"}, "amount", "positive"},
		{"attach to a completed line", attachDoc, obj{"chargeId": id(completed.ID), "amount": "5.00"}, "chargeId", "completed"},
		{"attach to a completed planned line", attachDoc, obj{"chargeId": bare, "amount": "5.00"}, "chargeId", "already completed"},
		{"attach to another patient's procedure", attachDoc, obj{"chargeId": kidCrown, "amount": "5.00", "patientId": id(pat.ID)}, "chargeId", "another patient"},
		{"attach from a type of another practice", attachDoc, obj{"chargeId": crown, "amount": "5.00", "unearnedTypeId": id(b.TPPrepay)}, "unearnedTypeId", ""},
		{"attach more than the patient holds", attachDoc, obj{"chargeId": crown, "amount": "100.01"}, "amount", "holds"},
		{"attach what the kid does not hold", attachDoc, obj{"chargeId": kidCrown, "amount": "5.00"}, "amount", "holds"},
		{"attach over the fee", attachDoc, obj{"chargeId": crown, "amount": "800.01"}, "amount", "fee"},
		{"attach to an unknown charge", attachDoc, obj{"chargeId": newID(), "amount": "5.00"}, "chargeId", ""},
		{"attach to another practice's charge", attachDoc, obj{"chargeId": id(b.Visit(t, b.Family(t, "Bee")[0], "2026-06-01", "10.00")[0].ID), "amount": "5.00"}, "chargeId", ""},
		{"detach what is not attached", detachDoc, obj{"chargeId": kidCrown}, "chargeId", "no prepayment"},
		{"detach more than is attached", detachDoc, obj{"chargeId": crown, "amount": "100.01"}, "amount", "holds"},
		{"detach a negative amount", detachDoc, obj{"chargeId": crown, "amount": "-1.00"}, "amount", "positive"},
		{"detach from a completed line", detachDoc, obj{"chargeId": done}, "chargeId", "completed"},
		{"remove with money attached", removeDoc, obj{"chargeId": crown}, "chargeId", "detach it first"},
		{"remove a completed line", removeDoc, obj{"chargeId": id(completed.ID)}, "chargeId", "completed"},
		{"remove what was completed", removeDoc, obj{"chargeId": bare}, "chargeId", "already completed"},
		{"complete twice", completeDoc, obj{"chargeId": bare}, "chargeId", "already completed"},
		{"complete in the future", completeDoc, obj{"chargeId": crown, "completedOn": "2026-06-16"}, "completedOn", "future"},
		{"complete a completed line", completeDoc, obj{"chargeId": id(completed.ID)}, "chargeId", "completed"},
		{"prepay a planned line on the default type", `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00",
				"splits": []any{obj{"amount": "10.00", "chargeId": crown, "unearnedTypeId": id(f.Prepayment)}}}, "splits[0].unearnedTypeId", "treatment-plan"},
		{"pay a planned line", `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00", "splits": []any{obj{"amount": "10.00", "chargeId": crown}}},
			"splits[0].chargeId", "planned"},
		{"a completed line with an unearned type", `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00",
				"splits": []any{obj{"amount": "10.00", "chargeId": id(completed.ID), "unearnedTypeId": id(f.TPPrepay)}}}, "splits[0].unearnedTypeId", "completed"},
		{"prepay a completed planned line", `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00",
				"splits": []any{obj{"amount": "10.00", "chargeId": bare, "unearnedTypeId": id(f.TPPrepay)}}}, "splits[0].chargeId", "completed"},
		{"take more off a planned line than is attached", `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`,
			obj{"kind": "TRANSFER", "patientId": id(pat.ID), "amount": "0.00", "splits": []any{
				obj{"amount": "-100.01", "chargeId": crown, "unearnedTypeId": id(f.TPPrepay)},
				obj{"amount": "100.01", "unearnedTypeId": id(f.TPPrepay)}}}, "splits[0].amount", "holds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rowCounts(t, h.db)
			e, r := h.fail(t, h.admin, tc.doc, obj{"in": tc.in})
			require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
			require.Equal(t, tc.field, e.field(), r.Raw)
			require.Contains(t, e.Message, tc.msg)
			require.Equal(t, before, rowCounts(t, h.db), "a refused request writes nothing")
		})
	}

	// An ANALYST may not move treatment plans; a BILLER may not change settings.
	e, _ = h.fail(t, h.analyst, detachDoc, obj{"in": obj{"chargeId": crown}})
	require.Equal(t, "FORBIDDEN", e.code())
	e, _ = h.fail(t, issueKey(t, f, ledger.RoleBiller), `mutation { updatePracticeSettings(input: {prepayAllowedForTpProcs: false}) { practice { id } } }`, nil)
	require.Equal(t, "FORBIDDEN", e.code())
}
