package rules_test

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// A policy is a YAML document of expr expressions. This one pays the oldest
// charges first from a receipt, and keeps anything left unallocated.
func ExampleCompile() {
	p, err := rules.Compile([]byte(`
name: oldest-first
charges:
  filter: charge.production && charge.status == "COMPLETED"
stages:
  - name: Oldest
    match: "true"
leftover:
  - to: keep
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Name(), p.Stages())
	// Output: oldest-first [Oldest]
}

// Compile reports every problem with its path, its line and column in the
// document, and a caret under the offending part of the expression.
func ExampleCompile_errors() {
	_, err := rules.Compile([]byte(`
name: broken
stages:
  - name: ByProvider
    match: credit.providerId == charge.providerId && charge.owed > 10.5
  - name: Rest
    match: credit.amount
`))
	var errs rules.CompileErrors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Printf("%s at %d:%d: %s%s\n", e.Path, e.Line, e.Column, e.Message, e.Snippet)
		}
	}
	// Output:
	// stages[0].match at 5:68: float literals are not allowed: write money as dec("10.5")
	//  | credit.providerId == charge.providerId && charge.owed > 10.5
	//  | ........................................................^
	// stages[1].match at 7:12: expected bool, but got decimal.Decimal
	//  | credit.amount
	//  | ^
}

// Plan auto-splits a new receipt under the built-in rigorous policy
// (docs/allocation.md §7, Ex 2): the older unallocated $110 is assumed to
// pay the oldest charges, so the new $80 pays what is left and the rest goes
// to unearned, with no provider.
func ExamplePolicy_Plan() {
	d := func(day int) rules.Date { return rules.NewDate(2024, 6, day) }
	m := decimal.RequireFromString
	p, _ := rules.Builtin("rigorous")
	plan, err := p.Plan(rules.Input{
		Patients:      []rules.Patient{{ID: "pat", GuarantorID: "pat"}},
		UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}},
		Charges: []rules.Charge{
			{ID: "p3", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: d(27), Amount: m("80")},
			{ID: "p2", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: d(28), Amount: m("60")},
			{ID: "p1", Kind: rules.Procedure, PatientID: "pat", ProviderID: "dr1", Date: d(29), Amount: m("40")},
		},
		Splits: []rules.Split{{ID: "s1", Date: d(28), Amount: m("110"), PatientID: "pat"}},
		Request: rules.Request{
			Operation: rules.AutoSplit, AsOf: d(30), PatientID: "pat",
			Amount: decimal.NewNullDecimal(m("80")),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Splits {
		target := "unearned " + s.UnearnedTypeID
		if s.ChargeID != "" {
			target = "charge " + s.ChargeID
		}
		fmt.Printf("%s %s %s (%s)\n", s.Code, s.Amount.StringFixed(2), target, s.Stage)
	}
	// Output:
	// PAY 30.00 charge p2 (Payment)
	// PAY 40.00 charge p1 (Payment)
	// PAY 10.00 unearned prepay (leftover)
}

// An income transfer posts zero-sum pairs; each move names the stage that
// produced it (docs/allocation.md §7, Ex 10).
func ExamplePolicy_Plan_transfer() {
	d := rules.NewDate(2024, 1, 1)
	p, _ := rules.Builtin("rigorous")
	plan, _ := p.Plan(rules.Input{
		Patients:      []rules.Patient{{ID: "andy", GuarantorID: "andy"}, {ID: "judy", GuarantorID: "andy"}},
		UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}},
		Charges:       []rules.Charge{{ID: "pj", Kind: rules.Procedure, PatientID: "judy", ProviderID: "dr1", Date: d, Amount: decimal.NewFromInt(100)}},
		Splits:        []rules.Split{{ID: "s1", Date: d, Amount: decimal.NewFromInt(100), PatientID: "andy", ProviderID: "dr1"}},
		Request:       rules.Request{Operation: rules.Transfer, AsOf: d, PatientID: "andy"},
	})
	for _, m := range plan.Moves {
		fmt.Printf("%s: %s -> %s %s\n", m.Stage, m.From.ID, m.To.ID, m.Amount.StringFixed(2))
	}
	for _, s := range plan.Splits {
		fmt.Printf("%s %s %s\n", s.Code, s.PatientID, s.Amount.StringFixed(2))
	}
	// Output:
	// ProvClinic: unallocated/andy/dr1/ -> pj 100.00
	// TXFR andy -100.00
	// TXFR judy 100.00
}

// A request may override a declared param; an undeclared one is an error
// the caller can classify.
func ExamplePolicy_CheckParams() {
	p, _ := rules.Builtin("rigorous")
	fmt.Println(p.CheckParams(map[string]string{"negativeProductionIsIncome": "false"}))
	err := p.CheckParams(map[string]string{"negativeProductionAsIncome": "false"})
	fmt.Println(errors.Is(err, rules.ErrUnknownParam), err)
	// Output:
	// <nil>
	// true rules: param "negativeProductionAsIncome" = "false": unknown param
}

// A practice copies a built-in policy, changes it, and compiles its copy.
func ExampleBuiltinDocument() {
	src, _ := rules.BuiltinDocument("rigorous")
	doc, _ := rules.Compile(src)
	d := doc.Document()
	d.Name = "rigorous-no-provider-layers"
	var stages []rules.Stage
	for _, s := range d.Stages {
		if s.Name != "Prov" && s.Name != "ProvClinic" {
			stages = append(stages, s)
		}
	}
	d.Stages = stages
	js, _ := d.JSON()
	mine, err := rules.Compile(js)
	fmt.Println(err, mine.Name(), mine.Stages())
	// Output: <nil> rigorous-no-provider-layers [Park Payment ProvPatClinic ProvPat PatClinic Pat Clinic Nothing FamilyHidden]
}
