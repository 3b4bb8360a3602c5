package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/shopspring/decimal"
)

// maxNodes bounds the size of one expression (expr.MaxNodes).
const maxNodes = 300

// disabledBuiltins are the expr builtins a rule may not call: the clock and
// time zones (plans must be deterministic), and everything that yields or
// parses floats (money is decimal).
var disabledBuiltins = append(slices.Clone(clockBuiltins),
	"float", "mean", "median", "round", "ceil", "floor", "fromJSON")

var clockBuiltins = []string{"now", "date", "duration", "timezone"}

// vetter is an expr AST visitor that runs before type checking completes. It
// rejects what the type checker would let through, and rewrites unary minus
// on money into decNeg. Visit cannot fail, so it records the first problem.
type vetter struct {
	what   string          // the expression's context, for messages ("credits.filter")
	roots  map[string]bool // the roots this expression may read
	params map[string]bool // the policy's declared params
	err    *file.Error
}

func (v *vetter) fail(n ast.Node, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &file.Error{Location: n.Location(), Message: fmt.Sprintf(format, args...)}
}

func (v *vetter) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.FloatNode:
		v.fail(n, "float literals are not allowed: write money as dec(\"%v\")", n.Value)
	case *ast.BinaryNode:
		switch n.Operator {
		case "/", "**", "^":
			v.fail(n, "operator %s is not allowed: it yields a float", n.Operator)
		}
	case *ast.IdentifierNode:
		switch {
		case n.Value == "$env":
			v.fail(n, "$env is not available: read %s", v.rootList())
		case isRoot(n.Value) && !v.roots[n.Value]:
			v.fail(n, "%s is not available in %s (available: %s)", n.Value, v.what, v.rootList())
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isName := n.Property.(*ast.StringNode)
		if !ok || !isName || !v.roots[id.Value] {
			break
		}
		if id.Value == rootParams {
			if !v.params[prop.Value] {
				v.fail(n.Property, "unknown param %s: declare it under params", prop.Value)
			}
		} else if !rootFields[id.Value][prop.Value] {
			v.fail(n.Property, "%s has no field %s", id.Value, prop.Value)
		}
	case *ast.CallNode:
		switch callee := n.Callee.(type) {
		case *ast.MemberNode:
			v.fail(n, "method calls are not allowed")
		case *ast.IdentifierNode:
			switch {
			case callee.Value == "dec":
				v.vetDec(n)
			case slices.Contains(clockBuiltins, callee.Value):
				v.fail(n, "%s() is not available: a plan may not depend on the clock or time zones; use request.asOf or ageDays", callee.Value)
			case slices.Contains(disabledBuiltins, callee.Value):
				v.fail(n, "%s() is not available: it works in floats, and money is decimal", callee.Value)
			}
		}
	case *ast.UnaryNode:
		if n.Operator == "-" && n.Node.Type() == decimalType {
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: "decNeg"}, Arguments: []ast.Node{n.Node}}
			call.SetType(decimalType)
			ast.Patch(node, call)
		}
	case *ast.PredicateNode:
		if inner := findPredicate(n.Node); inner != nil {
			v.fail(inner, "nested closures over collections are not allowed")
		}
	}
}

func (v *vetter) vetDec(n *ast.CallNode) {
	if len(n.Arguments) != 1 {
		v.fail(n, "dec takes one quoted decimal, e.g. dec(\"12.50\")")
		return
	}
	s, ok := n.Arguments[0].(*ast.StringNode)
	if !ok {
		v.fail(n.Arguments[0], "dec takes a quoted decimal literal, e.g. dec(\"12.50\")")
		return
	}
	if _, err := decimal.NewFromString(s.Value); err != nil {
		v.fail(n.Arguments[0], "dec(%q): not a decimal number", s.Value)
	}
}

func (v *vetter) rootList() string {
	var names []string
	for _, r := range allRoots {
		if v.roots[r] {
			names = append(names, r)
		}
	}
	return strings.Join(names, ", ")
}

var allRoots = []string{rootCredit, rootCharge, rootAdjustment, rootSplit, rootRequest, rootParams}

func isRoot(name string) bool {
	for _, r := range allRoots {
		if r == name {
			return true
		}
	}
	return false
}

// findPredicate returns the first predicate (closure) inside n, or nil.
func findPredicate(n ast.Node) ast.Node {
	var found ast.Node
	walk(n, func(m ast.Node) bool {
		if _, ok := m.(*ast.PredicateNode); ok && found == nil {
			found = m
		}
		return found == nil
	})
	return found
}

// walk calls f on n and its descendants, pre-order, while f returns true.
func walk(n ast.Node, f func(ast.Node) bool) {
	if n == nil || !f(n) {
		return
	}
	for _, c := range children(n) {
		walk(c, f)
	}
}

// children lists the direct children of an expr AST node, in the order
// ast.Walk visits them.
func children(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

// rootsOf returns the environment roots n reads.
func rootsOf(n ast.Node) map[string]bool {
	m := map[string]bool{}
	walk(n, func(x ast.Node) bool {
		if id, ok := x.(*ast.IdentifierNode); ok && isRoot(id.Value) {
			m[id.Value] = true
		}
		return true
	})
	return m
}
