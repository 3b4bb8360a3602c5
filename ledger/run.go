package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysplit/paysplit/rules"
)

// Runs are the long operations: credit management over a practice (or a
// chosen set of families) and the practice-wide family balancer. StartRun
// records the run and returns at once; the run goes on in the server,
// family by family, a batch of families per transaction. Each batch's
// transaction posts what the batch's families need AND records their results
// (run_families) AND advances the run's progress, so what is committed and
// what the run says it committed never disagree. A family whose plan is
// refused is recorded as FAILED and the others go on; if writing a batch
// fails, its families are tried again one transaction each, so one family's
// failure never undoes another's.
//
// A run survives nothing silently. While it runs, its process holds a
// PostgreSQL session lock on it (Store.ClaimRun); a server that stops
// (StopRuns) marks its runs INTERRUPTED, and a server that starts
// (RecoverRuns) marks INTERRUPTED every RUNNING run nobody holds — the
// families already committed stay committed. ResumeRun continues with the
// families that have no result yet.

// RunKind is what a run does.
type RunKind string

// Run kinds.
const (
	RunCreditManagement RunKind = "CREDIT_MANAGEMENT"
	RunBalance          RunKind = "BALANCE"
)

// RunStatus is where a run stands.
type RunStatus string

// Run statuses. Every status but RUNNING is final until the run is resumed;
// COMPLETED cannot be resumed.
const (
	RunRunning     RunStatus = "RUNNING"
	RunCompleted   RunStatus = "COMPLETED"
	RunFailed      RunStatus = "FAILED"
	RunCancelled   RunStatus = "CANCELLED"
	RunInterrupted RunStatus = "INTERRUPTED"
)

// Final reports whether the run is not going on.
func (s RunStatus) Final() bool { return s != RunRunning }

// FamilyStatus is a family's outcome in a run (or a single balancing).
type FamilyStatus string

// Family outcomes.
const (
	// FamilyChanged: receipts were posted (in a preview: would be).
	FamilyChanged FamilyStatus = "CHANGED"
	// FamilyUnchanged: nothing to do.
	FamilyUnchanged FamilyStatus = "UNCHANGED"
	// FamilySkipped: left alone on purpose (Reason says why).
	FamilySkipped FamilyStatus = "SKIPPED"
	// FamilyFailed: the policy refused, or the family could not be written
	// (Reason says why); nothing was posted for it.
	FamilyFailed FamilyStatus = "FAILED"
)

// Defaults of the runner.
const (
	// DefaultRunBatch is how many families a run commits per transaction.
	DefaultRunBatch = 200
	// runPollEvery is how often WatchRun reads a run that another server
	// instance is running (runs of this instance are announced at once).
	runPollEvery = 500 * time.Millisecond
	// maxRunFamilies bounds an explicit list of families.
	maxRunFamilies = 100000
)

// RunRequest starts a run.
type RunRequest struct {
	Kind RunKind
	// Method is the balancer's method (BALANCE only).
	Method BalanceMethod
	// Preview plans every family and reports, posting nothing.
	Preview bool
	// GuarantorIDs are the families; empty is every family of the practice
	// (those that exist when the run starts).
	GuarantorIDs []ID
	// ChangedSince, with no GuarantorIDs, narrows the run to the families
	// with anything posted on or after that day (a charge, money, a
	// write-off): the re-runs after a conversion's go-live.
	ChangedSince *Date
	// Scope is credit management's credit application: GUARANTOR (default:
	// same encounter, same patient, then the guarantor's other patients) or
	// PATIENT (never between patients).
	Scope Scope
	// Policy is "name" or "name@version". Defaults: credit management
	// same-guarantor; INCOME_TRANSFER the practice's TRANSFER default;
	// RECREATE_SPLITS fifo.
	Policy string
	Params map[string]string
	// AsOf is the plans' date, and the receipts' (RECREATE_SPLITS dates
	// each re-split with its payment); default today.
	AsOf *Date
	// TransferDate (BALANCE only) dates every transfer the run posts, by
	// either method: a conversion's date, so that the balancing moves no
	// report of the days since. It is also the plans' date (AsOf, which may
	// be left out or must be the same day): a rerun as of it sees the
	// transfers and proposes nothing. Not in the future.
	TransferDate *Date
	// Note is the receipts' note; credit management requires one.
	Note string
	// BatchID is where credit management posts its receipts.
	BatchID *ID
	// Spend is what credit management may spend; nil is
	// DefaultCreditSpend (credit_spend.go).
	Spend          *CreditSpend
	IdempotencyKey string `json:"-"`
}

// changedFamilies is a run's families: those named, or with ChangedSince
// those changed since that day (an error when none has).
func (l *Ledger) changedFamilies(ctx context.Context, a Actor, in RunRequest) ([]ID, error) {
	if in.ChangedSince == nil {
		return in.GuarantorIDs, nil
	}
	if len(in.GuarantorIDs) > 0 {
		return nil, Invalid("changedSince", "narrows every family of the practice: leave guarantorIds empty")
	}
	if err := in.ChangedSince.InRange(); err != nil {
		return nil, Invalid("changedSince", "%v", err)
	}
	ids, err := l.store.FamiliesChangedSince(ctx, a.PracticeID, in.ChangedSince.Time())
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, Invalid("changedSince", "no family has had anything posted since %s: nothing to run over", in.ChangedSince)
	}
	if len(ids) > maxRunFamilies {
		return nil, Invalid("changedSince", "%d families changed since %s, more than a run names (%d): run over every family", len(ids), in.ChangedSince, maxRunFamilies)
	}
	return ids, nil
}

// runSpec is a run's request as stored: validated, with the policy version
// pinned, so that a resumed run does exactly what the first start asked.
type runSpec struct {
	Kind    RunKind           `json:"kind"`
	Method  BalanceMethod     `json:"method,omitempty"`
	Preview bool              `json:"preview"`
	Scope   Scope             `json:"scope,omitempty"`
	Policy  string            `json:"policy"` // name@version
	Params  map[string]string `json:"params,omitempty"`
	AsOf    Date              `json:"asOf"`
	// TransferDate, when set, dates every transfer of a BALANCE run (and
	// equals AsOf).
	TransferDate *Date  `json:"transferDate,omitempty"`
	Note         string `json:"note,omitempty"`
	BatchID      *ID    `json:"batchId,omitempty"`
	// Spend is credit management's; a run stored before it existed spent
	// DefaultCreditSpend's credits and every visible unearned type's.
	Spend *CreditSpend `json:"spend,omitempty"`
}

// Run is a long operation and how far it has gone.
type Run struct {
	ID      ID
	Kind    RunKind
	Method  BalanceMethod // BALANCE only
	Preview bool
	Status  RunStatus
	Request []byte // the stored request (runSpec as JSON)
	// GuarantorIDs are the families named when the run was started; the
	// store freezes the scope (these, or with AllFamilies every family of
	// the practice then) when it inserts the run.
	GuarantorIDs []ID
	AllFamilies  bool
	Policy       PolicyRef
	AsOf         Date
	// FamiliesTotal families are in scope; FamiliesDone have a result,
	// split into changed, skipped (including unchanged) and failed.
	FamiliesTotal   int
	FamiliesDone    int
	FamiliesChanged int
	FamiliesSkipped int
	FamiliesFailed  int
	Receipts        int
	// CreditsFound is the credit the families held; AmountMoved what was
	// (or would be) applied to production; CreditsLeft what remains.
	CreditsFound    Money
	AmountMoved     Money
	CreditsLeft     Money
	CancelRequested bool
	Attempts        int // 1 + the times it was resumed
	Error           string
	CreatedBy       *ID
	CreatedAt       time.Time
	UpdatedAt       time.Time
	FinishedAt      *time.Time
}

// Scope returns the credit application scope the run was started with.
func (r Run) Scope() Scope {
	var s runSpec
	_ = json.Unmarshal(r.Request, &s)
	return s.Scope
}

// Note returns the note the run's receipts carry.
func (r Run) Note() string {
	var s runSpec
	_ = json.Unmarshal(r.Request, &s)
	return s.Note
}

// TransferDate returns the date a BALANCE run dates every transfer, if
// it was started with one (nil: each method's own dates).
func (r Run) TransferDate() *Date {
	var s runSpec
	_ = json.Unmarshal(r.Request, &s)
	return s.TransferDate
}

// RunFamily is one family's result in a run.
type RunFamily struct {
	GuarantorID  ID
	Status       FamilyStatus
	CreditsFound Money
	AmountMoved  Money
	CreditsLeft  Money
	ReceiptIDs   []ID
	Reason       string
	// Detail is the family's report as JSON (RECREATE_SPLITS: the
	// payments, see ResplitPayment).
	Detail []byte
}

// Payments decodes a RECREATE_SPLITS family's report.
func (f RunFamily) Payments() ([]ResplitPayment, error) {
	if len(f.Detail) == 0 {
		return nil, nil
	}
	var d familyDetail
	if err := json.Unmarshal(f.Detail, &d); err != nil {
		return nil, fmt.Errorf("run family %s: %w", f.GuarantorID, err)
	}
	return d.Payments, nil
}

// familyDetail is what run_families.detail holds.
type familyDetail struct {
	Payments []ResplitPayment `json:"payments,omitempty"`
	// Plans are kept for previews (a commit's plans are kept with the
	// receipts they posted).
	Plans []Plan `json:"plans,omitempty"`
}

// RunTally adds a batch of family results to a run's counters.
type RunTally struct {
	Done, Changed, Skipped, Failed, Receipts int
	CreditsFound, AmountMoved, CreditsLeft   Money
}

// RunFilter narrows a listing of runs. Zero fields do not filter.
type RunFilter struct {
	Kind   RunKind
	Status RunStatus
}

// RunFamilyFilter narrows a run's family results.
type RunFamilyFilter struct {
	Status FamilyStatus
}

// RunRef names a run of any practice (for recovery at start-up).
type RunRef struct {
	PracticeID ID
	ID         ID
}

// RunReader is the read side of runs in the Store.
type RunReader interface {
	Runs(ctx context.Context, practiceID ID, ids []ID) ([]Run, error)
	// ListRuns lists runs newest first.
	ListRuns(ctx context.Context, practiceID ID, f RunFilter, p Page) (Paged[Run], error)
	// FamiliesChangedSince lists, in id order, the families with a charge,
	// money (a split) or an insurance write-off posted at or after since.
	FamiliesChangedSince(ctx context.Context, practiceID ID, since time.Time) ([]ID, error)
	// ListRunFamilies lists a run's family results in guarantor id order.
	ListRunFamilies(ctx context.Context, practiceID, runID ID, f RunFamilyFilter, p Page) (Paged[RunFamily], error)
	// RunPending returns, in id order, up to limit families in the run's
	// scope that have no result yet, after the given id.
	RunPending(ctx context.Context, practiceID, runID ID, after *ID, limit int) ([]ID, error)
}

// RunWriter is the write side of runs in a Tx.
type RunWriter interface {
	// InsertRun records a run and freezes its scope: r.GuarantorIDs, or
	// with r.AllFamilies every family of the practice now. It returns how
	// many families that is.
	InsertRun(ctx context.Context, practiceID ID, r Run) (families int, err error)
	// RecordRunFamilies stores family results and adds them to the run's
	// counters at t; it returns the run as it now stands.
	RecordRunFamilies(ctx context.Context, practiceID, runID ID, fams []RunFamily, tally RunTally, t time.Time) (Run, error)
	// SetRunStatus moves a run whose status is one of from to status at t
	// (RUNNING clears the finish time, the error and a cancel request, and
	// counts an attempt); ok is false when the run was in none of them.
	SetRunStatus(ctx context.Context, practiceID, runID ID, from []RunStatus, status RunStatus, errText string, t time.Time) (ok bool, err error)
	// RequestRunCancel flags a RUNNING run for cancelling.
	RequestRunCancel(ctx context.Context, practiceID, runID ID, t time.Time) (ok bool, err error)
}

// RunClaim is a session lock on a run: while it is held the run is being
// run by its holder. Release gives it up; calling it again does nothing.
type RunClaim interface {
	Release()
}

// RunClaimer is what the Store offers to own runs across server instances.
type RunClaimer interface {
	// ClaimRun takes the run's lock if nobody holds it; ok is false if
	// somebody does. The lock lasts until Release or until the process's
	// database session ends (a crash releases it).
	ClaimRun(ctx context.Context, practiceID, runID ID) (claim RunClaim, ok bool, err error)
	// RunningRuns lists every run of every practice marked RUNNING (an
	// operator task: it crosses tenants).
	RunningRuns(ctx context.Context) ([]RunRef, error)
}

// runner is a ledger's runs in progress.
type runner struct {
	mu      sync.Mutex
	base    context.Context
	stop    context.CancelFunc
	closed  bool
	active  map[ID]*activeRun
	watch   map[ID]map[chan struct{}]struct{}
	wg      sync.WaitGroup
	batch   int
	observe func(Run)
	// stopped is what a run StopRuns interrupted records.
	stopped string
	// familiesDone counts the families this process's runs have finished.
	familiesDone atomic.Int64
}

// activeRun is a run this process is running.
type activeRun struct {
	cancel atomic.Bool // cancelRun asked for it
}

func newRunner() *runner {
	base, stop := context.WithCancel(context.Background())
	return &runner{base: base, stop: stop, active: map[ID]*activeRun{}, watch: map[ID]map[chan struct{}]struct{}{}, batch: DefaultRunBatch,
		stopped: "the server stopped while the run was going on; resume it to continue"}
}

// WithRunBatch sets how many families a run commits per transaction
// (default DefaultRunBatch).
func WithRunBatch(n int) Option {
	return func(l *Ledger) {
		if n > 0 {
			l.runs.batch = n
		}
	}
}

// WithStopReason sets what a run records when StopRuns interrupts it
// (default: the server stopped): the CLI says its user stopped it.
func WithStopReason(text string) Option { return func(l *Ledger) { l.runs.stopped = text } }

// WithRunObserver calls f with the run's state after each of its batches
// commits and when it ends, from the goroutine running it (the CLI's
// progress bar; tests). f must not block for long.
func WithRunObserver(f func(Run)) Option { return func(l *Ledger) { l.runs.observe = f } }

// publish tells the observer and the watchers of this process.
func (rn *runner) publish(r Run) {
	if rn.observe != nil {
		rn.observe(r)
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for ch := range rn.watch[r.ID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (rn *runner) subscribe(id ID) chan struct{} {
	ch := make(chan struct{}, 1)
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.watch[id] == nil {
		rn.watch[id] = map[chan struct{}]struct{}{}
	}
	rn.watch[id][ch] = struct{}{}
	return ch
}

func (rn *runner) unsubscribe(id ID, ch chan struct{}) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	delete(rn.watch[id], ch)
	if len(rn.watch[id]) == 0 {
		delete(rn.watch, id)
	}
}

// errStopping refuses new work while the server stops.
var errStopping = fmt.Errorf("%w: the server is stopping; start the run again later", ErrConflict)

// errRunCancelled ends a run that cancelRun asked to stop.
var errRunCancelled = errors.New("run cancelled")

// validateRun checks a run request and resolves its policy.
func (l *Ledger) validateRun(ctx context.Context, a Actor, in RunRequest) (runSpec, resolvedPolicy, error) {
	spec := runSpec{Kind: in.Kind, Method: in.Method, Preview: in.Preview, Params: in.Params, Note: strings.TrimSpace(in.Note), BatchID: in.BatchID}
	switch in.Kind {
	case RunCreditManagement:
		if in.Method != "" {
			return spec, resolvedPolicy{}, Invalid("method", "credit management has no method")
		}
		switch in.Scope {
		case "", ScopeGuarantor:
			spec.Scope = ScopeGuarantor
		case ScopePatient:
			spec.Scope = ScopePatient
		default:
			return spec, resolvedPolicy{}, Invalid("scope", "must be GUARANTOR or PATIENT")
		}
		if spec.Note == "" {
			return spec, resolvedPolicy{}, Invalid("note", "credit management needs a receipt note")
		}
		sp, err := checkSpend(ctx, l.store, a.PracticeID, in.Spend)
		if err != nil {
			return spec, resolvedPolicy{}, err
		}
		spec.Spend = &sp
	case RunBalance:
		switch in.Method {
		case MethodIncomeTransfer, MethodRecreateSplits:
		case "":
			return spec, resolvedPolicy{}, Invalid("method", "say how to balance: INCOME_TRANSFER or RECREATE_SPLITS")
		default:
			return spec, resolvedPolicy{}, Invalid("method", "must be INCOME_TRANSFER or RECREATE_SPLITS")
		}
		if in.Scope != "" {
			return spec, resolvedPolicy{}, Invalid("scope", "only credit management has a scope")
		}
		if in.Spend != nil {
			return spec, resolvedPolicy{}, Invalid("spend", "only credit management has a spend; the balancer moves all of a family's income")
		}
		if in.BatchID != nil {
			return spec, resolvedPolicy{}, Invalid("batchId", "the balancer's transfers move no money in or out and post outside batches")
		}
	default:
		return spec, resolvedPolicy{}, Invalid("kind", "must be CREDIT_MANAGEMENT or BALANCE")
	}
	if err := firstErr(noteText("note", spec.Note), checkParams(in.Params)); err != nil {
		return spec, resolvedPolicy{}, err
	}
	asOf, err := l.runDates(in)
	if err != nil {
		return spec, resolvedPolicy{}, err
	}
	spec.AsOf = asOf
	if in.TransferDate != nil {
		spec.TransferDate = &asOf
	}
	if len(in.GuarantorIDs) > maxRunFamilies {
		return spec, resolvedPolicy{}, Invalid("guarantorIds", "at most %d families; leave it empty for every family", maxRunFamilies)
	}
	seen := make(map[ID]bool, len(in.GuarantorIDs))
	for i, g := range in.GuarantorIDs {
		if seen[g] {
			return spec, resolvedPolicy{}, Invalid(fmt.Sprintf("guarantorIds[%d]", i), "is named twice")
		}
		seen[g] = true
	}
	pol, err := l.runPolicy(ctx, a.PracticeID, in.Kind, in.Method, in.Policy, in.Params)
	if err != nil {
		return spec, resolvedPolicy{}, err
	}
	spec.Policy = pol.ref.String()
	if spec.Kind == RunCreditManagement {
		if err := checkBatch(ctx, l.store, a.PracticeID, in.BatchID, "batchId"); err != nil {
			return spec, resolvedPolicy{}, err
		}
	}
	return spec, pol, nil
}

// runDates checks a run's dates and returns the plans' date: asOf, or
// the transfer date, or today. A transfer date belongs to the balancer, is
// in the paysplit date range and not in the future, and is the plans' date
// too: a transfer dated after the plans' date would be out of sight of a
// rerun as of that date (which would propose it again), and one dated
// before it would move money before it arrived.
func (l *Ledger) runDates(in RunRequest) (Date, error) {
	d := in.TransferDate
	if d == nil {
		return l.planDate("asOf", in.AsOf)
	}
	switch err := d.InRange(); {
	case in.Kind != RunBalance:
		return Date{}, Invalid("transferDate", "only the balancer (BALANCE) takes a transfer date; credit management dates its receipts asOf")
	case err != nil:
		return Date{}, Invalid("transferDate", "%v", err)
	case in.AsOf != nil && *in.AsOf != *d:
		return Date{}, Invalid("transferDate", "%s is not the run's asOf %s: the transfers are dated the day the plans see the ledger as of; leave asOf out or give the same day", d, in.AsOf)
	}
	return l.planDate("transferDate", d)
}

// runPolicy resolves the policy of a run (or of a single balancing).
func (l *Ledger) runPolicy(ctx context.Context, pid ID, kind RunKind, method BalanceMethod, ref string, params map[string]string) (resolvedPolicy, error) {
	op := OperationCreditManagement
	switch {
	case kind == RunCreditManagement && strings.TrimSpace(ref) == "":
		ref = SameGuarantorPolicy
	case kind == RunBalance && method == MethodIncomeTransfer:
		op = OperationTransfer // empty: the practice's TRANSFER default
	case kind == RunBalance && method == MethodRecreateSplits:
		op = OperationAutoSplit
		if strings.TrimSpace(ref) == "" {
			ref = "fifo"
		}
	}
	pol, err := l.resolvePolicy(ctx, l.store, pid, ref, op, "policy")
	if err != nil {
		return resolvedPolicy{}, err
	}
	if err := pol.checkOverrides(params); err != nil {
		return resolvedPolicy{}, err
	}
	return pol, nil
}

// StartRun records a run and starts it in this server: it returns at once
// with the run RUNNING. Credit management (CREDIT_MANAGEMENT) re-applies
// every family's credits by the same-guarantor policy; the balancer (BALANCE)
// balances every family by its method. With Preview the run plans and
// reports without posting. A replayed idempotency key returns the run first
// started.
func (l *Ledger) StartRun(ctx context.Context, a Actor, in RunRequest) (Run, error) {
	spec, pol, err := l.validateRun(ctx, a, in)
	if err != nil {
		return Run{}, err
	}
	if in.GuarantorIDs, err = l.changedFamilies(ctx, a, in); err != nil {
		return Run{}, err
	}
	if len(in.GuarantorIDs) > 0 {
		gs, err := l.store.Guarantors(ctx, a.PracticeID, in.GuarantorIDs)
		if err != nil {
			return Run{}, err
		}
		have := byID(gs, func(g Guarantor) ID { return g.ID })
		for i, g := range in.GuarantorIDs {
			if _, ok := have[g]; !ok {
				return Run{}, Invalid(fmt.Sprintf("guarantorIds[%d]", i), "no guarantor with id %s", g)
			}
		}
	}
	rn := l.runs
	rn.mu.Lock()
	closed := rn.closed
	rn.mu.Unlock()
	if closed {
		return Run{}, errStopping
	}
	request, err := json.Marshal(spec)
	if err != nil {
		return Run{}, err
	}
	now := l.stamp()
	r := Run{ID: newID(), Kind: spec.Kind, Method: spec.Method, Preview: spec.Preview, Status: RunRunning, Request: request,
		GuarantorIDs: slices.Clone(in.GuarantorIDs), AllFamilies: len(in.GuarantorIDs) == 0, Policy: pol.ref, AsOf: spec.AsOf,
		Attempts: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: a.Key()}
	// Claim the run before it exists, so that no other instance's recovery
	// can take it for an orphan in between.
	claim, ok, err := l.store.ClaimRun(ctx, a.PracticeID, r.ID)
	if err != nil {
		return Run{}, err
	}
	if !ok {
		return Run{}, fmt.Errorf("%w: run %s is already claimed", ErrConflict, r.ID)
	}
	input := struct {
		Request      runSpec
		GuarantorIDs []ID
	}{spec, in.GuarantorIDs}
	id, err := l.mutate(ctx, a, mutation{op: "startRun", key: in.IdempotencyKey, input: input, policy: pol.ref.Name, polVer: pol.ref.Version},
		func(tx Tx) (ID, error) {
			n, err := tx.InsertRun(ctx, a.PracticeID, r)
			r.FamiliesTotal = n
			return r.ID, err
		})
	if err != nil || id != r.ID { // failed, or an idempotent replay of an earlier run
		claim.Release()
		if err != nil {
			return Run{}, err
		}
		return l.Run(ctx, a, id)
	}
	if !l.launch(a, r, spec, claim) {
		return Run{}, errStopping
	}
	return r, nil
}

// launch runs r in the background under claim.
func (l *Ledger) launch(a Actor, r Run, spec runSpec, claim RunClaim) bool {
	rn := l.runs
	rn.mu.Lock()
	if rn.closed {
		rn.mu.Unlock()
		_ = l.finishRun(a.PracticeID, r, RunInterrupted, "the server stopped before the run could start", claim)
		return false
	}
	act := &activeRun{}
	rn.active[r.ID] = act
	rn.wg.Add(1)
	rn.mu.Unlock()
	go func() {
		defer rn.wg.Done()
		l.execute(rn.base, a, r, spec, act, claim)
	}()
	return true
}

// execute runs a claimed run to its end and records how it ended, giving
// up the claim as it does.
func (l *Ledger) execute(ctx context.Context, a Actor, r Run, spec runSpec, act *activeRun, claim RunClaim) {
	err := l.work(ctx, a, &r, spec, act)
	rn := l.runs
	rn.mu.Lock()
	if rn.active[r.ID] == act {
		delete(rn.active, r.ID)
	}
	rn.mu.Unlock()
	status, msg := RunCompleted, ""
	switch {
	case err == nil:
	case errors.Is(err, errRunCancelled):
		status, msg = RunCancelled, "cancelled"
	case ctx.Err() != nil:
		status, msg = RunInterrupted, rn.stopped
	default:
		status, msg = RunFailed, runErrorText(err)
		slog.Error("run failed", "run", r.ID, "practice", a.PracticeID, "err", err)
	}
	_ = l.finishRun(a.PracticeID, r, status, msg, claim)
}

// runErrorText is what a failed run says: the domain's message for the
// errors the API names, never a driver's text.
func runErrorText(err error) string {
	var (
		ie  *InputError
		inv *InvariantError
		rej *rules.RejectedError
		ev  *rules.EvalError
		be  *rules.BudgetError
	)
	switch {
	case errors.As(err, &ie):
		return ie.Error()
	case errors.As(err, &inv):
		return inv.Message
	case errors.As(err, &rej):
		return fmt.Sprintf("the policy refused the plan (%s): %s", rej.Requirement, rej.Message)
	case errors.As(err, &ev):
		return fmt.Sprintf("the policy could not plan: %s", ev.Error())
	case errors.As(err, &be):
		return fmt.Sprintf("the plan went over its %s budget: %s", be.Budget, budgetText(be))
	case errors.Is(err, ErrConflict):
		return "the ledger was too busy; resume the run to continue"
	case errors.Is(err, ErrUnavailable):
		return "the database was unavailable; resume the run to continue"
	}
	return "internal error; resume the run to continue"
}

// budgetText is what went over a budget, and where.
func budgetText(be *rules.BudgetError) string {
	if be.Path == "" {
		return be.Message
	}
	return be.Path + ": " + be.Message
}

// finishRun records the end of a RUNNING run (with its own deadline: the
// run's context may be gone), gives up its claim and tells the watchers.
//
// The claim is released inside the transaction that records the end,
// before it commits: whoever sees the final status (a user about to resume
// the run, a watcher, another server's recovery) finds the run free to
// claim. Released after the commit, a resume sent at once could still find
// it held ("being run by a server"). In between, the run looks RUNNING and
// unclaimed: a recovery or a cancel then waits on the row the transaction
// holds and finds it final.
func (l *Ledger) finishRun(pid ID, r Run, status RunStatus, msg string, claim RunClaim) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer claim.Release() // if the transaction failed before releasing it
	err := l.store.InTx(ctx, func(tx Tx) error {
		_, err := tx.SetRunStatus(ctx, pid, r.ID, []RunStatus{RunRunning}, status, msg, l.stamp())
		claim.Release()
		return err
	})
	if err != nil {
		slog.Error("recording the end of a run", "run", r.ID, "status", status, "err", err)
	}
	if rs, err := l.store.Runs(ctx, pid, []ID{r.ID}); err == nil && len(rs) == 1 {
		r = rs[0]
	} else {
		r.Status = status
	}
	l.runs.publish(r)
	return err
}

// work runs the pending families of a run, a batch at a time, until none is
// left, the run is cancelled, or ctx ends.
func (l *Ledger) work(ctx context.Context, a Actor, r *Run, spec runSpec, act *activeRun) error {
	job, err := l.jobFor(ctx, a.PracticeID, spec)
	if err != nil {
		return err
	}
	var after *ID
	for {
		if act.cancel.Load() {
			return errRunCancelled
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		gids, err := l.store.RunPending(ctx, a.PracticeID, r.ID, after, l.runs.batch)
		if err != nil {
			return err
		}
		if len(gids) == 0 {
			return nil
		}
		if spec.Kind == RunCreditManagement && !spec.Preview {
			// A batch closed during the run stops it (resume after fixing).
			if err := checkBatch(ctx, l.store, a.PracticeID, spec.BatchID, "batchId"); err != nil {
				return err
			}
		}
		updated, err := l.runFamilies(ctx, a, *r, spec, job, gids)
		if err != nil {
			return err
		}
		*r = updated
		after = &gids[len(gids)-1]
		l.runs.familiesDone.Add(int64(len(gids)))
		l.runs.publish(updated)
		if updated.CancelRequested {
			return errRunCancelled
		}
	}
}

// runFamilies does one batch of a run: in one transaction, or, if that
// fails, one transaction per family.
func (l *Ledger) runFamilies(ctx context.Context, a Actor, r Run, spec runSpec, job familyJob, gids []ID) (Run, error) {
	updated, err := l.runBatch(ctx, a, r, spec, job, gids)
	if err == nil || ctx.Err() != nil || len(gids) == 1 {
		return updated, err
	}
	slog.Warn("run: a batch of families failed; trying them one by one", "run", r.ID, "families", len(gids), "err", err)
	for _, g := range gids {
		updated, err = l.runBatch(ctx, a, r, spec, job, []ID{g})
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return Run{}, ctx.Err()
		}
		// This family alone cannot be written: record it as failed.
		fam := RunFamily{GuarantorID: g, Status: FamilyFailed, Reason: "could not be written: " + runErrorText(err)}
		slog.Warn("run: a family could not be written", "run", r.ID, "guarantor", g, "err", err)
		err = l.store.InTx(ctx, func(tx Tx) error {
			var err error
			updated, err = tx.RecordRunFamilies(ctx, a.PracticeID, r.ID, []RunFamily{fam}, RunTally{Done: 1, Failed: 1}, l.stamp())
			return err
		})
		if err != nil {
			return Run{}, err
		}
	}
	return updated, nil
}

// runBatch plans the families of gids and, unless the run is a preview,
// posts their receipts; either way it records their results in the same
// transaction.
func (l *Ledger) runBatch(ctx context.Context, a Actor, r Run, spec runSpec, job familyJob, gids []ID) (Run, error) {
	var updated Run
	do := func(tx Tx) (ID, error) {
		if !spec.Preview {
			if err := tx.LockFamilies(ctx, a.PracticeID, gids); err != nil {
				return ID{}, err
			}
		}
		outs, err := l.planFamilies(ctx, tx, a.PracticeID, job, gids)
		if err != nil {
			return ID{}, err
		}
		first := r.ID
		if !spec.Preview {
			if first, err = l.postOutcomes(ctx, tx, a.PracticeID, &r.ID, outs); err != nil {
				return ID{}, err
			}
		}
		fams, tally := recordsOf(outs, spec.Preview)
		updated, err = tx.RecordRunFamilies(ctx, a.PracticeID, r.ID, fams, tally, l.stamp())
		return first, err
	}
	if spec.Preview {
		return updated, l.store.InTx(ctx, func(tx Tx) error { _, err := do(tx); return err })
	}
	op := "creditManagement"
	if spec.Kind == RunBalance {
		op = "balanceFamilies"
	}
	input := struct {
		RunID        ID
		GuarantorIDs []ID
	}{r.ID, gids}
	_, err := l.mutate(ctx, a, mutation{op: op, input: input, policy: r.Policy.Name, polVer: r.Policy.Version}, do)
	return updated, err
}

// recordsOf turns outcomes into run results and their tally; a preview
// keeps each family's plans.
func recordsOf(outs []familyOutcome, preview bool) ([]RunFamily, RunTally) {
	fams := make([]RunFamily, len(outs))
	var t RunTally
	for i, o := range outs {
		f := RunFamily{GuarantorID: o.GuarantorID, Status: o.Status, CreditsFound: o.CreditsFound, AmountMoved: o.AmountMoved,
			CreditsLeft: o.CreditsLeft, ReceiptIDs: o.ReceiptIDs, Reason: o.Reason}
		d := familyDetail{Payments: o.Payments}
		if preview {
			for _, p := range o.Plans {
				if !p.Empty() {
					d.Plans = append(d.Plans, p)
				}
			}
		}
		if len(d.Payments) > 0 || len(d.Plans) > 0 {
			f.Detail, _ = json.Marshal(d)
		}
		fams[i] = f
		t.Done++
		switch o.Status {
		case FamilyChanged:
			t.Changed++
		case FamilyFailed:
			t.Failed++
		default:
			t.Skipped++
		}
		t.Receipts += len(o.ReceiptIDs)
		t.CreditsFound = t.CreditsFound.Add(o.CreditsFound)
		t.AmountMoved = t.AmountMoved.Add(o.AmountMoved)
		t.CreditsLeft = t.CreditsLeft.Add(o.CreditsLeft)
	}
	return fams, t
}

// Run returns a run of the actor's practice, or ErrNotFound.
func (l *Ledger) Run(ctx context.Context, a Actor, id ID) (Run, error) {
	rs, err := l.store.Runs(ctx, a.PracticeID, []ID{id})
	return one(rs, err, "run", id)
}

// Runs lists the practice's runs, newest first.
func (l *Ledger) Runs(ctx context.Context, a Actor, f RunFilter, p Page) (Paged[Run], error) {
	return l.store.ListRuns(ctx, a.PracticeID, f, p)
}

// RunFamilies lists a run's family results in guarantor id order.
func (l *Ledger) RunFamilies(ctx context.Context, a Actor, runID ID, f RunFamilyFilter, p Page) (Paged[RunFamily], error) {
	return l.store.ListRunFamilies(ctx, a.PracticeID, runID, f, p)
}

// RunControl names a run to cancel or resume.
type RunControl struct {
	RunID          ID
	IdempotencyKey string `json:"-"`
}

// CancelRun asks a RUNNING run to stop: it ends CANCELLED after the batch
// of families it is committing (those stay committed). A run nobody is
// running any more (its server died) is marked CANCELLED at once. A run
// that is not RUNNING is ErrConflict.
func (l *Ledger) CancelRun(ctx context.Context, a Actor, in RunControl) (Run, error) {
	_, err := l.mutate(ctx, a, mutation{op: "cancelRun", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		rs, err := tx.Runs(ctx, a.PracticeID, []ID{in.RunID})
		r, err := ref(rs, err, "runId", "run", in.RunID)
		if err != nil {
			return ID{}, err
		}
		ok, err := tx.RequestRunCancel(ctx, a.PracticeID, r.ID, l.stamp())
		if err != nil {
			return ID{}, err
		}
		if !ok {
			return ID{}, fmt.Errorf("%w: run %s is %s, not RUNNING", ErrConflict, r.ID, r.Status)
		}
		return r.ID, nil
	})
	if err != nil {
		return Run{}, err
	}
	l.runs.mu.Lock()
	act := l.runs.active[in.RunID]
	l.runs.mu.Unlock()
	if act != nil {
		act.cancel.Store(true)
	} else if claim, ok, err := l.store.ClaimRun(ctx, a.PracticeID, in.RunID); err == nil && ok {
		// Nobody runs it: it ends here.
		r, err := l.Run(ctx, a, in.RunID)
		if err == nil && r.Status == RunRunning {
			_ = l.finishRun(a.PracticeID, r, RunCancelled, "cancelled", claim)
		}
		claim.Release()
	}
	return l.Run(ctx, a, in.RunID)
}

// ResumeRun continues an INTERRUPTED, CANCELLED or FAILED run with the
// families that have no result yet, under the request it was started with.
// A RUNNING or COMPLETED run is ErrConflict.
func (l *Ledger) ResumeRun(ctx context.Context, a Actor, in RunControl) (Run, error) {
	l.runs.mu.Lock()
	closed := l.runs.closed
	l.runs.mu.Unlock()
	if closed {
		return Run{}, errStopping
	}
	claim, ok, err := l.store.ClaimRun(ctx, a.PracticeID, in.RunID)
	if err != nil {
		return Run{}, err
	}
	if !ok {
		return Run{}, fmt.Errorf("%w: run %s is being run by a server", ErrConflict, in.RunID)
	}
	var r Run
	resumed := false
	_, err = l.mutate(ctx, a, mutation{op: "resumeRun", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		rs, err := tx.Runs(ctx, a.PracticeID, []ID{in.RunID})
		cur, err := ref(rs, err, "runId", "run", in.RunID)
		if err != nil {
			return ID{}, err
		}
		ok, err := tx.SetRunStatus(ctx, a.PracticeID, cur.ID, []RunStatus{RunInterrupted, RunCancelled, RunFailed}, RunRunning, "", l.stamp())
		if err != nil {
			return ID{}, err
		}
		if !ok {
			return ID{}, fmt.Errorf("%w: run %s is %s; only an interrupted, cancelled or failed run can be resumed", ErrConflict, cur.ID, cur.Status)
		}
		rs, err = tx.Runs(ctx, a.PracticeID, []ID{in.RunID})
		if r, err = one(rs, err, "run", in.RunID); err != nil {
			return ID{}, err
		}
		resumed = true
		return r.ID, nil
	})
	if err != nil || !resumed { // failed, or an idempotent replay
		claim.Release()
		if err != nil {
			return Run{}, err
		}
		return l.Run(ctx, a, in.RunID)
	}
	var spec runSpec
	if err := json.Unmarshal(r.Request, &spec); err != nil {
		claim.Release()
		return Run{}, fmt.Errorf("run %s: stored request: %w", r.ID, err)
	}
	if !l.launch(a, r, spec, claim) {
		return Run{}, errStopping
	}
	return r, nil
}

// RecoverRuns marks INTERRUPTED every RUNNING run that no server holds: the
// runs of a server that stopped without saying so, or whose end could not be
// recorded while the database was down. Call it when the server starts, and
// after the database restarts (this process's own runs in progress are left
// alone). It returns the runs it marked.
func (l *Ledger) RecoverRuns(ctx context.Context) ([]RunRef, error) {
	refs, err := l.store.RunningRuns(ctx)
	if err != nil {
		return nil, err
	}
	var out []RunRef
	for _, rf := range refs {
		l.runs.mu.Lock()
		mine := l.runs.active[rf.ID] != nil
		l.runs.mu.Unlock()
		if mine {
			continue
		}
		claim, ok, err := l.store.ClaimRun(ctx, rf.PracticeID, rf.ID)
		if err != nil {
			return out, err
		}
		if !ok {
			continue // alive in some server
		}
		err = l.finishRun(rf.PracticeID, Run{ID: rf.ID, Status: RunRunning}, RunInterrupted,
			"the server stopped while the run was going on; resume it to continue", claim)
		if err != nil {
			return out, err
		}
		out = append(out, rf)
	}
	return out, nil
}

// StopRuns stops every run of this server: each stops between batches (a
// batch being written is rolled back) and is marked INTERRUPTED. New runs
// are refused from now on. It waits for them until ctx ends.
func (l *Ledger) StopRuns(ctx context.Context) error {
	rn := l.runs
	rn.mu.Lock()
	rn.closed = true
	rn.mu.Unlock()
	rn.stop()
	done := make(chan struct{})
	go func() { rn.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RunProgress reports, for metrics, how many runs this process is running
// now and how many families its runs have finished since it started.
func (l *Ledger) RunProgress() (active int, familiesDone int64) {
	l.runs.mu.Lock()
	defer l.runs.mu.Unlock()
	return len(l.runs.active), l.runs.familiesDone.Load()
}

// WatchRun returns a channel that receives the run as it stands now, then
// again each time it changes (after each batch of families, and when it
// ends), and closes after the run reaches a final status or when ctx ends.
// Runs of this server are announced as they happen; runs another server
// instance is running are read every half second.
func (l *Ledger) WatchRun(ctx context.Context, a Actor, id ID) (<-chan Run, error) {
	sig := l.runs.subscribe(id)
	r, err := l.Run(ctx, a, id)
	if err != nil {
		l.runs.unsubscribe(id, sig)
		return nil, err
	}
	ch := make(chan Run, 1)
	go func() {
		defer close(ch)
		defer l.runs.unsubscribe(id, sig)
		tick := time.NewTicker(runPollEvery)
		defer tick.Stop()
		var last Run
		for sent := false; ; sent = true {
			if !sent || runChanged(last, r) {
				select {
				case ch <- r:
				case <-ctx.Done():
					return
				}
				last = r
			}
			if r.Status.Final() {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-sig:
			case <-tick.C:
			}
			next, err := l.Run(ctx, a, id)
			if err != nil {
				if ctx.Err() == nil {
					slog.Warn("watching a run", "run", id, "err", err)
				}
				return
			}
			r = next
		}
	}()
	return ch, nil
}

// runChanged reports whether a watcher should hear of b after a.
func runChanged(a, b Run) bool {
	return a.Status != b.Status || a.FamiliesDone != b.FamiliesDone || a.CancelRequested != b.CancelRequested ||
		a.FamiliesTotal != b.FamiliesTotal || a.Attempts != b.Attempts
}
