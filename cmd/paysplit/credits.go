package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// The long runs from the command line (issue 5): credit management and the
// practice-wide family balancer run in this process through the ledger, as
// runs (ledger/run.go), with a progress bar on stderr and the run's report
// on stdout. Ctrl-C (or SIGTERM) stops the run at the end of the batch of
// families it is committing — those stay committed — and the run is left
// INTERRUPTED, to be resumed with "paysplit runs resume". serve's side of
// runs (recovery at start, stopping on shutdown) is here too.

const creditsUsage = `usage:
  paysplit credits manage --practice ID --note TEXT [--scope GUARANTOR|PATIENT] [--guarantor ID ...]
                          [--policy P] [--as-of YYYY-MM-DD] [--batch ID] [--spend-unearned TYPE_ID ...]
                          [--spend-forced] [--no-line-credits] [--no-unallocated] [--commit] [flags]
Re-applies every family's credits (or the named families') to its outstanding balances by the
same-guarantor policy, one CREDIT_REAPPLY receipt per family. Without --commit it is a preview:
it plans and reports and posts nothing. See docs/credits.md.`

const balanceUsage = `usage:
  paysplit balance --practice ID --method INCOME_TRANSFER|RECREATE_SPLITS [--policy P] [--guarantor ID ...]
                   [--as-of YYYY-MM-DD] [--transfer-date YYYY-MM-DD] [--changed-since YYYY-MM-DD]
                   [--note TEXT] [--commit] [flags]
Runs the family balancer over every family of the practice (or the named ones). Without --commit it
is a preview: it plans and reports and posts nothing. --transfer-date dates every transfer the run
posts (a conversion's date) and is the plans' date too. See docs/credits.md.`

const runsUsage = `usage:
  paysplit runs list --practice ID [--kind K] [--status S] [--first N]   the practice's runs, newest first
  paysplit runs show RUN_ID --practice ID                                a run's report
  paysplit runs resume RUN_ID --practice ID                              continue an interrupted, cancelled or failed run
  paysplit runs cancel RUN_ID --practice ID                              ask a running run to stop after its batch`

// stoppedByUser is what a run the CLI stops on Ctrl-C (or SIGTERM) records.
var stoppedByUser = ledger.WithStopReason("stopped by the user (Ctrl-C or a signal to the paysplit command); resume it to continue")

// runBatchFlag registers --run-batch (env PAYSPLIT_RUN_BATCH): how many
// families a run commits per transaction.
func runBatchFlag(fs *flag.FlagSet) (*int, error) {
	def := ledger.DefaultRunBatch
	if v := os.Getenv("PAYSPLIT_RUN_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("PAYSPLIT_RUN_BATCH: %q is not a positive number of families", v)
		}
		def = n
	}
	return fs.Int("run-batch", def, "families a run (credit management, balancer) commits per transaction (env PAYSPLIT_RUN_BATCH)"), nil
}

// planTimeoutFlag registers --plan-timeout (env PAYSPLIT_PLAN_TIMEOUT): the
// longest one plan may take. planTimeout reads it after parsing.
func planTimeoutFlag(fs *flag.FlagSet) (*time.Duration, error) {
	def := ledger.DefaultPlanTimeout
	if v := os.Getenv("PAYSPLIT_PLAN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("PAYSPLIT_PLAN_TIMEOUT: %q is not a positive duration such as 10s", v)
		}
		def = d
	}
	return fs.Duration("plan-timeout", def,
		"the longest one plan may take: a preview's, a commit's, a policy's examples, one family's in a run (env PAYSPLIT_PLAN_TIMEOUT)"), nil
}

// planTimeout is the ledger option of a parsed --plan-timeout.
func planTimeout(d *time.Duration) (ledger.Option, error) {
	if *d <= 0 {
		return nil, fmt.Errorf("--plan-timeout: %s is not a positive duration", *d)
	}
	return ledger.WithPlanTimeout(*d), nil
}

// recoverRuns marks INTERRUPTED the runs a server that died left RUNNING,
// and logs them.
func recoverRuns(ctx context.Context, l *ledger.Ledger) error {
	refs, err := l.RecoverRuns(ctx)
	for _, r := range refs {
		slog.Warn("run marked INTERRUPTED: the server running it stopped without finishing it; resume it to continue",
			"run", r.ID.String(), "practice", r.PracticeID.String())
	}
	if err != nil {
		return fmt.Errorf("recovering runs: %w", err)
	}
	slog.Info("runs recovered", "interrupted", len(refs))
	return nil
}

// stopRunsBy stops this process's runs at a batch boundary (each is marked
// INTERRUPTED), waiting for them until ctx ends.
func stopRunsBy(ctx context.Context, l *ledger.Ledger) {
	if err := l.StopRuns(ctx); err != nil {
		slog.Error("stopping runs: a run did not reach a batch boundary in time; the next start marks it INTERRUPTED", "err", err)
	}
}

// stopRuns is stopRunsBy with a deadline of its own.
func stopRuns(l *ledger.Ledger, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	stopRunsBy(ctx, l)
}

// idList is a repeatable flag of ids.
type idList []ledger.ID

func (l *idList) String() string {
	s := make([]string, len(*l))
	for i, id := range *l {
		s[i] = id.String()
	}
	return strings.Join(s, ",")
}

func (l *idList) Set(v string) error {
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := ledger.ParseID(part)
		if err != nil {
			return fmt.Errorf("%q is not an id", part)
		}
		*l = append(*l, id)
	}
	return nil
}

// paramList is a repeatable --param name=value flag.
type paramList map[string]string

func (p paramList) String() string {
	var s []string
	for k, v := range p {
		s = append(s, k+"="+v)
	}
	return strings.Join(s, ",")
}

func (p paramList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q: say name=value", v)
	}
	p[strings.TrimSpace(k)] = val
	return nil
}

// runFlags are the flags every run command shares.
type runFlags struct {
	db       dbFlags
	practice *string
	batch    *int
	planTime *time.Duration
	asJSON   *bool
	quiet    *bool
	list     *int
}

func (f *runFlags) register(fs *flag.FlagSet) error { return f.registerOn(fs, nil) }

// registerOn registers on fs the database flags, --practice and those of
// the others that a command takes (all of them when takes is nil); the rest
// keep their defaults, so that the command's --help lists only its own.
func (f *runFlags) registerOn(fs *flag.FlagSet, takes []string) error {
	rest := flag.NewFlagSet("", flag.ContinueOnError)
	on := func(name string) *flag.FlagSet {
		if takes == nil || slices.Contains(takes, name) {
			return fs
		}
		return rest
	}
	f.db.register(fs)
	f.practice = fs.String("practice", "", "practice id (required)")
	b, err := runBatchFlag(on("run-batch"))
	if err != nil {
		return err
	}
	f.batch = b
	if f.planTime, err = planTimeoutFlag(on("plan-timeout")); err != nil {
		return err
	}
	f.asJSON = on("json").Bool("json", false, "print the report as JSON")
	f.quiet = on("quiet").Bool("quiet", false, "no progress on stderr")
	f.list = on("list").Int("list", 50, "failed and skipped families listed in the report, at most (of each)")
	return nil
}

func (f *runFlags) actor() (ledger.Actor, error) {
	pid, err := ledger.ParseID(*f.practice)
	if err != nil {
		return ledger.Actor{}, fmt.Errorf("--practice: %q is not a practice id", *f.practice)
	}
	return ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}, nil
}

// runCredits is "paysplit credits …".
func runCredits(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(creditsUsage)
	}
	switch args[0] {
	case "manage":
		return creditsManage(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, creditsUsage)
		return nil
	}
	return fmt.Errorf("unknown credits command %q\n%s", args[0], creditsUsage)
}

func creditsManage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("credits manage")
	fs.SetOutput(stderr)
	var rf runFlags
	if err := rf.register(fs); err != nil {
		return err
	}
	note := fs.String("note", "", "the receipts' note (required)")
	scope := fs.String("scope", "GUARANTOR", "GUARANTOR (same encounter, same patient, then the guarantor's other patients) or PATIENT (never between patients)")
	var gids idList
	fs.Var(&gids, "guarantor", "a family to run over (repeat, or comma-separate); default every family of the practice")
	policy := fs.String("policy", "", "policy name or name@version (default same-guarantor)")
	params := paramList{}
	fs.Var(params, "param", "a policy parameter name=value (repeatable)")
	asOf := fs.String("as-of", "", "the plans' and receipts' date, YYYY-MM-DD (default today)")
	batch := fs.String("batch", "", "the open batch the receipts post into")
	var spendTypes idList
	fs.Var(&spendTypes, "spend-unearned", "an unearned type whose money it may spend (repeat); default none: prepayments are kept")
	spendForced := fs.Bool("spend-forced", false, "spend the credit on lines a force apply left overpaid (default: left alone)")
	noLines := fs.Bool("no-line-credits", false, "do not spend overpaid lines' credit")
	noLoose := fs.Bool("no-unallocated", false, "do not spend unallocated money")
	commit := fs.Bool("commit", false, "post the receipts; without it the run is a preview that posts nothing")
	key := fs.String("idempotency-key", "", "replaying a key returns the run first started")
	if _, err := parseNoArgs(fs, args, creditsUsage); err != nil {
		return err
	}
	req := ledger.RunRequest{Kind: ledger.RunCreditManagement, Preview: !*commit, GuarantorIDs: gids, Scope: ledger.Scope(strings.ToUpper(*scope)),
		Policy: *policy, Params: params, Note: *note, IdempotencyKey: *key,
		Spend: &ledger.CreditSpend{LineCredits: !*noLines, Unallocated: !*noLoose, UnearnedTypeIDs: spendTypes, ForcedLines: *spendForced}}
	if err := parseRunDate("as-of", *asOf, &req.AsOf); err != nil {
		return err
	}
	if *batch != "" {
		id, err := ledger.ParseID(*batch)
		if err != nil {
			return fmt.Errorf("--batch: %q is not a batch id", *batch)
		}
		req.BatchID = &id
	}
	return startAndFollow(ctx, rf, req, stdout, stderr)
}

// runBalance is "paysplit balance …".
func runBalance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("balance")
	fs.SetOutput(stderr)
	var rf runFlags
	if err := rf.register(fs); err != nil {
		return err
	}
	method := fs.String("method", "", "INCOME_TRANSFER or RECREATE_SPLITS (required)")
	policy := fs.String("policy", "", "policy name or name@version (INCOME_TRANSFER: the practice's TRANSFER default, e.g. rigorous or fifo; RECREATE_SPLITS: fifo)")
	params := paramList{}
	fs.Var(params, "param", "a policy parameter name=value (repeatable)")
	var gids idList
	fs.Var(&gids, "guarantor", "a family to balance (repeat, or comma-separate); default every family of the practice")
	asOf := fs.String("as-of", "", "the plans' date, YYYY-MM-DD (default today; RECREATE_SPLITS dates each re-split with its payment)")
	transferDate := fs.String("transfer-date", "", "date every transfer YYYY-MM-DD, by either method (a conversion's date); the plans' date too, so --as-of may be left out")
	changed := fs.String("changed-since", "", "only the families with anything posted on or after this day, YYYY-MM-DD (re-runs after a conversion)")
	note := fs.String("note", "", "the receipts' note")
	commit := fs.Bool("commit", false, "post the receipts; without it the run is a preview that posts nothing")
	key := fs.String("idempotency-key", "", "replaying a key returns the run first started")
	if _, err := parseNoArgs(fs, args, balanceUsage); err != nil {
		return err
	}
	req := ledger.RunRequest{Kind: ledger.RunBalance, Method: ledger.BalanceMethod(strings.ToUpper(*method)), Preview: !*commit,
		GuarantorIDs: gids, Policy: *policy, Params: params, Note: *note, IdempotencyKey: *key}
	if err := errors.Join(parseRunDate("as-of", *asOf, &req.AsOf), parseRunDate("transfer-date", *transferDate, &req.TransferDate)); err != nil {
		return err
	}
	if *changed != "" {
		d, err := ledger.ParseDate(*changed)
		if err != nil {
			return fmt.Errorf("--changed-since: %v", err)
		}
		req.ChangedSince = &d
	}
	return startAndFollow(ctx, rf, req, stdout, stderr)
}

// runRuns is "paysplit runs …".
func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(runsUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "list", "show", "resume", "cancel":
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, runsUsage)
		return nil
	default:
		return fmt.Errorf("unknown runs command %q\n%s", sub, runsUsage)
	}
	fs := newFlagSet("runs " + sub)
	fs.SetOutput(stderr)
	var rf runFlags
	own := map[string][]string{"list": {"json"}, "show": {"json", "list"}, "cancel": {}}[sub] // resume: all
	if err := rf.registerOn(fs, own); err != nil {
		return err
	}
	var kind, status *string
	var first *int
	if sub == "list" {
		kind = fs.String("kind", "", "only runs of this kind (CREDIT_MANAGEMENT, BALANCE)")
		status = fs.String("status", "", "only runs with this status (RUNNING, COMPLETED, FAILED, CANCELLED, INTERRUPTED)")
		first = fs.Int("first", 20, "how many runs")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	a, err := rf.actor()
	if err != nil {
		return err
	}
	var id ledger.ID
	if sub == "list" {
		if len(pos) != 0 {
			return errors.New("runs list takes no RUN_ID\n" + runsUsage)
		}
	} else {
		if len(pos) != 1 {
			return fmt.Errorf("runs %s: give exactly one RUN_ID\n%s", sub, runsUsage)
		}
		if id, err = ledger.ParseID(pos[0]); err != nil {
			return fmt.Errorf("%q is not a run id", pos[0])
		}
	}
	pt, err := planTimeout(rf.planTime)
	if err != nil {
		return err
	}
	d, err := rf.db.openPractice(ctx, a.PracticeID)
	if err != nil {
		return err
	}
	defer d.close()
	l := ledger.New(d.store, ledger.WithRunBatch(*rf.batch), pt, stoppedByUser)
	switch sub {
	case "list":
		page, err := l.Runs(ctx, a, ledger.RunFilter{Kind: ledger.RunKind(strings.ToUpper(*kind)), Status: ledger.RunStatus(strings.ToUpper(*status))},
			ledger.Page{First: *first})
		if err != nil {
			return err
		}
		if *rf.asJSON {
			rows := make([]runJSON, len(page.Rows))
			for i, r := range page.Rows {
				rows[i] = toRunJSON(r)
			}
			return writeJSON(stdout, rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "run\tkind\tpreview\tstatus\tfamilies\tchanged\treceipts\tstarted")
		for _, r := range page.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%s\n", r.ID, runWhat(r), yes(r.Preview), r.Status, r.FamiliesDone, r.FamiliesTotal,
				r.FamiliesChanged, r.Receipts, r.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		r, err := l.Run(ctx, a, id)
		if err != nil {
			return err
		}
		return report(ctx, l, a, r, rf, stdout)
	case "cancel":
		r, err := l.CancelRun(ctx, a, ledger.RunControl{RunID: id})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "run %s: %s; it stops after the batch of families it is committing\n", r.ID, r.Status)
		return nil
	}
	// resume
	r, err := l.ResumeRun(ctx, a, ledger.RunControl{RunID: id})
	if err != nil {
		return err
	}
	return follow(ctx, l, a, r, rf, stdout, stderr)
}

// parseNoArgs parses flags and refuses positional arguments.
func parseNoArgs(fs *flag.FlagSet, args []string, usage string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("unexpected argument %q\n%s", pos[0], usage)
	}
	return pos, nil
}

// parseRunDate reads the date a flag gives, if it gives one.
func parseRunDate(flag, s string, into **ledger.Date) error {
	if s == "" {
		return nil
	}
	d, err := ledger.ParseDate(s)
	if err != nil {
		return fmt.Errorf("--%s: %v", flag, err)
	}
	*into = &d
	return nil
}

// startAndFollow opens the database, starts the run and follows it.
func startAndFollow(ctx context.Context, rf runFlags, req ledger.RunRequest, stdout, stderr io.Writer) error {
	a, err := rf.actor()
	if err != nil {
		return err
	}
	pt, err := planTimeout(rf.planTime)
	if err != nil {
		return err
	}
	d, err := rf.db.openPractice(ctx, a.PracticeID)
	if err != nil {
		return err
	}
	defer d.close()
	l := ledger.New(d.store, ledger.WithRunBatch(*rf.batch), pt, stoppedByUser)
	r, err := l.StartRun(ctx, a, req)
	if err != nil {
		return err
	}
	return follow(ctx, l, a, r, rf, stdout, stderr)
}

// follow shows the run's progress until it ends, stopping it at a batch
// boundary if ctx ends first (Ctrl-C), then prints its report. A run that
// did not complete is an error (the exit status says so).
func follow(ctx context.Context, l *ledger.Ledger, a ledger.Actor, r ledger.Run, rf runFlags, stdout, stderr io.Writer) error {
	bar := newRunBar(stderr, *rf.quiet)
	if !r.Status.Final() {
		watch, stopWatch := context.WithCancel(context.Background())
		defer stopWatch()
		ch, err := l.WatchRun(watch, a, r.ID)
		if err != nil {
			return err
		}
		interrupt := ctx.Done()
		for open := true; open; {
			select {
			case next, ok := <-ch:
				if !ok {
					open = false
					break
				}
				r = next
				bar.update(r)
			case <-interrupt:
				interrupt = nil
				bar.note("stopping at the end of the batch being committed (its families stay committed)…")
				stopRuns(l, time.Minute)
			}
		}
		bar.done()
		var err2 error
		if r, err2 = l.Run(context.Background(), a, r.ID); err2 != nil {
			return err2
		}
	}
	if err := report(context.Background(), l, a, r, rf, stdout); err != nil {
		return err
	}
	switch r.Status {
	case ledger.RunCompleted:
		return nil
	case ledger.RunRunning:
		return fmt.Errorf("run %s is still running in another process", r.ID)
	}
	who := ""
	if ctx.Err() != nil {
		who = " (you stopped it)"
	}
	fmt.Fprintf(stderr, "run %s is %s%s after %d of %d families; to continue it:\n  paysplit runs resume %s --practice %s%s\n",
		r.ID, r.Status, who, r.FamiliesDone, r.FamiliesTotal, r.ID, a.PracticeID, rf.db.pasteArgs())
	return fmt.Errorf("run %s ended %s", r.ID, r.Status)
}

// runWhat names what a run does.
func runWhat(r ledger.Run) string {
	if r.Kind == ledger.RunBalance {
		return "balance " + string(r.Method)
	}
	return "credit management"
}

// runReport is a run's report as JSON.
type runReport struct {
	Run      runJSON      `json:"run"`
	Families []familyJSON `json:"families"` // the failed and skipped ones
}

// runJSON is a run as the commands print it (money as strings).
type runJSON struct {
	ID              ledger.ID        `json:"id"`
	Kind            ledger.RunKind   `json:"kind"`
	Method          string           `json:"method,omitempty"`
	Preview         bool             `json:"preview"`
	Status          ledger.RunStatus `json:"status"`
	Policy          string           `json:"policy"`
	AsOf            string           `json:"asOf"`
	Request         json.RawMessage  `json:"request"`
	FamiliesTotal   int              `json:"familiesTotal"`
	FamiliesDone    int              `json:"familiesDone"`
	FamiliesChanged int              `json:"familiesChanged"`
	FamiliesSkipped int              `json:"familiesSkipped"`
	FamiliesFailed  int              `json:"familiesFailed"`
	Receipts        int              `json:"receipts"`
	CreditsFound    string           `json:"creditsFound"`
	AmountMoved     string           `json:"amountMoved"`
	CreditsLeft     string           `json:"creditsLeft"`
	Attempts        int              `json:"attempts"`
	Error           string           `json:"error,omitempty"`
	CreatedAt       time.Time        `json:"createdAt"`
	FinishedAt      *time.Time       `json:"finishedAt,omitempty"`
}

func toRunJSON(r ledger.Run) runJSON {
	return runJSON{ID: r.ID, Kind: r.Kind, Method: string(r.Method), Preview: r.Preview, Status: r.Status, Policy: r.Policy.String(),
		AsOf: r.AsOf.String(), Request: json.RawMessage(r.Request), FamiliesTotal: r.FamiliesTotal, FamiliesDone: r.FamiliesDone,
		FamiliesChanged: r.FamiliesChanged, FamiliesSkipped: r.FamiliesSkipped, FamiliesFailed: r.FamiliesFailed, Receipts: r.Receipts,
		CreditsFound: r.CreditsFound.String(), AmountMoved: r.AmountMoved.String(), CreditsLeft: r.CreditsLeft.String(),
		Attempts: r.Attempts, Error: r.Error, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
}

// familyJSON is a family's result as the commands print it.
type familyJSON struct {
	GuarantorID  ledger.ID           `json:"guarantorId"`
	Status       ledger.FamilyStatus `json:"status"`
	CreditsFound string              `json:"creditsFound"`
	AmountMoved  string              `json:"amountMoved"`
	CreditsLeft  string              `json:"creditsLeft"`
	ReceiptIDs   []ledger.ID         `json:"receiptIds"`
	Reason       string              `json:"reason,omitempty"`
}

// report prints a run: what it is, where it stands, its figures, and the
// families that failed or were skipped, with the reasons.
func report(ctx context.Context, l *ledger.Ledger, a ledger.Actor, r ledger.Run, rf runFlags, w io.Writer) error {
	var fams []ledger.RunFamily
	more := map[ledger.FamilyStatus]int{}
	for _, st := range []ledger.FamilyStatus{ledger.FamilyFailed, ledger.FamilySkipped} {
		page, err := l.RunFamilies(ctx, a, r.ID, ledger.RunFamilyFilter{Status: st}, ledger.Page{First: max(*rf.list, 1)})
		if err != nil {
			return err
		}
		fams = append(fams, page.Rows...)
		if page.HasNext {
			more[st] = page.Total - len(page.Rows)
		}
	}
	if *rf.asJSON {
		out := runReport{Run: toRunJSON(r), Families: []familyJSON{}}
		for _, f := range fams {
			out.Families = append(out.Families, familyJSON{GuarantorID: f.GuarantorID, Status: f.Status, CreditsFound: f.CreditsFound.String(),
				AmountMoved: f.AmountMoved.String(), CreditsLeft: f.CreditsLeft.String(), ReceiptIDs: f.ReceiptIDs, Reason: f.Reason})
		}
		return writeJSON(w, out)
	}
	names := map[ledger.ID]string{}
	if len(fams) > 0 {
		ids := make([]ledger.ID, len(fams))
		for i, f := range fams {
			ids[i] = f.GuarantorID
		}
		gs, err := l.Store().Guarantors(ctx, a.PracticeID, ids)
		if err != nil {
			return err
		}
		for _, g := range gs {
			names[g.ID] = g.Name
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mode := "commit"
	if r.Preview {
		mode = "preview (nothing posted)"
	}
	fmt.Fprintf(tw, "run %s: %s, %s, policy %s, as of %s", r.ID, runWhat(r), mode, r.Policy, r.AsOf)
	if d := r.TransferDate(); d != nil {
		fmt.Fprintf(tw, ", transfers dated %s", d)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "status\t%s", r.Status)
	if r.Error != "" {
		fmt.Fprintf(tw, " — %s", r.Error)
	}
	fmt.Fprintf(tw, "\nfamilies\t%d of %d done: %d changed, %d skipped or unchanged, %d failed\n",
		r.FamiliesDone, r.FamiliesTotal, r.FamiliesChanged, r.FamiliesSkipped, r.FamiliesFailed)
	moved := "amount moved"
	if r.Preview {
		moved = "amount that would move"
	}
	fmt.Fprintf(tw, "credits found\t%s\n%s\t%s\ncredits left\t%s\nreceipts\t%d\n", r.CreditsFound, moved, r.AmountMoved, r.CreditsLeft, r.Receipts)
	if r.Attempts > 1 {
		fmt.Fprintf(tw, "attempts\t%d (resumed %d times)\n", r.Attempts, r.Attempts-1)
	}
	if len(fams) > 0 {
		fmt.Fprintln(tw, "\nfamily\tguarantor\tstatus\tcredits found\tcredits left\treason")
		for _, f := range fams {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.GuarantorID, dash(names[f.GuarantorID]), f.Status, f.CreditsFound, f.CreditsLeft,
				dash(strings.ReplaceAll(f.Reason, "\n", " ")))
		}
		for _, st := range []ledger.FamilyStatus{ledger.FamilyFailed, ledger.FamilySkipped} {
			if n := more[st]; n > 0 {
				fmt.Fprintf(tw, "…\t\t%s\t\t\t%d more not listed (--list, or paysplit runs show %s --practice %s%s --list N)\n", st, n, r.ID, a.PracticeID, rf.db.pasteArgs())
			}
		}
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runBar shows a run's progress: families done of the total, the bar on a
// terminal, one line per update otherwise.
type runBar struct{ *bar }

func newRunBar(w io.Writer, quiet bool) runBar { return runBar{newBar(w, quiet)} }

func (b runBar) update(r ledger.Run) {
	if b.off {
		return
	}
	tail := fmt.Sprintf("%d/%d families, %d changed, %d failed, %d receipts, %s",
		r.FamiliesDone, r.FamiliesTotal, r.FamiliesChanged, r.FamiliesFailed, r.Receipts, r.Status)
	if b.tty {
		b.draw(runWhat(r), int64(r.FamiliesDone), int64(r.FamiliesTotal), tail)
		return
	}
	fmt.Fprintf(b.w, "%s %s\n", runWhat(r), tail)
}

// note prints a message on a line of its own.
func (b runBar) note(msg string) { b.line(msg) }
