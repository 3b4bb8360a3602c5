package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// importRows is the balance-forward file's length at each size.
var importRows = map[synth.Size]int{synth.Small: 1_000, synth.Medium: 20_000, synth.Large: 100_000}

// importFile compares validating and committing a balance-forward file
// (ImportBalances in COMMIT mode: parse, match, post, reconcile) with a raw
// COPY of the same rows, as text, into a bare table with the template's
// columns. Each import goes to a practice of its own, so none of them finds
// its rows imported before.
func (e *env) importFile(ctx context.Context) ([]Result, error) {
	n := importRows[e.opt.Size]
	name, err := e.migratedDB(ctx, "import")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("postgres", e.url(name))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	l := ledger.New(postgres.NewStore(sqlx.NewDb(db, "postgres")))

	rows := synth.BalanceForwardRows(n, ledger.DateOf(time.Now().UTC()))
	var file bytes.Buffer
	if err := ledger.WriteBalanceForwardCSV(&file, rows); err != nil {
		return nil, err
	}
	records, err := csv.NewReader(bytes.NewReader(file.Bytes())).ReadAll()
	if err != nil {
		return nil, err
	}
	records = records[1:] // the header
	if err := synth.CopyTextTable(ctx, db, "bare", ledger.BalanceForwardColumns); err != nil {
		return nil, err
	}

	var phases []importPhases
	var posted int
	rep := 0
	samples, err := e.repeat(ctx,
		func(ctx context.Context) (float64, error) {
			rep++
			p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: fmt.Sprintf("Import bench %d", rep)})
			if err != nil {
				return 0, err
			}
			a := ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}
			if _, err := l.CreateProvider(ctx, a, ledger.NewProvider{Name: "Dr. Prior"}); err != nil {
				return 0, err
			}
			if _, err := l.CreateLocation(ctx, a, ledger.NewLocation{Name: "Main"}); err != nil {
				return 0, err
			}
			ph := importPhases{}
			t0 := time.Now()
			last := t0
			res, err := l.ImportBalances(ctx, a, ledger.ImportRequest{
				File: bytes.NewReader(file.Bytes()), FileName: "balances.csv", Mode: ledger.ImportCommit,
				Options: ledger.ImportOptions{CreateMissingPatients: true},
				Progress: func(pr ledger.ImportProgress) {
					if len(ph.names) == 0 || ph.names[len(ph.names)-1] != pr.Phase {
						now := time.Now()
						if len(ph.names) > 0 {
							ph.times[len(ph.times)-1] = now.Sub(last)
						}
						ph.names, ph.times, last = append(ph.names, pr.Phase), append(ph.times, 0), now
					}
				},
			})
			elapsed := time.Since(t0)
			if k := len(ph.times) - 1; k >= 0 {
				ph.times[k] = time.Since(last)
			}
			if err != nil {
				return 0, err
			}
			if res.Report.Outcome != ledger.OutcomeCommitted {
				return 0, fmt.Errorf("import: %s: %s", res.Report.Outcome, res.Report.Message)
			}
			ph.total, posted = elapsed, res.Report.RowsToPost
			phases = append(phases, ph)
			return elapsed.Seconds(), nil
		},
		func(ctx context.Context) (float64, error) {
			if _, err := db.ExecContext(ctx, `TRUNCATE bare`); err != nil {
				return 0, err
			}
			t0 := time.Now()
			if err := synth.CopyRecords(ctx, db, "bare", ledger.BalanceForwardColumns, records); err != nil {
				return 0, err
			}
			return time.Since(t0).Seconds(), nil
		},
	)
	if err != nil {
		return nil, err
	}
	r := result("import", e.opt.Size,
		figure(fmt.Sprintf("importBalances COMMIT of a %d-row balance-forward file (parse, validate, match, create %d patients, post, reconcile), a fresh practice each time", n, n/4), "s", samples[0]),
		figure("COPY of the same rows, as text, into a bare table with the template's 13 columns (no keys, indexes or constraints), in one transaction", "s", samples[1]),
		&target{bound: 3, text: "≤ 3×"})
	r.Notes = append(r.Notes, fmt.Sprintf("%d rows, %d posted; throughput %.0f rows/s imported, %.0f rows/s raw", n, posted,
		float64(n)/r.Operation.Value, float64(n)/r.Baseline.Value))
	r.Notes = append(r.Notes, "where the import's time went (the median repetition, by the import's progress phases): "+
		medianPhases(phases[e.opt.Warmups:]).String())
	return []Result{r}, nil
}

// importPhases is how long one import spent in each progress phase.
type importPhases struct {
	names []string
	times []time.Duration
	total time.Duration
}

func (p importPhases) String() string {
	var parts []string
	for i, n := range p.names {
		if n == "done" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2fs", n, p.times[i].Seconds()))
	}
	parts = append(parts, fmt.Sprintf("total %.2fs", p.total.Seconds()))
	return strings.Join(parts, "; ")
}

// medianPhases returns the import whose total is the median.
func medianPhases(ps []importPhases) importPhases {
	if len(ps) == 0 {
		return importPhases{}
	}
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b importPhases) int { return int(a.total - b.total) })
	return s[len(s)/2]
}
