package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// The long runs (issue 5): credit management and the practice-wide family
// balancer (both methods), each a committing run over every family of the
// synthetic practice (ledger.StartRun, then waiting for its end), against
// docs/design.md §7's baseline: "reading every family's inputs and COPYing
// out the resulting splits" — a hand-written pass that reads every family's
// charges, splits and receipts, plus a COPY of the very split rows the run
// posted into a bare table (LIKE splits). Each repetition, operation or
// baseline, runs in a fresh clone of a database holding the loaded
// practice, so every run starts from the same ledger.

// runsTemplate is the database holding the loaded synthetic practice that
// the runs' repetitions clone. Both workloads share it.
type runsTemplate struct {
	name     string
	practice *synth.Practice
}

func (e *env) runsTemplate(ctx context.Context) (*runsTemplate, error) {
	if e.runs != nil {
		return e.runs, nil
	}
	name, err := e.migratedDB(ctx, "runs")
	if err != nil {
		return nil, err
	}
	e.opt.Logf("bench: generating and loading the %s practice for the runs", e.opt.Size)
	p, err := synth.Generate(e.config())
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("postgres", e.url(name))
	if err != nil {
		return nil, err
	}
	_, err = synth.Load(ctx, db, p)
	db.Close() // a template may have no sessions
	if err != nil {
		return nil, err
	}
	t := &runsTemplate{name: name, practice: p}
	e.runs = t
	return t, nil
}

// creditManagement measures credit management over the whole practice.
func (e *env) creditManagement(ctx context.Context) ([]Result, error) {
	r, err := e.runWorkload(ctx, "credit-management",
		ledger.RunRequest{Kind: ledger.RunCreditManagement, Note: "bench: credit management"})
	if err != nil {
		return nil, err
	}
	return []Result{r}, nil
}

// balance measures the practice-wide balancer by each method.
func (e *env) balance(ctx context.Context) ([]Result, error) {
	var out []Result
	for _, m := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
		r, err := e.runWorkload(ctx, "balance "+string(m), ledger.RunRequest{Kind: ledger.RunBalance, Method: m, Note: "bench: balance"})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// runOutcome is what one committed run did.
type runOutcome struct {
	run    ledger.Run
	splits [][]any // the split rows it posted, as COPY values
	// phases is the run's database time by phase, and plan's share of
	// the time outside the database.
	phases runPhases
}

// runPhases splits a run's time: reading the families' inputs, posting
// receipts and splits (with their audit events and idempotency records),
// recording the families' results and the run's progress, and the rest
// (planning in Go, transaction control, the round trips not timed).
type runPhases struct {
	read, post, record, other, total time.Duration
	statements                       []statementTime
}

func (p runPhases) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	pct := func(d time.Duration) string { return fmt.Sprintf("%.0f%%", 100*float64(d)/float64(max(p.total, 1))) }
	rest := p.total - p.read - p.post - p.record - p.other
	return fmt.Sprintf("of %s: plan = read inputs %s (%s) + plan in Go and other work outside the database %s (%s); post (receipts, splits, audit, idempotency) %s (%s); record (family results, run progress) %s (%s); other statements %s (%s)",
		ms(p.total), ms(p.read), pct(p.read), ms(rest), pct(rest), ms(p.post), pct(p.post), ms(p.record), pct(p.record), ms(p.other), pct(p.other))
}

// classify files a statement under a phase by the table it writes or reads.
func classify(sql string) string {
	q := strings.ToLower(strings.Join(strings.Fields(sql), " "))
	switch {
	case strings.Contains(q, "run_families") && !strings.HasPrefix(q, "select"), strings.HasPrefix(q, "update runs"),
		strings.Contains(q, "insert into runs"):
		return "record"
	case strings.HasPrefix(q, "insert"), strings.HasPrefix(q, "with") && strings.Contains(q, "insert into"),
		strings.Contains(q, "pg_notify"), strings.Contains(q, "idempotency_records"):
		return "post"
	case strings.HasPrefix(q, "select") || strings.HasPrefix(q, "with"):
		if strings.Contains(q, "run_families") || strings.Contains(q, "from runs") {
			return "record" // the run's own bookkeeping: pending families, re-reads
		}
		return "read"
	}
	return "other"
}

// runWorkload measures one kind of run against the read-and-COPY baseline.
func (e *env) runWorkload(ctx context.Context, workload string, req ledger.RunRequest) (Result, error) {
	tmpl, err := e.runsTemplate(ctx)
	if err != nil {
		return Result{}, err
	}
	pid := tmpl.practice.Practice.ID
	var outs []runOutcome
	var last *runOutcome
	var baseRows []int
	rep := 0
	samples, err := e.repeat(ctx,
		func(ctx context.Context) (float64, error) {
			rep++
			name, err := e.createDB(ctx, fmt.Sprintf("run%d", rep), tmpl.name)
			if err != nil {
				return 0, err
			}
			o, err := commitRun(ctx, e.url(name), pid, req)
			if derr := e.dropDB(ctx, name); err == nil {
				err = derr
			}
			if err != nil {
				return 0, err
			}
			outs = append(outs, o)
			last = &outs[len(outs)-1]
			return o.phases.total.Seconds(), nil
		},
		func(ctx context.Context) (float64, error) {
			rep++
			return e.inFreshDB(ctx, fmt.Sprintf("runbase%d", rep), tmpl.name, func(db *sql.DB) (float64, error) {
				n, secs, err := readAndCopy(ctx, db, pid, last.splits)
				baseRows = append(baseRows, n)
				return secs, err
			})
		},
	)
	if err != nil {
		return Result{}, err
	}
	measured := outs[e.opt.Warmups:]
	what := "credit management (same-guarantor, scope GUARANTOR)"
	if req.Kind == ledger.RunBalance {
		what = "the family balancer, " + string(req.Method)
	}
	r := result(workload, e.opt.Size,
		figure(fmt.Sprintf("a committing run of %s over every family: ledger.StartRun until the run ends (batches of %d families per transaction)", what, ledger.DefaultRunBatch), "s", samples[0]),
		figure("read every family's charges, splits and receipts (three statements, every row to the client), then COPY the split rows the run posted into a bare table (LIKE splits), one transaction", "s", samples[1]),
		&target{bound: 3, text: "≤ 3×"})
	o := medianOutcome(measured)
	x := o.run
	r.Notes = append(r.Notes,
		fmt.Sprintf("run %s: %d families, %d changed, %d skipped or unchanged, %d failed; %d receipts and %d splits posted; credits found %s, moved %s, left %s",
			x.Status, x.FamiliesTotal, x.FamiliesChanged, x.FamiliesSkipped, x.FamiliesFailed, x.Receipts, len(o.splits), x.CreditsFound, x.AmountMoved, x.CreditsLeft),
		fmt.Sprintf("baseline read %d rows and copied %d split rows", baseRows[len(baseRows)-1], len(last.splits)),
		"where the run's time went (the median repetition) "+o.phases.String())
	r.Notes = append(r.Notes, statementNotes(o.phases.statements, int64(max(x.FamiliesTotal, 1)), 8)...)
	r.Notes[3] = "per family: " + r.Notes[3]
	if x.FamiliesFailed > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("WARNING: %d families FAILED; see the run's family results", x.FamiliesFailed))
	}
	return r, nil
}

// commitRun starts a committing run in db and waits for its end; it
// returns the run, the split rows it posted and where its time went.
func commitRun(ctx context.Context, url string, pid ledger.ID, req ledger.RunRequest) (runOutcome, error) {
	// The run's store counts and times its statements.
	pqc, err := pq.NewConnector(postgres.SessionDSN(url)) // as serve connects
	if err != nil {
		return runOutcome{}, err
	}
	conn := &countingConnector{Connector: pqc}
	cdb := sql.OpenDB(conn)
	defer cdb.Close()
	db := cdb
	l := ledger.New(postgres.NewStore(sqlx.NewDb(cdb, "postgres")))
	a := ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}
	t0 := time.Now()
	r, err := l.StartRun(ctx, a, req)
	if err != nil {
		return runOutcome{}, err
	}
	ch, err := l.WatchRun(ctx, a, r.ID)
	if err != nil {
		return runOutcome{}, err
	}
	for r = range ch {
	}
	total := time.Since(t0)
	if r, err = l.Run(ctx, a, r.ID); err != nil {
		return runOutcome{}, err
	}
	if r.Status != ledger.RunCompleted {
		return runOutcome{}, fmt.Errorf("run %s ended %s: %s", r.ID, r.Status, r.Error)
	}
	o := runOutcome{run: r, phases: runPhases{total: total, statements: conn.Times()}}
	for _, st := range o.phases.statements {
		switch classify(st.SQL) {
		case "read":
			o.phases.read += st.Total
		case "post":
			o.phases.post += st.Total
		case "record":
			o.phases.record += st.Total
		default:
			o.phases.other += st.Total
		}
	}
	rows, err := db.QueryContext(ctx, `
		SELECT s.practice_id::text, s.id::text, s.receipt_id::text, s.amount::text, s.code, s.patient_id::text,
		       s.provider_id::text, s.location_id::text, s.charge_id::text, s.unearned_type_id::text
		  FROM splits s
		 WHERE s.practice_id = $1
		   AND s.receipt_id IN (SELECT unnest(f.receipt_ids) FROM run_families f WHERE f.practice_id = $1 AND f.run_id = $2)`, pid, r.ID)
	if err != nil {
		return runOutcome{}, err
	}
	defer rows.Close()
	for rows.Next() {
		v := make([]sql.NullString, 10)
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return runOutcome{}, err
		}
		row := make([]any, len(v))
		for i, s := range v {
			if s.Valid {
				row[i] = s.String
			}
		}
		o.splits = append(o.splits, row)
	}
	return o, rows.Err()
}

// readAndCopy is the baseline: every family's inputs read to the client,
// then the run's split rows copied into a bare table. It returns the rows
// read and the seconds taken.
func readAndCopy(ctx context.Context, db *sql.DB, pid ledger.ID, splits [][]any) (int, float64, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE bare_splits (LIKE splits)`); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	n := 0
	for _, q := range []string{
		// Charges, by family.
		`SELECT p.guarantor_id, c.* FROM charges c JOIN patients p ON p.practice_id = c.practice_id AND p.id = c.patient_id
		  WHERE c.practice_id = $1`,
		// Splits with their receipt's kind and date, by family.
		`SELECT p.guarantor_id, r.kind, r.received_on, s.* FROM splits s
		   JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
		   JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id
		  WHERE s.practice_id = $1`,
		// Receipts.
		`SELECT * FROM receipts WHERE practice_id = $1`,
	} {
		rows, err := db.QueryContext(ctx, q, pid)
		if err != nil {
			return 0, 0, err
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return 0, 0, err
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, 0, err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return 0, 0, err
		}
		rows.Close()
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	c := synth.Copy{Table: "bare_splits", Columns: "practice_id, id, receipt_id, amount, code, patient_id, provider_id, location_id, charge_id, unearned_type_id",
		Width: 10, Len: len(splits), Row: func(i int, v []any) { copy(v, splits[i]) }}
	if err := synth.CopyRows(ctx, tx, c); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return n, time.Since(t0).Seconds(), nil
}

// medianOutcome is the repetition whose time is the median.
func medianOutcome(os []runOutcome) runOutcome {
	best := os[0]
	times := make([]float64, len(os))
	for i, o := range os {
		times[i] = o.phases.total.Seconds()
	}
	m := median(times)
	for _, o := range os {
		if d, b := o.phases.total.Seconds()-m, best.phases.total.Seconds()-m; d*d < b*b {
			best = o
		}
	}
	return best
}
