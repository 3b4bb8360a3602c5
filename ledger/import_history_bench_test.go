package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/synth"
)

// BenchmarkHistoryImportHeap measures the Go heap a history import of a
// synthetic practice needs, in a process holding little else (the
// practice is dropped once written as a set): "new" commits the set into
// an empty practice; "again" then imports it as a second batch whose every
// row the first posted (the index of what the ledger has at its largest).
// It reports the peak live heap (what a collection kept), the peak heap in
// use (garbage included) and the live bytes per row. Run with:
//
//	go test ./ledger -run '^$' -bench 'HistoryImportHeap/medium' -benchtime 1x
func BenchmarkHistoryImportHeap(b *testing.B) {
	for _, size := range synth.Sizes {
		b.Run(string(size), func(b *testing.B) { benchHistoryHeap(b, size) })
	}
}

func benchHistoryHeap(b *testing.B, size synth.Size) {
	p, err := synth.Generate(synth.Config{Size: size, Seed: 1, AsOf: ledger.MustDate("2026-06-15")})
	if err != nil {
		b.Fatal(err)
	}
	var set bytes.Buffer
	if err := synth.WriteHistory(&set, p); err != nil {
		b.Fatal(err)
	}
	p = nil
	files := unzipSet(b, set.Bytes())
	files["providers.csv"] += "\n" // another digest, the same rows
	again := historyZip(b, files)
	files = nil
	db := ledgertest.NewDB(b)
	for i := 0; i < b.N; i++ {
		f := ledgertest.NewPractice(b, db)
		heapOf(b, f, "new", set.Bytes(), ledger.OutcomeCommitted)
		heapOf(b, f, "again", again, ledger.OutcomeAlreadyImported)
	}
}

// heapOf imports set and reports the heap it needed.
func heapOf(b *testing.B, f *ledgertest.Practice, name string, set []byte, want ledger.ImportOutcome) {
	stop := synth.WatchHeap()
	res, err := f.Ledger.ImportHistory(context.Background(), f.Actor, ledger.ImportRequest{
		File: bytes.NewReader(set), FileName: "history.zip", Mode: ledger.ImportCommit, MaxBytes: 1 << 30})
	inuse, live := stop()
	if err != nil || res.Report.Outcome != want {
		b.Fatalf("%s: %v %s", name, err, res.Report.Message)
	}
	b.ReportMetric(float64(live)/1e6, name+"-live-MB")
	b.ReportMetric(float64(inuse)/1e6, name+"-inuse-MB")
	b.ReportMetric(float64(live)/float64(res.Report.Rows), name+"-live-B/row")
}
