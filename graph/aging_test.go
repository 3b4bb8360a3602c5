package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func agingHarness(t *testing.T) (*harness, *ledgertest.AgingScenario) {
	t.Helper()
	db := ledgertest.NewDB(t)
	s := ledgertest.BuildAging(t, ledgertest.NewPractice(t, db))
	return serve(t, db, s.Practice), s
}

const agingQuery = `query($input: AgingInput!) {
  aging(input: $input) {
    asOf basis groupBy creditsToOldestBucket
    buckets { label fromDays toDays }
    summary { buckets total over90 over90Percent credits unallocated unearned insurancePortion patientPortion accounts }
    rows {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { cursor node {
        key name buckets total insurancePortion patientPortion unallocated unearned credits over90 oldestBucket
        lastPaymentDate lastPaymentAmount
        patient { firstName } guarantor { name balance } provider { name } location { name }
      } }
    }
  }
}`

func TestAgingQuery(t *testing.T) {
	t.Parallel()
	h, s := agingHarness(t)
	data := h.ok(t, h.analyst, agingQuery, map[string]any{"input": map[string]any{"first": 1}})
	r := at(t, data, "aging")
	require.Equal(t, "2026-06-15", str(t, r, "asOf"))
	require.Equal(t, "SERVICE_DATE", str(t, r, "basis"))
	require.Equal(t, "GUARANTOR", str(t, r, "groupBy"))
	require.Equal(t, false, at(t, r, "creditsToOldestBucket"))
	require.Equal(t, "120+", str(t, r, "buckets.4.label"))
	require.Equal(t, float64(121), at(t, r, "buckets.4.fromDays"))
	require.Nil(t, at(t, r, "buckets.4.toDays"))
	require.Equal(t, []any{"-10.00", "0.00", "180.00", "3.00", "100.00"}, at(t, r, "summary.buckets"))
	requireMoney(t, "238.00", r, "summary.total")
	requireMoney(t, "103.00", r, "summary.over90")
	require.Equal(t, "43.28", str(t, r, "summary.over90Percent"))
	requireMoney(t, "45.00", r, "summary.credits")
	require.Equal(t, float64(3), at(t, r, "summary.accounts"))

	require.Equal(t, float64(3), at(t, r, "rows.totalCount"))
	require.Equal(t, true, at(t, r, "rows.pageInfo.hasNextPage"))
	row := at(t, r, "rows.edges.0.node")
	require.Equal(t, s.Pat.GuarantorID.String(), str(t, row, "key"))
	require.Equal(t, "Pat Family", str(t, row, "name"))
	require.Equal(t, []any{"0.00", "0.00", "180.00", "0.00", "100.00"}, at(t, row, "buckets"))
	requireMoney(t, "245.00", row, "total")
	requireMoney(t, "245.00", row, "patientPortion")
	requireMoney(t, "35.00", row, "credits")
	require.Equal(t, float64(4), at(t, row, "oldestBucket"))
	require.Equal(t, "2026-06-12", str(t, row, "lastPaymentDate"))
	requireMoney(t, "50.00", row, "lastPaymentAmount")
	require.Equal(t, "Pat Family", str(t, row, "guarantor.name"))
	requireMoney(t, "245.00", row, "guarantor.balance")
	require.Nil(t, at(t, row, "patient"))
	require.Nil(t, at(t, row, "provider"))

	// The next pages, by cursor.
	data = h.ok(t, h.analyst, agingQuery, map[string]any{"input": map[string]any{"first": 5,
		"after": str(t, r, "rows.pageInfo.endCursor")}})
	require.Equal(t, true, at(t, data, "aging.rows.pageInfo.hasPreviousPage"))
	require.Equal(t, false, at(t, data, "aging.rows.pageInfo.hasNextPage"))
	var names []string
	for _, e := range list(t, data, "aging.rows.edges") {
		names = append(names, str(t, e, "node.name"))
	}
	require.Equal(t, []string{"Solo Family", "Credit Family"}, names)
	require.Nil(t, at(t, data, "aging.rows.edges.1.node.oldestBucket"))
}

func TestAgingQueryOptions(t *testing.T) {
	t.Parallel()
	h, s := agingHarness(t)
	data := h.ok(t, h.analyst, agingQuery, map[string]any{"input": map[string]any{
		"groupBy": "PROVIDER", "basis": "RESPONSIBILITY_DATE", "buckets": []int{60, 120}, "sort": "OLDEST_BUCKET_DESC",
		"creditsToOldestBucket": true, "asOf": "2026-06-15"}})
	r := at(t, data, "aging")
	require.Equal(t, "RESPONSIBILITY_DATE", str(t, r, "basis"))
	require.Equal(t, true, at(t, r, "creditsToOldestBucket"))
	require.Equal(t, "61–120", str(t, r, "buckets.1.label"))
	var names []string
	for _, e := range list(t, r, "rows.edges") {
		names = append(names, str(t, e, "node.name"))
	}
	// Dr. One owes in 120+ (C1), Dr. Two in 61–120 (C3); the credits with no provider owe nothing.
	require.Equal(t, []string{"Dr. One", "Dr. Two", "No provider"}, names)
	require.Equal(t, "Dr. One", str(t, r, "rows.edges.0.node.provider.name"))
	require.Equal(t, s.Provider.String(), str(t, r, "rows.edges.0.node.key"))
	require.Nil(t, at(t, r, "rows.edges.2.node.key"))
	require.Nil(t, at(t, r, "rows.edges.2.node.provider"))
	requireMoney(t, "-35.00", r, "rows.edges.2.node.buckets.0")

	// Credits only; small balances only.
	data = h.ok(t, h.analyst, agingQuery, map[string]any{"input": map[string]any{"maxBalance": "-0.01", "groupBy": "PATIENT"}})
	require.Equal(t, "Family, Credit", str(t, data, "aging.rows.edges.0.node.name"))
	require.Equal(t, "Credit", str(t, data, "aging.rows.edges.0.node.patient.firstName"))
	data = h.ok(t, h.analyst, agingQuery, map[string]any{"input": map[string]any{"minBalance": "0.01", "maxBalance": "4.99",
		"coverage": "SELF_PAY", "minAgeDays": 100, "locationId": s.Location.String()}})
	require.Equal(t, float64(1), at(t, data, "aging.rows.totalCount"))
	require.Equal(t, "Solo Family", str(t, data, "aging.rows.edges.0.node.name"))
}

func TestAgingQueryRefusesBadInput(t *testing.T) {
	t.Parallel()
	h, _ := agingHarness(t)
	for _, tc := range []struct {
		input map[string]any
		field string
	}{
		{map[string]any{"buckets": []int{}}, "buckets"},
		{map[string]any{"buckets": []int{30, 20}}, "buckets[1]"},
		{map[string]any{"minBalance": "5.00", "maxBalance": "1.00"}, "maxBalance"},
		{map[string]any{"minAgeDays": -1}, "minAgeDays"},
		{map[string]any{"first": 501}, "first"},
		{map[string]any{"after": "bm9wZQ"}, "after"},
		{map[string]any{"maxBalance": "1.001"}, "maxBalance"},
	} {
		e, _ := h.fail(t, h.analyst, `query($input: AgingInput!) { aging(input: $input) { asOf } }`, map[string]any{"input": tc.input})
		require.Equal(t, "BAD_USER_INPUT", e.code(), "%v: %s", tc.input, e.Message)
		require.Equal(t, tc.field, e.field(), "%v", tc.input)
	}
	e, _ := h.fail(t, "", agingQuery, map[string]any{"input": map[string]any{}})
	require.Equal(t, "UNAUTHENTICATED", e.code())
}

func TestAgingSettingsThroughGraphQL(t *testing.T) {
	t.Parallel()
	h, _ := agingHarness(t)
	const update = `mutation($in: UpdateAgingSettingsInput!) { updateAgingSettings(input: $in) { settings { buckets } } }`
	require.Equal(t, []any{float64(30), float64(60), float64(90), float64(120)},
		at(t, h.ok(t, h.analyst, `{ agingSettings { buckets } }`, nil), "agingSettings.buckets"))

	e, _ := h.fail(t, h.analyst, update, map[string]any{"in": map[string]any{"buckets": []int{30, 90}}})
	require.Equal(t, "FORBIDDEN", e.code())
	data := h.ok(t, h.admin, update, map[string]any{"in": map[string]any{"buckets": []int{30, 90}, "idempotencyKey": "b1"}})
	require.Equal(t, []any{float64(30), float64(90)}, at(t, data, "updateAgingSettings.settings.buckets"))
	data = h.ok(t, h.analyst, `{ aging(input: {first: 0}) { buckets { label } summary { buckets } } }`, nil)
	require.Equal(t, "90+", str(t, data, "aging.buckets.2.label"))
	require.Equal(t, []any{"-10.00", "180.00", "103.00"}, at(t, data, "aging.summary.buckets"))
}
