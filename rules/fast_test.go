package rules_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

// Every expression of the built-in policies runs without the VM.
func TestBuiltinsUseTheFastPath(t *testing.T) {
	for _, name := range rules.BuiltinNames() {
		require.Empty(t, rules.SlowExpressions(mustBuiltin(name)), name)
	}
}

// The fast path and the VM agree on every evaluation: the golden scenarios
// and random families run with both, compared value by value.
func TestFastPathMatchesVM(t *testing.T) {
	rules.SetVerifyFast(true)
	defer rules.SetVerifyFast(false)
	files, err := filepath.Glob("testdata/golden/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		var g goldenFile
		require.NoError(t, yaml.Unmarshal(src, &g))
		for _, name := range g.Policies {
			for _, sc := range g.Scenarios {
				require.NoError(t, sc.Run(loadPolicy(t, name)), "%s %s", f, sc.Name)
			}
		}
	}
	r := rand.New(rand.NewPCG(11, 3))
	caps := mustCompile(t, `
name: arithmetic
params: {floor: {type: money, default: "1.00"}, label: {type: string, default: "x"}}
credits:
  order: [-credit.amount, credit.ageDays, credit.patientId]
charges:
  filter: 'charge.owed >= params.floor && params.label != "" ? charge.ageDays + 1 > 0 : false'
  order: [charge.owed * 2 - dec("1.50"), charge.code]
stages:
  - name: half
    match: credit.patientId == charge.patientId && credit.amount - charge.owed >= -5
    cap: greatest(least(charge.owed, credit.amount) * dec("0.5"), dec("0.01"))
  - name: rest
    match: charge.patientId in request.additionalPatientIds || credit.ageDays <= charge.ageDays || true
leftover: [{when: credit.amount > 0 and not credit.hidden, to: unearned}]
unearned: {keepProvider: credit.providerId != ""}
`)
	require.Empty(t, rules.SlowExpressions(caps))
	for n := range 400 {
		for _, name := range rules.BuiltinNames() {
			p := mustBuiltin(name)
			in := family(r)
			request(r, p, &in)
			_, _ = p.Plan(in)
		}
		in := family(r)
		in.Request.Operation = []rules.Operation{rules.Transfer, rules.AutoSplit}[n%2]
		in.Request.Amount = decimal.NewNullDecimal(decimal.New(int64(r.IntN(40000)), -2))
		in.Request.Params = nil
		_, err := caps.Plan(in)
		require.NoError(t, err)
	}
}
