package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/cmd/paysplit/internal/bench"
	"github.com/paysplit/paysplit/ledger/synth"
)

// TestRunSmall runs every workload once at small size to prove the harness
// works end to end: the practice loads, receipts post over HTTP, pgbench
// runs, the nested query answers and its statements are counted, the
// load, a balance-forward file and a history set (imported) are each timed
// against COPY of the same rows into the ledger's own tables and against
// a raw COPY, the
// aging report is timed against its aggregate, websocket subscribers
// receive a live aging update (also while a stream of receipts runs), and
// credit management and the balancer (both methods) commit practice-wide
// runs, and statement runs (a preview and a recorded run) state every
// family with aging's previous balances. It asserts what was measured, never how
// fast.
func TestRunSmall(t *testing.T) {
	rep, err := bench.Run(context.Background(), bench.Options{
		Size: synth.Small, Reps: 1, Warmups: -1, Duration: time.Second, Clients: 4, PgbenchScale: 1,
		DatabaseURL: os.Getenv("DATABASE_URL"), Logf: t.Logf,
	})
	require.NoError(t, err)

	byName := map[string]bench.Result{}
	for _, r := range rep.Results {
		byName[r.Workload] = r
		require.Equal(t, "small", r.Size)
		require.Len(t, r.Operation.Samples, 1, r.Workload)
		require.Positive(t, r.Operation.Value, r.Workload)
		if strings.HasPrefix(r.Workload, "subscriptions") { // an absolute target: no baseline
			require.Nil(t, r.Baseline.Samples, r.Workload)
			continue
		}
		require.Len(t, r.Baseline.Samples, 1, r.Workload)
		require.Positive(t, r.Baseline.Value, r.Workload)
		require.InDelta(t, r.Operation.Value/r.Baseline.Value, r.Ratio, 1e-9, r.Workload)
	}
	want := []string{"receipts", "receipts explicit", "load", "load-raw", "import", "import-raw", "history", "history-raw", "aging as of today", "aging as of a year ago",
		"subscriptions N=50 p50", "subscriptions N=50 p99", "subscriptions N=50 max",
		"subscriptions-stream N=50 p50", "subscriptions-stream N=50 p99", "subscriptions-stream N=50 max",
		"credit-management", "balance INCOME_TRANSFER", "balance RECREATE_SPLITS",
		"statement run, month (preview)", "statement run, every family"}
	for _, n := range []string{"10", "100", "500"} {
		want = append(want, "nested-query statements first="+n, "nested-query latency first="+n)
	}
	require.Len(t, rep.Results, len(want))
	for _, w := range want {
		r, ok := byName[w]
		require.True(t, ok, "no result for %s", w)
		if strings.Contains(w, "latency") || strings.HasSuffix(w, "p50") || strings.HasSuffix(w, "max") || strings.HasSuffix(w, "-raw") {
			require.Nil(t, r.Pass, "%s has no target", w)
			continue
		}
		require.NotNil(t, r.Pass, "%s has a target", w)
		require.NotEmpty(t, r.Target)
	}
	// The statements at the smallest page are the baseline of every page.
	first := byName["nested-query statements first=10"]
	require.Equal(t, 1.0, first.Ratio)
	for _, n := range []string{"100", "500"} {
		require.Equal(t, first.Operation.Value, byName["nested-query statements first="+n].Baseline.Value)
	}
	// The loads and imports are held to COPY into the ledger's own tables,
	// which wrote what the import posts, its lines included, and say where
	// its time went; the raw COPY is their second row.
	for _, w := range []string{"load", "import", "history"} {
		require.Contains(t, byName[w].Baseline.What, "into the ledger's own tables", w)
		require.Contains(t, byName[w+"-raw"].Baseline.What, "bare table", w)
		require.Equal(t, byName[w].Operation, byName[w+"-raw"].Operation, w)
	}
	require.Regexp(t, `^where the baseline's time went .*charges 1000 rows .*balance_import_lines 1000 rows .*aging state 1000 rows`,
		byName["import"].Notes[2])
	require.Regexp(t, `^where the baseline's time went .*splits [1-9]\d* rows [^;]*; commit`, byName["load"].Notes[2])
	// The runs committed, changed families, and say so in their notes.
	for _, w := range []string{"credit-management", "balance INCOME_TRANSFER", "balance RECREATE_SPLITS"} {
		require.Regexp(t, `^run COMPLETED: 40 families, [1-9]\d* changed, \d+ skipped or unchanged, 0 failed; [1-9]\d* receipts and [1-9]\d* splits posted`,
			byName[w].Notes[0], w)
	}
	// The aging triggers' time is measured on the harness's own server (a
	// superuser may turn track_functions on), and the stream ran.
	for _, w := range []string{"subscriptions N=50 p99", "subscriptions-stream N=50 p99"} {
		notes := strings.Join(byName[w].Notes, "\n")
		if os.Getenv("DATABASE_URL") == "" {
			require.Regexp(t, `database time in the aging triggers: \d+\.\d\d ms per commit over [1-9]\d* commits`, notes, w)
		}
		if strings.HasPrefix(w, "subscriptions-stream") {
			require.Regexp(t, `receipt stream: [1-9]\d* receipts on other families' lines`, notes)
		}
	}
	// The statement runs' previous balances (derived from the period's
	// activity) are aging's as of the day before each period.
	for _, w := range []string{"statement run, month (preview)", "statement run, every family"} {
		require.Regexp(t, `^run: [1-9]\d* statements, .*differing from aging's as of the day before the period: 0$`, byName[w].Notes[0], w)
	}
	require.NotEmpty(t, rep.Machine.PostgreSQL)
	require.Positive(t, rep.Machine.Cores)

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	for _, w := range want {
		require.Contains(t, table.String(), w)
	}
	require.Contains(t, table.String(), "WORKLOAD")
	require.Contains(t, table.String(), "none (absolute)") // the subscriptions rows have no baseline

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back bench.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, len(rep.Results), len(back.Results))
}

func TestRunRejectsUnknownWorkload(t *testing.T) {
	_, err := bench.Run(context.Background(), bench.Options{Workloads: []string{"nope"}})
	require.ErrorContains(t, err, `unknown workload "nope"`)
}
