package graph_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestNodeFindsEachKind: node(id:) returns a guarantor, patient,
// encounter, charge and receipt of the caller's practice by id alone, and
// NOT_FOUND (null) for another practice's object or an unknown id.
func TestNodeFindsEachKind(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fam := h.f.Family(t, "Node", "Kid")
	cs := h.f.Visit(t, fam[1], "2026-05-01", "40.00")
	rc := h.f.Pay(t, fam[0], "10.00", ledgertest.On("10.00", cs[0]))
	g := h.ok(t, h.analyst, `query($id: ID!) { patient(id: $id) { guarantor { id } encounters { id } } }`, map[string]any{"id": fam[1].ID})
	ids := map[string]string{
		"Guarantor": str(t, g, "patient.guarantor.id"),
		"Patient":   fam[1].ID.String(),
		"Encounter": str(t, g, "patient.encounters.0.id"),
		"Charge":    cs[0].ID.String(),
		"Receipt":   rc.ID.String(),
	}
	for kind, id := range ids {
		d := h.ok(t, h.analyst, `query($id: ID!) { node(id: $id) { __typename id ... on Charge { amount } } }`, map[string]any{"id": id})
		require.Equal(t, kind, str(t, d, "node.__typename"))
		require.Equal(t, id, str(t, d, "node.id"))
	}

	other := ledgertest.AddPractice(t, h.f.Ledger, "Elsewhere")
	theirs := other.Family(t, "Theirs")[0]
	for _, id := range []string{theirs.ID.String(), "01a2e2b8-0000-7000-8000-000000000000"} {
		r := h.do(t, h.analyst, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
		requireCode(t, r, "NOT_FOUND")
		require.Nil(t, r.Data["node"], "another practice's object is not found")
	}
	requireCode(t, h.do(t, "", `{ node(id: "`+cs[0].ID.String()+`") { id } }`, nil), "UNAUTHENTICATED")
}

// TestNestedConnectionsPage: a patient's 7 charges paged forward with
// first/after and backward with last/before meet in the middle; bad
// arguments are coded errors.
func TestNestedConnectionsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.f.Family(t, "Paged")[0]
	for i := range 7 {
		h.f.Visit(t, p, fmt.Sprintf("2026-05-%02d", i+1), fmt.Sprintf("%d.00", i+1))
	}
	const q = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { patient(id: $id) {
	  chargesConnection(first: $first, after: $after, last: $last, before: $before) {
	    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { amount } } } } }`
	page := func(vars map[string]any) (amounts []string, info map[string]any) {
		vars["id"] = p.ID
		d := h.ok(t, h.analyst, q, vars)
		require.EqualValues(t, 7, at(t, d, "patient.chargesConnection.totalCount"))
		for _, e := range list(t, d, "patient.chargesConnection.edges") {
			amounts = append(amounts, str(t, e, "node.amount"))
		}
		return amounts, at(t, d, "patient.chargesConnection.pageInfo").(map[string]any)
	}
	got, info := page(map[string]any{"first": 3})
	require.Equal(t, []string{"1.00", "2.00", "3.00"}, got)
	require.Equal(t, true, info["hasNextPage"])
	require.Equal(t, false, info["hasPreviousPage"])
	got, info = page(map[string]any{"first": 3, "after": info["endCursor"]})
	require.Equal(t, []string{"4.00", "5.00", "6.00"}, got)
	require.Equal(t, true, info["hasPreviousPage"])
	got, info = page(map[string]any{"last": 2})
	require.Equal(t, []string{"6.00", "7.00"}, got)
	require.Equal(t, false, info["hasNextPage"])
	got, _ = page(map[string]any{"last": 2, "before": info["startCursor"]})
	require.Equal(t, []string{"4.00", "5.00"}, got)
	got, _ = page(map[string]any{})
	require.Len(t, got, 7, "all of them within the default page size")

	for _, bad := range []map[string]any{{"first": -1}, {"last": 501}, {"after": "nope"}, {"before": "eyJLZXkiOiJpZCIsIklEIjoiMDFhMmUyYjgtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAwIn0"}} {
		bad["id"] = p.ID
		requireCode(t, h.do(t, h.analyst, q, bad), "BAD_USER_INPUT")
	}
}
