package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHappyPath builds a practice's ledger through the API alone and reads
// it back from every entry point, checking balances to the cent.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := h.admin

	// Parties. Each payload returns the object under its own name.
	d := h.ok(t, key, `mutation { createProvider(input: {name: " Dr. Smith ", code: "DS"}) { provider { id name code } } }`, nil)
	prov := str(t, d, "createProvider.provider.id")
	require.Equal(t, "Dr. Smith", str(t, d, "createProvider.provider.name"), "names are trimmed")
	require.Equal(t, "DS", str(t, d, "createProvider.provider.code"))
	d = h.ok(t, key, `mutation { createLocation(input: {name: "North"}) { location { id name code } } }`, nil)
	loc := str(t, d, "createLocation.location.id")
	d = h.ok(t, key, `mutation($in: CreateGuarantorInput!) { createGuarantor(input: $in) { guarantor { id name externalId selfPatient { id } balance } } }`,
		map[string]any{"in": map[string]any{"name": "Alice Parent", "externalId": "G-1"}})
	gid := str(t, d, "createGuarantor.guarantor.id")
	require.Equal(t, "G-1", str(t, d, "createGuarantor.guarantor.externalId"))
	require.Nil(t, at(t, d, "createGuarantor.guarantor.selfPatient"))
	requireMoney(t, "0.00", d, "createGuarantor.guarantor.balance")

	d = h.ok(t, key, `mutation($in: CreatePatientInput!) { createPatient(input: $in) { patient { id firstName lastName birthDate externalId guarantor { id } } } }`,
		map[string]any{"in": map[string]any{"guarantorId": gid, "firstName": "Kid", "lastName": "Parent", "birthDate": "2015-03-04", "externalId": "P-1"}})
	kid := str(t, d, "createPatient.patient.id")
	require.Equal(t, gid, str(t, d, "createPatient.patient.guarantor.id"))
	require.Equal(t, "2015-03-04", str(t, d, "createPatient.patient.birthDate"))
	d = h.ok(t, key, `mutation { createPatient(input: {selfGuarantor: true, guarantorExternalId: "G-2", firstName: "Sam", lastName: "Solo"}) {
		patient { id birthDate guarantor { id name externalId selfPatient { id } patients { id } } } } }`, nil)
	sam := str(t, d, "createPatient.patient.id")
	samG := str(t, d, "createPatient.patient.guarantor.id")
	require.Nil(t, at(t, d, "createPatient.patient.birthDate"))
	require.Equal(t, "Sam Solo", str(t, d, "createPatient.patient.guarantor.name"))
	require.Equal(t, "G-2", str(t, d, "createPatient.patient.guarantor.externalId"))
	require.Equal(t, sam, str(t, d, "createPatient.patient.guarantor.selfPatient.id"))
	require.Equal(t, []string{sam}, ids(t, d, "createPatient.patient.guarantor.patients"))

	// An encounter: lines default their date, provider and location from
	// it; the planned line owes nothing; serviceTo defaults to the latest line.
	d = h.ok(t, key, `mutation($in: PostEncounterInput!) { postEncounter(input: $in) { encounter {
			id kind serviceFrom serviceTo note patient { id } provider { id } location { id }
			charges { id kind status code serviceDate amount insuranceEstimate owed insurancePending
			          provider { id } location { id } encounter { id } patient { id } } } } }`,
		map[string]any{"in": map[string]any{"patientId": kid, "providerId": prov, "locationId": loc, "serviceFrom": "2026-05-01", "note": "check-up",
			"charges": []any{
				map[string]any{"code": "D0120", "amount": "100.00"},
				map[string]any{"code": "D1110", "amount": "80.00", "insuranceEstimate": "50.00", "serviceDate": "2026-05-02"},
				map[string]any{"code": "D2750", "amount": "900.00", "status": "PLANNED", "serviceDate": "2026-07-01"},
			}}})
	enc := at(t, d, "postEncounter.encounter")
	encID := str(t, enc, "id")
	require.Equal(t, "VISIT", str(t, enc, "kind"))
	require.Equal(t, "2026-05-01", str(t, enc, "serviceFrom"))
	require.Equal(t, "2026-07-01", str(t, enc, "serviceTo"))
	require.Equal(t, "check-up", str(t, enc, "note"))
	require.Equal(t, kid, str(t, enc, "patient.id"))
	lines := list(t, enc, "charges")
	require.Len(t, lines, 3)
	for i, want := range []struct{ code, status, date, amount, est, owed, pending string }{
		{"D0120", "COMPLETED", "2026-05-01", "100.00", "0.00", "100.00", "0.00"},
		{"D1110", "COMPLETED", "2026-05-02", "80.00", "50.00", "30.00", "50.00"},
		{"D2750", "PLANNED", "2026-07-01", "900.00", "0.00", "0.00", "0.00"},
	} {
		c := lines[i]
		require.Equal(t, want.code, str(t, c, "code"))
		require.Equal(t, "PROCEDURE", str(t, c, "kind"))
		require.Equal(t, want.status, str(t, c, "status"))
		require.Equal(t, want.date, str(t, c, "serviceDate"))
		requireMoney(t, want.amount, c, "amount")
		requireMoney(t, want.est, c, "insuranceEstimate")
		requireMoney(t, want.owed, c, "owed")
		requireMoney(t, want.pending, c, "insurancePending")
		require.Equal(t, prov, str(t, c, "provider.id"))
		require.Equal(t, loc, str(t, c, "location.id"))
		require.Equal(t, encID, str(t, c, "encounter.id"))
		require.Equal(t, kid, str(t, c, "patient.id"))
	}
	exam, clean, planned := str(t, lines[0], "id"), str(t, lines[1], "id"), str(t, lines[2], "id")

	// Adjustments: a write-off attached to the exam folds into it (and
	// takes its patient, encounter, provider and location); a late fee
	// stands alone.
	d = h.ok(t, key, `mutation($in: PostAdjustmentInput!) { postAdjustment(input: $in) { adjustment {
			id kind status code amount owed serviceDate attachedTo { id } patient { id } encounter { id } provider { id } location { id } } } }`,
		map[string]any{"in": map[string]any{"attachedToId": exam, "amount": "-10.00", "code": "WO"}})
	wo := at(t, d, "postAdjustment.adjustment")
	require.Equal(t, "ADJUSTMENT", str(t, wo, "kind"))
	require.Equal(t, "2026-06-15", str(t, wo, "serviceDate"), "defaults to today")
	requireMoney(t, "-10.00", wo, "amount")
	requireMoney(t, "0.00", wo, "owed")
	require.Equal(t, exam, str(t, wo, "attachedTo.id"))
	require.Equal(t, kid, str(t, wo, "patient.id"))
	require.Equal(t, encID, str(t, wo, "encounter.id"))
	require.Equal(t, prov, str(t, wo, "provider.id"))
	require.Equal(t, loc, str(t, wo, "location.id"))
	d = h.ok(t, key, `mutation { postAdjustment(input: {patientId: "`+kid+`", amount: "5.00", code: "LATE", serviceDate: "2026-06-01"}) {
			adjustment { id code amount owed attachedTo { id } encounter { id } provider { id } } } }`, nil)
	late := at(t, d, "postAdjustment.adjustment")
	requireMoney(t, "5.00", late, "owed")
	require.Nil(t, at(t, late, "attachedTo"))
	require.Nil(t, at(t, late, "encounter"))
	require.Nil(t, at(t, late, "provider"))

	prepay := ""
	d = h.ok(t, key, `{ practice { id name unearnedTypes { id name hidden isDefault } providers { id } locations { id } } }`, nil)
	for _, u := range list(t, d, "practice.unearnedTypes") {
		if at(t, u, "isDefault") == true {
			prepay = str(t, u, "id")
		}
	}
	require.NotEmpty(t, prepay)
	require.Len(t, list(t, d, "practice.providers"), 2)

	// Receipts: one split on a charge, one on the default unearned type,
	// one unallocated.
	const postReceipt = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt {
			id kind amount receivedOn method reference patient { id } reverses { id }
			splits { amount code patient { id } provider { id } location { id } charge { id } unearnedType { id name } receipt { id } } } } }`
	d = h.ok(t, key, postReceipt, map[string]any{"in": map[string]any{
		"kind": "PATIENT_PAYMENT", "patientId": kid, "amount": "150.00", "receivedOn": "2026-06-10", "method": "CHECK", "reference": "1001",
		"splits": []any{
			map[string]any{"amount": "40.00", "chargeId": exam},
			map[string]any{"amount": "60.00", "unearnedTypeId": prepay},
			map[string]any{"amount": "50.00"},
		}}})
	pay := at(t, d, "postReceipt.receipt")
	payID := str(t, pay, "id")
	require.Equal(t, "PATIENT_PAYMENT", str(t, pay, "kind"))
	requireMoney(t, "150.00", pay, "amount")
	require.Equal(t, "2026-06-10", str(t, pay, "receivedOn"))
	require.Equal(t, "CHECK", str(t, pay, "method"))
	require.Equal(t, kid, str(t, pay, "patient.id"))
	splits := list(t, pay, "splits")
	require.Len(t, splits, 3)
	byAmount := map[string]any{}
	for _, s := range splits {
		require.Equal(t, "PAY", str(t, s, "code"))
		require.Equal(t, kid, str(t, s, "patient.id"))
		require.Equal(t, payID, str(t, s, "receipt.id"))
		byAmount[str(t, s, "amount")] = s
	}
	require.Equal(t, exam, str(t, byAmount["40.00"], "charge.id"))
	require.Equal(t, prov, str(t, byAmount["40.00"], "provider.id"), "a split on a charge takes its provider")
	require.Equal(t, "PREPAYMENT", str(t, byAmount["60.00"], "unearnedType.name"))
	require.Nil(t, at(t, byAmount["60.00"], "charge"))
	require.Nil(t, at(t, byAmount["50.00"], "charge"))
	require.Nil(t, at(t, byAmount["50.00"], "unearnedType"))
	require.Nil(t, at(t, byAmount["50.00"], "provider"))

	// Insurance pays 45.00 on the cleaning: the estimate is settled.
	d = h.ok(t, key, postReceipt, map[string]any{"in": map[string]any{
		"kind": "INSURANCE_PAYMENT", "amount": "45.00", "receivedOn": "2026-06-11",
		"splits": []any{map[string]any{"amount": "45.00", "chargeId": clean}}}})
	ins := at(t, d, "postReceipt.receipt")
	require.Nil(t, at(t, ins, "patient"))
	require.Equal(t, "INS", str(t, ins, "splits.0.code"))

	// A payment on the cleaning, then its reversal.
	d = h.ok(t, key, postReceipt, map[string]any{"in": map[string]any{
		"kind": "PATIENT_PAYMENT", "patientId": kid, "amount": "30.00", "receivedOn": "2026-06-12",
		"splits": []any{map[string]any{"amount": "30.00", "chargeId": clean}}}})
	pay30 := str(t, d, "postReceipt.receipt.id")
	d = h.ok(t, key, `{ charge(id: "`+clean+`") { owed } }`, nil)
	requireMoney(t, "5.00", d, "charge.owed")
	d = h.ok(t, key, `mutation($in: ReverseReceiptInput!) { reverseReceipt(input: $in) { receipt {
			id kind amount receivedOn note reverses { id reversedBy { id } } splits { amount code charge { id } } } } }`,
		map[string]any{"in": map[string]any{"receiptId": pay30, "receivedOn": "2026-06-13", "note": "bounced"}})
	rev := at(t, d, "reverseReceipt.receipt")
	revID := str(t, rev, "id")
	require.Equal(t, "REVERSAL", str(t, rev, "kind"))
	requireMoney(t, "-30.00", rev, "amount")
	require.Equal(t, pay30, str(t, rev, "reverses.id"))
	require.Equal(t, revID, str(t, rev, "reverses.reversedBy.id"))
	requireMoney(t, "-30.00", rev, "splits.0.amount")
	require.Equal(t, "REV", str(t, rev, "splits.0.code"))
	require.Equal(t, clean, str(t, rev, "splits.0.charge.id"))

	// Read it all back. Kid: exam 100 − 10 − 40 = 50; cleaning 80 − 45 = 35
	// (the estimate settled, the 30.00 reversed); planned 0; late fee 5:
	// owed 90, unallocated 50, unearned 60, credit 110, balance −20.
	d = h.ok(t, key, `query($g: ID!, $p: ID!, $s: ID!) {
		family: guarantor(id: $g) { id name externalId balance owed unallocated unearned credit
			patients { id } charges { code } receipts { id kind amount } }
		kid: patient(id: $p) { firstName lastName birthDate externalId guarantor { id } balance owed unallocated unearned credit
			encounters { id charges { id } } charges { code owed } }
		sam: patient(id: $s) { balance owed unallocated unearned credit guarantor { id balance } }
	}`, map[string]any{"g": gid, "p": kid, "s": sam})
	fam := at(t, d, "family")
	require.Equal(t, "Alice Parent", str(t, fam, "name"))
	requireBalances(t, fam, "-20.00", "90.00", "50.00", "60.00", "110.00")
	require.Equal(t, []string{kid}, ids(t, fam, "patients"))
	var codes []string
	for _, c := range list(t, fam, "charges") {
		codes = append(codes, str(t, c, "code"))
	}
	require.Equal(t, []string{"D0120", "D1110", "LATE", "WO", "D2750"}, codes, "oldest first")
	require.Equal(t, []string{revID, pay30, str(t, ins, "id"), payID}, ids(t, fam, "receipts"), "newest first")
	requireMoney(t, "-30.00", fam, "receipts.0.amount")

	k := at(t, d, "kid")
	requireBalances(t, k, "-20.00", "90.00", "50.00", "60.00", "110.00")
	require.Equal(t, "P-1", str(t, k, "externalId"))
	require.Equal(t, []string{encID}, ids(t, k, "encounters"))
	require.Len(t, list(t, k, "encounters.0.charges"), 4, "three lines and the write-off attached to one")
	owedByCode := map[string]string{}
	for _, c := range list(t, k, "charges") {
		owedByCode[str(t, c, "code")] = str(t, c, "owed")
	}
	require.Equal(t, map[string]string{"D0120": "50.00", "D1110": "35.00", "D2750": "0.00", "LATE": "5.00", "WO": "0.00"}, owedByCode)
	requireBalances(t, at(t, d, "sam"), "0.00", "0.00", "0.00", "0.00", "0.00")
	require.Equal(t, samG, str(t, d, "sam.guarantor.id"))

	// Lists.
	d = h.ok(t, key, `{ guarantors { totalCount edges { node { id balance } } }
		patients(filter: {guarantorId: "`+gid+`"}) { totalCount edges { node { id owed } } }
		receipts(filter: {patientId: "`+kid+`"}) { totalCount edges { node { id kind amount } } } }`, nil)
	require.EqualValues(t, 2, at(t, d, "guarantors.totalCount"))
	require.ElementsMatch(t, []string{gid, samG}, ids(t, d, "guarantors.edges"))
	require.Equal(t, []string{kid}, ids(t, d, "patients.edges"))
	requireMoney(t, "90.00", d, "patients.edges.0.node.owed")
	require.Equal(t, []string{revID, pay30, str(t, ins, "id"), payID}, ids(t, d, "receipts.edges"))

	// Single objects.
	d = h.ok(t, key, `query($e: ID!, $c: ID!, $x: ID!, $r: ID!, $p: ID!) {
		encounter(id: $e) { id patient { id } provider { name } location { name } charges { id } }
		exam: charge(id: $c) { amount owed patientPaid insurancePaid insurancePending adjustments { id amount } splits { amount receipt { id } } }
		cleaning: charge(id: $x) { owed patientPaid insurancePaid insurancePending splits { amount } }
		pay: receipt(id: $r) { kind amount reversedBy { id } splits { amount } }
		planned: charge(id: $p) { status owed }
	}`, map[string]any{"e": encID, "c": exam, "x": clean, "r": pay30, "p": planned})
	require.Equal(t, "Dr. Smith", str(t, d, "encounter.provider.name"))
	require.Equal(t, "North", str(t, d, "encounter.location.name"))
	require.Equal(t, []string{exam, clean, str(t, wo, "id"), planned}, ids(t, d, "encounter.charges"))
	requireMoney(t, "50.00", d, "exam.owed")
	requireMoney(t, "40.00", d, "exam.patientPaid")
	requireMoney(t, "0.00", d, "exam.insurancePaid")
	requireMoney(t, "-10.00", d, "exam.adjustments.0.amount")
	requireMoney(t, "40.00", d, "exam.splits.0.amount")
	require.Equal(t, payID, str(t, d, "exam.splits.0.receipt.id"))
	requireMoney(t, "35.00", d, "cleaning.owed")
	requireMoney(t, "0.00", d, "cleaning.patientPaid")
	requireMoney(t, "45.00", d, "cleaning.insurancePaid")
	requireMoney(t, "0.00", d, "cleaning.insurancePending")
	require.Len(t, list(t, d, "cleaning.splits"), 3, "insurance, payment and its reversal")
	require.Equal(t, revID, str(t, d, "pay.reversedBy.id"))
	require.Equal(t, "PLANNED", str(t, d, "planned.status"))
	requireMoney(t, "0.00", d, "planned.owed")
}
