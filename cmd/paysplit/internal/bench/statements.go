package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// statementsBaseline reads the rows a statement run reads, the hand-written
// way: per family, its completed lines served by the date less their splits
// from receipts received by it, and its money on no line, as of $2 and as of
// $3 (the day before the period), in one statement grouped by guarantor.
const statementsBaseline = `
WITH paid AS (
    SELECT s.charge_id, sum(s.amount) FILTER (WHERE r.received_on <= $2) AS now,
           sum(s.amount) FILTER (WHERE r.received_on <= $3) AS before
      FROM splits s
      JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
     WHERE s.practice_id = $1 AND s.charge_id IS NOT NULL AND r.received_on <= $2
     GROUP BY s.charge_id
), lines AS (
    SELECT p.guarantor_id, c.amount - coalesce(m.now, 0) AS now,
           CASE WHEN c.service_date <= $3 THEN c.amount - coalesce(m.before, 0) ELSE 0 END AS before
      FROM charges c
      JOIN patients p ON p.practice_id = c.practice_id AND p.id = c.patient_id
      LEFT JOIN paid m ON m.charge_id = c.id
     WHERE c.practice_id = $1 AND c.service_date <= $2 AND c.status = 'COMPLETED'
), credits AS (
    SELECT p.guarantor_id, -sum(s.amount) AS now, -coalesce(sum(s.amount) FILTER (WHERE r.received_on <= $3), 0) AS before
      FROM splits s
      JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
      JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id
     WHERE s.practice_id = $1 AND s.charge_id IS NULL AND r.received_on <= $2
     GROUP BY 1
)
SELECT count(*), sum(now)::text FROM (
    SELECT guarantor_id, sum(now) AS now, sum(before) AS before
      FROM (SELECT * FROM lines UNION ALL SELECT * FROM credits) x GROUP BY guarantor_id
) f`

// statements times statement runs over every family of the synthetic
// practice against the baseline reading the same rows: first previews
// (nothing recorded, so every period starts on the first of the month),
// then recorded runs as a practice makes them (each repetition a new run,
// so after the first the periods start the day after the last run).
func (e *env) statements(ctx context.Context) ([]Result, error) {
	a, l, actor, err := e.asAdmin(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, c := range []struct {
		name, what string
		preview    bool
	}{
		{"statement run, month (preview)", "previewed, nothing recorded: every period from the first of the month", true},
		{"statement run, every family", "recorded", false},
	} {
		r, err := e.statementRuns(ctx, a, l, actor, c.preview)
		if err != nil {
			return nil, err
		}
		r.Workload, r.Operation.What = c.name, r.Operation.What+", "+c.what
		out = append(out, r)
	}
	return out, nil
}

// statementRuns times runs (previews or recorded) against the baseline,
// and checks the last run's previous balances against aging's.
func (e *env) statementRuns(ctx context.Context, a *app, l *ledger.Ledger, actor ledger.Actor, preview bool) (Result, error) {
	today := ledger.DateOf(time.Now().UTC())
	monthStart := ledger.Date{Year: today.Year, Month: today.Month, Day: 1}
	everyone := ledger.MustMoney("-9999999999.99") // every family with anything on its account
	var run ledger.StatementRun
	var families int
	var baseTotal string
	a.counter.Times() // start the statement times afresh
	samples, err := e.repeat(ctx,
		func(ctx context.Context) (float64, error) {
			t0 := time.Now()
			r, err := l.RunStatements(ctx, actor, ledger.StatementRunRequest{MinBalance: &everyone, Note: "bench", Preview: preview})
			if err != nil {
				return 0, err
			}
			run = r
			return float64(time.Since(t0).Microseconds()) / 1000, nil
		},
		func(ctx context.Context) (float64, error) {
			t0 := time.Now()
			err := a.store.DB().QueryRowContext(ctx, statementsBaseline, a.practice.Practice.ID, today.String(),
				monthStart.AddDays(-1).String()).Scan(&families, &baseTotal)
			return float64(time.Since(t0).Microseconds()) / 1000, err
		},
	)
	if err != nil {
		return Result{}, err
	}
	times := a.counter.Times()
	var total ledger.Money
	for _, s := range run.Statements {
		total = total.Add(s.NewBalance)
	}
	r := result("", e.opt.Size,
		figure(fmt.Sprintf("Ledger.RunStatements over every family as of %s", today), "ms", samples[0]),
		figure("one hand-written SQL statement: each family's lines less their splits and its money on no line, as of the date and the day before the period", "ms", samples[1]),
		&target{bound: 3, text: "≤ 3×"})
	differ, err := previousDiffers(ctx, l, actor, run)
	if err != nil {
		return Result{}, err
	}
	r.Notes = append(r.Notes,
		fmt.Sprintf("run: %d statements, new balances %s, amount due %s; previous balances differing from aging's as of the day before the period: %d",
			len(run.Statements), total, run.AmountDue, differ),
		fmt.Sprintf("baseline: %d families, total %s (no adjustments, write-offs, reversals or insurance rules)", families, baseTotal))
	r.Notes = append(r.Notes, statementNotes(times, int64(e.opt.Warmups+e.opt.Reps), 6)...)
	r.Notes[2] = "statements of both runs and baseline, per repetition: " + r.Notes[2]
	return r, nil
}

// previousDiffers counts the run's statements whose previous balance (the
// new one less the period's activity) is not aging's total as of the day
// before the period.
func previousDiffers(ctx context.Context, l *ledger.Ledger, actor ledger.Actor, run ledger.StatementRun) (int, error) {
	totals := map[ledger.Date]map[ledger.ID]ledger.Money{}
	n := 0
	for _, s := range run.Statements {
		if totals[s.From] == nil {
			day := s.From.AddDays(-1)
			rep, err := l.Aging(ctx, actor, ledger.AgingQuery{AsOf: &day, CreditsToOldest: true, NoLastPayment: true, Page: ledger.Page{First: math.MaxInt32 - 1}})
			if err != nil {
				return 0, err
			}
			totals[s.From] = map[ledger.ID]ledger.Money{}
			for _, row := range rep.Rows {
				totals[s.From][row.Key] = row.Total
			}
		}
		if totals[s.From][s.GuarantorID].Cmp(s.PreviousBalance) != 0 {
			n++
		}
	}
	return n, nil
}
