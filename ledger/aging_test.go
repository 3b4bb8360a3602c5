package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func agingScenario(t *testing.T) *ledgertest.AgingScenario {
	t.Helper()
	return ledgertest.BuildAging(t, ledgertest.NewPractice(t, ledgertest.NewDB(t)))
}

func aging(t *testing.T, s *ledgertest.AgingScenario, q ledger.AgingQuery) ledger.AgingReport {
	t.Helper()
	if q.Page.First == 0 {
		q.Page.First = 100
	}
	r, err := s.Ledger.Aging(context.Background(), s.Actor, q)
	require.NoError(t, err)
	return r
}

func date(s string) *ledger.Date { d := ledger.MustDate(s); return &d }

// amounts formats money as "a b c".
func amounts(ms []ledger.Money) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return strings.Join(out, " ")
}

// byName indexes a report's rows by name.
func byName(t *testing.T, r ledger.AgingReport) map[string]ledger.AgingRow {
	t.Helper()
	m := map[string]ledger.AgingRow{}
	for _, row := range r.Rows {
		_, dup := m[row.Name]
		require.False(t, dup, "two rows named %s", row.Name)
		m[row.Name] = row
	}
	return m
}

// requireRow checks a row's buckets, total, insurance portion, unallocated and unearned.
func requireRow(t *testing.T, row ledger.AgingRow, buckets, total, insurance, unallocated, unearned string) {
	t.Helper()
	require.Equal(t, buckets, amounts(row.Buckets), "%s buckets", row.Name)
	requireMoney(t, total, row.Total, row.Name+" total")
	requireMoney(t, insurance, row.InsurancePortion, row.Name+" insurance")
	requireMoney(t, total, row.PatientPortion.Add(row.InsurancePortion), row.Name+" patient + insurance")
	requireMoney(t, unallocated, row.Unallocated, row.Name+" unallocated")
	requireMoney(t, unearned, row.Unearned, row.Name+" unearned")
}

func TestAgingByGuarantorAsOfTodayOnTheWorkedExample(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	r := aging(t, s, ledger.AgingQuery{})

	require.Equal(t, ledgertest.Today, r.AsOf)
	require.Equal(t, ledger.AgingServiceDate, r.Basis)
	require.Equal(t, ledger.AgingByGuarantor, r.GroupBy)
	var labels []string
	for _, b := range r.Buckets {
		labels = append(labels, b.Label)
	}
	require.Equal(t, []string{"0–30", "31–60", "61–90", "91–120", "120+"}, labels)

	rows := byName(t, r)
	require.Len(t, rows, 3)
	smith := rows["Pat Family"]
	// C2 (30.00 after insurance, 66 days) and C3 (150.00, 75 days) are 61–90;
	// C1 (100.00, 141 days) is 120+; 25.00 unallocated and 10.00 visible
	// prepayment are credits beside the buckets (the hidden 40.00 is not).
	requireRow(t, smith, "0.00 0.00 180.00 0.00 100.00", "245.00", "0.00", "25.00", "10.00")
	requireMoney(t, "35.00", smith.Credit)
	requireMoney(t, "100.00", smith.Over90)
	require.Equal(t, 4, smith.OldestBucket)
	require.Equal(t, ledger.MustDate("2026-06-12"), *smith.LastPaymentDate)
	requireMoney(t, "50.00", *smith.LastPaymentAmount)

	requireRow(t, rows["Solo Family"], "0.00 0.00 0.00 3.00 0.00", "3.00", "0.00", "0.00", "0.00")
	credit := rows["Credit Family"]
	requireRow(t, credit, "-10.00 0.00 0.00 0.00 0.00", "-10.00", "0.00", "0.00", "0.00")
	requireMoney(t, "10.00", credit.Credit)
	require.Equal(t, -1, credit.OldestBucket)

	sm := r.Summary
	require.Equal(t, "-10.00 0.00 180.00 3.00 100.00", amounts(sm.Buckets))
	requireMoney(t, "238.00", sm.Total)
	requireMoney(t, "103.00", sm.Over90)
	requireMoney(t, "45.00", sm.Credit)
	requireMoney(t, "25.00", sm.Unallocated)
	requireMoney(t, "10.00", sm.Unearned)
	require.Equal(t, 3, sm.Accounts)
	pct, ok := sm.Over90Percent()
	require.True(t, ok)
	require.Equal(t, "43.28", pct) // 103 / 238
}

// The patient portion of each family's row is the family's balance
// everywhere else in the API.
func TestAgingAsOfTodayAgreesWithBalances(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	r := aging(t, s, ledger.AgingQuery{})
	for _, row := range r.Rows {
		b, err := s.Store.GuarantorBalances(context.Background(), s.Actor.PracticeID, []ledger.ID{row.Key})
		require.NoError(t, err)
		requireMoney(t, b[row.Key].Balance.String(), row.PatientPortion, row.Name)
	}
}

func TestAgingAsOfAnEarlierDate(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	// On 2026-05-31 insurance had not paid C2 (its estimate is pending and
	// it is 51 days old), C3 was 60 days old, and no credit had come in.
	q := ledger.AgingQuery{AsOf: date("2026-05-31")}
	before := aging(t, s, q)
	smith := byName(t, before)["Pat Family"]
	requireRow(t, smith, "0.00 230.00 0.00 0.00 100.00", "330.00", "60.00", "0.00", "0.00")
	requireMoney(t, "270.00", smith.PatientPortion)
	require.Equal(t, ledger.MustDate("2026-04-20"), *smith.LastPaymentDate)
	requireMoney(t, "50.00", *smith.LastPaymentAmount)
	_, ok := byName(t, before)["Credit Family"] // its charge is dated 2026-06-01
	require.False(t, ok)

	// Money received today changes today's report, not last month's.
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "40.00", "2026-06-15", ledgertest.On("40.00", s.C1))
	require.Equal(t, before, aging(t, s, q))
	requireRow(t, byName(t, aging(t, s, ledger.AgingQuery{}))["Pat Family"],
		"0.00 0.00 180.00 0.00 60.00", "205.00", "0.00", "25.00", "10.00")
}

func TestAgingAsOfBeforeAReversal(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	_, err := s.Ledger.ReverseReceipt(context.Background(), s.Actor, ledger.Reversal{ReceiptID: s.InsurancePayment.ID})
	require.NoError(t, err)
	// Today the insurance payment is reversed: C2 owes 80.00 again, 60.00 of
	// it the pending estimate. As of 2026-06-10 the payment still stood.
	requireRow(t, byName(t, aging(t, s, ledger.AgingQuery{}))["Pat Family"],
		"0.00 0.00 230.00 0.00 100.00", "295.00", "60.00", "25.00", "10.00")
	requireRow(t, byName(t, aging(t, s, ledger.AgingQuery{AsOf: date("2026-06-10")}))["Pat Family"],
		"0.00 0.00 180.00 0.00 100.00", "255.00", "0.00", "25.00", "0.00")
}

func TestAgingBases(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	for _, tc := range []struct {
		basis   ledger.AgingBasis
		buckets string
	}{
		// C1 100 (served 141 days ago, entered 87), C2 30 (served 66, insurance paid 14), C3 150 (served 75).
		{ledger.AgingServiceDate, "0.00 0.00 180.00 0.00 100.00"},
		{ledger.AgingPostDate, "180.00 0.00 100.00 0.00 0.00"},
		{ledger.AgingResponsibilityDate, "30.00 0.00 150.00 0.00 100.00"},
	} {
		r := aging(t, s, ledger.AgingQuery{Basis: tc.basis})
		require.Equal(t, tc.basis, r.Basis)
		requireRow(t, byName(t, r)["Pat Family"], tc.buckets, "245.00", "0.00", "25.00", "10.00")
	}
	// Before insurance paid, C2's responsibility date is its service date.
	r := aging(t, s, ledger.AgingQuery{Basis: ledger.AgingResponsibilityDate, AsOf: date("2026-05-31")})
	require.Equal(t, "0.00 230.00 0.00 0.00 100.00", amounts(byName(t, r)["Pat Family"].Buckets))
}

func TestAgingGroupings(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	patients := byName(t, aging(t, s, ledger.AgingQuery{GroupBy: ledger.AgingByPatient}))
	require.Len(t, patients, 4)
	requireRow(t, patients["Family, Pat"], "0.00 0.00 30.00 0.00 100.00", "105.00", "0.00", "25.00", "0.00")
	requireRow(t, patients["Family, Kid"], "0.00 0.00 150.00 0.00 0.00", "140.00", "0.00", "0.00", "10.00")
	require.Equal(t, s.Kid.ID, patients["Family, Kid"].Key)

	providers := byName(t, aging(t, s, ledger.AgingQuery{GroupBy: ledger.AgingByProvider}))
	require.Len(t, providers, 3)
	requireRow(t, providers["Dr. One"], "-10.00 0.00 30.00 3.00 100.00", "123.00", "0.00", "0.00", "0.00")
	requireRow(t, providers["Dr. Two"], "0.00 0.00 150.00 0.00 0.00", "150.00", "0.00", "0.00", "0.00")
	requireRow(t, providers["No provider"], "0.00 0.00 0.00 0.00 0.00", "-35.00", "0.00", "25.00", "10.00")
	require.Equal(t, ledger.ID{}, providers["No provider"].Key)
	require.Equal(t, s.Provider, providers["Dr. One"].Key)
	require.Equal(t, ledger.MustDate("2026-06-12"), *providers["No provider"].LastPaymentDate)

	locations := byName(t, aging(t, s, ledger.AgingQuery{GroupBy: ledger.AgingByLocation}))
	requireRow(t, locations["Main"], "-10.00 0.00 30.00 3.00 100.00", "123.00", "0.00", "0.00", "0.00")
	requireRow(t, locations["Annex"], "0.00 0.00 150.00 0.00 0.00", "150.00", "0.00", "0.00", "0.00")
	require.Equal(t, ledger.MustDate("2026-04-20"), *locations["Annex"].LastPaymentDate)

	practice := aging(t, s, ledger.AgingQuery{GroupBy: ledger.AgingByPractice})
	require.Len(t, practice.Rows, 1)
	requireRow(t, practice.Rows[0], "-10.00 0.00 180.00 3.00 100.00", "238.00", "0.00", "25.00", "10.00")
	require.Equal(t, "Test Practice", practice.Rows[0].Name)
	require.Equal(t, s.Actor.PracticeID, practice.Rows[0].Key)
	require.Equal(t, ledger.MustDate("2026-06-12"), *practice.Rows[0].LastPaymentDate)
	requireMoney(t, "50.00", *practice.Rows[0].LastPaymentAmount)
}

func TestAgingBuckets(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	ctx := context.Background()
	r := aging(t, s, ledger.AgingQuery{BucketLimits: []int{60, 120}})
	require.Len(t, r.Buckets, 3)
	require.Equal(t, "61–120", r.Buckets[1].Label)
	require.Equal(t, 61, r.Buckets[1].FromDays)
	require.Equal(t, 120, *r.Buckets[1].ToDays)
	require.Nil(t, r.Buckets[2].ToDays)
	require.Equal(t, "0.00 180.00 100.00", amounts(byName(t, r)["Pat Family"].Buckets))

	// The practice's own default, then a request that overrides it.
	_, err := s.Ledger.UpdateAgingSettings(ctx, s.Actor, ledger.AgingSettings{BucketLimits: []int{30, 90}}, "")
	require.NoError(t, err)
	r = aging(t, s, ledger.AgingQuery{})
	require.Equal(t, "90+", r.Buckets[2].Label)
	require.Equal(t, "0.00 180.00 100.00", amounts(byName(t, r)["Pat Family"].Buckets))
	require.Equal(t, "0.00 0.00 180.00 0.00 100.00",
		amounts(byName(t, aging(t, s, ledger.AgingQuery{BucketLimits: ledger.DefaultBucketLimits}))["Pat Family"].Buckets))
	_, err = s.Ledger.UpdateAgingSettings(ctx, s.Actor, ledger.AgingSettings{}, "")
	require.NoError(t, err)
	require.Len(t, aging(t, s, ledger.AgingQuery{}).Buckets, 5)

	// Only an ADMIN sets them, and only to increasing positive limits.
	_, err = s.Ledger.UpdateAgingSettings(ctx, ledger.Actor{PracticeID: s.Actor.PracticeID, Role: ledger.RoleBiller},
		ledger.AgingSettings{BucketLimits: []int{30}}, "")
	require.ErrorIs(t, err, ledger.ErrForbidden)
	for _, bad := range [][]int{{}, {30, 30}, {0, 30}, {1, 2, 3, 4, 5, 6, 7, 8}} {
		_, err = s.Ledger.Aging(ctx, s.Actor, ledger.AgingQuery{BucketLimits: bad})
		var ie *ledger.InputError
		require.True(t, errors.As(err, &ie), "%v: %v", bad, err)
	}
}

func TestAgingFilters(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	names := func(q ledger.AgingQuery) []string {
		var out []string
		for _, r := range aging(t, s, q).Rows {
			out = append(out, r.Name)
		}
		return out
	}
	m := func(v string) *ledger.Money { x := ledger.MustMoney(v); return &x }
	n := func(v int) *int { return &v }

	require.Equal(t, []string{"Credit Family"}, names(ledger.AgingQuery{MaxBalance: m("-0.01")}))
	require.Equal(t, []string{"Solo Family"}, names(ledger.AgingQuery{MinBalance: m("0.01"), MaxBalance: m("4.99")}))
	require.Equal(t, []string{"Pat Family", "Solo Family"}, names(ledger.AgingQuery{MinAgeDays: n(100)}))
	require.Equal(t, []string{"Pat Family"}, names(ledger.AgingQuery{MinAgeDays: n(120)}))

	// A provider or location filter keeps only its lines (and its credits).
	r := aging(t, s, ledger.AgingQuery{ProviderID: &s.ProviderTwo})
	require.Len(t, r.Rows, 1)
	requireRow(t, r.Rows[0], "0.00 0.00 150.00 0.00 0.00", "150.00", "0.00", "0.00", "0.00")
	r = aging(t, s, ledger.AgingQuery{LocationID: &s.Location})
	requireRow(t, byName(t, r)["Pat Family"], "0.00 0.00 30.00 0.00 100.00", "130.00", "0.00", "0.00", "0.00")

	// Pat has insurance (C2 carries an estimate); Kid, Solo and Credit are self-pay.
	r = aging(t, s, ledger.AgingQuery{Coverage: ledger.CoverageInsured})
	require.Len(t, r.Rows, 1)
	requireRow(t, r.Rows[0], "0.00 0.00 30.00 0.00 100.00", "105.00", "0.00", "25.00", "0.00")
	r = aging(t, s, ledger.AgingQuery{Coverage: ledger.CoverageSelfPay})
	require.Len(t, r.Rows, 3)
	requireRow(t, byName(t, r)["Pat Family"], "0.00 0.00 150.00 0.00 0.00", "140.00", "0.00", "0.00", "10.00")
	requireMoney(t, "133.00", r.Summary.Total)
}

func TestAgingCreditsToOldestBucket(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	r := aging(t, s, ledger.AgingQuery{CreditsToOldest: true})
	require.True(t, r.CreditsToOldest)
	rows := byName(t, r)
	// The family's 35.00 of credit comes off C1's 120+ bucket; totals do not change.
	requireRow(t, rows["Pat Family"], "0.00 0.00 180.00 0.00 65.00", "245.00", "0.00", "25.00", "10.00")
	requireMoney(t, "65.00", rows["Pat Family"].Over90)
	// A credit larger than everything owed is left in the youngest bucket.
	requireRow(t, rows["Credit Family"], "-10.00 0.00 0.00 0.00 0.00", "-10.00", "0.00", "0.00", "0.00")
	require.Equal(t, "-10.00 0.00 180.00 3.00 65.00", amounts(r.Summary.Buckets))
	requireMoney(t, "68.00", r.Summary.Over90)

	// A credit that outgrows the oldest bucket moves on to the next.
	s.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "120.00", "2026-06-15", ledgertest.Unallocated("120.00"))
	rows = byName(t, aging(t, s, ledger.AgingQuery{CreditsToOldest: true}))
	requireRow(t, rows["Pat Family"], "0.00 0.00 125.00 0.00 0.00", "125.00", "0.00", "145.00", "10.00")
	requireMoney(t, "0.00", rows["Pat Family"].Over90)
	require.Equal(t, 2, rows["Pat Family"].OldestBucket)
}

func TestAgingSortAndPages(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	order := func(sort ledger.AgingSort) []string {
		var out []string
		q := ledger.AgingQuery{Sort: sort, Page: ledger.Page{First: 1}}
		for {
			r := aging(t, s, q)
			require.Equal(t, 3, r.Summary.Accounts)
			for _, row := range r.Rows {
				out = append(out, row.Name)
			}
			if !r.HasNext {
				return out
			}
			require.Len(t, r.Rows, 1)
			q.Page.After = &r.Cursors[0]
		}
	}
	require.Equal(t, []string{"Pat Family", "Solo Family", "Credit Family"}, order(ledger.SortTotalDesc))
	require.Equal(t, []string{"Credit Family", "Solo Family", "Pat Family"}, order(ledger.SortTotalAsc))
	require.Equal(t, []string{"Pat Family", "Solo Family", "Credit Family"}, order(ledger.SortOldestDesc))
	require.Equal(t, []string{"Credit Family", "Solo Family", "Pat Family"}, order(ledger.SortOldestAsc))

	// A cursor from another sort is bad input.
	r := aging(t, s, ledger.AgingQuery{Page: ledger.Page{First: 1}})
	_, err := s.Ledger.Aging(context.Background(), s.Actor, ledger.AgingQuery{Sort: ledger.SortOldestDesc,
		Page: ledger.Page{First: 1, After: &r.Cursors[0]}})
	var ie *ledger.InputError
	require.True(t, errors.As(err, &ie), "%v", err)
	require.Equal(t, "after", ie.Field)
}

func TestAgingSeesOnlyItsPractice(t *testing.T) {
	t.Parallel()
	s := agingScenario(t)
	other := ledgertest.AddPractice(t, s.Ledger, "Other Practice")
	r, err := s.Ledger.Aging(context.Background(), other.Actor, ledger.AgingQuery{Page: ledger.Page{First: 10}})
	require.NoError(t, err)
	require.Empty(t, r.Rows)
	require.Equal(t, 0, r.Summary.Accounts)
	requireMoney(t, "0.00", r.Summary.Total)
}
