package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/postgres/localpg"
)

// receipts compares posting receipts over GraphQL with pgbench's TPC-B.
func (e *env) receipts(ctx context.Context) ([]Result, error) {
	a, err := e.application(ctx)
	if err != nil {
		return nil, err
	}
	fams, err := openFamilies(ctx, a, e.opt.Clients*128)
	if err != nil {
		return nil, err
	}
	if len(fams) < 2*e.opt.Clients {
		return nil, fmt.Errorf("the practice has %d families with open charges; %d clients of each kind need one each", len(fams), e.opt.Clients)
	}
	// Each client pays its own families, so clients never wait on each
	// other's family locks and never run a charge out from under another.
	// The auto-split clients pay one half of the families, the explicit ones
	// (which know what each line still owes) the other.
	h := len(fams) / 2
	auto, explicit := newClients(a, fams[:h], e.opt.Clients, true), newClients(a, fams[h:], e.opt.Clients, false)
	pgb, err := e.pgbench(ctx)
	if err != nil {
		return nil, err
	}
	a.counter.Times() // start the statement times afresh
	var stmts [2]int64
	var times [2][]statementTime
	measure := func(k int, cs []*client) func(ctx context.Context) (float64, error) {
		return func(ctx context.Context) (float64, error) {
			before := a.counter.Statements()
			v, err := postReceipts(ctx, cs, e.opt.Duration)
			stmts[k] += a.counter.Statements() - before
			times[k] = mergeTimes(times[k], a.counter.Times())
			return v, err
		}
	}
	samples, err := e.repeat(ctx, measure(0, auto), measure(1, explicit),
		func(ctx context.Context) (float64, error) { return pgb.run(ctx, e.opt.Clients, e.opt.Duration) },
	)
	if err != nil {
		return nil, err
	}
	base := figure(fmt.Sprintf("pgbench TPC-B (built-in), -c %d -j 2, scale %d", e.opt.Clients, e.opt.PgbenchScale), "tx/s", samples[2])
	var out []Result
	for k, v := range []struct{ name, what string }{
		{"receipts", "auto-split (allocation, the practice's default policy) over the family's open charges"},
		{"receipts explicit", "explicit splits on the family's open charges"},
	} {
		cs := [][]*client{auto, explicit}[k]
		var posted int64
		for _, c := range cs {
			posted += c.posted
		}
		r := result(v.name, e.opt.Size,
			figure(fmt.Sprintf("postReceipt over GraphQL/HTTP, %d clients, %s", e.opt.Clients, v.what), "tx/s", samples[k]),
			base, &target{atLeast: true, bound: 0.5, text: "≥ 0.5×"})
		r.Notes = append(r.Notes, fmt.Sprintf("%d receipts posted in all, each run %s; %.1f SQL statements per receipt (with authentication)",
			posted, e.opt.Duration, float64(stmts[k])/float64(max(posted, 1))))
		r.Notes = append(r.Notes, statementNotes(times[k], posted, 10)...)
		out = append(out, r)
	}
	return out, nil
}

// newClients makes n clients posting with auto-split (auto) or explicit
// splits, dealing the families out between them.
func newClients(a *app, fams []*openFamily, n int, auto bool) []*client {
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = &client{app: a, auto: auto, rng: rand.New(rand.NewPCG(uint64(i), 1)),
			http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	}
	for i, f := range fams {
		c := cs[i%n]
		c.families = append(c.families, f)
	}
	return cs
}

// mergeTimes adds the statement times of more to acc, longest first.
func mergeTimes(acc, more []statementTime) []statementTime {
	at := make(map[string]int, len(acc))
	for i, t := range acc {
		at[t.SQL] = i
	}
	for _, t := range more {
		if i, ok := at[t.SQL]; ok {
			acc[i].Count += t.Count
			acc[i].Total += t.Total
			continue
		}
		at[t.SQL] = len(acc)
		acc = append(acc, t)
	}
	slices.SortFunc(acc, func(a, b statementTime) int { return cmp.Compare(b.Total, a.Total) })
	return acc
}

// openFamily is a family with lines that owe, as the harness last knew.
type openFamily struct {
	guarantor ledger.ID
	payer     ledger.ID // the patient payments are entered on
	lines     []openLine
}

type openLine struct {
	charge ledger.ID
	owed   ledger.Money
}

// openFamilies reads up to n families (by id) and their lines that owe at
// least 1.00, through the ledger's own reads.
func openFamilies(ctx context.Context, a *app, n int) ([]*openFamily, error) {
	s, pid := a.store, a.practice.Practice.ID
	var gids []ledger.ID
	const q = `SELECT id FROM guarantors WHERE practice_id = $1 ORDER BY id LIMIT $2`
	if err := s.DB().SelectContext(ctx, &gids, q, pid, n); err != nil {
		return nil, err
	}
	pats, err := s.PatientsOfGuarantors(ctx, pid, gids)
	if err != nil {
		return nil, err
	}
	byFamily := map[ledger.ID]*openFamily{}
	var pids []ledger.ID
	for _, p := range pats {
		pids = append(pids, p.ID)
		f := byFamily[p.GuarantorID]
		if f == nil {
			f = &openFamily{guarantor: p.GuarantorID, payer: p.ID}
			byFamily[p.GuarantorID] = f
		}
	}
	for _, g := range a.practice.Guarantors {
		if f := byFamily[g.ID]; f != nil && g.SelfPatientID != nil {
			f.payer = *g.SelfPatientID
		}
	}
	charges, err := s.ChargesOfPatients(ctx, pid, pids)
	if err != nil {
		return nil, err
	}
	patFamily := map[ledger.ID]ledger.ID{}
	for _, p := range pats {
		patFamily[p.ID] = p.GuarantorID
	}
	var cids []ledger.ID
	for _, c := range charges {
		cids = append(cids, c.ID)
	}
	bal, err := s.ChargeBalances(ctx, pid, cids)
	if err != nil {
		return nil, err
	}
	one := ledger.Cents(100)
	for _, c := range charges {
		if c.Status == ledger.StatusCompleted && bal[c.ID].Owed.Cmp(one) >= 0 {
			f := byFamily[patFamily[c.PatientID]]
			f.lines = append(f.lines, openLine{charge: c.ID, owed: bal[c.ID].Owed})
		}
	}
	var out []*openFamily
	for _, g := range gids {
		if f := byFamily[g]; f != nil && len(f.lines) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

// client posts receipts for its families, one at a time.
type client struct {
	app  *app
	auto bool // post with allocation (auto-split) instead of explicit splits
	// linesOnly: with explicit splits, never leave money off the lines (the
	// caller drops the families with nothing left to pay).
	linesOnly bool
	http      *http.Client
	rng       *rand.Rand
	families  []*openFamily
	next      int
	posted    int64
}

const postReceiptMutation = `mutation Pay($in: PostReceiptInput!) {
  postReceipt(input: $in) { receipt { id amount } }
}`

type splitInput struct {
	Amount   string `json:"amount"`
	ChargeID string `json:"chargeId,omitempty"`
}

type receiptInput struct {
	Kind      string       `json:"kind"`
	PatientID string       `json:"patientId"`
	Amount    string       `json:"amount"`
	Method    string       `json:"method"`
	Splits    []splitInput `json:"splits,omitempty"`
	// Allocation, when set, asks for an auto-split by the practice's
	// default policy ({}).
	Allocation *struct{} `json:"allocation,omitempty"`
}

// receipt builds the next receipt: with auto-split, a payment of $1-$15
// for the policy to split; otherwise a payment of $1-$5 on each of up to three
// of a family's lines that owe (never more than a line owes), sometimes with
// a dollar left unallocated (never with linesOnly); a family with nothing left to pay gets a
// payment on account.
func (c *client) receipt() receiptInput {
	f := c.families[c.next%len(c.families)]
	c.next++
	in := receiptInput{Kind: "PATIENT_PAYMENT", PatientID: f.payer.String(), Method: "card"}
	if c.auto { // what a person at the desk does: take $1-$15 and let the policy split it
		in.Amount, in.Allocation = ledger.Cents(100+c.rng.Int64N(1401)).String(), &struct{}{}
		return in
	}
	var total ledger.Money
	for i := 0; i < 3 && len(f.lines) > 0; i++ {
		k := c.rng.IntN(len(f.lines))
		l := &f.lines[k]
		pay := ledger.Cents(100 + c.rng.Int64N(401)).Min(l.owed)
		in.Splits = append(in.Splits, splitInput{Amount: pay.String(), ChargeID: l.charge.String()})
		total = total.Add(pay)
		if l.owed = l.owed.Sub(pay); l.owed.Sign() == 0 {
			f.lines = append(f.lines[:k], f.lines[k+1:]...)
		}
	}
	if len(in.Splits) == 0 || !c.linesOnly && c.rng.IntN(5) == 0 {
		in.Splits = append(in.Splits, splitInput{Amount: "1.00"})
		total = total.Add(ledger.Cents(100))
	}
	in.Amount = total.String()
	return in
}

// post sends one receipt and checks the answer.
func (c *client) post(ctx context.Context, in receiptInput) error {
	body, err := json.Marshal(map[string]any{"query": postReceiptMutation, "variables": map[string]any{"in": in}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.app.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.app.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			PostReceipt *struct {
				Receipt struct {
					ID     string
					Amount string
				}
			}
		}
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("HTTP %s: %w", resp.Status, err)
	}
	if len(out.Errors) > 0 {
		return fmt.Errorf("postReceipt: %s (%v)", out.Errors[0].Message, out.Errors[0].Extensions["code"])
	}
	if out.Data.PostReceipt == nil || out.Data.PostReceipt.Receipt.Amount != in.Amount {
		return fmt.Errorf("postReceipt answered %+v for an amount of %s", out.Data.PostReceipt, in.Amount)
	}
	return nil
}

// postReceipts runs every client for d and returns receipts per second.
func postReceipts(ctx context.Context, clients []*client, d time.Duration) (float64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := c.post(ctx, c.receipt()); err != nil {
					errs[i] = err
					return
				}
				n.Add(1)
				c.posted++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n.Load()) / elapsed.Seconds(), nil
}

// pgbench runs PostgreSQL's pgbench against a database of its own on the
// same server.
type pgbench struct {
	bin string
	env []string // how to reach the server, as PG* variables
	db  string
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench creates and initialises the pgbench database.
func (e *env) pgbench(ctx context.Context) (*pgbench, error) {
	dir, err := localpg.BinDir()
	if err != nil {
		return nil, err
	}
	cfg, err := pq.NewConfig(e.adminURL)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	env = append(env, "PGHOST="+cfg.Host, "PGPORT="+strconv.Itoa(int(cfg.Port)), "PGUSER="+cfg.User)
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	if cfg.SSLMode != "" {
		env = append(env, "PGSSLMODE="+string(cfg.SSLMode))
	}
	name, err := e.createDB(ctx, "pgbench", "")
	if err != nil {
		return nil, err
	}
	p := &pgbench{bin: filepath.Join(dir, "pgbench"), env: env, db: name}
	e.opt.Logf("bench: pgbench -i -s %d", e.opt.PgbenchScale)
	if _, err := p.cmd(ctx, "-i", "-q", "-s", strconv.Itoa(e.opt.PgbenchScale)); err != nil {
		return nil, err
	}
	return p, nil
}

// run runs the TPC-B script for d and returns its transactions per second.
func (p *pgbench) run(ctx context.Context, clients int, d time.Duration) (float64, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	out, err := p.cmd(ctx, "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs))
	if err != nil {
		return 0, err
	}
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

func (p *pgbench) cmd(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, p.bin, append(args, p.db)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// statementNotes describes the n statements that took longest in all, per
// unit of work (per receipt, per query).
func statementNotes(times []statementTime, units int64, n int) []string {
	var total time.Duration
	for _, t := range times {
		total += t.Total
	}
	out := []string{fmt.Sprintf("database time seen by the server (sum over connections) %.1f ms per unit; by statement:",
		float64(total.Microseconds())/1000/float64(max(units, 1)))}
	for _, t := range times[:min(n, len(times))] {
		q := abbreviate(t.SQL)
		out = append(out, fmt.Sprintf("  %5.1f%%  %4.2f/unit  %6.2f ms avg  %s", 100*float64(t.Total)/float64(max(total, 1)),
			float64(t.Count)/float64(max(units, 1)), float64(t.Total.Microseconds())/1000/float64(t.Count), q))
	}
	return out
}

// abbreviate shortens a statement to one line of at most 90 characters.
func abbreviate(sql string) string {
	q := strings.Join(strings.Fields(sql), " ")
	if len(q) > 90 {
		q = q[:90] + "…"
	}
	return q
}
