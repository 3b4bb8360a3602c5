package bench

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysplit/paysplit/ledger/synth"
)

// load compares generating and loading a synthetic practice (synth.Load:
// COPY into the real schema, the aging state rebuilt, ANALYZE) with COPYing
// the same rows, rendered beforehand, into the ledger's own tables (the
// same schema, one transaction; no generation, rendering, aging rebuild or
// ANALYZE) and, apart, with a raw COPY of them into bare tables. Each
// repetition gets a fresh database cloned from a migrated template, so
// every load starts from the same state.
func (e *env) load(ctx context.Context) ([]Result, error) {
	tmpl, err := e.migratedDB(ctx, "tmpl")
	if err != nil {
		return nil, err
	}
	// The baselines' rows: the same practice, rendered to the values COPY
	// sends before the clock starts.
	p, err := synth.Generate(e.config())
	if err != nil {
		return nil, err
	}
	rendered := render(synth.Copies(p))
	rows := p.Counts().Total()

	var stats, floors []synth.LoadStats
	samples, err := e.repeat(ctx,
		e.inFreshDBs("load", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			t0 := time.Now()
			p, err := synth.Generate(e.config())
			if err != nil {
				return 0, err
			}
			st, err := synth.Load(ctx, db, p)
			stats = append(stats, st)
			return time.Since(t0).Seconds(), err
		}),
		e.inFreshDBs("copy", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			st, err := synth.LoadCopies(ctx, db, p.Practice.ID, copies(rendered, ""), synth.AgingLeft)
			floors = append(floors, st)
			return st.Total.Seconds(), err
		}),
		e.inFreshDBs("raw", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			return rawCopy(ctx, db, rendered)
		}),
	)
	if err != nil {
		return nil, err
	}
	rs := againstCopy("load", e.opt.Size,
		figure(fmt.Sprintf("generate the %s practice and load it: COPY into the ledger schema, the aging state rebuilt, deferred checks at commit, ANALYZE", e.opt.Size), "s", samples[0]),
		figure("COPY of the same rows, pre-rendered, into the ledger's own tables (keys, FKs, checks, indexes, triggers, deferred checks at commit), one transaction, the aging triggers skipped and nothing rebuilt", "s", samples[1]),
		samples[2])
	rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("%d rows; throughput %.0f rows/s loaded, %.0f rows/s COPYed into the ledger's tables, %.0f rows/s raw", rows,
		float64(rows)/rs[0].Operation.Value, float64(rows)/rs[0].Baseline.Value, float64(rows)/rs[1].Baseline.Value))
	rs[0].Notes = append(rs[0].Notes, "where the load's time went (the median repetition; generation is the rest): "+describe(medianStats(stats[e.opt.Warmups:])),
		"where the baseline's time went (the median repetition): "+describe(medianStats(floors[e.opt.Warmups:])))
	return rs, nil
}

// againstCopy is a workload's two rows: op against COPY of the same rows
// into the ledger's own tables (toLedger), held to ≤ 3×, and, named
// workload-raw and without a target, op against a raw COPY of them into
// bare tables (raw samples).
func againstCopy(workload string, size synth.Size, op, toLedger Figure, raw []float64) []Result {
	return []Result{
		result(workload, size, op, toLedger, &target{bound: 3, text: "≤ 3×"}),
		result(workload+"-raw", size, op,
			figure("COPY of the same rows, pre-rendered, into bare tables with the same columns (no keys, constraints, indexes or triggers), one transaction", "s", raw), nil),
	}
}

// inFreshDBs returns a repetition that runs fn, each time, in a new
// database cloned from tmpl (inFreshDB), named after prefix and a count.
func (e *env) inFreshDBs(prefix, tmpl string, fn func(context.Context, *sql.DB) (float64, error)) func(context.Context) (float64, error) {
	n := 0
	return func(ctx context.Context) (float64, error) {
		n++
		return e.inFreshDB(ctx, fmt.Sprintf("%s%d", prefix, n), tmpl, func(db *sql.DB) (float64, error) { return fn(ctx, db) })
	}
}

// inFreshDB runs fn against a new database cloned from tmpl and drops the
// database afterwards.
func (e *env) inFreshDB(ctx context.Context, suffix, tmpl string, fn func(*sql.DB) (float64, error)) (float64, error) {
	name, err := e.createDB(ctx, suffix, tmpl)
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("postgres", e.url(name))
	if err != nil {
		return 0, err
	}
	v, err := fn(db)
	db.Close()
	if derr := e.dropDB(ctx, name); err == nil {
		err = derr
	}
	return v, err
}

// renderedTable is one table's rows as COPY values.
type renderedTable struct {
	copy synth.Copy
	rows [][]any
}

// render turns every row of cs into the values COPY sends.
func render(cs []synth.Copy) []renderedTable {
	out := make([]renderedTable, len(cs))
	for k, c := range cs {
		t := renderedTable{copy: c, rows: make([][]any, c.Len)}
		for i := range c.Len {
			t.rows[i] = make([]any, c.Width)
			c.Row(i, t.rows[i])
		}
		out[k] = t
	}
	return out
}

// copies are the COPYs of the rendered tables into the tables of the same
// names in schema ("" for the ledger's own).
func copies(tables []renderedTable, schema string) []synth.Copy {
	out := make([]synth.Copy, len(tables))
	for k, t := range tables {
		c := t.copy
		c.Len, c.Row = len(t.rows), func(i int, v []any) { copy(v, t.rows[i]) }
		if schema != "" {
			c.Table = schema + "." + c.Table
		}
		out[k] = c
	}
	return out
}

// rawCopy creates bare copies of the ledger tables (same columns and types,
// nothing else) and times COPYing the rendered rows into them in one
// transaction.
func rawCopy(ctx context.Context, db *sql.DB, tables []renderedTable) (float64, error) {
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA raw`); err != nil {
		return 0, err
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, `CREATE TABLE raw.`+t.copy.Table+` (LIKE public.`+t.copy.Table+` INCLUDING DEFAULTS)`); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	if err := synth.CopyAll(ctx, db, copies(tables, "raw")); err != nil {
		return 0, err
	}
	return time.Since(t0).Seconds(), nil
}

// medianStats returns the load whose total is the median.
func medianStats(st []synth.LoadStats) synth.LoadStats {
	if len(st) == 0 {
		return synth.LoadStats{}
	}
	s := slices.Clone(st)
	slices.SortFunc(s, func(a, b synth.LoadStats) int { return cmp.Compare(a.Total, b.Total) })
	return s[len(s)/2]
}

// describe lists where a load spent its time: each table's COPY, the aging
// state's rebuild if there was one, the commit and ANALYZE if it ran.
func describe(st synth.LoadStats) string {
	var parts []string
	for _, t := range st.Tables {
		parts = append(parts, fmt.Sprintf("%s %d rows %.2fs", t.Table, t.Rows, t.Time.Seconds()))
	}
	parts = append(parts, fmt.Sprintf("commit (deferred receipt checks) %.2fs", st.Commit.Seconds()))
	if st.Analyze > 0 {
		parts = append(parts, fmt.Sprintf("ANALYZE %.2fs", st.Analyze.Seconds()))
	}
	parts = append(parts, fmt.Sprintf("total %.2fs", st.Total.Seconds()))
	return strings.Join(parts, "; ")
}
