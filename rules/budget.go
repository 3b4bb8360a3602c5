package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// Budgets. A policy is written by a practice's users, so nothing it says may
// cost the server more than these, whatever the document. What can be
// refused before running is refused by Compile; what can only be known while
// planning is checked before it allocates. docs/rules.md#budgets lists them.
const (
	// MaxDocumentBytes bounds a policy document.
	MaxDocumentBytes = 128 << 10
	// MaxDocumentDepth bounds the nesting of a document's YAML (or JSON)
	// collections.
	MaxDocumentDepth = 32
	// maxExpressions bounds the expressions of one document, and
	// maxCompiles what compiling them may take, counting the parts of the
	// match expressions compiled separately for bucketing (a match whose
	// parts do not fit is tested whole, pair by pair: the same moves).
	maxExpressions = 128
	maxCompiles    = 384
	// maxParams bounds the params of one document.
	maxParams = 64
	// maxExprBytes bounds the source of one expression.
	maxExprBytes = 4 << 10
	// maxStringBytes bounds a string an expression builds with +.
	maxStringBytes = 1 << 10
	// maxMoneyDigits and maxMoneyPlaces bound a money value an expression
	// writes or computes: below 10^15 in magnitude (the planner's largest
	// amount in cents, maxCents), with at most 12 decimal places.
	maxMoneyDigits = 15
	maxMoneyPlaces = 12
	// MaxPlanSteps bounds the expression evaluations and credit/charge
	// pairings of one plan.
	MaxPlanSteps = 20_000_000
	// MaxPlanMoves bounds the moves of one plan.
	MaxPlanMoves = 50_000
	// checkEvery is how many steps pass between two looks at the context.
	checkEvery = 256
)

// ErrBudget is wrapped by every *BudgetError.
var ErrBudget = errors.New("rules: over budget")

// BudgetError is a plan stopped because it went over one of its budgets:
// its time ("time": the context's deadline passed), its steps, its moves,
// or, in one evaluation, the size of a string or a money value.
type BudgetError struct {
	// Path is the expression being evaluated ("stages[1].match"), or the
	// example whose plan went over ("examples[0]"); empty when the plan
	// as a whole did.
	Path string
	// Budget is time, steps, moves, string or money.
	Budget string
	// Message says what went over.
	Message string
	// Err is the context's error for the time budget.
	Err error
}

func (e *BudgetError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("rules: over the %s budget: %s", e.Budget, e.Message)
	}
	return fmt.Sprintf("rules: %s: over the %s budget: %s", e.Path, e.Budget, e.Message)
}

// Unwrap makes errors.Is find ErrBudget, and the context's error.
func (e *BudgetError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrBudget}
	}
	return []error{ErrBudget, e.Err}
}

// overLimit is what a bounded operation answers instead of a value too
// large; program.run turns it into a *BudgetError naming the expression.
type overLimit struct{ budget, message string }

func (e *overLimit) Error() string { return e.message }

// meter counts one plan's steps and watches its context. A nil meter
// counts nothing.
type meter struct {
	ctx   context.Context
	steps int64
}

func newMeter(ctx context.Context) *meter {
	if ctx == nil {
		ctx = context.Background()
	}
	return &meter{ctx: ctx}
}

// step counts one step at path and looks at the context every checkEvery
// steps (and on the first).
func (m *meter) step(path string) error {
	if m == nil {
		return nil
	}
	m.steps++
	if m.steps > MaxPlanSteps {
		return &BudgetError{Path: path, Budget: "steps", Message: fmt.Sprintf("the plan took more than %d steps", MaxPlanSteps)}
	}
	if m.steps%checkEvery != 1 {
		return nil
	}
	return m.check(path)
}

// check reports the context's end: a deadline is the time budget; a
// cancellation (the client went away) is the context's error itself.
func (m *meter) check(path string) error {
	if m == nil {
		return nil
	}
	err := m.ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		msg := "planning ran out of time"
		if cause := context.Cause(m.ctx); cause != nil && cause != err {
			msg = cause.Error()
		}
		return &BudgetError{Path: path, Budget: "time", Message: msg, Err: err}
	}
	return fmt.Errorf("rules: planning stopped at %s: %w", cmp.Or(path, "the start"), err)
}

// boundMoney checks a money value an expression computed or wrote: zero is
// normalized to 0.00 (so its exponent cannot grow), and a value of 10^15 or
// more, or with more than maxMoneyPlaces places, is refused. Every money
// operation's operands have passed it, so no operation can allocate much.
func boundMoney(d decimal.Decimal) (decimal.Decimal, *overLimit) {
	if d.IsZero() {
		return zeroMoney, nil
	}
	if -int64(d.Exponent()) > maxMoneyPlaces {
		return zeroMoney, &overLimit{"money", fmt.Sprintf("a money value has more than %d decimal places", maxMoneyPlaces)}
	}
	if int64(d.NumDigits())+int64(d.Exponent()) > maxMoneyDigits {
		return zeroMoney, &overLimit{"money", fmt.Sprintf("a money value reached 10^%d or more", maxMoneyDigits)}
	}
	return d, nil
}

// strAdd is + between two strings, refusing a result longer than
// maxStringBytes before building it.
func strAdd(a, b string) (string, error) {
	if len(a)+len(b) > maxStringBytes {
		return "", &overLimit{"string", fmt.Sprintf("+ would build a string of %d bytes; the limit is %d", len(a)+len(b), maxStringBytes)}
	}
	return a + b, nil
}

// budgetOf turns an evaluation's overLimit into a *BudgetError at path.
func budgetOf(path string, err error) error {
	var ol *overLimit
	if errors.As(err, &ol) {
		return &BudgetError{Path: path, Budget: ol.budget, Message: ol.message}
	}
	return nil
}

// exampleBudget names the example whose plan went over budget.
func exampleBudget(i int, err error) error {
	var be *BudgetError
	if !errors.As(err, &be) {
		return err
	}
	out := *be
	out.Path = fmt.Sprintf("examples[%d]", i)
	if be.Path != "" {
		out.Message = be.Path + ": " + be.Message
	}
	return &out
}
