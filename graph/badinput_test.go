package graph_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// mutations maps each mutation to its input type and payload field.
var mutations = map[string][2]string{
	"createProvider":        {"CreateProviderInput", "provider"},
	"createLocation":        {"CreateLocationInput", "location"},
	"createGuarantor":       {"CreateGuarantorInput", "guarantor"},
	"createPatient":         {"CreatePatientInput", "patient"},
	"postEncounter":         {"PostEncounterInput", "encounter"},
	"postAdjustment":        {"PostAdjustmentInput", "adjustment"},
	"postReceipt":           {"PostReceiptInput", "receipt"},
	"postInsuranceWriteOff": {"PostInsuranceWriteOffInput", "writeOff"},
	"createUnearnedType":    {"CreateUnearnedTypeInput", "unearnedType"},
	"updateUnearnedType":    {"UpdateUnearnedTypeInput", "unearnedType"},
	"reverseReceipt":        {"ReverseReceiptInput", "receipt"},
}

// mutationDoc is the document that runs op with its input in $in.
func mutationDoc(op string) string {
	m := mutations[op]
	return `mutation($in: ` + m[0] + `!) { ` + op + `(input: $in) { ` + m[1] + ` { id } } }`
}

// absent removes a key in with.
type absentT struct{}

var absent absentT

// with copies base and sets key, value pairs on the copy.
func with(base map[string]any, kv ...any) map[string]any {
	out := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == absent {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

type obj = map[string]any

// TestBadInput sends every mutation input it must refuse: each answer is
// BAD_USER_INPUT naming the field, and nothing is written to any table.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	fam := f.Family(t, "Pat", "Kid")
	pat := fam[0]
	stranger := f.Family(t, "Stranger")[0]
	charge := f.Visit(t, pat, "2026-05-01", "100.00")[0]
	strangerCharge := f.Visit(t, stranger, "2026-05-01", "50.00")[0]
	receipt := f.Pay(t, pat, "20.00", ledgertest.Unallocated("20.00"))
	_, err := f.Ledger.CreateProvider(ctx, f.Actor, ledger.NewProvider{Name: "Dr. Code", Code: "DC"})
	require.NoError(t, err)
	_, err = f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "Ext", ExternalID: "G-EXT"})
	require.NoError(t, err)

	// Another practice on the same database, whose ids must be refused.
	b := ledgertest.AddPractice(t, f.Ledger, "Other Practice")
	bPat := b.Family(t, "Bee")[0]
	bCharge := b.Visit(t, bPat, "2026-05-01", "10.00")[0]
	bReceipt := b.Pay(t, bPat, "10.00", ledgertest.Unallocated("10.00"))
	d := ledger.MustDate("2026-07-01")
	plannedVisit, err := f.Ledger.PostEncounter(ctx, f.Actor, ledger.NewEncounter{PatientID: pat.ID, ProviderID: f.Provider, LocationID: f.Location,
		Charges: []ledger.NewCharge{{Code: "D2750", Amount: ledger.MustMoney("900.00"), Status: ledger.StatusPlanned, ServiceDate: &d}}})
	require.NoError(t, err)
	plannedLines, err := f.Store.ChargesOfEncounters(ctx, f.Actor.PracticeID, []ledger.ID{plannedVisit.ID})
	require.NoError(t, err)
	plannedCharge := plannedLines[0]
	adj, err := f.Ledger.PostAdjustment(ctx, f.Actor, ledger.NewAdjustment{AttachedToID: &charge.ID, Amount: ledger.MustMoney("-5.00")})
	require.NoError(t, err)

	id := func(v ledger.ID) string { return v.String() }
	long := strings.Repeat("x", 10_000)
	provider := obj{"name": "Dr. New"}
	location := obj{"name": "Room 2"}
	guarantor := obj{"name": "New Family"}
	patient := obj{"guarantorId": id(pat.GuarantorID), "firstName": "New", "lastName": "Kid"}
	line := obj{"code": "D0120", "amount": "10.00"}
	encounter := obj{"patientId": id(pat.ID), "providerId": id(f.Provider), "locationId": id(f.Location), "charges": []any{line}}
	lines := func(kv ...any) []any { return []any{with(line, kv...)} }
	adjustment := obj{"patientId": id(pat.ID), "amount": "5.00"}
	payment := obj{"kind": "PATIENT_PAYMENT", "patientId": id(pat.ID), "amount": "10.00", "splits": []any{obj{"amount": "10.00"}}}
	split := func(amount string, kv ...any) obj { return with(obj{"amount": amount}, kv...) }
	splits := func(s ...any) []any { return s }
	reversal := obj{"receiptId": id(receipt.ID)}
	writeOff := obj{"chargeId": id(charge.ID), "amount": "5.00"}
	newType := obj{"name": "Custom"}
	typeUpdate := obj{"id": id(f.TPPrepay), "name": "Treatment plan"}
	claimTotal := obj{"kind": "INSURANCE_PAYMENT", "encounterId": id(*charge.EncounterID), "amount": "50.00"}

	type badCase struct {
		name  string
		op    string // a mutation run with in as $in ...
		in    obj
		query string // ... or a raw document with vars
		vars  obj
		field string
		msg   string // in the message, if given
	}
	cases := []badCase{
		// createProvider
		{name: "empty name", op: "createProvider", in: with(provider, "name", ""), field: "name"},
		{name: "blank name", op: "createProvider", in: with(provider, "name", "  \t "), field: "name"},
		{name: "long name", op: "createProvider", in: with(provider, "name", long), field: "name"},
		{name: "long code", op: "createProvider", in: with(provider, "code", long), field: "code"},
		{name: "NUL in name", op: "createProvider", in: with(provider, "name", "Dr.\x00X"), field: "name"},
		{name: "duplicate code", op: "createProvider", in: with(provider, "code", "DC"), field: "code"},
		{name: "long idempotency key", op: "createProvider", in: with(provider, "idempotencyKey", long), field: "idempotencyKey"},
		{name: "NUL in idempotency key", op: "createProvider", in: with(provider, "idempotencyKey", "k\x00"), field: "idempotencyKey"},
		{name: "NUL in code", op: "createProvider", in: with(provider, "code", "D\x00C"), field: "code"},
		{name: "escape in name", op: "createProvider", in: with(provider, "name", "Dr.\x1b[2JX"), field: "name"},
		{name: "line break in name", op: "createProvider", in: with(provider, "name", "Dr.\nX"), field: "name"},
		{name: "DEL in idempotency key", op: "createProvider", in: with(provider, "idempotencyKey", "k\x7f"), field: "idempotencyKey"},

		// createLocation
		{name: "blank name", op: "createLocation", in: with(location, "name", " "), field: "name"},
		{name: "long name", op: "createLocation", in: with(location, "name", long), field: "name"},
		{name: "NUL in name", op: "createLocation", in: with(location, "name", "\x00"), field: "name"},

		// createGuarantor
		{name: "empty name", op: "createGuarantor", in: with(guarantor, "name", ""), field: "name"},
		{name: "long externalId", op: "createGuarantor", in: with(guarantor, "externalId", long), field: "externalId"},
		{name: "duplicate externalId", op: "createGuarantor", in: with(guarantor, "externalId", "G-EXT"), field: "externalId"},
		{name: "NUL in externalId", op: "createGuarantor", in: with(guarantor, "externalId", "G\x00"), field: "externalId"},

		// createPatient
		{name: "blank firstName", op: "createPatient", in: with(patient, "firstName", "   "), field: "firstName"},
		{name: "empty lastName", op: "createPatient", in: with(patient, "lastName", ""), field: "lastName"},
		{name: "long firstName", op: "createPatient", in: with(patient, "firstName", long), field: "firstName"},
		{name: "unknown guarantorId", op: "createPatient", in: with(patient, "guarantorId", newID()), field: "guarantorId"},
		{name: "other practice's guarantorId", op: "createPatient", in: with(patient, "guarantorId", id(bPat.GuarantorID)), field: "guarantorId"},
		{name: "malformed guarantorId", op: "createPatient", in: with(patient, "guarantorId", "not-an-id"), field: "guarantorId"},
		{name: "no guarantor", op: "createPatient", in: with(patient, "guarantorId", absent), field: "guarantorId"},
		{name: "month 13", op: "createPatient", in: with(patient, "birthDate", "2026-13-01"), field: "birthDate"},
		{name: "unpadded date", op: "createPatient", in: with(patient, "birthDate", "2026-1-1"), field: "birthDate"},
		{name: "year zero", op: "createPatient", in: with(patient, "birthDate", "0000-01-01"), field: "birthDate"},
		{name: "born in the future", op: "createPatient", in: with(patient, "birthDate", "2026-06-16"), field: "birthDate"},
		{name: "year one", op: "createPatient", in: with(patient, "birthDate", "0001-01-01"), field: "birthDate", msg: "out of range"},
		{name: "before 1900", op: "createPatient", in: with(patient, "birthDate", "1899-12-31"), field: "birthDate", msg: "out of range"},
		{name: "NUL in lastName", op: "createPatient", in: with(patient, "lastName", "K\x00d"), field: "lastName"},
		{name: "tab in firstName", op: "createPatient", in: with(patient, "firstName", "N\tew"), field: "firstName"},
		{name: "duplicate guarantorExternalId", op: "createPatient",
			in: obj{"selfGuarantor": true, "guarantorExternalId": "G-EXT", "firstName": "A", "lastName": "B"}, field: "guarantorExternalId"},

		// postEncounter
		{name: "three decimals", op: "postEncounter", in: with(encounter, "charges", lines("amount", "10.005")), field: "charges[0].amount"},
		{name: "JSON number", op: "postEncounter", in: with(encounter, "charges", lines("amount", json.Number("10.00"))), field: "charges[0].amount"},
		{name: "float literal", query: `mutation { postEncounter(input: {patientId: "` + id(pat.ID) + `", providerId: "` + id(f.Provider) +
			`", locationId: "` + id(f.Location) + `", charges: [{code: "D0120", amount: 10.5}]}) { encounter { id } } }`, field: "charges[0].amount"},
		{name: "no decimals", op: "postEncounter", in: with(encounter, "charges", lines("amount", "30")), field: "charges[0].amount", msg: "two decimal places"},
		{name: "one decimal", op: "postEncounter", in: with(encounter, "charges", lines("amount", "30.5")), field: "charges[0].amount", msg: "two decimal places"},
		{name: "plus sign", op: "postEncounter", in: with(encounter, "charges", lines("amount", "+1.00")), field: "charges[0].amount"},
		{name: "leading zero", op: "postEncounter", in: with(encounter, "charges", lines("amount", "01.00")), field: "charges[0].amount", msg: "leading zeros"},
		{name: "fourteen digits", op: "postEncounter", in: with(encounter, "charges", lines("amount", "10000000000000.00")), field: "charges[0].amount", msg: "at most 13 digits"},
		{name: "estimate without decimals", op: "postEncounter", in: with(encounter, "charges", lines("insuranceEstimate", "5")), field: "charges[0].insuranceEstimate"},
		{name: "NUL in note", op: "postEncounter", in: with(encounter, "note", "n\x00"), field: "note"},
		{name: "NUL in a line's note", op: "postEncounter", in: with(encounter, "charges", lines("note", "n\x00")), field: "charges[0].note"},
		{name: "escape in code", op: "postEncounter", in: with(encounter, "charges", lines("code", "D\x1b")), field: "charges[0].code"},
		{name: "year one", op: "postEncounter", in: with(encounter, "serviceFrom", "0001-01-01"), field: "serviceFrom", msg: "out of range"},
		{name: "after 2199", op: "postEncounter", in: with(encounter, "charges", lines("status", "PLANNED", "serviceDate", "2200-01-01")), field: "charges[0].serviceDate", msg: "out of range"},
		{name: "negative balance-forward line", op: "postEncounter", in: with(encounter, "charges", lines("amount", "-5.00", "kind", "BALANCE_FORWARD")), field: "charges[0].amount"},
		{name: "insurance on a negative fee", op: "postEncounter", in: with(encounter, "charges", lines("amount", "-5.00", "insuranceEstimate", "1.00")), field: "charges[0].insuranceEstimate"},
		{name: "negative insurance estimate", op: "postEncounter", in: with(encounter, "charges", lines("insuranceEstimate", "-1.00")), field: "charges[0].insuranceEstimate"},
		{name: "estimate over amount", op: "postEncounter", in: with(encounter, "charges", lines("insuranceEstimate", "10.01")), field: "charges[0].insuranceEstimate"},
		{name: "completed in the future", op: "postEncounter", in: with(encounter, "charges", lines("serviceDate", "2026-06-16")), field: "charges[0].serviceDate"},
		{name: "month 13", op: "postEncounter", in: with(encounter, "serviceFrom", "2026-13-01"), field: "serviceFrom"},
		{name: "unpadded date", op: "postEncounter", in: with(encounter, "charges", lines("serviceDate", "2026-1-1")), field: "charges[0].serviceDate"},
		{name: "unknown patientId", op: "postEncounter", in: with(encounter, "patientId", newID()), field: "patientId"},
		{name: "other practice's patientId", op: "postEncounter", in: with(encounter, "patientId", id(bPat.ID)), field: "patientId"},
		{name: "unknown providerId", op: "postEncounter", in: with(encounter, "providerId", newID()), field: "providerId"},
		{name: "other practice's providerId", op: "postEncounter", in: with(encounter, "providerId", id(b.Provider)), field: "providerId"},
		{name: "other practice's line locationId", op: "postEncounter", in: with(encounter, "charges", lines("locationId", id(b.Location))), field: "charges[0].locationId"},
		{name: "blank code", op: "postEncounter", in: with(encounter, "charges", lines("code", " ")), field: "charges[0].code"},
		{name: "long code", op: "postEncounter", in: with(encounter, "charges", lines("code", long)), field: "charges[0].code"},
		{name: "long note", op: "postEncounter", in: with(encounter, "note", long), field: "note"},
		{name: "no lines", op: "postEncounter", in: with(encounter, "charges", []any{}), field: "charges"},

		// postAdjustment
		{name: "three decimals", op: "postAdjustment", in: with(adjustment, "amount", "1.234"), field: "amount"},
		{name: "JSON number", op: "postAdjustment", in: with(adjustment, "amount", json.Number("5.00")), field: "amount"},
		{name: "float literal", query: `mutation { postAdjustment(input: {patientId: "` + id(pat.ID) + `", amount: 5.25}) { adjustment { id } } }`, field: "amount"},
		{name: "zero", op: "postAdjustment", in: with(adjustment, "amount", "0.00"), field: "amount"},
		{name: "no decimals", op: "postAdjustment", in: with(adjustment, "amount", "-5"), field: "amount"},
		{name: "year one", op: "postAdjustment", in: with(adjustment, "serviceDate", "0001-01-01"), field: "serviceDate"},
		{name: "NUL in code", op: "postAdjustment", in: with(adjustment, "code", "\x00"), field: "code"},
		{name: "unknown attachedToId", op: "postAdjustment", in: with(adjustment, "attachedToId", newID()), field: "attachedToId"},
		{name: "other practice's attachedToId", op: "postAdjustment", in: with(adjustment, "patientId", absent, "attachedToId", id(bCharge.ID)), field: "attachedToId"},
		{name: "unknown patientId", op: "postAdjustment", in: with(adjustment, "patientId", newID()), field: "patientId"},
		{name: "other practice's patientId", op: "postAdjustment", in: with(adjustment, "patientId", id(bPat.ID)), field: "patientId"},
		{name: "in the future", op: "postAdjustment", in: with(adjustment, "serviceDate", "2026-07-01"), field: "serviceDate"},
		{name: "February 30", op: "postAdjustment", in: with(adjustment, "serviceDate", "2026-02-30"), field: "serviceDate"},
		{name: "long code", op: "postAdjustment", in: with(adjustment, "code", long), field: "code"},

		// postReceipt
		{name: "three decimals", op: "postReceipt", in: with(payment, "amount", "10.001"), field: "amount"},
		{name: "split with three decimals", op: "postReceipt", in: with(payment, "splits", splits(split("10.005"))), field: "splits[0].amount"},
		{name: "plus sign", op: "postReceipt", in: with(payment, "amount", "+1.00"), field: "amount"},
		{name: "leading zero", op: "postReceipt", in: with(payment, "amount", "01.00"), field: "amount"},
		{name: "no decimals", op: "postReceipt", in: with(payment, "amount", "30"), field: "amount"},
		{name: "one decimal", op: "postReceipt", in: with(payment, "amount", "30.5"), field: "amount"},
		{name: "split without decimals", op: "postReceipt", in: with(payment, "splits", splits(split("10"))), field: "splits[0].amount"},
		{name: "received in year one", op: "postReceipt", in: with(payment, "receivedOn", "0001-01-01"), field: "receivedOn", msg: "out of range"},
		{name: "NUL in method", op: "postReceipt", in: with(payment, "method", "ca\x00sh"), field: "method"},
		{name: "NUL in reference", op: "postReceipt", in: with(payment, "reference", "\x00"), field: "reference"},
		{name: "NUL in note", op: "postReceipt", in: with(payment, "note", "a\x00b"), field: "note"},
		{name: "NUL in idempotency key", op: "postReceipt", in: with(payment, "idempotencyKey", "\x00"), field: "idempotencyKey"},
		{name: "JSON number", op: "postReceipt", in: with(payment, "amount", json.Number("10.00")), field: "amount"},
		{name: "float literal", query: `mutation { postReceipt(input: {kind: PATIENT_PAYMENT, patientId: "` + id(pat.ID) +
			`", amount: 10.0, splits: [{amount: "10.00"}]}) { receipt { id } } }`, field: "amount"},
		{name: "negative patient payment", op: "postReceipt", in: with(payment, "amount", "-10.00", "splits", splits(split("-10.00"))), field: "amount"},
		{name: "negative insurance payment", op: "postReceipt",
			in: obj{"kind": "INSURANCE_PAYMENT", "amount": "-10.00", "splits": splits(split("-10.00", "chargeId", id(charge.ID)))}, field: "amount"},
		{name: "negative split in a payment", op: "postReceipt", in: with(payment, "splits", splits(split("15.00"), split("-5.00"))), field: "splits[1].amount"},
		{name: "zero split", op: "postReceipt", in: with(payment, "splits", splits(split("0.00"), split("10.00"))), field: "splits[0].amount"},
		{name: "splits do not sum", op: "postReceipt", in: with(payment, "splits", splits(split("6.00"), split("3.00"))), field: "splits"},
		{name: "no splits", op: "postReceipt", in: with(payment, "splits", []any{}), field: "splits"},
		{name: "another family's charge", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "chargeId", id(strangerCharge.ID)))), field: "splits[0].crossFamily"},
		{name: "another family's patient", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "patientId", id(stranger.ID)))), field: "splits[0].crossFamily"},
		{name: "unknown chargeId", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "chargeId", newID()))), field: "splits[0].chargeId"},
		{name: "other practice's chargeId", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "chargeId", id(bCharge.ID)))), field: "splits[0].chargeId"},
		{name: "unknown unearnedTypeId", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "unearnedTypeId", newID()))), field: "splits[0].unearnedTypeId"},
		{name: "other practice's unearnedTypeId", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "unearnedTypeId", id(b.Prepayment)))), field: "splits[0].unearnedTypeId"},
		{name: "other practice's split providerId", op: "postReceipt", in: with(payment, "splits", splits(split("10.00", "providerId", id(b.Provider)))), field: "splits[0].providerId"},
		{name: "unknown patientId", op: "postReceipt", in: with(payment, "patientId", newID()), field: "patientId"},
		{name: "other practice's patientId", op: "postReceipt", in: with(payment, "patientId", id(bPat.ID)), field: "patientId"},
		{name: "overpaying a charge", op: "postReceipt", in: with(payment, "amount", "100.01", "splits", splits(split("100.01", "chargeId", id(charge.ID)))), field: "splits[0].amount"},
		{name: "month 13", op: "postReceipt", in: with(payment, "receivedOn", "2026-13-01"), field: "receivedOn"},
		{name: "unpadded date", op: "postReceipt", in: with(payment, "receivedOn", "2026-1-1"), field: "receivedOn"},
		{name: "received in the future", op: "postReceipt", in: with(payment, "receivedOn", "2026-06-16"), field: "receivedOn"},
		{name: "long method", op: "postReceipt", in: with(payment, "method", long), field: "method"},
		{name: "long note", op: "postReceipt", in: with(payment, "note", long), field: "note"},
		{name: "reversal kind", op: "postReceipt", in: with(payment, "kind", "REVERSAL"), field: "kind"},
		{name: "unknown batchId", op: "postReceipt", in: with(payment, "batchId", newID()), field: "batchId"},

		{name: "claim total of a patient payment", op: "postReceipt", in: with(claimTotal, "kind", "PATIENT_PAYMENT", "patientId", id(pat.ID)), field: "encounterId"},
		{name: "claim total with splits", op: "postReceipt", in: with(claimTotal, "splits", splits(split("50.00", "chargeId", id(charge.ID)))), field: "splits"},
		{name: "claim total on an unknown encounter", op: "postReceipt", in: with(claimTotal, "encounterId", newID()), field: "encounterId"},
		{name: "claim total on another practice's encounter", op: "postReceipt", in: with(claimTotal, "encounterId", id(*bCharge.EncounterID)), field: "encounterId"},
		{name: "claim total on planned work", op: "postReceipt", in: with(claimTotal, "encounterId", id(plannedVisit.ID)), field: "encounterId"},
		{name: "negative claim total", op: "postReceipt", in: with(claimTotal, "amount", "-50.00"), field: "amount"},

		// postInsuranceWriteOff
		{name: "zero", op: "postInsuranceWriteOff", in: with(writeOff, "amount", "0.00"), field: "amount"},
		{name: "three decimals", op: "postInsuranceWriteOff", in: with(writeOff, "amount", "5.001"), field: "amount"},
		{name: "more than the line owes", op: "postInsuranceWriteOff", in: with(writeOff, "amount", "95.01"), field: "amount"},
		{name: "taking back what was never written off", op: "postInsuranceWriteOff", in: with(writeOff, "amount", "-0.01"), field: "amount"},
		{name: "unknown chargeId", op: "postInsuranceWriteOff", in: with(writeOff, "chargeId", newID()), field: "chargeId"},
		{name: "other practice's chargeId", op: "postInsuranceWriteOff", in: with(writeOff, "chargeId", id(bCharge.ID)), field: "chargeId"},
		{name: "planned charge", op: "postInsuranceWriteOff", in: with(writeOff, "chargeId", id(plannedCharge.ID)), field: "chargeId"},
		{name: "an adjustment", op: "postInsuranceWriteOff", in: with(writeOff, "chargeId", id(adj.ID)), field: "chargeId"},
		{name: "in the future", op: "postInsuranceWriteOff", in: with(writeOff, "writtenOn", "2026-06-16"), field: "writtenOn"},
		{name: "before the service", op: "postInsuranceWriteOff", in: with(writeOff, "writtenOn", "2026-04-30"), field: "writtenOn"},
		{name: "long note", op: "postInsuranceWriteOff", in: with(writeOff, "note", long), field: "note"},

		// createUnearnedType
		{name: "duplicate name", op: "createUnearnedType", in: with(newType, "name", "PREPAYMENT"), field: "name"},
		{name: "blank name", op: "createUnearnedType", in: with(newType, "name", "  "), field: "name"},
		{name: "long name", op: "createUnearnedType", in: with(newType, "name", long), field: "name"},
		{name: "NUL in name", op: "createUnearnedType", in: with(newType, "name", "A\x00"), field: "name"},
		{name: "hidden default", op: "createUnearnedType", in: with(newType, "hidden", true, "isDefault", true), field: "isDefault"},

		// updateUnearnedType
		{name: "unknown id", op: "updateUnearnedType", in: with(typeUpdate, "id", newID()), field: "id"},
		{name: "other practice's type", op: "updateUnearnedType", in: with(typeUpdate, "id", id(b.Prepayment)), field: "id"},
		{name: "duplicate name", op: "updateUnearnedType", in: with(typeUpdate, "name", "PREPAYMENT"), field: "name"},
		{name: "blank name", op: "updateUnearnedType", in: with(typeUpdate, "name", ""), field: "name"},
		{name: "hiding the default", op: "updateUnearnedType", in: obj{"id": id(f.Prepayment), "hidden": true}, field: "hidden"},
		{name: "no default left", op: "updateUnearnedType", in: obj{"id": id(f.Prepayment), "isDefault": false}, field: "isDefault"},
		{name: "a hidden default", op: "updateUnearnedType", in: obj{"id": id(f.TPPrepay), "isDefault": true}, field: "isDefault"},

		// reverseReceipt
		{name: "unknown receiptId", op: "reverseReceipt", in: with(reversal, "receiptId", newID()), field: "receiptId"},
		{name: "other practice's receiptId", op: "reverseReceipt", in: with(reversal, "receiptId", id(bReceipt.ID)), field: "receiptId"},
		{name: "malformed receiptId", op: "reverseReceipt", in: with(reversal, "receiptId", "r-1"), field: "receiptId"},
		{name: "unpadded date", op: "reverseReceipt", in: with(reversal, "receivedOn", "2026-1-1"), field: "receivedOn"},
		{name: "in the future", op: "reverseReceipt", in: with(reversal, "receivedOn", "2027-01-01"), field: "receivedOn"},
		{name: "long note", op: "reverseReceipt", in: with(reversal, "note", long), field: "note"},
		{name: "NUL in note", op: "reverseReceipt", in: with(reversal, "note", "\x00"), field: "note"},
		{name: "year one", op: "reverseReceipt", in: with(reversal, "receivedOn", "0001-01-01"), field: "receivedOn"},

		// listings
		{name: "first over the cap", query: `{ guarantors(first: 501) { totalCount } }`, field: "first"},
		{name: "first negative", query: `{ patients(first: -1) { totalCount } }`, field: "first"},
		{name: "first over the cap", query: `{ receipts(first: 501) { totalCount } }`, field: "first"},
		{name: "bad cursor", query: `{ guarantors(after: "not a cursor") { totalCount } }`, field: "after"},
		{name: "empty cursor object", query: `{ receipts(after: "e30") { totalCount } }`, field: "after"},
		{name: "cursor with unknown fields", query: `{ patients(after: "eyJ4IjoxfQ") { totalCount } }`, field: "after"},
		{name: "NUL in a filter", query: `query($n: String) { guarantors(filter: {name: $n}) { totalCount } }`, vars: obj{"n": "a\x00"}, field: "filter.name"},
		{name: "long filter", query: `query($n: String) { patients(filter: {externalId: $n}) { totalCount } }`, vars: obj{"n": long}, field: "filter.externalId"},
		{name: "malformed filter id", query: `{ receipts(filter: {guarantorId: "g"}) { totalCount } }`, field: "filter.guarantorId"},
		{name: "malformed filter date", query: `{ receipts(filter: {receivedFrom: "2026-1-1"}) { totalCount } }`, field: "filter.receivedFrom"},
		{name: "filter date in year one", query: `{ receipts(filter: {receivedFrom: "0001-01-01"}) { totalCount } }`, field: "filter.receivedFrom"},
		{name: "control character in a filter", query: `query($n: String) { patients(filter: {name: $n}) { totalCount } }`, vars: obj{"n": "a\x01"}, field: "filter.name"},
		{name: "NUL in a cursor", query: `query($a: String) { guarantors(after: $a) { totalCount } }`, vars: obj{"a": "e30\x00"}, field: "after"},
		{name: "malformed id", query: `{ guarantor(id: "g-1") { id } }`, field: "id"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		name := tc.op + " " + tc.name
		t.Run(name, func(t *testing.T) {
			q, vars := tc.query, tc.vars
			if tc.op != "" {
				covered[tc.op] = true
				q, vars = mutationDoc(tc.op), obj{"in": tc.in}
			}
			before := rowCounts(t, h.db)
			e, r := h.fail(t, h.admin, q, vars)
			require.Equal(t, "BAD_USER_INPUT", e.code(), r.Raw)
			require.Equal(t, tc.field, e.field(), r.Raw)
			require.Contains(t, e.Message, tc.field, "the message names the field")
			require.Contains(t, e.Message, tc.msg)
			for k, v := range r.Data {
				require.Nil(t, v, "%s: no partial data: %s", k, r.Raw)
			}
			require.Equal(t, before, rowCounts(t, h.db), "a refused request writes nothing")
		})
	}
	require.Len(t, covered, len(mutations), "every mutation is swept")

	// The inputs the cases start from are valid: each writes.
	bases := map[string]obj{"createProvider": provider, "createLocation": location, "createGuarantor": guarantor, "createPatient": patient,
		"postEncounter": encounter, "postAdjustment": adjustment, "postReceipt": payment, "reverseReceipt": reversal, "postInsuranceWriteOff": writeOff,
		"createUnearnedType": newType, "updateUnearnedType": typeUpdate}
	for _, op := range []string{"createProvider", "createLocation", "createGuarantor", "createPatient", "postEncounter", "postAdjustment", "postReceipt", "reverseReceipt", "postInsuranceWriteOff",
		"createUnearnedType", "updateUnearnedType"} {
		before := rowCounts(t, h.db)
		h.ok(t, h.admin, mutationDoc(op), obj{"in": bases[op]})
		require.NotEqual(t, before, rowCounts(t, h.db), "%s: the valid base input writes", op)
	}
}
