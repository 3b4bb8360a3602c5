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

// load compares generating and loading a synthetic practice into the real
// schema with a raw COPY of the same rows into bare tables. Each repetition
// gets a fresh database cloned from a migrated template, so every load starts
// from the same state.
func (e *env) load(ctx context.Context) ([]Result, error) {
	tmpl, err := e.migratedDB(ctx, "tmpl")
	if err != nil {
		return nil, err
	}
	// The baseline's rows: the same practice, rendered to the values COPY
	// sends before the clock starts.
	p, err := synth.Generate(e.config())
	if err != nil {
		return nil, err
	}
	rendered := render(p)
	rows := p.Counts().Total()

	var stats []synth.LoadStats
	rep := 0
	samples, err := e.repeat(ctx,
		func(ctx context.Context) (float64, error) {
			rep++
			return e.inFreshDB(ctx, fmt.Sprintf("load%d", rep), tmpl, func(db *sql.DB) (float64, error) {
				t0 := time.Now()
				p, err := synth.Generate(e.config())
				if err != nil {
					return 0, err
				}
				st, err := synth.Load(ctx, db, p)
				if err != nil {
					return 0, err
				}
				stats = append(stats, st)
				return time.Since(t0).Seconds(), nil
			})
		},
		func(ctx context.Context) (float64, error) {
			rep++
			return e.inFreshDB(ctx, fmt.Sprintf("raw%d", rep), tmpl, func(db *sql.DB) (float64, error) {
				return rawCopy(ctx, db, rendered)
			})
		},
	)
	if err != nil {
		return nil, err
	}
	r := result("load", e.opt.Size,
		figure(fmt.Sprintf("generate the %s practice and load it: COPY into the ledger schema, deferred checks at commit, ANALYZE", e.opt.Size), "s", samples[0]),
		figure("COPY of the same rows, pre-rendered, into tables with the same columns and no keys, constraints, indexes or triggers", "s", samples[1]),
		&target{bound: 3, text: "≤ 3× (as the import target)"})
	r.Notes = append(r.Notes, fmt.Sprintf("%d rows; throughput %.0f rows/s loaded, %.0f rows/s raw", rows,
		float64(rows)/r.Operation.Value, float64(rows)/r.Baseline.Value))
	r.Notes = append(r.Notes, "where the load's time went (the median repetition): "+describe(medianStats(stats[e.opt.Warmups:])))
	return []Result{r}, nil
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

// render turns every row of p into the values COPY sends, the practice and
// unearned types included.
func render(p *synth.Practice) []renderedTable {
	pid := p.Practice.ID.String()
	out := []renderedTable{{
		copy: synth.Copy{Table: "practices", Columns: "id, name, require_batch, created_at", Width: 4},
		rows: [][]any{{pid, p.Practice.Name, "false", p.Practice.CreatedAt.UTC().Format(time.RFC3339Nano)}},
	}}
	ut := renderedTable{copy: synth.Copy{Table: "unearned_types", Columns: "practice_id, id, name, hidden, is_default, is_treatment_plan", Width: 6}}
	for _, u := range p.UnearnedTypes {
		ut.rows = append(ut.rows, []any{pid, u.ID.String(), u.Name, fmt.Sprint(u.Hidden), fmt.Sprint(u.IsDefault), fmt.Sprint(u.IsTreatmentPlan)})
	}
	out = append(out, ut)
	for _, c := range synth.Copies(p) {
		t := renderedTable{copy: c, rows: make([][]any, c.Len)}
		for i := range c.Len {
			t.rows[i] = make([]any, c.Width)
			c.Row(i, t.rows[i])
		}
		out = append(out, t)
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
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	for _, t := range tables {
		c := t.copy
		c.Table, c.Len = "raw."+c.Table, len(t.rows)
		c.Row = func(i int, v []any) { copy(v, t.rows[i]) }
		if err := synth.CopyRows(ctx, tx, c); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
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

// describe lists where a load spent its time.
func describe(st synth.LoadStats) string {
	var parts []string
	for _, t := range st.Tables {
		parts = append(parts, fmt.Sprintf("%s %d rows %.2fs", t.Table, t.Rows, t.Time.Seconds()))
	}
	parts = append(parts, fmt.Sprintf("commit (deferred receipt checks) %.2fs", st.Commit.Seconds()),
		fmt.Sprintf("ANALYZE %.2fs", st.Analyze.Seconds()),
		fmt.Sprintf("total load %.2fs (generation is the rest)", st.Total.Seconds()))
	return strings.Join(parts, "; ")
}
