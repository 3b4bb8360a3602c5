package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestTenantScoping puts two practices on one database. Practice B's key
// never reaches practice A's rows: by id a query gets NOT_FOUND, an id in a
// mutation's input is BAD_USER_INPUT, and listings hold only B's rows.
func TestTenantScoping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	a := h.f
	aFam := a.Family(t, "Alpha", "Alkid")
	aCharge := a.Visit(t, aFam[1], "2026-05-01", "100.00")[0]
	aPay := a.Pay(t, aFam[0], "60.00", ledgertest.On("40.00", aCharge), ledgertest.Unallocated("20.00"))
	aEnc := *aCharge.EncounterID

	b := ledgertest.AddPractice(t, a.Ledger, "Practice B")
	bKey := issueKey(t, b, ledger.RoleAdmin)
	bFam := b.Family(t, "Beta")
	bCharge := b.Visit(t, bFam[0], "2026-05-02", "30.00")[0]
	bPay := b.Pay(t, bFam[0], "10.00", ledgertest.On("10.00", bCharge))

	// A's key sees A's family with its balances.
	d := h.ok(t, h.admin, `query($id: ID!) { guarantor(id: $id) { name balance } }`, map[string]any{"id": aFam[0].GuarantorID.String()})
	requireMoney(t, "40.00", d, "guarantor.balance")

	t.Run("by id", func(t *testing.T) {
		for field, id := range map[string]ledger.ID{
			"guarantor": aFam[0].GuarantorID, "patient": aFam[1].ID, "encounter": aEnc, "charge": aCharge.ID, "receipt": aPay.ID,
		} {
			r := h.do(t, bKey, `query($id: ID!) { `+field+`(id: $id) { id } }`, map[string]any{"id": id.String()})
			requireCode(t, r, "NOT_FOUND")
			require.NotContains(t, r.Raw, "Alpha")
			// The same id with A's key is found.
			h.ok(t, h.admin, `query($id: ID!) { `+field+`(id: $id) { id } }`, map[string]any{"id": id.String()})
		}
	})

	t.Run("listings", func(t *testing.T) {
		d := h.ok(t, bKey, `{
			guarantors(first: 500) { totalCount edges { node { id name patients { id } charges { id } receipts { id } } } }
			patients(first: 500) { totalCount edges { node { id } } }
			receipts(first: 500) { totalCount edges { node { id splits { charge { id } } } } }
			practice { name providers { id } locations { id } unearnedTypes { id } } }`, nil)
		require.Equal(t, []string{bFam[0].GuarantorID.String()}, ids(t, d, "guarantors.edges"))
		require.EqualValues(t, 1, at(t, d, "guarantors.totalCount"))
		require.Equal(t, []string{bFam[0].ID.String()}, ids(t, d, "patients.edges"))
		require.EqualValues(t, 1, at(t, d, "patients.totalCount"))
		require.Equal(t, []string{bPay.ID.String()}, ids(t, d, "receipts.edges"))
		require.EqualValues(t, 1, at(t, d, "receipts.totalCount"))
		require.Equal(t, "Practice B", str(t, d, "practice.name"))
		require.Equal(t, []string{b.Provider.String()}, ids(t, d, "practice.providers"))
		require.Equal(t, []string{b.Location.String()}, ids(t, d, "practice.locations"))
		require.Len(t, list(t, d, "practice.unearnedTypes"), 2)

		// Filters naming A's rows find nothing.
		d = h.ok(t, bKey, `query($g: ID!, $p: ID!) {
			patients(filter: {guarantorId: $g}) { totalCount edges { node { id } } }
			receipts(filter: {guarantorId: $g}) { totalCount }
			byPatient: receipts(filter: {patientId: $p}) { totalCount }
			named: guarantors(filter: {name: "alpha"}) { totalCount } }`,
			map[string]any{"g": aFam[0].GuarantorID.String(), "p": aFam[0].ID.String()})
		for _, path := range []string{"patients.totalCount", "receipts.totalCount", "byPatient.totalCount", "named.totalCount"} {
			require.EqualValues(t, 0, at(t, d, path), path)
		}

		// A cursor taken from A's listing does not open A's rows to B.
		d = h.ok(t, h.admin, `{ guarantors(first: 1) { pageInfo { endCursor } } }`, nil)
		d = h.ok(t, bKey, `query($after: String) { guarantors(after: $after) { edges { node { id } } } }`,
			map[string]any{"after": at(t, d, "guarantors.pageInfo.endCursor")})
		for _, id := range ids(t, d, "guarantors.edges") {
			require.Equal(t, bFam[0].GuarantorID.String(), id)
		}
	})

	t.Run("ids in mutation input", func(t *testing.T) {
		bp := bFam[0].ID.String()
		for _, tc := range []struct {
			op    string
			in    obj
			field string
		}{
			{"createPatient", obj{"guarantorId": aFam[0].GuarantorID.String(), "firstName": "X", "lastName": "Y"}, "guarantorId"},
			{"postEncounter", obj{"patientId": aFam[1].ID.String(), "providerId": b.Provider.String(), "locationId": b.Location.String(),
				"charges": []any{obj{"code": "D0120", "amount": "1.00"}}}, "patientId"},
			{"postEncounter", obj{"patientId": bp, "providerId": a.Provider.String(), "locationId": b.Location.String(),
				"charges": []any{obj{"code": "D0120", "amount": "1.00"}}}, "providerId"},
			{"postEncounter", obj{"patientId": bp, "providerId": b.Provider.String(), "locationId": a.Location.String(),
				"charges": []any{obj{"code": "D0120", "amount": "1.00"}}}, "locationId"},
			{"postAdjustment", obj{"attachedToId": aCharge.ID.String(), "amount": "-1.00"}, "attachedToId"},
			{"postAdjustment", obj{"patientId": bp, "encounterId": aEnc.String(), "amount": "-1.00"}, "encounterId"},
			{"postReceipt", obj{"kind": "PATIENT_PAYMENT", "patientId": bp, "amount": "1.00",
				"splits": []any{obj{"amount": "1.00", "chargeId": aCharge.ID.String(), "crossFamily": true}}}, "splits[0].chargeId"},
			{"postReceipt", obj{"kind": "PATIENT_PAYMENT", "patientId": bp, "amount": "1.00",
				"splits": []any{obj{"amount": "1.00", "patientId": aFam[0].ID.String(), "crossFamily": true}}}, "splits[0].patientId"},
			{"postReceipt", obj{"kind": "INSURANCE_PAYMENT", "amount": "1.00",
				"splits": []any{obj{"amount": "1.00", "chargeId": aCharge.ID.String()}}}, "splits[0].chargeId"},
			{"postReceipt", obj{"kind": "PATIENT_PAYMENT", "patientId": bp, "amount": "1.00",
				"splits": []any{obj{"amount": "1.00", "unearnedTypeId": a.Prepayment.String()}}}, "splits[0].unearnedTypeId"},
			{"postReceipt", obj{"kind": "PATIENT_PAYMENT", "patientId": bp, "amount": "1.00",
				"splits": []any{obj{"amount": "1.00", "locationId": a.Location.String()}}}, "splits[0].locationId"},
			{"reverseReceipt", obj{"receiptId": aPay.ID.String()}, "receiptId"},
		} {
			t.Run(tc.op+" "+tc.field, func(t *testing.T) {
				before := rowCounts(t, h.db)
				r := h.do(t, bKey, mutationDoc(tc.op), obj{"in": tc.in})
				e := requireCode(t, r, "BAD_USER_INPUT")
				require.Equal(t, tc.field, e.field(), r.Raw)
				require.NotContains(t, r.Raw, "Alpha")
				require.Equal(t, before, rowCounts(t, h.db))
			})
		}
	})

	// A's ledger is untouched by all of that.
	bal, err := a.Store.GuarantorBalances(ctx, a.Actor.PracticeID, []ledger.ID{aFam[0].GuarantorID})
	require.NoError(t, err)
	require.Equal(t, "40.00", bal[aFam[0].GuarantorID].Balance.String())
}
