package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/synth"
)

// history compares a history import in COMMIT mode (importHistory of the
// synthetic practice written as a history set: read, match, check, post,
// reconcile) with COPYing the same rows into the ledger's own tables (same
// constraints, one transaction: synth.Load) and, apart, with a raw COPY of
// them into bare tables. Each repetition gets a fresh database.
func (e *env) history(ctx context.Context) ([]Result, error) {
	tmpl, err := e.migratedDB(ctx, "histtmpl")
	if err != nil {
		return nil, err
	}
	p, err := synth.Generate(e.config())
	if err != nil {
		return nil, err
	}
	set, err := os.CreateTemp("", "paysplit-bench-history-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(set.Name())
	defer set.Close()
	if err := synth.WriteHistory(set, p); err != nil {
		return nil, err
	}
	info, err := set.Stat()
	if err != nil {
		return nil, err
	}
	rendered := render(synth.Copies(p))
	c := p.Counts()
	rows := c.Providers + c.Locations + c.UnearnedTypes + c.Guarantors + c.Patients + c.Charges + c.Receipts + c.Splits

	var peaks, lives []uint64
	samples, err := e.repeat(ctx,
		e.inFreshDBs("hist", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			secs, peak, live, err := importHistory(ctx, db, set)
			peaks, lives = append(peaks, peak), append(lives, live)
			return secs, err
		}),
		e.inFreshDBs("histcopy", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			st, err := synth.Load(ctx, db, p)
			return st.Total.Seconds(), err
		}),
		e.inFreshDBs("histraw", tmpl, func(ctx context.Context, db *sql.DB) (float64, error) {
			return rawCopy(ctx, db, rendered)
		}),
	)
	if err != nil {
		return nil, err
	}
	rs := againstCopy("history", e.opt.Size,
		figure(fmt.Sprintf("importHistory COMMIT of the %s practice as a history set (%d charges, %d receipts, %d splits; a %.0f MB zip): read, match, check, post, reconcile",
			e.opt.Size, c.Charges, c.Receipts, c.Splits, float64(info.Size())/1e6), "s", samples[0]),
		figure("COPY of the same rows into the ledger's own tables (same constraints, keys, triggers and deferred checks), one transaction, the aging state rebuilt, ANALYZE", "s", samples[1]),
		samples[2])
	rs[0].Notes = append(rs[0].Notes, fmt.Sprintf("%d rows; throughput %.0f rows/s imported; above what the harness held before it (the generated practice and its rendered rows), the import's peak live Go heap (what the last collection kept) %.0f MB, and its peak heap in use, garbage the collector had yet to free included, %.0f MB (both sampled every 50 ms)",
		rows, float64(rows)/rs[0].Operation.Value, float64(maxOf(lives))/1e6, float64(maxOf(peaks))/1e6))
	return rs, nil
}

// importHistory commits the set into a new practice of db and returns how
// long it took and, above what was in use when it started, the most Go
// heap it had in use meanwhile (garbage included: the collector lets that
// grow with everything live, the harness's rows too) and the most it kept
// live.
func importHistory(ctx context.Context, db *sql.DB, set *os.File) (secs float64, peak, live uint64, err error) {
	l := ledger.New(postgres.NewStore(sqlx.NewDb(db, "postgres")))
	pr, err := l.CreatePractice(ctx, ledger.NewPractice{Name: "History bench"})
	if err != nil {
		return 0, 0, 0, err
	}
	stop := synth.WatchHeap()
	t0 := time.Now()
	res, err := l.ImportHistory(ctx, ledger.Actor{PracticeID: pr.ID, Role: ledger.RoleAdmin}, ledger.ImportRequest{
		File: set, FileName: "history.zip", Mode: ledger.ImportCommit, MaxBytes: 1 << 30})
	secs = time.Since(t0).Seconds()
	peak, live = stop()
	if err != nil {
		return 0, 0, 0, err
	}
	if res.Report.Outcome != ledger.OutcomeCommitted {
		return 0, 0, 0, fmt.Errorf("history import: %s: %s", res.Report.Outcome, res.Report.Message)
	}
	return secs, peak, live, nil
}

func maxOf(xs []uint64) uint64 {
	var m uint64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
