package graph_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// pages walks a connection page by page. listing is the field with its
// filter, e.g. `guarantors(filter: {name: "x"}`; the page arguments are
// appended. It checks pageInfo and totalCount on every page and returns the
// node ids of each page.
func (h *harness) pages(t *testing.T, listing string, first, total int) [][]string {
	t.Helper()
	q := `query($first: Int, $after: String) { list: ` + listing + `, first: $first, after: $after) {
		totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } }`
	var out [][]string
	vars := map[string]any{"first": first}
	for range 100 {
		d := h.ok(t, h.admin, q, vars)
		require.EqualValues(t, total, at(t, d, "list.totalCount"))
		edges := list(t, d, "list.edges")
		info := at(t, d, "list.pageInfo")
		require.Equal(t, vars["after"] != nil, at(t, info, "hasPreviousPage"))
		if len(edges) > 0 {
			require.Equal(t, at(t, edges[0], "cursor"), at(t, info, "startCursor"))
			require.Equal(t, at(t, edges[len(edges)-1], "cursor"), at(t, info, "endCursor"))
		} else {
			require.Nil(t, at(t, info, "endCursor"))
		}
		out = append(out, ids(t, d, "list.edges"))
		if at(t, info, "hasNextPage") != true || first == 0 {
			return out
		}
		require.Len(t, edges, first, "a page before the last is full")
		vars["after"] = at(t, info, "endCursor")
	}
	t.Fatal("no last page after 100 pages")
	return nil
}

func TestPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	f := h.f
	// Guarantors sort by name: "Ava Family" … "Gus Family", "Zed Zebra".
	fams := map[string][]ledger.Patient{}
	for _, n := range []string{"Dee", "Ava", "Gus", "Cal", "Fay", "Ben", "Eve"} {
		if n == "Ava" {
			fams[n] = f.Family(t, n, "Kim", "Lou")
		} else {
			fams[n] = f.Family(t, n)
		}
	}
	zed, err := f.Ledger.CreateGuarantor(ctx, f.Actor, ledger.NewGuarantor{Name: "Zed Zebra", ExternalID: "EXT-9"})
	require.NoError(t, err)
	gid := func(n string) string { return fams[n][0].GuarantorID.String() }

	t.Run("guarantors", func(t *testing.T) {
		want := [][]string{{gid("Ava"), gid("Ben"), gid("Cal")}, {gid("Dee"), gid("Eve"), gid("Fay")}, {gid("Gus"), zed.ID.String()}}
		require.Equal(t, want, h.pages(t, `guarantors(filter: null`, 3, 8))
		require.Equal(t, [][]string{{gid("Ava"), gid("Ben"), gid("Cal"), gid("Dee"), gid("Eve"), gid("Fay"), gid("Gus"), zed.ID.String()}},
			h.pages(t, `guarantors(filter: {}`, 500, 8))
		require.Equal(t, [][]string{nil}, h.pages(t, `guarantors(filter: {}`, 0, 8), "first: 0 gives an empty page")

		require.Equal(t, [][]string{{zed.ID.String()}}, h.pages(t, `guarantors(filter: {name: "zEB"}`, 10, 1))
		require.Equal(t, [][]string{{gid("Ava"), gid("Ben")}, {gid("Cal"), gid("Dee")}, {gid("Eve"), gid("Fay")}, {gid("Gus")}},
			h.pages(t, `guarantors(filter: {name: "FAMILY"}`, 2, 7))
		require.Equal(t, [][]string{{zed.ID.String()}}, h.pages(t, `guarantors(filter: {externalId: "EXT-9"}`, 10, 1))
		require.Equal(t, [][]string{nil}, h.pages(t, `guarantors(filter: {name: "%"}`, 10, 0), "LIKE wildcards match literally")
		require.Equal(t, [][]string{nil}, h.pages(t, `guarantors(filter: {externalId: "EXT"}`, 10, 0), "externalId matches exactly")
	})

	t.Run("keyset cursors do not shift when rows are added", func(t *testing.T) {
		q := `query($after: String) { guarantors(first: 3, after: $after) { edges { node { id } } pageInfo { endCursor } } }`
		d := h.ok(t, h.admin, q, nil)
		cursor := at(t, d, "guarantors.pageInfo.endCursor")
		// A row sorting before the cursor is added between the pages.
		abe := f.Family(t, "Abe")
		d = h.ok(t, h.admin, q, map[string]any{"after": cursor})
		require.Equal(t, []string{gid("Dee"), gid("Eve"), gid("Fay")}, ids(t, d, "guarantors.edges"))
		d = h.ok(t, h.admin, q, nil)
		require.Equal(t, abe[0].GuarantorID.String(), ids(t, d, "guarantors.edges")[0])
	})

	t.Run("patients", func(t *testing.T) {
		ava, kim, lou := fams["Ava"][0].ID.String(), fams["Ava"][1].ID.String(), fams["Ava"][2].ID.String()
		require.Equal(t, [][]string{{ava, kim}, {lou}}, h.pages(t, `patients(filter: {guarantorId: "`+gid("Ava")+`"}`, 2, 3))
		require.Equal(t, [][]string{{lou}}, h.pages(t, `patients(filter: {name: "LOU"}`, 2, 1))
		require.Equal(t, [][]string{{lou}}, h.pages(t, `patients(filter: {name: "lou family"}`, 2, 1), "first and last name together")
		bd := ledger.MustDate("2001-02-03")
		p, err := f.Ledger.CreatePatient(ctx, f.Actor, ledger.NewPatient{GuarantorID: &fams["Ben"][0].GuarantorID,
			FirstName: "Bo", LastName: "Family", ExternalID: "PX-1", BirthDate: &bd})
		require.NoError(t, err)
		require.Equal(t, [][]string{{p.ID.String()}}, h.pages(t, `patients(filter: {externalId: "PX-1"}`, 2, 1))
		require.Equal(t, [][]string{{p.ID.String()}}, h.pages(t, `patients(filter: {birthDate: "2001-02-03"}`, 2, 1))
		all := h.pages(t, `patients(filter: null`, 4, 11)
		require.Len(t, all, 3)
		var flat []string
		for _, pg := range all {
			flat = append(flat, pg...)
		}
		require.Len(t, flat, 11)
		require.Subset(t, flat, []string{ava, kim, lou, p.ID.String()})
	})

	t.Run("receipts", func(t *testing.T) {
		pay := func(p ledger.Patient, kind ledger.ReceiptKind, amount, on string) string {
			t.Helper()
			d := ledger.MustDate(on)
			r, err := f.Ledger.PostReceipt(ctx, f.Actor, ledger.NewReceipt{Kind: kind, PatientID: &p.ID, Amount: ledger.MustMoney(amount),
				ReceivedOn: &d, Splits: []ledger.NewSplit{ledgertest.Unallocated(amount)}})
			require.NoError(t, err)
			return r.ID.String()
		}
		ava, kim, ben := fams["Ava"][0], fams["Ava"][1], fams["Ben"][0]
		r1 := pay(ava, ledger.ReceiptPatientPayment, "10.00", "2026-06-01")
		r2 := pay(kim, ledger.ReceiptPatientPayment, "20.00", "2026-06-02")
		r3a := pay(ava, ledger.ReceiptPatientPayment, "30.00", "2026-06-03")
		r3b := pay(ava, ledger.ReceiptPatientPayment, "31.00", "2026-06-03")
		rb := pay(ben, ledger.ReceiptPatientPayment, "5.00", "2026-06-03")
		r4 := pay(kim, ledger.ReceiptPatientPayment, "40.00", "2026-06-04")
		ref := pay(ava, ledger.ReceiptRefund, "-5.00", "2026-06-05")

		// Newest first; ties on a date go by id, descending (ids are time-ordered).
		famAva := `receipts(filter: {guarantorId: "` + gid("Ava") + `"}`
		require.Equal(t, [][]string{{ref, r4}, {r3b, r3a}, {r2, r1}}, h.pages(t, famAva, 2, 6))
		require.Equal(t, [][]string{{ref, r4, rb}, {r3b, r3a, r2}, {r1}}, h.pages(t, `receipts(filter: null`, 3, 7))
		require.Equal(t, [][]string{{r4, r2}}, h.pages(t, `receipts(filter: {patientId: "`+kim.ID.String()+`"}`, 5, 2))
		require.Equal(t, [][]string{{ref}}, h.pages(t, `receipts(filter: {kind: REFUND}`, 5, 1))
		require.Equal(t, [][]string{{r4, rb}, {r3b, r3a}, {r2}},
			h.pages(t, `receipts(filter: {receivedFrom: "2026-06-02", receivedTo: "2026-06-04"}`, 2, 5))
		require.Equal(t, [][]string{{r3b, r3a}},
			h.pages(t, `receipts(filter: {guarantorId: "`+gid("Ava")+`", kind: PATIENT_PAYMENT, receivedFrom: "2026-06-03", receivedTo: "2026-06-03"}`, 5, 2))
	})
}
