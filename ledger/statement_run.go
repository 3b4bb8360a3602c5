package ledger

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// A statement run (docs/reports.md, "Statement runs") states many families
// at once: the families aging selects (minimum balance, age, provider,
// location) and, optionally, only those not billed since a date. Each
// family's period starts the day after its last statement (or on the first
// day of the month), so a statement shows what is new since the last one;
// the run records what it stated to each family, which is how a practice
// sees when each family was last billed.

// StatementRunRequest asks for a run. Zero fields take their defaults.
type StatementRunRequest struct {
	AsOf *Date // default today; never after it
	// MinBalance keeps families whose balance (aging's total) is at least
	// this; default 0.01 (families that owe something).
	MinBalance *Money
	MinAgeDays *int // families whose oldest owing line is at least this old
	ProviderID *ID  // only families with lines or credits of this provider
	LocationID *ID
	// NotBilledSince keeps families with no statement as of that day or
	// later.
	NotBilledSince *Date
	GuarantorIDs   []ID // only these families (nil: every family)
	Preview        bool // compute, record nothing
	// ApplyCredits first runs credit management over the families stated
	// (a preview of it with Preview), so no statement shows a credit
	// beside a debt it could pay.
	ApplyCredits   bool
	Note           string
	IdempotencyKey string `json:"-"`
}

// StatementChange says how a family's statement compares with its last.
type StatementChange string

const (
	StatementNew       StatementChange = "NEW"       // the family was never stated
	StatementChanged   StatementChange = "CHANGED"   // its balance or amount due moved since
	StatementUnchanged StatementChange = "UNCHANGED" // the same as last time
)

// StatementRecord is what a run stated to one family.
type StatementRecord struct {
	ID               ID
	RunID            ID
	GuarantorID      ID
	From             Date
	AsOf             Date
	PreviousBalance  Money
	NewBalance       Money
	InsurancePending Money
	AmountDue        Money
	CreatedAt        time.Time
	// Change and LastStatedOn compare with the family's statement before
	// this one (LastStatedOn nil when there was none). Not stored.
	Change       StatementChange `db:"-"`
	LastStatedOn *Date           `db:"-"`
}

// StatementRun is a run and the statements it made (or would make).
type StatementRun struct {
	ID         ID
	AsOf       Date
	Note       string
	Preview    bool
	CreatedAt  time.Time
	Statements []StatementRecord
	AmountDue  Money // the statements' amounts due together
	// CreditRun is the credit management run made first (ApplyCredits).
	CreditRun *Run `db:"-"`
}

// StatementRunReader is the read side of statement runs in the Store.
type StatementRunReader interface {
	// LastStatements returns each family's latest statement (by as-of
	// date, then when it was made); families never stated are absent.
	LastStatements(ctx context.Context, practiceID ID, guarantorIDs []ID) (map[ID]StatementRecord, error)
	// StatementRun reads a recorded run and its statements.
	StatementRun(ctx context.Context, practiceID, id ID) (StatementRun, error)
}

// StatementRunWriter is the write side in a Tx.
type StatementRunWriter interface {
	InsertStatementRun(ctx context.Context, practiceID ID, r StatementRun) error
}

// RunStatements states every family the request selects (BILLER). A
// preview records nothing and writes no audit event.
func (l *Ledger) RunStatements(ctx context.Context, a Actor, in StatementRunRequest) (StatementRun, error) {
	if !a.Role.Allows(RoleBiller) {
		return StatementRun{}, fmt.Errorf("runStatements: role %s: %w", a.Role, ErrForbidden)
	}
	asOf, err := l.reportDate("asOf", in.AsOf)
	if err != nil {
		return StatementRun{}, err
	}
	in.AsOf = &asOf
	if in.MinBalance == nil {
		cent := Cents(1)
		in.MinBalance = &cent
	}
	if err := text("note", in.Note, maxText, false); err != nil {
		return StatementRun{}, err
	}
	if err := l.checkStatementFilters(ctx, a.PracticeID, in); err != nil {
		return StatementRun{}, err
	}
	run := StatementRun{ID: newID(), AsOf: asOf, Note: strings.TrimSpace(in.Note), Preview: in.Preview, CreatedAt: l.stamp()}
	now, last, err := l.selectFamilies(ctx, a, in)
	if err != nil {
		return StatementRun{}, err
	}
	if in.ApplyCredits && len(now) > 0 {
		if run.CreditRun, err = l.applyCreditsFirst(ctx, a, in, now); err != nil {
			return StatementRun{}, err
		}
	}
	if run.Statements, err = l.stateFamilies(ctx, a, run, now, last); err != nil {
		return StatementRun{}, err
	}
	for _, s := range run.Statements {
		run.AmountDue = run.AmountDue.Add(s.AmountDue)
	}
	if in.Preview {
		return run, nil
	}
	id, err := l.mutate(ctx, a, mutation{op: "runStatements", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		return run.ID, tx.InsertStatementRun(ctx, a.PracticeID, run)
	})
	if err != nil || id == run.ID {
		return run, err
	}
	return l.store.StatementRun(ctx, a.PracticeID, id) // an idempotent replay: the run recorded first
}

// checkStatementFilters refuses ids the practice does not have.
func (l *Ledger) checkStatementFilters(ctx context.Context, pid ID, in StatementRunRequest) error {
	if err := l.checkReportFilters(ctx, pid, nil, in.ProviderID, in.LocationID, nil); err != nil {
		return err
	}
	if len(in.GuarantorIDs) == 0 {
		return nil
	}
	gs, err := l.store.Guarantors(ctx, pid, in.GuarantorIDs)
	if err != nil {
		return err
	}
	found := byID(gs, func(g Guarantor) ID { return g.ID })
	for i, id := range in.GuarantorIDs {
		if _, ok := found[id]; !ok {
			return Invalid(fmt.Sprintf("guarantorIds[%d]", i), "no guarantor with id %s", id)
		}
	}
	return nil
}

// selectFamilies returns the aging rows (as of the run's date, the whole
// family's) of the families the request selects, and their last statements.
func (l *Ledger) selectFamilies(ctx context.Context, a Actor, in StatementRunRequest) (map[ID]AgingRow, map[ID]StatementRecord, error) {
	now, err := l.familyRows(ctx, a, AgingQuery{AsOf: in.AsOf, MinBalance: in.MinBalance, MinAgeDays: in.MinAgeDays,
		ProviderID: in.ProviderID, LocationID: in.LocationID, GuarantorIDs: in.GuarantorIDs})
	if err == nil && len(now) > 0 && (in.ProviderID != nil || in.LocationID != nil) {
		// The filters select families; a statement is the whole family's.
		now, err = l.familyRows(ctx, a, AgingQuery{AsOf: in.AsOf, GuarantorIDs: slices.Collect(maps.Keys(now))})
	}
	if err != nil {
		return nil, nil, err
	}
	last, err := l.store.LastStatements(ctx, a.PracticeID, slices.Collect(maps.Keys(now)))
	if err != nil {
		return nil, nil, err
	}
	for g := range now {
		if prev, stated := last[g]; stated && in.NotBilledSince != nil && !prev.AsOf.Before(*in.NotBilledSince) {
			delete(now, g)
		}
	}
	return now, last, nil
}

// applyCreditsFirst runs credit management (same scope rules as any run)
// over just the families to be stated and waits for it. It moves credits
// onto lines, so the families' totals — and the statements' balances — do
// not change; what changes is that no credit is left beside a debt.
func (l *Ledger) applyCreditsFirst(ctx context.Context, a Actor, in StatementRunRequest, fams map[ID]AgingRow) (*Run, error) {
	gids := slices.SortedFunc(maps.Keys(fams), func(x, y ID) int { return bytes.Compare(x[:], y[:]) })
	note := in.Note
	if note == "" {
		note = "Unapplied credits applied before statements"
	}
	key := ""
	if in.IdempotencyKey != "" {
		key = in.IdempotencyKey + "/credits"
	}
	r, err := l.runAndWait(ctx, a, RunRequest{Kind: RunCreditManagement, Preview: in.Preview, GuarantorIDs: gids,
		AsOf: in.AsOf, Note: note, IdempotencyKey: key})
	if err == nil && r.Status != RunCompleted {
		err = fmt.Errorf("%w: applying credits first: run %s ended %s %s", ErrConflict, r.ID, r.Status, r.Error)
	}
	return &r, err
}

// stateFamilies states each family selected: its period starts after its
// last statement, and its previous balance is its new one less the period's
// activity (one read of the activity per distinct period start).
func (l *Ledger) stateFamilies(ctx context.Context, a Actor, run StatementRun, now map[ID]AgingRow, last map[ID]StatementRecord) ([]StatementRecord, error) {
	monthStart := Date{Year: run.AsOf.Year, Month: run.AsOf.Month, Day: 1}
	byFrom := map[Date][]ID{}
	for g := range now {
		prev, stated := last[g]
		from := monthStart
		if stated {
			from = prev.AsOf.AddDays(1)
		}
		if from.After(run.AsOf) { // stated as of this day already: nothing new to say
			from = run.AsOf
		}
		byFrom[from] = append(byFrom[from], g)
	}
	var out []StatementRecord
	for from, gids := range byFrom {
		// Naming many families costs more than reading every family's
		// activity: name them only when there are few.
		named := gids
		if len(gids) > 100 {
			named = nil
		}
		items, err := l.store.StatementItems(ctx, a.PracticeID, named, from, run.AsOf)
		if err != nil {
			return nil, err
		}
		for _, g := range gids {
			out = append(out, statementRecord(run, g, from, previousBalance(now[g].Total, items[g]), now[g], last))
		}
	}
	slices.SortFunc(out, func(x, y StatementRecord) int { return cmp.Compare(x.GuarantorID.String(), y.GuarantorID.String()) })
	return out, nil
}

// statementRecord is what run states to family g.
func statementRecord(run StatementRun, g ID, from Date, previous Money, now AgingRow, last map[ID]StatementRecord) StatementRecord {
	r := StatementRecord{ID: newID(), RunID: run.ID, GuarantorID: g, From: from, AsOf: run.AsOf,
		PreviousBalance: previous, NewBalance: now.Total, InsurancePending: now.InsurancePortion,
		AmountDue: now.Total.Sub(now.InsurancePortion).Max(Money{}), CreatedAt: run.CreatedAt, Change: StatementNew}
	if prev, ok := last[g]; ok {
		r.LastStatedOn, r.Change = &prev.AsOf, StatementUnchanged
		if prev.NewBalance.Cmp(r.NewBalance) != 0 || prev.AmountDue.Cmp(r.AmountDue) != 0 {
			r.Change = StatementChanged
		}
	}
	return r
}

// familyRows reads every family row of an aging report, in one page: the
// report is computed once, whatever the number of families.
func (l *Ledger) familyRows(ctx context.Context, a Actor, q AgingQuery) (map[ID]AgingRow, error) {
	q.GroupBy, q.CreditsToOldest, q.NoLastPayment, q.Page = AgingByGuarantor, true, true, Page{First: math.MaxInt32 - 1}
	r, err := l.Aging(ctx, a, q)
	if err != nil {
		return nil, err
	}
	out := make(map[ID]AgingRow, len(r.Rows))
	for _, row := range r.Rows {
		out[row.Key] = row
	}
	return out, nil
}
