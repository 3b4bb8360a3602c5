package ledger_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"testing"
	"time"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/synth"
)

// BenchmarkBalanceForwardImport measures a 100k-row import (parse, validate
// and commit, patients matched by external id) against a raw COPY of the
// same rows into a bare table with the template's columns, as docs/design.md §7
// asks (target ≤ 3×). Run with: go test ./ledger -run '^$' -bench BalanceForwardImport -benchtime 3x
func BenchmarkBalanceForwardImport(b *testing.B) {
	for _, create := range []bool{false, true} {
		name := "existing-patients"
		if create {
			name = "new-patients"
		}
		b.Run(name, func(b *testing.B) { benchImport(b, 100_000, create) })
	}
}

func benchImport(b *testing.B, n int, create bool) {
	ctx := context.Background()
	db := ledgertest.NewDB(b)
	rows := synth.BalanceForwardRows(n, ledger.MustDate("2024-05-15"))
	var file bytes.Buffer
	if err := ledger.WriteBalanceForwardCSV(&file, rows); err != nil {
		b.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(file.Bytes())).ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	if err := synth.CopyTextTable(ctx, db.DB, "bare", ledger.BalanceForwardColumns); err != nil {
		b.Fatal(err)
	}
	var importTime, copyTime time.Duration
	l := ledger.New(ledgertest.NewPractice(b, db).Store, ledger.WithClock(time.Now))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := ledgertest.AddPractice(b, l, fmt.Sprintf("Bench %d", i))
		if !create {
			// The patients exist: one small row each, imported untimed.
			seed := make([]ledger.BalanceForwardRow, 0, n/4)
			for j := 0; j < n; j += 4 {
				r := rows[j]
				r.Amount, r.Responsibility, r.Memo = ledger.MustMoney("0.01"), ledger.ResponsibilityPatient, "seed"
				seed = append(seed, r)
			}
			var sb bytes.Buffer
			if err := ledger.WriteBalanceForwardCSV(&sb, seed); err != nil {
				b.Fatal(err)
			}
			res, err := l.ImportBalances(ctx, f.Actor, ledger.ImportRequest{File: bytes.NewReader(sb.Bytes()), Mode: ledger.ImportCommit,
				Options: ledger.ImportOptions{CreateMissingPatients: true}})
			if err != nil || res.Report.Outcome != ledger.OutcomeCommitted {
				b.Fatalf("seed: %v %s", err, res.Report.Message)
			}
		}
		// Baseline: COPY the rows, as text, into the bare table.
		t0 := time.Now()
		if err := synth.CopyRecords(ctx, db.DB, "bare", ledger.BalanceForwardColumns, records[1:]); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(t0)

		b.StartTimer()
		t0 = time.Now()
		res, err := l.ImportBalances(ctx, f.Actor, ledger.ImportRequest{File: bytes.NewReader(file.Bytes()), Mode: ledger.ImportCommit,
			Options: ledger.ImportOptions{CreateMissingPatients: create}})
		importTime += time.Since(t0)
		b.StopTimer()
		if err != nil || res.Report.Outcome != ledger.OutcomeCommitted {
			b.Fatalf("import: %v %s", err, res.Report.Message)
		}
		if _, err := db.Exec(`TRUNCATE bare`); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(importTime.Seconds()/float64(b.N), "import-s")
	b.ReportMetric(copyTime.Seconds()/float64(b.N), "copy-s")
	b.ReportMetric(float64(importTime)/float64(copyTime), "ratio")
}
