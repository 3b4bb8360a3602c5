// Package bench is paysplit's benchmark harness. Each workload measures one
// of the project's operations and a baseline for it in the same run, on the
// same PostgreSQL server, and reports their ratio against the target in
// docs/design.md §7: absolute times on a shared machine are noise, ratios are not.
// Every figure is the median of several repetitions taken after a warm-up,
// with operation and baseline runs interleaved so that drift in the machine's
// load hits both alike.
//
// Workloads:
//
//   - receipts: 16 concurrent clients post receipts with auto-split (the
//     practice's default policy), and as a second row with explicit splits
//     through the GraphQL endpoint of a real HTTP server on loopback, against
//     pgbench's built-in TPC-B script with the same client count; the ratio
//     is of transactions per second.
//   - nested-query: the analyst query guarantors → patients → charges →
//     splits → receipt, with balances, at page sizes 10, 100 and 500; the SQL
//     statements it runs (counted by a wrapping database/sql driver) must not
//     grow with the page size. Its latency is reported beside one
//     hand-written SQL statement that reads the same rows.
//   - load: generating a synthetic practice and loading it (synth.Load:
//     COPY into the real schema, the aging state rebuilt, ANALYZE), against
//     COPY of the same, pre-rendered rows into the ledger's own tables (the
//     same schema, one transaction, no aging rebuild or ANALYZE) and, as a
//     second row (load-raw), a raw COPY into tables with the same columns
//     and nothing else.
//   - import: validating and committing a balance-forward file (1k, 20k or
//     100k rows by size) into a fresh practice, against COPY of what it
//     posts (synth.PostBalanceForward) into the ledger's own tables of a
//     fresh practice, the aging state rebuilt, and, as a second row
//     (import-raw), a raw COPY of the file's rows into a bare table.
//   - history: importing the synthetic practice written as a history set
//     (importHistory COMMIT) into a fresh database, against COPYing the same
//     rows into the ledger's own tables (synth.Load) and, as a second row
//     (history-raw), a raw COPY into bare tables; with the import's peak Go
//     heap.
//   - aging: the practice-wide aging report as of today and as of a year
//     ago, against one hand-written SQL aggregate over the same rows.
//   - subscriptions: N websocket subscribers to agingUpdated (50, 300 or
//     1,000 by size); the time from posting a receipt until each has its
//     update, held to an absolute p99 bound (there is no baseline).
//   - subscriptions-stream: the same while other clients post 50 receipts
//     a second through the same server, with the time the aging triggers
//     took per commit.
//   - credit-management, balance: a committing practice-wide run (credit
//     management; the family balancer by INCOME_TRANSFER and by
//     RECREATE_SPLITS) in a fresh clone of the loaded practice, against
//     reading every family's charges, splits and receipts plus a COPY of the
//     split rows the run posted into a bare table.
//   - statements: statement runs over every family (previews, then recorded
//     runs), against one hand-written statement reading each family's lines
//     and credits as of the date and the day before the period.
//
// Without a database URL the harness starts a throwaway local PostgreSQL
// (localpg). It creates its own databases on the server and drops them when
// it is done.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysplit/paysplit/ledger/synth"
)

// Workloads lists the workloads in the order they run by default.
var Workloads = []string{"receipts", "nested-query", "load", "import", "history", "aging", "subscriptions", "subscriptions-stream", "credit-management", "balance", "statements"}

// Options configures Run. Zero fields take the defaults noted.
type Options struct {
	Workloads   []string   // default: all
	Size        synth.Size // default: medium
	Seed        uint64     // the synthetic practice's seed; default 1
	DatabaseURL string     // a server where the harness may create databases; empty starts a throwaway one
	Reps        int        // measured repetitions of each figure; default 5 (3 for large)
	Warmups     int        // unmeasured repetitions first; default 1; negative means none
	// Duration is how long each receipts run (and each pgbench run) lasts;
	// default 10s.
	Duration time.Duration
	Clients  int // receipts: concurrent clients; default 16
	// MaxIdleConns sets the GraphQL server's idle connection pool; 0 keeps
	// database/sql's default (2), which is what paysplit serve runs with.
	MaxIdleConns int
	// PgbenchScale is pgbench's scale factor; default the client count, as
	// TPC-B asks (fewer branches than clients would measure lock waits).
	PgbenchScale int
	Logf         func(format string, args ...any) // progress; default none
}

func (o *Options) defaults() error {
	if len(o.Workloads) == 0 {
		o.Workloads = Workloads
	}
	for _, w := range o.Workloads {
		if !slices.Contains(Workloads, w) {
			return fmt.Errorf("unknown workload %q (%s)", w, strings.Join(Workloads, ", "))
		}
	}
	if o.Size == "" {
		o.Size = synth.Medium
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Reps <= 0 {
		o.Reps = 5
		if o.Size == synth.Large {
			o.Reps = 3
		}
	}
	if o.Warmups == 0 {
		o.Warmups = 1
	} else if o.Warmups < 0 {
		o.Warmups = 0
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 16
	}
	if o.PgbenchScale <= 0 {
		o.PgbenchScale = o.Clients
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// Report is the outcome of a run.
type Report struct {
	Machine Machine   `json:"machine"`
	Started time.Time `json:"started"`
	Elapsed string    `json:"elapsed"`
	Size    string    `json:"size"`
	Seed    uint64    `json:"seed"`
	Reps    int       `json:"reps"`
	Results []Result  `json:"results"`
}

// Result is one row of the table.
type Result struct {
	Workload  string   `json:"workload"`
	Size      string   `json:"size"`
	Operation Figure   `json:"operation"`
	Baseline  Figure   `json:"baseline"`
	Ratio     float64  `json:"ratio"`          // operation / baseline
	Target    string   `json:"target"`         // as in docs/design.md §7; "" for none
	Pass      *bool    `json:"pass,omitempty"` // nil when there is no target
	Notes     []string `json:"notes,omitempty"`
}

// Figure is a measured quantity: the median of its samples.
type Figure struct {
	What    string    `json:"what"`
	Value   float64   `json:"value"`
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
}

func (f Figure) String() string {
	v := fmt.Sprintf("%.3g", f.Value)
	if f.Value >= 1000 || f.Value == float64(int64(f.Value)) {
		v = fmt.Sprintf("%.0f", f.Value)
	} else if f.Value >= 100 {
		v = fmt.Sprintf("%.1f", f.Value)
	}
	return v + " " + f.Unit
}

// figure makes a figure from samples.
func figure(what, unit string, samples []float64) Figure {
	return Figure{What: what, Value: median(samples), Unit: unit, Samples: samples}
}

// median returns the middle sample (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// target is a bound on the ratio operation/baseline.
type target struct {
	atLeast bool
	bound   float64
	text    string
}

func (t target) check(r *Result) {
	r.Target = t.text
	pass := r.Ratio <= t.bound
	if t.atLeast {
		pass = r.Ratio >= t.bound
	}
	r.Pass = &pass
}

// result builds a row comparing op with base.
func result(workload string, size synth.Size, op, base Figure, t *target) Result {
	r := Result{Workload: workload, Size: string(size), Operation: op, Baseline: base}
	if base.Value != 0 {
		r.Ratio = op.Value / base.Value
	}
	if t != nil {
		t.check(&r)
	}
	return r
}

// WriteTable prints the report as an aligned table followed by its notes.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "paysplit bench: size %s, seed %d, %d repetitions (medians), %s\n", r.Size, r.Seed, r.Reps, r.Elapsed)
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tSIZE\tOPERATION\tBASELINE\tRATIO\tTARGET\tRESULT")
	for _, x := range r.Results {
		target, pass := x.Target, "-"
		if target == "" {
			target = "-"
		}
		if x.Pass != nil {
			pass = map[bool]string{true: "PASS", false: "FAIL"}[*x.Pass]
		}
		base, ratio := x.Baseline.String(), fmt.Sprintf("%.2f×", x.Ratio)
		if x.Baseline.Samples == nil { // an absolute figure: no baseline
			base, ratio = "none (absolute)", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Workload, x.Size,
			x.Operation.String(), base, ratio, target, pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, x := range r.Results {
		fmt.Fprintf(w, "%s: operation = %s; baseline = %s\n", x.Workload, x.Operation.What, x.Baseline.What)
		for _, n := range x.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	return nil
}

// WriteJSON prints the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Run runs the workloads and returns the report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	e, err := newEnv(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &Report{Started: t0.UTC().Truncate(time.Second), Size: string(opt.Size), Seed: opt.Seed, Reps: opt.Reps}
	if rep.Machine, err = e.machine(ctx); err != nil {
		return nil, err
	}
	for _, w := range opt.Workloads {
		opt.Logf("bench: %s (%s)", w, opt.Size)
		var rs []Result
		switch w {
		case "receipts":
			rs, err = e.receipts(ctx)
		case "nested-query":
			rs, err = e.nestedQuery(ctx)
		case "load":
			rs, err = e.load(ctx)
		case "import":
			rs, err = e.importFile(ctx)
		case "history":
			rs, err = e.history(ctx)
		case "aging":
			rs, err = e.aging(ctx)
		case "subscriptions":
			rs, err = e.subscriptions(ctx, 0)
		case "subscriptions-stream":
			rs, err = e.subscriptions(ctx, streamRate) // the probe's latency while other clients post
		case "credit-management":
			rs, err = e.creditManagement(ctx) // balance.go
		case "balance":
			rs, err = e.balance(ctx) // balance.go
		case "statements":
			rs, err = e.statements(ctx) // statements.go
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		rep.Results = append(rep.Results, rs...)
	}
	rep.Elapsed = time.Since(t0).Round(time.Second).String()
	return rep, nil
}

// repeat runs warm-ups, then reps rounds of each fn in turn (interleaved),
// and returns each fn's measured samples.
func (e *env) repeat(ctx context.Context, fns ...func(ctx context.Context) (float64, error)) ([][]float64, error) {
	out := make([][]float64, len(fns))
	for i := range e.opt.Warmups + e.opt.Reps {
		for j, fn := range fns {
			v, err := fn(ctx)
			if err != nil {
				return nil, err
			}
			if i >= e.opt.Warmups {
				out[j] = append(out[j], v)
			}
		}
	}
	return out, nil
}
