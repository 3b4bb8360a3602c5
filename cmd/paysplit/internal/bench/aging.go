package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// agingBaseline is the hand-written aggregate the aging report is held to:
// the completed charges served on or before $2, less the splits on them from
// receipts received on or before $2, bucketed by age with the default limits
// (0–30, 31–60, 61–90, 91–120, 120+). It reads the same rows as the report's
// lines but leaves out what the report adds on top: adjustments folded into
// their line, reversals, pending insurance, credits off the lines, and the
// portions.
const agingBaseline = `
WITH paid AS (
    SELECT s.charge_id, sum(s.amount) AS amount
      FROM splits s
      JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
     WHERE s.practice_id = $1 AND s.charge_id IS NOT NULL AND r.received_on <= $2
     GROUP BY s.charge_id
), lines AS (
    SELECT width_bucket($2::date - c.service_date, ARRAY[31, 61, 91, 121]) AS bucket,
           c.amount - coalesce(p.amount, 0) AS owed
      FROM charges c
      LEFT JOIN paid p ON p.charge_id = c.id
     WHERE c.practice_id = $1 AND c.service_date <= $2 AND c.status = 'COMPLETED'
)
SELECT bucket, sum(owed)::text FROM lines GROUP BY bucket ORDER BY bucket`

// aging compares the practice-wide aging report of the synthetic practice,
// as of today and as of a year ago, with the hand-written aggregate.
func (e *env) aging(ctx context.Context) ([]Result, error) {
	a, l, actor, err := e.asAdmin(ctx)
	if err != nil {
		return nil, err
	}
	today := ledger.DateOf(time.Now().UTC())
	var out []Result
	for _, c := range []struct {
		name string
		asOf ledger.Date
	}{{"today", today}, {"a year ago", today.AddDays(-365)}} {
		var rep ledger.AgingReport
		var base []ledger.Money
		a.counter.Times() // start the statement times afresh
		samples, err := e.repeat(ctx,
			func(ctx context.Context) (float64, error) {
				d := c.asOf
				t0 := time.Now()
				r, err := l.Aging(ctx, actor, ledger.AgingQuery{AsOf: &d, GroupBy: ledger.AgingByPractice, Page: ledger.Page{First: 1}})
				if err != nil {
					return 0, err
				}
				ms := float64(time.Since(t0).Microseconds()) / 1000
				if len(r.Rows) != 1 {
					return 0, fmt.Errorf("aging by practice as of %s returned %d rows", d, len(r.Rows))
				}
				rep = r
				return ms, nil
			},
			func(ctx context.Context) (float64, error) {
				t0 := time.Now()
				got, err := agingAggregate(ctx, a, c.asOf)
				if err != nil {
					return 0, err
				}
				base = got
				return float64(time.Since(t0).Microseconds()) / 1000, nil
			},
		)
		if err != nil {
			return nil, err
		}
		r := result("aging as of "+c.name, e.opt.Size,
			figure(fmt.Sprintf("Ledger.Aging, practice-wide (groupBy PRACTICE, first 1), as of %s", c.asOf), "ms", samples[0]),
			figure("one hand-written SQL aggregate: completed charges served by the date less their splits from receipts received by it, width_bucket by age", "ms", samples[1]),
			&target{bound: 1.5, text: "≤ 1.5×"})
		var baseTotal ledger.Money
		for _, m := range base {
			baseTotal = baseTotal.Add(m)
		}
		r.Notes = append(r.Notes,
			fmt.Sprintf("report: buckets %s, total %s, %d accounts, credits %s (unallocated %s, unearned %s), insurance pending %s",
				moneyList(rep.Summary.Buckets), rep.Summary.Total, rep.Summary.Accounts, rep.Summary.Credit,
				rep.Summary.Unallocated, rep.Summary.Unearned, rep.Summary.InsurancePortion),
			fmt.Sprintf("baseline: buckets %s, total on the lines %s (no credits off the lines, adjustments, reversals or insurance rules)",
				moneyList(base), baseTotal))
		r.Notes = append(r.Notes, statementNotes(a.counter.Times(), int64(e.opt.Warmups+e.opt.Reps), 6)...)
		r.Notes[2] = "statements of both report and baseline, per repetition: " + r.Notes[2]
		out = append(out, r)
	}
	return out, nil
}

// agingAggregate runs the baseline and returns its five buckets.
func agingAggregate(ctx context.Context, a *app, asOf ledger.Date) ([]ledger.Money, error) {
	rows, err := a.store.DB().QueryContext(ctx, agingBaseline, a.practice.Practice.ID, asOf.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]ledger.Money, 5)
	for rows.Next() {
		var b int
		var s string
		if err := rows.Scan(&b, &s); err != nil {
			return nil, err
		}
		m, err := ledger.ParseMoney(s)
		if err != nil {
			return nil, err
		}
		out[b] = m
	}
	return out, rows.Err()
}

func moneyList(ms []ledger.Money) string {
	s := "["
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += m.String()
	}
	return s + "]"
}
