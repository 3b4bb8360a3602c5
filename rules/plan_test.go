package rules_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

var (
	day = func(d int) rules.Date { return rules.NewDate(2024, 6, d) }
	usd = decimal.RequireFromString
)

func onePatient(charges []rules.Charge, splits []rules.Split, req rules.Request) rules.Input {
	return rules.Input{
		Patients:      []rules.Patient{{ID: "pat", GuarantorID: "pat"}},
		UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}},
		Charges:       charges,
		Splits:        splits,
		Request:       req,
	}
}

func mustCompile(t *testing.T, src string) *rules.Policy {
	t.Helper()
	p, err := rules.Compile([]byte(src))
	require.NoError(t, err)
	return p
}

func TestPlanParamErrors(t *testing.T) {
	p, _ := rules.Builtin("rigorous")
	in := onePatient(nil, nil, rules.Request{Operation: rules.Transfer, AsOf: day(30), PatientID: "pat"})

	in.Request.Params = map[string]string{"allowPrepayProvider": "true"}
	_, err := p.Plan(in)
	var pe *rules.ParamError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "allowPrepayProvider", pe.Name)
	require.ErrorIs(t, err, rules.ErrUnknownParam)

	in.Request.Params = map[string]string{"unearnedKeepsProvider": "yes please"}
	_, err = p.Plan(in)
	require.ErrorIs(t, err, rules.ErrParamValue)
	require.NotErrorIs(t, err, rules.ErrUnknownParam)

	money := mustCompile(t, "name: m\nparams: {floor: {type: money, default: \"5.00\"}}\nstages: [{name: s, match: 'charge.owed > params.floor'}]\n")
	require.NoError(t, money.CheckParams(map[string]string{"floor": "12.50"}))
	require.ErrorIs(t, money.CheckParams(map[string]string{"floor": "12.505"}), rules.ErrParamValue)
}

func TestPlanRejectedByRequirement(t *testing.T) {
	p := mustCompile(t, `
name: no-big-splits
stages: [{name: all, match: "true"}]
leftover: [{to: keep}]
requirements:
  - name: small
    check: split.amount <= dec("50.00")
    message: no split may exceed 50.00
`)
	in := onePatient(
		[]rules.Charge{{ID: "p1", Kind: rules.Procedure, PatientID: "pat", Date: day(1), Amount: usd("80")}},
		nil,
		rules.Request{Operation: rules.AutoSplit, AsOf: day(30), PatientID: "pat", Amount: decimal.NewNullDecimal(usd("40"))},
	)
	plan, err := p.Plan(in)
	require.NoError(t, err)
	require.Len(t, plan.Splits, 1)

	in.Request.Amount = decimal.NewNullDecimal(usd("60"))
	_, err = p.Plan(in)
	require.ErrorIs(t, err, rules.ErrRejected)
	var re *rules.RejectedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, &rules.RejectedError{Requirement: "small", Message: "no split may exceed 50.00"}, re)
}

// Rigorous never leaves money unallocated: a policy that keeps leftovers of
// a receipt is refused by the copied requirement.
func TestRigorousRequirementRefusesUnallocated(t *testing.T) {
	src, _ := rules.BuiltinDocument("rigorous")
	p := mustCompile(t, strings.Replace(string(src), "  - to: unearned\n", "  - to: keep\n", 1))
	in := onePatient(nil, nil, rules.Request{Operation: rules.AutoSplit, AsOf: day(30), PatientID: "pat", Amount: decimal.NewNullDecimal(usd("10"))})
	_, err := p.Plan(in)
	var re *rules.RejectedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "attached", re.Requirement)
}

func TestPlanInvalidInput(t *testing.T) {
	p, _ := rules.Builtin("fifo")
	charge := rules.Charge{ID: "p1", Kind: rules.Procedure, PatientID: "pat", Date: day(1), Amount: usd("80")}
	for name, in := range map[string]rules.Input{
		"no as-of":         onePatient(nil, nil, rules.Request{Operation: rules.Transfer}),
		"operation":        onePatient(nil, nil, rules.Request{Operation: "REFUND", AsOf: day(30)}),
		"third place":      onePatient([]rules.Charge{{ID: "p1", Kind: rules.Procedure, PatientID: "pat", Date: day(1), Amount: usd("80.001")}}, nil, rules.Request{Operation: rules.Transfer, AsOf: day(30)}),
		"duplicate charge": onePatient([]rules.Charge{charge, charge}, nil, rules.Request{Operation: rules.Transfer, AsOf: day(30)}),
		"kind":             onePatient([]rules.Charge{{ID: "p1", Kind: "FEE", PatientID: "pat", Date: day(1), Amount: usd("1")}}, nil, rules.Request{Operation: rules.Transfer, AsOf: day(30)}),
		"no amount":        onePatient(nil, nil, rules.Request{Operation: rules.AutoSplit, AsOf: day(30), PatientID: "pat"}),
		"unknown charge":   onePatient([]rules.Charge{charge}, nil, rules.Request{Operation: rules.AllocateUnearned, AsOf: day(30), ChargeIDs: []string{"p9"}}),
		"unknown source":   onePatient([]rules.Charge{charge}, nil, rules.Request{Operation: rules.Reapply, AsOf: day(30), Sources: []string{"x"}, Targets: []rules.Target{{ChargeID: "p1"}}}),
		"split places":     onePatient(nil, []rules.Split{{ID: "s", Date: day(1), Amount: usd("0.001"), PatientID: "pat"}}, rules.Request{Operation: rules.Transfer, AsOf: day(30)}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Plan(in)
			require.ErrorIs(t, err, rules.ErrInvalidInput)
		})
	}
}

// same-guarantor never lets a re-apply target a patient of another
// guarantor; additional-patient does once the request names them.
func TestReapplyAcrossGuarantors(t *testing.T) {
	in := rules.Input{
		Patients: []rules.Patient{{ID: "g", GuarantorID: "g"}, {ID: "h", GuarantorID: "h"}},
		Charges: []rules.Charge{
			{ID: "l1", Kind: rules.Procedure, PatientID: "g", Date: day(1), Amount: usd("50")},
			{ID: "l9", Kind: rules.Procedure, PatientID: "h", Date: day(1), Amount: usd("70")},
		},
		Splits:  []rules.Split{{ID: "s1", Date: day(1), Amount: usd("80"), PatientID: "g", ChargeID: "l1"}},
		Request: rules.Request{Operation: rules.Reapply, AsOf: day(30), PatientID: "g", Sources: []string{"l1"}, Targets: []rules.Target{{ChargeID: "l9"}}},
	}
	same, _ := rules.Builtin("same-guarantor")
	_, err := same.Plan(in)
	require.ErrorIs(t, err, rules.ErrInvalidInput)

	extra, _ := rules.Builtin("additional-patient")
	_, err = extra.Plan(in)
	require.ErrorIs(t, err, rules.ErrInvalidInput, "h is not named")

	in.Request.AdditionalPatientIDs = []string{"h"}
	plan, err := extra.Plan(in)
	require.NoError(t, err)
	require.Len(t, plan.Splits, 2)
	require.Equal(t, "h", plan.Splits[1].PatientID)
}

func TestEvalError(t *testing.T) {
	p := mustCompile(t, `
name: index
stages:
  - name: first
    match: request.chargeIds[0] == charge.id
`)
	in := onePatient(
		[]rules.Charge{{ID: "p1", Kind: rules.Procedure, PatientID: "pat", Date: day(1), Amount: usd("80")}},
		[]rules.Split{{ID: "s1", Date: day(1), Amount: usd("10"), PatientID: "pat"}},
		rules.Request{Operation: rules.Transfer, AsOf: day(30)},
	)
	_, err := p.Plan(in)
	var ee *rules.EvalError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "stages[0].match", ee.Path)
}

// A cap limits every move: the policy's, or a stage's own.
func TestCap(t *testing.T) {
	in := onePatient(
		[]rules.Charge{
			{ID: "p1", Kind: rules.Procedure, PatientID: "pat", Date: day(1), Amount: usd("80")},
			{ID: "p2", Kind: rules.Procedure, PatientID: "pat", Date: day(2), Amount: usd("80")},
		},
		[]rules.Split{{ID: "s1", Date: day(1), Amount: usd("100"), PatientID: "pat"}},
		rules.Request{Operation: rules.Transfer, AsOf: day(30)},
	)
	p := mustCompile(t, "name: capped\ncap: least(charge.owed, dec(\"30.00\"))\nstages: [{name: all, match: 'true'}]\n")
	plan, err := p.Plan(in)
	require.NoError(t, err)
	require.Len(t, plan.Moves, 2)
	for _, m := range plan.Moves {
		require.Equal(t, "30.00", m.Amount.StringFixed(2))
	}
	p = mustCompile(t, "name: capped\ncap: dec(\"30.00\")\nstages: [{name: all, match: 'true', cap: 'charge.owed - dec(\"75.00\")'}]\n")
	plan, err = p.Plan(in)
	require.NoError(t, err)
	require.Len(t, plan.Moves, 2)
	require.Equal(t, "5.00", plan.Moves[0].Amount.StringFixed(2))
	require.Equal(t, "p2", plan.Moves[1].To.ID)
}

// Balances is the family as the policy sees it: implicit linking makes the
// oldest charges look paid by the unallocated money.
func TestBalances(t *testing.T) {
	p, _ := rules.Builtin("rigorous")
	in := onePatient(
		[]rules.Charge{
			{ID: "p3", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: day(27), Amount: usd("80")},
			{ID: "p2", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: day(28), Amount: usd("60")},
			{ID: "p1", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: day(29), Amount: usd("40")},
			{ID: "a1", Kind: rules.Adjustment, PatientID: "pat", ProviderID: "dr1", Date: day(29), Amount: usd("-5"), AttachedTo: "p1"},
		},
		[]rules.Split{{ID: "s1", Date: day(28), Amount: usd("110"), PatientID: "pat"}},
		rules.Request{AsOf: day(30)},
	)
	b, err := p.Balances(in)
	require.NoError(t, err)
	owed := map[string]string{}
	for _, c := range b.Charges {
		owed[c.ChargeID] = c.Owed.StringFixed(2) + "/" + c.FoldedInto
	}
	require.Equal(t, map[string]string{"p3": "0.00/", "p2": "30.00/", "p1": "35.00/", "a1": "0.00/p1"}, owed)
	require.Len(t, b.Credits, 1)
	require.Equal(t, "unallocated/pat//", b.Credits[0].Bucket.ID)
	require.Equal(t, "110.00", b.Credits[0].Amount.StringFixed(2))
	require.Equal(t, "0.00", b.Credits[0].Remaining.StringFixed(2))
}

// Bucketing a stage by its equality conjuncts must give exactly what testing
// every pair gives.
func TestBucketingMatchesPairwise(t *testing.T) {
	src, _ := rules.BuiltinDocument("rigorous")
	bucketed, _ := rules.Builtin("rigorous")
	// "|| false" hides each layer's conjunction from the bucketing analysis.
	pairwise := mustCompile(t, strings.ReplaceAll(strings.ReplaceAll(string(src),
		"credit.patientId == charge.patientId\n", "(credit.patientId == charge.patientId || false)\n"),
		"match: credit.", "match: false || credit."))
	r := rand.New(rand.NewPCG(7, 7))
	for n := range 500 {
		in := family(r)
		in.Request.Operation = []rules.Operation{rules.Transfer, rules.AutoSplit}[n%2]
		in.Request.Amount = decimal.NewNullDecimal(decimal.New(int64(r.IntN(50000)), -2))
		a, errA := bucketed.Plan(in)
		b, errB := pairwise.Plan(in)
		require.Equal(t, errA, errB)
		require.Equal(t, movesOf(a), movesOf(b), "case %d", n)
	}
}

func movesOf(p rules.Plan) []string {
	out := make([]string, len(p.Moves))
	for i, m := range p.Moves {
		out[i] = fmt.Sprintf("%s>%s %s %s", m.From.ID, m.To.ID, m.Amount.StringFixed(2), m.Stage)
	}
	return out
}

// Planning is linear in the common case: ten times the charges and credits
// cost about ten times the steps, not a hundred.
func TestPlanningIsNotQuadratic(t *testing.T) {
	p, _ := rules.Builtin("rigorous")
	steps := func(n int) int {
		in := bigFamily(n)
		s, err := rules.PlanSteps(p, in)
		require.NoError(t, err)
		return s
	}
	small, large := steps(200), steps(2000)
	require.Less(t, large, 15*small, "steps: %d for 200 charges, %d for 2000", small, large)
}

// Planning one family of every kind of entry (entriesFamily, the
// benchmark's) is linear under every built-in policy and operation: sixteen
// times the entries, at most twenty times the steps.
func TestPlanningFamilyIsLinear(t *testing.T) {
	for _, name := range rules.BuiltinNames() {
		p, _ := rules.Builtin(name)
		for _, op := range []rules.Operation{rules.AutoSplit, rules.Transfer, rules.AllocateUnearned} {
			steps := func(n int) int {
				in := entriesFamily(n)
				in.Request.Operation = op
				in.Request.Amount = decimal.NewNullDecimal(decimal.New(int64(100*n), -2))
				s, err := rules.PlanSteps(p, in)
				if !errors.Is(err, rules.ErrRejected) {
					require.NoError(t, err)
				}
				return s
			}
			small, large := steps(250), steps(4000)
			require.Less(t, large, 20*small, "%s %s: %d steps for 250 entries, %d for 4000", name, op, small, large)
		}
	}
}

// bigFamily is a family of n charges over 20 patients and 5 providers with n/2
// credits.
func bigFamily(n int) rules.Input {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	in := rules.Input{UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}}}
	for i := range 20 {
		in.Patients = append(in.Patients, rules.Patient{ID: fmt.Sprintf("pt%d", i), GuarantorID: "pt0"})
	}
	for i := range n {
		in.Charges = append(in.Charges, rules.Charge{
			ID: fmt.Sprintf("c%05d", i), Kind: rules.Procedure, PatientID: fmt.Sprintf("pt%d", r.IntN(20)),
			ProviderID: fmt.Sprintf("dr%d", r.IntN(5)), Date: rules.NewDate(2023, 1, 1+r.IntN(500)),
			Amount: decimal.New(int64(1000+r.IntN(20000)), -2),
		})
	}
	for i := range n / 2 {
		s := rules.Split{
			ID: fmt.Sprintf("s%05d", i), Date: rules.NewDate(2023, 1, 1+r.IntN(500)), Amount: decimal.New(int64(1000+r.IntN(20000)), -2),
			PatientID: fmt.Sprintf("pt%d", r.IntN(20)), ProviderID: fmt.Sprintf("dr%d", r.IntN(5)),
		}
		if r.IntN(2) == 0 {
			s.UnearnedTypeID = "prepay"
		}
		in.Splits = append(in.Splits, s)
	}
	in.Request = rules.Request{Operation: rules.Transfer, AsOf: rules.NewDate(2024, 6, 30), GuarantorID: "pt0"}
	return in
}

// A compiled policy is shared by concurrent plans.
func TestConcurrentPlans(t *testing.T) {
	p, _ := rules.Builtin("rigorous")
	r := rand.New(rand.NewPCG(9, 9))
	inputs := make([]rules.Input, 40)
	want := make([]string, len(inputs))
	for i := range inputs {
		inputs[i] = family(r)
		inputs[i].Request.Operation = rules.Transfer
		plan, err := p.Plan(inputs[i])
		if err == nil {
			b, _ := json.Marshal(plan)
			want[i] = string(b)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i, in := range inputs {
				plan, err := p.Plan(in)
				if err != nil {
					continue
				}
				if b, _ := json.Marshal(plan); string(b) != want[i] {
					errs <- fmt.Errorf("input %d planned differently", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	for _, name := range rules.BuiltinNames() {
		p, _ := rules.Builtin(name)
		fromJSON, err := rules.Compile(p.JSON())
		require.NoError(t, err, name)
		require.Equal(t, p.Hash(), fromJSON.Hash(), name)
		y, err := p.Document().YAML()
		require.NoError(t, err)
		fromYAML, err := rules.Compile(y)
		require.NoError(t, err, name)
		require.Equal(t, p.Hash(), fromYAML.Hash(), name)
	}
	a := mustCompile(t, "name: a\nparams: {m: {type: money, default: \"5\"}}\nstages: [{name: s, match: 'true'}]\n")
	b := mustCompile(t, "{\"name\": \"a\", \"params\": {\"m\": {\"type\": \"money\", \"default\": \"5.00\"}}, \"stages\": [{\"name\": \"s\", \"match\": \"true\"}]}")
	require.Equal(t, a.Hash(), b.Hash(), "money defaults are normalized")
}

func TestCache(t *testing.T) {
	c := rules.NewCache(2)
	src, _ := rules.BuiltinDocument("fifo")
	var wg sync.WaitGroup
	got := make([]*rules.Policy, 8)
	for i := range got {
		wg.Go(func() {
			p, err := c.Compile(src)
			if err == nil {
				got[i] = p
			}
		})
	}
	wg.Wait()
	for _, p := range got {
		require.NotNil(t, p)
		require.Same(t, got[0], p)
	}
	_, err := c.Compile([]byte("name: bad\n"))
	require.Error(t, err)
	other, _ := rules.BuiltinDocument("rigorous")
	_, err = c.Compile(other)
	require.NoError(t, err)
	require.Equal(t, 2, c.Len())
	again, err := c.Compile(src)
	require.NoError(t, err)
	require.NotSame(t, got[0], again, "fifo was evicted and compiled anew")
	require.Equal(t, got[0].Hash(), again.Hash())
}

func TestBuiltinsCarryValidNames(t *testing.T) {
	for _, name := range rules.BuiltinNames() {
		p, ok := rules.Builtin(name)
		require.True(t, ok)
		require.Equal(t, name, p.Name())
		require.NoError(t, p.CheckExamples())
	}
	_, ok := rules.Builtin("nope")
	require.False(t, ok)
}

func TestErrorsUnwrap(t *testing.T) {
	errs := compileErrors(t, "name: x\nstages: [{name: a, match: '1.5'}, {name: b, match: 'credit.nope'}]\n")
	require.Len(t, errs, 2)
	var first *rules.CompileError
	require.True(t, errors.As(error(errs), &first))
	require.Equal(t, "stages[0].match", first.Path)
	require.Contains(t, errs.Error(), "\nstages[1].match: credit has no field nope")
}

func TestCheckExamplesReportsAMismatch(t *testing.T) {
	p := mustCompile(t, `
name: examples
stages: [{name: all, match: "true"}]
leftover: [{to: keep}]
examples:
  - name: pays-p1
    input:
      charges: [{id: p1, kind: PROCEDURE, patientId: pat, date: 2024-01-01, amount: "10.00"}]
      request: {operation: AUTO_SPLIT, asOf: 2024-01-02, patientId: pat, amount: "10.00"}
    expect:
      splits: [{amount: "10.00", patientId: pat, chargeId: p1, code: PAY, stage: all}]
  - name: wrong
    input:
      charges: [{id: p1, kind: PROCEDURE, patientId: pat, date: 2024-01-01, amount: "10.00"}]
      request: {operation: AUTO_SPLIT, asOf: 2024-01-02, patientId: pat, amount: "10.00"}
    expect:
      splits: [{amount: "9.00", patientId: pat, chargeId: p1}]
      owed: {p1: "1.00"}
`)
	err := p.CheckExamples()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "pays-p1")
	require.Contains(t, err.Error(), "scenario wrong:\nsplits:")
	require.Contains(t, err.Error(), "owed[p1]: want 1.00, got 0.00")
}
