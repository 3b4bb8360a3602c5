package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

const netUnearnedQuery = `query($in: NetUnearnedInput) { netUnearned(input: $in) {
  asOf visibility total visible hidden
  byType { unearnedType { name hidden } amount }
  families { guarantor { id name unearned hiddenUnearned } total visible hidden
    patients { patient { id firstName } total visible hidden
      lines { unearnedType { name } hidden provider { name } location { name } amount } } }
} }`

// TestNetUnearnedReport runs the Net Unearned Income report through the
// handler on the aging scenario: treatment-plan prepayments appear (hidden),
// a family's parts match its balances and the practice's visible total
// matches aging's unearned credit.
func TestNetUnearnedReport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := ledgertest.BuildAging(t, h.f)
	d := h.ok(t, h.analyst, netUnearnedQuery, nil)
	r := at(t, d, "netUnearned")
	require.Equal(t, "2026-06-15", str(t, r, "asOf"))
	require.Equal(t, "ALL", str(t, r, "visibility"))
	requireMoney(t, "50.00", r, "total")
	requireMoney(t, "10.00", r, "visible")
	requireMoney(t, "40.00", r, "hidden")
	fams := list(t, r, "families")
	require.Len(t, fams, 1)
	requireMoney(t, str(t, fams[0], "guarantor.unearned"), fams[0], "visible")
	requireMoney(t, str(t, fams[0], "guarantor.hiddenUnearned"), fams[0], "hidden")
	require.Equal(t, s.Kid.ID.String(), str(t, fams[0], "patients.0.patient.id"))
	lines := list(t, fams[0], "patients.0.lines")
	require.Len(t, lines, 2)
	require.Equal(t, "TP_PREPAYMENT", str(t, lines[1], "unearnedType.name"))
	require.Equal(t, true, at(t, lines[1], "hidden"))
	require.Nil(t, at(t, lines[1], "provider"))
	requireMoney(t, "40.00", lines[1], "amount")

	ag := h.ok(t, h.analyst, `{ aging(input: {groupBy: PRACTICE, first: 0}) { summary { unearned } } }`, nil)
	requireMoney(t, str(t, r, "visible"), ag, "aging.summary.unearned")

	d = h.ok(t, h.analyst, netUnearnedQuery, obj{"in": obj{"visibility": "VISIBLE", "guarantorId": s.Pat.GuarantorID.String()}})
	requireMoney(t, "10.00", d, "netUnearned.total")
	d = h.ok(t, h.analyst, netUnearnedQuery, obj{"in": obj{"asOf": "2026-06-11"}})
	require.Empty(t, list(t, d, "netUnearned.families"))
	requireMoney(t, "0.00", d, "netUnearned.total")
}

// TestNetUnearnedBadInput: a date in the future, ids the practice does not
// have (another practice's among them) and an unknown visibility are coded
// errors naming the field.
func TestNetUnearnedBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	other := ledgertest.AddPractice(t, h.f.Ledger, "Other")
	og := other.Family(t, "Else")[0]
	for _, c := range []struct {
		name, field string
		in          obj
	}{
		{"future asOf", "asOf", obj{"asOf": "2026-06-16"}},
		{"far future asOf", "asOf", obj{"asOf": "2199-01-01"}},
		{"other practice's guarantor", "guarantorId", obj{"guarantorId": og.GuarantorID.String()}},
		{"unknown provider", "providerId", obj{"providerId": newID()}},
		{"other practice's location", "locationId", obj{"locationId": other.Location.String()}},
		{"other practice's unearned type", "unearnedTypeId", obj{"unearnedTypeId": other.TPPrepay.String()}},
	} {
		e, _ := h.fail(t, h.analyst, netUnearnedQuery, obj{"in": c.in})
		require.Equal(t, "BAD_USER_INPUT", e.code(), c.name)
		require.Equal(t, c.field, e.field(), c.name)
	}
	r := h.do(t, h.analyst, netUnearnedQuery, obj{"in": obj{"visibility": "SOME"}})
	require.NotEmpty(t, r.Errors)
	require.Equal(t, "GRAPHQL_VALIDATION_FAILED", r.Errors[0].code(), r.Raw)
}
