package rules

import (
	"fmt"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// TestFastPathOperators compares the fast path with the VM for every
// operator of the subset, on values that are equal, smaller and larger.
func TestFastPathOperators(t *testing.T) {
	params := []param{{name: "flag", typ: paramBool, def: true}, {name: "floor", typ: paramMoney, def: decimal.New(500, -2)}, {name: "label", typ: paramString, def: "a"}}
	l := newLayout(params)
	c := &compiler{layout: l, params: map[string]bool{"flag": true, "floor": true, "label": true}, paramList: params}
	var exprs []string
	for _, op := range []string{"==", "!=", "<", "<=", ">", ">="} {
		exprs = append(exprs,
			fmt.Sprintf("credit.amount %s charge.owed", op),
			fmt.Sprintf("credit.amount %s 5", op),
			fmt.Sprintf("5 %s charge.owed", op),
			fmt.Sprintf("credit.ageDays %s charge.ageDays", op),
			fmt.Sprintf("credit.patientId %s charge.patientId", op),
			fmt.Sprintf("charge.owed %s params.floor", op),
		)
	}
	exprs = append(exprs,
		"credit.hidden == charge.hidden", "credit.hidden != charge.hidden", "!credit.hidden", "not charge.production",
		"credit.hidden && charge.production", "credit.hidden || charge.production", "credit.hidden and params.flag", "credit.hidden or params.flag",
		"charge.patientId in request.additionalPatientIds", "params.label == credit.patientId",
		"credit.hidden ? credit.amount > 0 : charge.owed > 0",
		"credit.amount + charge.owed > 7", "credit.amount - 5 < charge.owed", "charge.owed * 2 >= credit.amount * dec(\"1.5\")",
		"-credit.amount < -5", "least(credit.amount, charge.owed) == greatest(credit.amount, charge.owed)",
		"credit.ageDays + 1 > charge.ageDays - 1", "credit.ageDays * 2 == charge.ageDays",
		"(credit.hidden ? credit.patientId : charge.patientId) == \"p1\"",
	)
	var money []decimal.Decimal
	for _, c := range []int64{-500, 0, 500, 1000} {
		money = append(money, decimal.New(c, -2))
	}
	var m vm.VM
	params0 := newParamsValue(l, params)
	for _, src := range exprs {
		p := c.compile("x", src, ctxPair, wantBool)
		if p == nil {
			t.Fatalf("%s: %v", src, c.errs)
		}
		if p.fast == nil {
			t.Fatalf("%s: no fast path", src)
		}
		for i, a := range money {
			for j, b := range money {
				e := l.newEnv(&requestEnv{AdditionalPatientIDs: []string{"p2"}}, params0)
				*e.credit = &creditEnv{Amount: a, AgeDays: i, PatientID: fmt.Sprint("p", i%3), Hidden: i%2 == 0}
				*e.charge = &chargeEnv{Owed: b, AgeDays: j, PatientID: fmt.Sprint("p", j%3), Hidden: j%2 == 1, Production: j > 1}
				fast := p.fast.b(e)
				slow, err := p.run(&m, e)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				if fast != slow.(bool) {
					t.Errorf("%s with amount %s, owed %s: fast %v, VM %v", src, a, b, fast, slow)
				}
			}
		}
	}
}
