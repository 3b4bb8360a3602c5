package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// Scenario is an example a policy must reproduce: a snapshot and a request
// in; the splits, moves and balances out, or a refusal. Policy documents
// carry scenarios under examples; the package's golden tests are scenarios
// too.
type Scenario struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	Input       Input  `json:"input" yaml:"input"`
	Expect      Expect `json:"expect" yaml:"expect"`
}

// Expect is a scenario's expected outcome.
type Expect struct {
	// Splits are compared in order. A split's Code and Stage are compared
	// only when given.
	Splits []ProposedSplit `json:"splits,omitempty" yaml:"splits,omitempty"`
	// Moves, when given, are compared in order by bucket ids, amount and
	// stage.
	Moves []ExpectedMove `json:"moves,omitempty" yaml:"moves,omitempty"`
	// Owed maps charge ids to what they owe after the plan.
	Owed map[string]decimal.Decimal `json:"owed,omitempty" yaml:"owed,omitempty"`
	// Rejected, when set, is the name of the requirement (or leftover rule,
	// "leftover[i]") expected to refuse the plan.
	Rejected string `json:"rejected,omitempty" yaml:"rejected,omitempty"`
}

// ExpectedMove is a move in a scenario: bucket ids, amount, stage.
type ExpectedMove struct {
	From   string          `json:"from" yaml:"from"`
	To     string          `json:"to" yaml:"to"`
	Amount decimal.Decimal `json:"amount" yaml:"amount"`
	Stage  string          `json:"stage,omitempty" yaml:"stage,omitempty"`
}

// Run plans the scenario under p and reports how the outcome differs from
// what it expects, or nil.
func (s Scenario) Run(p *Policy) error { return s.RunContext(context.Background(), p) }

// RunContext is Run within ctx (see Policy.PlanContext). A plan over its
// budget is the error itself, whatever the scenario expects.
func (s Scenario) RunContext(ctx context.Context, p *Policy) error {
	plan, err := p.PlanContext(ctx, s.Input)
	if stopped(ctx, err) {
		return err
	}
	if s.Expect.Rejected != "" {
		var re *RejectedError
		switch {
		case errors.As(err, &re) && re.Requirement == s.Expect.Rejected:
			return nil
		case err != nil:
			return fmt.Errorf("scenario %s: want rejection by %s, got %w", s.Name, s.Expect.Rejected, err)
		}
		return fmt.Errorf("scenario %s: want rejection by %s, got a plan of %d splits", s.Name, s.Expect.Rejected, len(plan.Splits))
	}
	if err != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	var diffs []string
	if !splitsMatch(s.Expect.Splits, plan.Splits) {
		diffs = append(diffs, fmt.Sprintf("splits:\n  want %s\n  got  %s", formatSplits(s.Expect.Splits), formatSplits(plan.Splits)))
	}
	if len(s.Expect.Moves) > 0 && !movesMatch(s.Expect.Moves, plan.Moves) {
		got := make([]ExpectedMove, len(plan.Moves))
		for i, m := range plan.Moves {
			got[i] = ExpectedMove{From: m.From.ID, To: m.To.ID, Amount: m.Amount, Stage: m.Stage}
		}
		diffs = append(diffs, fmt.Sprintf("moves:\n  want %s\n  got  %s", formatMoves(s.Expect.Moves), formatMoves(got)))
	}
	owed := map[string]decimal.Decimal{}
	for _, c := range plan.Balances.Charges {
		owed[c.ChargeID] = c.Owed
	}
	for _, id := range slices.Sorted(maps.Keys(s.Expect.Owed)) {
		if got, ok := owed[id]; !ok || !got.Equal(s.Expect.Owed[id]) {
			diffs = append(diffs, fmt.Sprintf("owed[%s]: want %s, got %s", id, s.Expect.Owed[id].StringFixed(2), got.StringFixed(2)))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("scenario %s:\n%s", s.Name, strings.Join(diffs, "\n"))
	}
	return nil
}

// CheckExamples runs the examples carried by the policy's document.
func (p *Policy) CheckExamples() error { return p.CheckExamplesContext(context.Background()) }

// CheckExamplesContext runs the examples within ctx: they share its
// deadline, and each plan has its own steps and moves. An example over its
// budget stops the check with a *BudgetError naming it (examples[i]); a
// cancelled ctx stops it with ctx's error.
func (p *Policy) CheckExamplesContext(ctx context.Context) error {
	var errs []error
	for i, s := range p.doc.Examples {
		err := s.RunContext(ctx, p)
		if stopped(ctx, err) {
			return exampleBudget(i, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopped reports whether err ends the work: a budget went over, or ctx
// ended.
func stopped(ctx context.Context, err error) bool {
	return err != nil && (errors.Is(err, ErrBudget) || ctx.Err() != nil)
}

func splitsMatch(want, got []ProposedSplit) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if !w.Amount.Equal(g.Amount) || w.PatientID != g.PatientID || w.ProviderID != g.ProviderID ||
			w.LocationID != g.LocationID || w.ChargeID != g.ChargeID || w.UnearnedTypeID != g.UnearnedTypeID ||
			(w.Code != "" && w.Code != g.Code) || (w.Stage != "" && w.Stage != g.Stage) {
			return false
		}
	}
	return true
}

func movesMatch(want []ExpectedMove, got []Move) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if w.From != g.From.ID || w.To != g.To.ID || !w.Amount.Equal(g.Amount) || (w.Stage != "" && w.Stage != g.Stage) {
			return false
		}
	}
	return true
}

func formatSplits(ss []ProposedSplit) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		target := "unallocated"
		switch {
		case s.ChargeID != "":
			target = "charge " + s.ChargeID
		case s.UnearnedTypeID != "":
			target = "unearned " + s.UnearnedTypeID
		}
		parts[i] = fmt.Sprintf("[%s %s pat=%s prov=%s loc=%s %s %s]", s.Amount.StringFixed(2), target, s.PatientID, s.ProviderID, s.LocationID, s.Code, s.Stage)
	}
	return strings.Join(parts, " ")
}

func formatMoves(ms []ExpectedMove) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("[%s -> %s %s %s]", m.From, m.To, m.Amount.StringFixed(2), m.Stage)
	}
	return strings.Join(parts, " ")
}
