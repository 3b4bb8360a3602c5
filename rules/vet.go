package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/shopspring/decimal"
)

// maxNodes bounds the size of one expression (expr.MaxNodes).
const maxNodes = 300

// allowedBuiltins are the only expr builtins in a policy's environment:
// what an allocation rule needs to test ids, codes and small lists. The
// others are not there at all: those that build strings or collections
// (repeat, replace, join, split, toJSON, map, reduce, sortBy, groupBy,
// concat, flatten, ...) could make one evaluation allocate without bound,
// the clock and time zones would make plans depend on when they run, and
// the float ones would bring floats near money.
var allowedBuiltins = []string{"len", "all", "any", "none", "one", "filter", "count",
	"hasPrefix", "hasSuffix", "lower", "upper", "trim", "string", "int", "abs", "min", "max"}

var (
	clockBuiltins = []string{"now", "date", "duration", "timezone"}
	floatBuiltins = []string{"float", "mean", "median", "round", "ceil", "floor", "fromJSON"}
)

// disabledBuiltins are every expr builtin but the allowed ones.
var disabledBuiltins = func() []string {
	var names []string
	for _, f := range builtin.Builtins {
		if !slices.Contains(allowedBuiltins, f.Name) {
			names = append(names, f.Name)
		}
	}
	return names
}()

func isBuiltin(name string) bool {
	_, ok := builtin.Index[name]
	return ok
}

// vetBuiltin refuses a call to a builtin that is not allowed.
func (v *vetter) vetBuiltin(n ast.Node, name string) {
	switch {
	case slices.Contains(clockBuiltins, name):
		v.fail(n, "%s() is not available: a plan may not depend on the clock or time zones; use request.asOf or ageDays", name)
	case slices.Contains(floatBuiltins, name):
		v.fail(n, "%s() is not available: it works in floats, and money is decimal", name)
	case !slices.Contains(allowedBuiltins, name):
		v.fail(n, "%s() is not available in a policy (builtins: %s)", name, strings.Join(allowedBuiltins, ", "))
	}
}

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
		v.vetBinary(n)
	case *ast.BuiltinNode:
		v.vetBuiltin(n, n.Name)
		if n.Name == "string" && len(n.Arguments) == 1 && !scalar(n.Arguments[0].Type()) {
			v.fail(n.Arguments[0], "string() takes a string, int, bool or money value")
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
			case isBuiltin(callee.Value):
				v.vetBuiltin(n, callee.Value)
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
	d, err := decimal.NewFromString(s.Value)
	if err != nil {
		v.fail(n.Arguments[0], "dec(%q): not a decimal number", s.Value)
		return
	}
	if _, ol := boundMoney(d); ol != nil {
		v.fail(n.Arguments[0], "dec(%q): %s", s.Value, ol.message)
	}
}

// vetBinary refuses the operators a rule may not use: those that yield
// floats, ranges (a..b allocates its whole range), matches (a regular
// expression built while planning), and + between values whose types the
// checker does not know (it could join strings without the bound strAdd
// puts on them).
func (v *vetter) vetBinary(n *ast.BinaryNode) {
	switch n.Operator {
	case "/", "**", "^":
		v.fail(n, "operator %s is not allowed: it yields a float", n.Operator)
	case "..":
		v.fail(n, "ranges (a..b) are not allowed: list the values, or compare with < and >")
	case "matches":
		v.fail(n, "matches is not allowed: use hasPrefix, hasSuffix, contains or ==")
	case "+":
		if !known(n.Left.Type()) || !known(n.Right.Type()) {
			v.fail(n, "+ needs operands of known types (int, money or string)")
		}
	}
}

// known reports whether the checker knows t (not nil, not an interface).
func known(t reflect.Type) bool { return t != nil && t.Kind() != reflect.Interface }

// scalar reports whether t is a string, int, bool or money.
func scalar(t reflect.Type) bool {
	if !known(t) {
		return false
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Bool:
		return true
	}
	return t == decimalType
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
