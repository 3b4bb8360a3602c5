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

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// importRows is the balance-forward file's length at each size.
var importRows = map[synth.Size]int{synth.Small: 1_000, synth.Medium: 20_000, synth.Large: 100_000}

// importFile compares validating and committing a balance-forward file
// (ImportBalances in COMMIT mode: parse, match, post, reconcile) with
// COPYing what it posts (synth.PostBalanceForward of the same rows,
// rendered beforehand) into the ledger's own tables in one transaction, the
// tables analyzed and the aging state rebuilt as a bulk load must
// (synth.AgingAnalyzedRebuilt), and, apart, with a raw COPY of
// the file's rows, as text, into a bare table with the template's columns.
// Each import, and each COPY into the ledger, goes to a practice of its
// own, so none of them finds its rows imported before; the imports share
// one database, the COPYs another.
func (e *env) importFile(ctx context.Context) ([]Result, error) {
	n := importRows[e.opt.Size]
	db, err := e.openMigrated(ctx, "import")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	l := ledger.New(postgres.NewStore(sqlx.NewDb(db, "postgres")))

	today := ledger.DateOf(time.Now().UTC())
	rows := synth.BalanceForwardRows(n, today)
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
	posting := synth.PostBalanceForward(rows, today, time.Now(), e.opt.Seed)
	// The baseline's practices go to a database of their own: in the
	// import's, they would change what the import finds (the planner's
	// statistics of the tables it grows, and so whether it analyzes them).
	copyDB, err := e.openMigrated(ctx, "importcopy")
	if err != nil {
		return nil, err
	}
	defer copyDB.Close()

	var phases []importPhases
	var floors []synth.LoadStats
	var posted int
	rep := 0
	samples, err := e.repeat(ctx,
		func(ctx context.Context) (float64, error) {
			rep++
			ph, err := importBalances(ctx, l, file.Bytes(), rep)
			phases, posted = append(phases, ph), ph.posted
			return ph.total.Seconds(), err
		},
		func(ctx context.Context) (float64, error) {
			pr := &posting.Practice.Practice // a new practice each time: the ids of its rows are the practice's own
			pr.ID, pr.Name = uuid.Must(uuid.NewV7()), fmt.Sprintf("Import COPY bench %d", rep)
			st, err := synth.LoadCopies(ctx, copyDB, pr.ID, copies(render(posting.Copies()), ""), synth.AgingAnalyzedRebuilt)
			floors = append(floors, st)
			return st.Total.Seconds(), err
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
	pc := posting.Practice.Counts()
	op := figure(fmt.Sprintf("importBalances COMMIT of a %d-row balance-forward file (parse, validate, match, create %d patients, post, reconcile), a fresh practice each time", n, n/4), "s", samples[0])
	rs := againstCopy("import", e.opt.Size, op,
		figure(fmt.Sprintf("COPY of what the import posts (%d guarantors, %d patients, %d encounters, %d charges, %d credit receipts, %d splits, the import's record and %d lines), rendered beforehand, into the ledger's own tables (keys, FKs, checks, indexes, triggers, deferred checks at commit) of a new practice, one transaction: the aging triggers skipped (aging_bulk_begin), the tables analyzed, the aging state rebuilt (aging_bulk_end), as a bulk load must to leave the ledger consistent",
			pc.Guarantors, pc.Patients, pc.Encounters, pc.Charges, pc.Receipts, pc.Splits, len(posting.Lines)), "s", samples[1]),
		samples[2])
	rs[1].Baseline.What = "COPY of the file's rows, as text, into a bare table with the template's 14 columns (no keys, indexes or constraints), one transaction"
	copied := pc.Guarantors + pc.Patients + pc.Encounters + pc.Charges + pc.Receipts + pc.Splits + 1 + len(posting.Lines)
	rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("%d rows, %d posted; throughput %.0f rows/s imported; %d rows COPYed into the ledger's tables at %.0f rows/s; %.0f file rows/s raw",
		n, posted, float64(n)/rs[0].Operation.Value, copied, float64(copied)/rs[0].Baseline.Value, float64(n)/rs[1].Baseline.Value),
		"where the import's time went (the median repetition, by the import's progress phases): "+medianPhases(phases[e.opt.Warmups:]).String(),
		"where the baseline's time went (the median repetition): "+describe(medianStats(floors[e.opt.Warmups:])))
	return rs, nil
}

// openMigrated creates a database, migrates it and opens it.
func (e *env) openMigrated(ctx context.Context, suffix string) (*sql.DB, error) {
	name, err := e.migratedDB(ctx, suffix)
	if err != nil {
		return nil, err
	}
	return sql.Open("postgres", e.url(name))
}

// importBalances commits file into a new practice (number rep, with one
// provider and one location, made before the clock starts) and says how
// long each of the import's progress phases took.
func importBalances(ctx context.Context, l *ledger.Ledger, file []byte, rep int) (importPhases, error) {
	ph := importPhases{}
	p, err := l.CreatePractice(ctx, ledger.NewPractice{Name: fmt.Sprintf("Import bench %d", rep)})
	if err != nil {
		return ph, err
	}
	a := ledger.Actor{PracticeID: p.ID, Role: ledger.RoleAdmin}
	if _, err := l.CreateProvider(ctx, a, ledger.NewProvider{Name: "Dr. Prior"}); err != nil {
		return ph, err
	}
	if _, err := l.CreateLocation(ctx, a, ledger.NewLocation{Name: "Main"}); err != nil {
		return ph, err
	}
	t0 := time.Now()
	last := t0
	res, err := l.ImportBalances(ctx, a, ledger.ImportRequest{
		File: bytes.NewReader(file), FileName: "balances.csv", Mode: ledger.ImportCommit,
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
	ph.total = time.Since(t0)
	if k := len(ph.times) - 1; k >= 0 {
		ph.times[k] = time.Since(last)
	}
	if err != nil {
		return ph, err
	}
	if res.Report.Outcome != ledger.OutcomeCommitted {
		return ph, fmt.Errorf("import: %s: %s", res.Report.Outcome, res.Report.Message)
	}
	ph.posted = res.Report.RowsToPost
	return ph, nil
}

// importPhases is how long one import spent in each progress phase.
type importPhases struct {
	names  []string
	times  []time.Duration
	total  time.Duration
	posted int // rows posted
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
