package rules

import (
	"context"
	"reflect"
)

// PlanSteps plans in and returns how many credit/charge pairings the
// planner tried and bucket keys it evaluated.
func PlanSteps(p *Policy, in Input) (int, error) {
	pl, err := newPlanner(context.Background(), p, &in)
	if err != nil {
		return 0, err
	}
	err = pl.run()
	return pl.steps, err
}

// EnvFields lists every field of the expression environment as
// root.field.
func EnvFields() []string {
	var names []string
	for _, root := range []string{rootCredit, rootCharge, rootSplit, rootRequest} {
		t := rootTypes[root]
		for i := range t.NumField() {
			names = append(names, root+"."+t.Field(i).Tag.Get("expr"))
		}
	}
	return names
}

// SetVerifyFast makes every evaluation compare the fast path with the VM.
func SetVerifyFast(on bool) { verifyFast = on }

// SlowExpressions lists the expressions of p that run on the VM.
func SlowExpressions(p *Policy) []string {
	var slow []string
	add := func(ps ...*program) {
		for _, q := range ps {
			if q != nil && q.fast == nil {
				slow = append(slow, q.path)
			}
		}
	}
	add(p.linkAdjustment, p.linkSplit, p.creditFilter, p.spendable, p.chargeFilter, p.cap, p.keepProvider)
	add(p.creditOrder...)
	add(p.chargeOrder...)
	for _, st := range append(append([]*stage(nil), p.offsets...), p.stages...) {
		add(st.when, st.park, st.cap)
		if m := st.match; m != nil {
			add(m.constant...)
			add(m.credit...)
			add(m.charge...)
			add(m.pair...)
			for _, k := range m.keys {
				add(k.credit, k.charge)
			}
		}
	}
	for _, l := range p.leftover {
		add(l.when)
	}
	for _, r := range p.requirements {
		add(r.check)
	}
	return slow
}

func newParamsValue(l *layout, ps []param) reflect.Value {
	v := reflect.New(l.params)
	for i, p := range ps {
		v.Elem().Field(i).Set(reflect.ValueOf(p.def))
	}
	return v
}

// AllowedBuiltins lists the expr builtins a policy may call.
func AllowedBuiltins() []string { return allowedBuiltins }
