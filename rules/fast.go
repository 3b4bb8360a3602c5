package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/shopspring/decimal"
)

// A fast path for the simple expressions that make up most policies:
// field reads, string, bool, int and money comparisons, &&, ||, !, ternaries,
// `in` over a request list, dec literals, least/greatest and money
// arithmetic. They are compiled to Go closures over the environment, so
// planning a family does not pay for a VM run per test. Anything else runs
// on expr's VM. The expression has already been type-checked by expr; the
// closures implement expr's semantics for this subset (short-circuit && and
// ||, value equality of money), and a test runs both on every expression
// of the built-in policies and compares them.

type fastKind int

const (
	fastBool fastKind = iota + 1
	fastString
	fastInt
	fastMoney
	fastStrings
)

// fastExpr is a compiled subexpression: its kind and the closure of that
// kind.
type fastExpr struct {
	kind fastKind
	b    func(*env) bool
	s    func(*env) string
	i    func(*env) int
	d    func(*env) decimal.Decimal
	ss   func(*env) []string
}

// fastCompile compiles n, or returns false if n is outside the subset.
// params are the policy's params in layout order.
func fastCompile(n ast.Node, params []param) (fastExpr, bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return fastExpr{kind: fastBool, b: func(*env) bool { return v }}, true
	case *ast.StringNode:
		v := n.Value
		return fastExpr{kind: fastString, s: func(*env) string { return v }}, true
	case *ast.IntegerNode:
		v := n.Value
		return fastExpr{kind: fastInt, i: func(*env) int { return v }}, true
	case *ast.MemberNode:
		return fastMember(n, params)
	case *ast.UnaryNode:
		x, ok := fastCompile(n.Node, params)
		if !ok {
			return fastExpr{}, false
		}
		switch {
		case (n.Operator == "!" || n.Operator == "not") && x.kind == fastBool:
			return fastExpr{kind: fastBool, b: func(e *env) bool { return !x.b(e) }}, true
		case n.Operator == "-" && x.kind == fastMoney:
			return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return x.d(e).Neg() }}, true
		case n.Operator == "-" && x.kind == fastInt:
			return fastExpr{kind: fastInt, i: func(e *env) int { return -x.i(e) }}, true
		}
	case *ast.BinaryNode:
		return fastBinary(n, params)
	case *ast.ConditionalNode:
		c, ok1 := fastCompile(n.Cond, params)
		a, ok2 := fastCompile(n.Exp1, params)
		b, ok3 := fastCompile(n.Exp2, params)
		if !ok1 || !ok2 || !ok3 || c.kind != fastBool || a.kind != b.kind {
			return fastExpr{}, false
		}
		switch a.kind {
		case fastBool:
			return fastExpr{kind: fastBool, b: func(e *env) bool {
				if c.b(e) {
					return a.b(e)
				}
				return b.b(e)
			}}, true
		case fastMoney:
			return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal {
				if c.b(e) {
					return a.d(e)
				}
				return b.d(e)
			}}, true
		case fastString:
			return fastExpr{kind: fastString, s: func(e *env) string {
				if c.b(e) {
					return a.s(e)
				}
				return b.s(e)
			}}, true
		}
	case *ast.CallNode:
		return fastCall(n, params)
	}
	return fastExpr{}, false
}

func fastCall(n *ast.CallNode, params []param) (fastExpr, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return fastExpr{}, false
	}
	switch id.Value {
	case "dec":
		if len(n.Arguments) != 1 {
			return fastExpr{}, false
		}
		s, ok := n.Arguments[0].(*ast.StringNode)
		if !ok {
			return fastExpr{}, false
		}
		v, err := decimal.NewFromString(s.Value)
		if err != nil {
			return fastExpr{}, false
		}
		return fastExpr{kind: fastMoney, d: func(*env) decimal.Decimal { return v }}, true
	case "least", "greatest":
		if len(n.Arguments) != 2 {
			return fastExpr{}, false
		}
		a, ok1 := fastCompile(n.Arguments[0], params)
		b, ok2 := fastCompile(n.Arguments[1], params)
		if !ok1 || !ok2 || a.kind != fastMoney || b.kind != fastMoney {
			return fastExpr{}, false
		}
		if id.Value == "least" {
			return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return decimal.Min(a.d(e), b.d(e)) }}, true
		}
		return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return decimal.Max(a.d(e), b.d(e)) }}, true
	}
	return fastExpr{}, false
}

// money turns an int or money operand into a money closure.
func (x fastExpr) money() (func(*env) decimal.Decimal, bool) {
	switch x.kind {
	case fastMoney:
		return x.d, true
	case fastInt:
		return func(e *env) decimal.Decimal { return decimal.NewFromInt(int64(x.i(e))) }, true
	}
	return nil, false
}

func fastBinary(n *ast.BinaryNode, params []param) (fastExpr, bool) {
	l, ok1 := fastCompile(n.Left, params)
	r, ok2 := fastCompile(n.Right, params)
	if !ok1 || !ok2 {
		return fastExpr{}, false
	}
	op := n.Operator
	switch op {
	case "and":
		op = "&&"
	case "or":
		op = "||"
	}
	switch {
	case (op == "&&" || op == "||") && l.kind == fastBool && r.kind == fastBool:
		if op == "&&" {
			return fastExpr{kind: fastBool, b: func(e *env) bool { return l.b(e) && r.b(e) }}, true
		}
		return fastExpr{kind: fastBool, b: func(e *env) bool { return l.b(e) || r.b(e) }}, true
	case op == "in" && l.kind == fastString && r.kind == fastStrings:
		return fastExpr{kind: fastBool, b: func(e *env) bool { return slices.Contains(r.ss(e), l.s(e)) }}, true
	case l.kind == fastString && r.kind == fastString:
		var f func(a, b string) bool
		switch op {
		case "==":
			f = func(a, b string) bool { return a == b }
		case "!=":
			f = func(a, b string) bool { return a != b }
		case "<":
			f = func(a, b string) bool { return a < b }
		case "<=":
			f = func(a, b string) bool { return a <= b }
		case ">":
			f = func(a, b string) bool { return a > b }
		case ">=":
			f = func(a, b string) bool { return a >= b }
		default:
			return fastExpr{}, false
		}
		return fastExpr{kind: fastBool, b: func(e *env) bool { return f(l.s(e), r.s(e)) }}, true
	case l.kind == fastBool && r.kind == fastBool && (op == "==" || op == "!="):
		eq := op == "=="
		return fastExpr{kind: fastBool, b: func(e *env) bool { return (l.b(e) == r.b(e)) == eq }}, true
	case l.kind == fastInt && r.kind == fastInt:
		var f func(a, b int) bool
		switch op {
		case "==":
			f = func(a, b int) bool { return a == b }
		case "!=":
			f = func(a, b int) bool { return a != b }
		case "<":
			f = func(a, b int) bool { return a < b }
		case "<=":
			f = func(a, b int) bool { return a <= b }
		case ">":
			f = func(a, b int) bool { return a > b }
		case ">=":
			f = func(a, b int) bool { return a >= b }
		case "+":
			return fastExpr{kind: fastInt, i: func(e *env) int { return l.i(e) + r.i(e) }}, true
		case "-":
			return fastExpr{kind: fastInt, i: func(e *env) int { return l.i(e) - r.i(e) }}, true
		case "*":
			return fastExpr{kind: fastInt, i: func(e *env) int { return l.i(e) * r.i(e) }}, true
		default:
			return fastExpr{}, false
		}
		return fastExpr{kind: fastBool, b: func(e *env) bool { return f(l.i(e), r.i(e)) }}, true
	}
	// Money, possibly against an int literal or field.
	if l.kind != fastMoney && r.kind != fastMoney {
		return fastExpr{}, false
	}
	ld, ok1 := l.money()
	rd, ok2 := r.money()
	if !ok1 || !ok2 {
		return fastExpr{}, false
	}
	var cmp func(c int) bool
	switch op {
	case "==":
		cmp = func(c int) bool { return c == 0 }
	case "!=":
		cmp = func(c int) bool { return c != 0 }
	case "<":
		cmp = func(c int) bool { return c < 0 }
	case "<=":
		cmp = func(c int) bool { return c <= 0 }
	case ">":
		cmp = func(c int) bool { return c > 0 }
	case ">=":
		cmp = func(c int) bool { return c >= 0 }
	case "+":
		return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return e.money(ld(e).Add(rd(e))) }}, true
	case "-":
		return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return e.money(ld(e).Sub(rd(e))) }}, true
	case "*":
		return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return e.money(ld(e).Mul(rd(e))) }}, true
	default:
		return fastExpr{}, false
	}
	return fastExpr{kind: fastBool, b: func(e *env) bool { return cmp(ld(e).Cmp(rd(e))) }}, true
}

// fastMember compiles root.field and params.name.
func fastMember(n *ast.MemberNode, params []param) (fastExpr, bool) {
	id, ok := n.Node.(*ast.IdentifierNode)
	prop, isName := n.Property.(*ast.StringNode)
	if !ok || !isName || n.Optional || n.Method {
		return fastExpr{}, false
	}
	if id.Value == rootParams {
		for i, p := range params {
			if p.name != prop.Value {
				continue
			}
			switch p.typ {
			case paramBool:
				return fastExpr{kind: fastBool, b: func(e *env) bool { return e.params[i].(bool) }}, true
			case paramMoney:
				return fastExpr{kind: fastMoney, d: func(e *env) decimal.Decimal { return e.params[i].(decimal.Decimal) }}, true
			case paramString:
				return fastExpr{kind: fastString, s: func(e *env) string { return e.params[i].(string) }}, true
			}
		}
		return fastExpr{}, false
	}
	f, ok := fieldGetters[id.Value+"."+prop.Value]
	return f, ok
}
