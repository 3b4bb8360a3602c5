package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

// policyWith is a small valid policy with one expression replaced: key is
// the line's YAML key (match, filter, ...) and expr is written in single
// quotes on line 9 of the document.
func policyWith(section, expr string) string {
	quoted := "'" + strings.ReplaceAll(expr, "'", "''") + "'"
	doc := map[string]string{"match": "'true'", "filter": "'true'", "check": "'true'"}
	doc[section] = quoted
	return fmt.Sprintf(`name: t
params:
  flag: {type: bool, default: true}
  limit: {type: money, default: "10.00"}
credits:
  filter: %s
stages:
  - name: one
    match: %s
requirements:
  - name: r
    check: %s
    message: m
`, doc["filter"], doc["match"], doc["check"])
}

func TestCompileErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		section, expr, want string
	}{
		{"match", `credit.amount > 1.5`, "stages[0].match: float literals are not allowed: write money as dec(\"1.5\") (9:29)\n | credit.amount > 1.5\n | ................^"},
		{"match", `credit.patientId == 3`, "stages[0].match: invalid operation: == (mismatched types string and int) (9:30)\n | credit.patientId == 3\n | .................^"},
		{"match", `credit.nope == charge.patientId`, "stages[0].match: credit has no field nope (9:20)\n | credit.nope == charge.patientId\n | .......^"},
		{"match", `params.nope`, "stages[0].match: unknown param nope: declare it under params (9:20)\n | params.nope\n | .......^"},
		{"match", `split.amount > dec("1")`, "stages[0].match: split is not available in stages[0].match (available: credit, charge, request, params) (9:13)\n | split.amount > dec(\"1\")\n | ^"},
		{"match", `credit.amount + 1`, "stages[0].match: expected bool, but got decimal.Decimal (9:13)\n | credit.amount + 1\n | ^"},
		{"match", `credit.amount + "1" > credit.amount`, "stages[0].match: invalid operation: + (mismatched types decimal.Decimal and string) (9:27)\n | credit.amount + \"1\" > credit.amount\n | ..............^"},
		{"match", `credit.ageDays / 2 > 1`, "stages[0].match: operator / is not allowed: it yields a float (9:28)\n | credit.ageDays / 2 > 1\n | ...............^"},
		{"match", `now() > credit.ageDays`, "stages[0].match: now() is not available: a plan may not depend on the clock or time zones; use request.asOf or ageDays (9:13)\n | now() > credit.ageDays\n | ^"},
		{"match", `float(credit.ageDays) > 1`, "stages[0].match: float() is not available: it works in floats, and money is decimal (9:13)\n | float(credit.ageDays) > 1\n | ^"},
		{"match", `dec(credit.code) > credit.amount`, "stages[0].match: dec takes a quoted decimal literal, e.g. dec(\"12.50\") (9:24)\n | dec(credit.code) > credit.amount\n | ...........^"},
		{"match", `dec("abc") > credit.amount`, "stages[0].match: dec(\"abc\"): not a decimal number (9:17)\n | dec(\"abc\") > credit.amount\n | ....^"},
		{"match", `all(request.chargeIds, {any(request.chargeIds, {# == charge.id})})`, "stages[0].match: nested closures over collections are not allowed (9:60)\n | all(request.chargeIds, {any(request.chargeIds, {# == charge.id})})\n | ...............................................^"},
		{"match", `credit.amount.Float64() > 1`, "stages[0].match: method calls are not allowed (9:27)\n | credit.amount.Float64() > 1\n | ..............^"},
		{"match", `$env.credit.amount > dec("1")`, "stages[0].match: $env is not available: read credit, charge, request, params (9:13)\n | $env.credit.amount > dec(\"1\")\n | ^"},
		{"match", `credit.patientId ==`, "stages[0].match: unexpected token EOF (9:31)\n | credit.patientId ==\n | ..................^"},
		{"match", strings.Repeat("credit.ageDays + ", 100) + "1 > 0", "stages[0].match: compilation failed: expression exceeds maximum allowed nodes (9:"},
		{"filter", `charge.owed > 0`, "credits.filter: charge is not available in credits.filter (available: credit, request, params) (6:12)\n | charge.owed > 0\n | ^"},
		{"filter", `credit.amount > params.limit && params.flag`, ""},
		{"check", `split.amount < 0 || split.target != "NONE"`, ""},
		{"check", `credit.amount > 0`, "requirements[0].check: credit is not available in requirements[0].check (available: charge, split, request, params) (12:13)\n | credit.amount > 0\n | ^"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := rules.Compile([]byte(policyWith(tc.section, tc.expr)))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ce *rules.CompileError
			require.True(t, errors.As(err, &ce))
			if strings.HasSuffix(tc.want, "(9:") {
				require.True(t, strings.HasPrefix(err.Error(), tc.want), err.Error())
				return
			}
			require.Equal(t, tc.want, err.Error())
		})
	}
}

func compileErrors(t *testing.T, src string) rules.CompileErrors {
	t.Helper()
	_, err := rules.Compile([]byte(src))
	require.Error(t, err)
	var errs rules.CompileErrors
	require.True(t, errors.As(err, &errs), "%T: %v", err, err)
	return errs
}

type at struct {
	path                 string
	line, col            int
	exprLine, exprColumn int
}

func positionsOf(errs rules.CompileErrors) []at {
	out := make([]at, len(errs))
	for i, e := range errs {
		out[i] = at{e.Path, e.Line, e.Column, e.ExprLine, e.ExprColumn}
	}
	return out
}

// Every bad expression is reported, in document order, at its document line
// and column, whatever the YAML scalar style.
func TestCompileReportsEveryError(t *testing.T) {
	src := `name: several
stages:
  - name: layered
    match: |
      credit.patientId == charge.patientId &&
        credit.amount > 1.5
  - name: folded
    match: >-
      credit.patientId == charge.patientId &&
      charge.nope == "x"
  - name: plain
    match: credit.providerId == charge.providerId && credit.locationId ==
      charge.locationId && credit.ageDays == "old"
credits:
  filter: "credit.amount >= dec(\"0\") && credit.hiden"
`
	errs := compileErrors(t, src)
	require.Equal(t, []at{
		{"stages[0].match", 6, 25, 2, 19},
		{"stages[1].match", 10, 14, 1, 48},
		{"stages[2].match", 13, 43, 1, 100},
		{"credits.filter", 15, 50, 1, 37},
	}, positionsOf(errs))
	require.Equal(t, "float literals are not allowed: write money as dec(\"1.5\")", errs[0].Message)
	require.Equal(t, "\n |   credit.amount > 1.5\n | ..................^", errs[0].Snippet)
	require.Equal(t, "charge has no field nope", errs[1].Message)
	require.Equal(t, "invalid operation: == (mismatched types int and string)", errs[2].Message)
	require.Equal(t, "credit has no field hiden", errs[3].Message)
}

func TestCompileJSONPositions(t *testing.T) {
	src := `{"name": "j", "stages": [{"name": "s", "match": "credit.amount > 2.5"}]}`
	errs := compileErrors(t, src)
	require.Equal(t, []at{{"stages[0].match", 1, 66, 1, 17}}, positionsOf(errs))
}

func TestCompileDocumentErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no name", "stages: [{name: s, match: 'true'}]\n", "name: a policy needs a name"},
		{"no stages", "name: x\n", "stages: a policy needs at least one stage"},
		{"match and park", "name: x\nstages: [{name: s, match: 'true', park: 'true'}]\n", "stages[0]: a stage has either match or park, not both (2:10)"},
		{"neither", "name: x\nstages: [{name: s}]\n", "stages[0]: a stage needs match or park (2:10)"},
		{"stage name", "name: x\nstages: [{match: 'true'}]\n", "stages[0].name: a stage needs a name (2:10)"},
		{"duplicate stage", "name: x\nstages: [{name: s, match: 'true'}, {name: s, match: 'true'}]\n", "stages[1].name: stage name \"s\" is already used by stages[0] (2:43)"},
		{"leftover to", "name: x\nstages: [{name: s, match: 'true'}]\nleftover: [{to: nowhere}]\n", "leftover[0].to: to must be unearned, keep or refuse, not \"nowhere\" (3:17)"},
		{"refuse message", "name: x\nstages: [{name: s, match: 'true'}]\nleftover: [{to: refuse}]\n", "leftover[0].message: a refusing leftover rule needs a message (3:12)"},
		{"param type", "name: x\nparams: {p: {type: float}}\nstages: [{name: s, match: 'true'}]\n", "params.p.type: unknown type \"float\" (want bool, money or string) (2:20)"},
		{"money default float", "name: x\nparams: {p: {type: money, default: 1.5}}\nstages: [{name: s, match: 'true'}]\n", "params.p.default: a money default must be a quoted decimal such as \"12.50\", not 1.5 (float64) (2:36)"},
		{"money default places", "name: x\nparams: {p: {type: money, default: \"1.555\"}}\nstages: [{name: s, match: 'true'}]\n", "params.p.default: default 1.555 has more than two decimal places (2:37)"},
		{"requirement", "name: x\nstages: [{name: s, match: 'true'}]\nrequirements: [{name: r, check: 'true'}]\n", "requirements[0].message: a requirement needs a message (3:16)"},
		{"offsets park", "name: x\noffsets: [{name: o, park: 'true'}]\nstages: [{name: s, match: 'true'}]\n", "offsets[0].park: offsets only net credits against charges; they cannot park (2:28)"},
		{"unknown field", "name: x\nstage: []\n", "unknown field \"stage\" (2:1)"},
		{"syntax", "name: [x\n", "sequence end token ']' not found (1:7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := compileErrors(t, tc.src)
			require.Equal(t, tc.want, errs[0].Error())
		})
	}
}
