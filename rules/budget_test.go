package rules_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

// Hostile policies: what a practice's user could write to hurt the server.
// Each is refused when compiled, or stopped while planning by a budget
// checked before the allocation; none runs away.

// bombs are expressions that used to allocate without bound (or could),
// and the refusal each gets at compile time.
var bombs = []struct{ expr, want string }{
	{`len(repeat(repeat(repeat("x", 999), 999), 1000000)) > 0`, "repeat() is not available"},
	{`len(replace(toJSON(map(1..100000, #)), "1", "22")) > 0`, "ranges (a..b) are not allowed"},
	{`len(toJSON(request)) > 0`, "toJSON() is not available"},
	{`len(join(request.chargeIds, credit.id)) > 0`, "join() is not available"},
	{`len(splitAfter(credit.id, "")) > 0`, "splitAfter() is not available"},
	{`len(map(request.chargeIds, # + #)) > 0`, "map() is not available"},
	{`len(concat(request.chargeIds, request.chargeIds)) > 0`, "concat() is not available"},
	{`len(flatten([request.chargeIds, request.chargeIds])) > 0`, "flatten() is not available"},
	{`len(sortBy(request.chargeIds, #)) > 0`, "sortBy() is not available"},
	{`len(groupBy(request.chargeIds, #)) > 0`, "groupBy() is not available"},
	{`reduce(request.chargeIds, #, "") != ""`, "reduce() is not available"},
	{`toBase64(credit.id) != ""`, "toBase64() is not available"},
	{`1 in 1..1000000000`, "ranges (a..b) are not allowed"},
	{`credit.id matches "(a+)+$"`, "matches is not allowed"},
	{`len(string(request.chargeIds)) > 0`, "string() takes a string, int, bool or money value"},
	{`let a = [credit.id, 1][0]; len(a + a) > 0`, "+ needs operands of known types"},
	{`credit.amount < dec("1e400")`, "reached 10^15 or more"},
	{`credit.amount < dec("0.0000000000001")`, "more than 12 decimal places"},
	{`all(request.chargeIds, {any(request.chargeIds, {# == charge.id})})`, "nested closures"},
	{strings.Repeat("(", 3000) + "true" + strings.Repeat(")", 3000), "the expression is 6004 bytes long"},
}

func TestBombsRefusedAtCompile(t *testing.T) {
	for _, b := range bombs {
		_, err := rules.Compile([]byte(policyWith("match", b.expr)))
		var ce *rules.CompileError
		require.True(t, errors.As(err, &ce), "%s: %v", b.expr, err)
		require.Equal(t, "stages[0].match", ce.Path, b.expr)
		require.Contains(t, ce.Message, b.want, b.expr)
	}
}

// growing are expressions that compile but would grow without bound while
// planning: each stops at its budget, naming the expression.
var growing = []struct{ expr, budget string }{
	// A string doubled through let: 2^20 times the id.
	{doubling("credit.patientId + credit.patientId", 20) + "; len(v19) > 0", "string"},
	// Money squared through let: its digits double each time.
	{doubling("credit.amount * credit.amount", 40) + "; v39 > 0", "money"},
	// A small amount squared: its decimal places double.
	{doubling(`dec("0.01") * credit.amount`, 40) + "; v39 > 0", "money"},
	// On the fast path (no VM): the same bound.
	{"credit.amount * 1000000000000000 > charge.owed", "money"},
}

// doubling is "let v0 = first; let v1 = v0 op v0; ..." with n lets, op
// taken from first.
func doubling(first string, n int) string {
	op := "+"
	if strings.Contains(first, "*") {
		op = "*"
	}
	parts := []string{"let v0 = " + first}
	for i := 1; i < n; i++ {
		parts = append(parts, fmt.Sprintf("let v%d = v%d %s v%d", i, i-1, op, i-1))
	}
	return strings.Join(parts, "; ")
}

func TestBombsStoppedWhilePlanning(t *testing.T) {
	rules.SetVerifyFast(true) // the fast path and the VM refuse alike
	t.Cleanup(func() { rules.SetVerifyFast(false) })
	for _, g := range growing {
		p := mustCompile(t, policyWith("match", g.expr))
		in := fuzzFamily
		in.Request = rules.Request{Operation: rules.Transfer, AsOf: rules.NewDate(2024, 6, 30), GuarantorID: "g"}
		_, err := p.Plan(in)
		var be *rules.BudgetError
		require.True(t, errors.As(err, &be), "%s: %v", g.expr, err)
		require.ErrorIs(t, err, rules.ErrBudget)
		require.Equal(t, g.budget, be.Budget, g.expr)
		require.Equal(t, "stages[0].match", be.Path, g.expr)
	}
}

// An example whose plan goes over its budget stops the check, named.
func TestExampleOverBudget(t *testing.T) {
	doc := `name: greedy
stages:
  - name: grow
    match: '` + doubling("credit.patientId + credit.patientId", 20) + `; len(v19) > 0'
examples:
  - name: fine
    input:
      patients: [{id: p, guarantorId: p}]
      request: {operation: TRANSFER, asOf: 2024-01-02}
    expect: {}
  - name: bomb
    input:
      patients: [{id: p, guarantorId: p}]
      charges: [{id: c, kind: PROCEDURE, patientId: p, date: 2024-01-01, amount: "10.00"}]
      splits: [{id: s, patientId: p, date: 2024-01-01, amount: "10.00"}]
      request: {operation: TRANSFER, asOf: 2024-01-02}
    expect: {}
`
	p := mustCompile(t, doc)
	err := p.CheckExamples()
	var be *rules.BudgetError
	require.True(t, errors.As(err, &be), "%v", err)
	require.Equal(t, "examples[1]", be.Path)
	require.Equal(t, "string", be.Budget)
	require.Contains(t, be.Message, "stages[0].match")
}

func TestDocumentBudget(t *testing.T) {
	deep := func(open, close string, n int) string {
		return "name: x\nstages: " + strings.Repeat(open, n) + strings.Repeat(close, n) + "\n"
	}
	var block strings.Builder
	block.WriteString("name: x\nstages:\n")
	for i := range 40 {
		block.WriteString(strings.Repeat("  ", i) + "- \n")
	}
	aliases := "name: x\nparams:\n  p0: {type: string, default: &a0 [l,l,l,l,l,l,l,l,l,l]}\n"
	for i := 1; i < 9; i++ {
		aliases += fmt.Sprintf("  p%d: {type: string, default: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var many strings.Builder
	many.WriteString("name: x\nstages:\n")
	for i := range 150 {
		fmt.Fprintf(&many, "  - {name: s%d, match: 'true'}\n", i)
	}
	var params strings.Builder
	params.WriteString("name: x\nstages: [{name: s, match: 'true'}]\nparams:\n")
	for i := range 70 {
		fmt.Fprintf(&params, "  p%d: {type: bool}\n", i)
	}
	ok := "stages: [{name: s, match: 'true'}]\n"
	for _, tc := range []struct {
		name, src, path, want string
		line, col             int
	}{
		{"too large", "name: x\n" + ok + "# " + strings.Repeat("x", rules.MaxDocumentBytes) + "\n", "", "the limit is 131072", 0, 0},
		{"deep flow (130 KB)", deep("[", "]", 64000), "", "nests deeper than 32", 2, 40},
		{"deep JSON", `{"name": "x", "stages": ` + strings.Repeat(`{"a": `, 40) + "1" + strings.Repeat("}", 40) + "}", "", "nests deeper than 32", 1, 205},
		{"deep block", block.String(), "", "nests deeper than 32", 34, 63},
		{"aliases", aliases, "", "aliases (*name) are not allowed", 4, 36},
		{"NUL in the description", "name: x\ndescription: a\x00b\n" + ok, "description", "control character U+0000", 2, 14},
		{"escaped NUL", "name: x\ndescription: \"a\\0b\"\n" + ok, "description", "control character U+0000", 2, 15},
		{"JSON NUL", `{"name": "x", "description": "a\u0000b", "stages": [{"name": "s", "match": "true"}]}`, "description", "control character U+0000", 1, 31},
		{"escape in a stage name", "name: x\nstages: [{name: \"s\\e\", match: 'true'}]\n", "stages[0].name", "control character U+001B", 2, 18},
		{"NUL in a comment", "name: x # a\x00\n" + ok, "", "control character U+0000", 1, 12},
		{"invalid UTF-8", "name: x # \xff\n" + ok, "", "not valid UTF-8", 1, 11},
		{"too many expressions", many.String(), "stages[128].match", "at most 128 expressions", 131, 26},
		{"too many params", params.String(), "params", "at most 64 params", 4, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := compileErrors(t, tc.src)
			require.Equal(t, tc.path, errs[0].Path)
			require.Contains(t, errs[0].Message, tc.want)
			require.Equal(t, []int{tc.line, tc.col}, []int{errs[0].Line, errs[0].Column}, errs[0].Error())
		})
	}
}

// YAML that nests a little, quotes brackets or writes them inside an
// expression is not mistaken for a deep document.
func TestDocumentDepthScanIsNotFooled(t *testing.T) {
	doc := `name: x
description: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" # ]]]]]
stages:
  - name: s
    match: all(request.chargeIds, {# != charge.id}) && len([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["a"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]) > 0
  - name: t
    match: |
      [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]][0][0][0][0] > 0
    cap: 'charge.owed - dec("1.00")'
`
	_, err := rules.Compile([]byte(doc))
	var ce *rules.CompileError
	if errors.As(err, &ce) {
		require.NotContains(t, ce.Message, "nests deeper", err.Error())
	}
}

// The planner's own budgets: moves, time, and a client that goes away.
func TestPlanBudgets(t *testing.T) {
	t.Run("moves", func(t *testing.T) {
		// A cap of one cent makes every credit pay every charge a cent.
		p := mustCompile(t, "name: cents\ncap: dec(\"0.01\")\nstages: [{name: all, match: 'true'}]\n")
		in := rules.Input{Patients: []rules.Patient{{ID: "pat", GuarantorID: "pat"}},
			Request: rules.Request{Operation: rules.Transfer, AsOf: rules.NewDate(2024, 6, 30)}}
		for i := range 250 {
			in.Charges = append(in.Charges, rules.Charge{ID: fmt.Sprint("c", i), Kind: rules.Procedure, PatientID: "pat",
				Date: rules.NewDate(2024, 1, 2), Amount: decimal.NewFromInt(10)})
			in.Splits = append(in.Splits, rules.Split{ID: fmt.Sprint("s", i), PatientID: "pat", ProviderID: fmt.Sprint("dr", i),
				Date: rules.NewDate(2024, 1, 1), Amount: decimal.NewFromInt(10)})
		}
		_, err := p.Plan(in)
		var be *rules.BudgetError
		require.True(t, errors.As(err, &be), "%v", err)
		require.Equal(t, "moves", be.Budget)
	})
	t.Run("deadline", func(t *testing.T) {
		p, _ := rules.Builtin("rigorous")
		ctx, cancel := context.WithDeadlineCause(context.Background(), time.Unix(0, 0), errors.New("planning took longer than 5s"))
		defer cancel()
		_, err := p.PlanContext(ctx, bigFamily(50))
		var be *rules.BudgetError
		require.True(t, errors.As(err, &be), "%v", err)
		require.Equal(t, "time", be.Budget)
		require.Equal(t, "planning took longer than 5s", be.Message)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("client gone", func(t *testing.T) {
		p, _ := rules.Builtin("rigorous")
		in := bigFamily(2000)
		steps, err := rules.PlanSteps(p, in)
		require.NoError(t, err)
		require.Greater(t, steps, 10*256, "the plan is long enough to be interrupted")
		ctx := &hangUp{Context: context.Background(), after: 3}
		_, err = p.PlanContext(ctx, in)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, rules.ErrBudget)
		require.Equal(t, 4, ctx.calls, "planning stopped at the first look after the client went away")
	})
}

// hangUp is a client that goes away after its context has been looked at
// `after` times.
type hangUp struct {
	context.Context
	calls, after int
}

func (c *hangUp) Err() error {
	c.calls++
	if c.calls > c.after {
		return context.Canceled
	}
	return nil
}
