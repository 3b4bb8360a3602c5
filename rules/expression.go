package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// want is the result type an expression must have.
type want int

const (
	wantBool  want = iota
	wantMoney      // decimal.Decimal
	wantKey        // bool, int, string or money: an order key or a bucket key
)

// The roots each kind of expression may read.
var (
	ctxLinkAdjustment = []string{rootAdjustment, rootCharge, rootRequest, rootParams}
	ctxLinkSplit      = []string{rootSplit, rootCharge, rootRequest, rootParams}
	ctxCredit         = []string{rootCredit, rootRequest, rootParams}
	ctxCharge         = []string{rootCharge, rootRequest, rootParams}
	ctxRequest        = []string{rootRequest, rootParams}
	ctxPair           = []string{rootCredit, rootCharge, rootRequest, rootParams}
	ctxRequirement    = []string{rootSplit, rootCharge, rootRequest, rootParams}
)

// program is one compiled expression.
type program struct {
	path string
	prog *vm.Program
	typ  reflect.Type
	// fast, when set, computes the same value without the VM (see fast.go).
	fast *fastExpr
}

// verifyFast makes every evaluation run both the fast path and the VM and
// panic if they disagree. Tests set it.
var verifyFast bool

// run evaluates p on the VM. A bounded operation that went over its limit
// is a *BudgetError; any other failure an *EvalError.
func (p *program) run(m *vm.VM, e *env) (any, error) {
	out, err := m.Run(p.prog, e.value)
	if err != nil {
		if be := budgetOf(p.path, err); be != nil {
			return nil, be
		}
		return nil, &EvalError{Path: p.path, Err: err}
	}
	return out, nil
}

// value evaluates p, on the fast path if it has one, as one step of the
// plan's budget.
func (p *program) value(m *vm.VM, e *env) (any, error) {
	if err := e.meter.step(p.path); err != nil {
		return nil, err
	}
	if p.fast == nil {
		return p.run(m, e)
	}
	var v any
	switch p.fast.kind {
	case fastBool:
		v = p.fast.b(e)
	case fastString:
		v = p.fast.s(e)
	case fastInt:
		v = p.fast.i(e)
	case fastMoney:
		v = p.fast.d(e)
	}
	fault := e.takeFault(p.path)
	if verifyFast {
		p.verify(m, e, v, fault)
	}
	if fault != nil {
		return nil, fault
	}
	return v, nil
}

// verify runs p on the VM too and panics if it disagrees with the fast
// path's value v (or its fault).
func (p *program) verify(m *vm.VM, e *env, v any, fault error) {
	slow, err := p.run(m, e)
	switch {
	case (err != nil) != (fault != nil):
		panic(fmt.Sprintf("%s: fast path gave %v (fault %v), VM %v (error %v)", p.path, v, fault, slow, err))
	case err != nil:
		return
	}
	if d, ok := v.(decimal.Decimal); ok {
		if !d.Equal(slow.(decimal.Decimal)) {
			panic(fmt.Sprintf("%s: fast path gave %v, VM %v", p.path, v, slow))
		}
	} else if v != slow {
		panic(fmt.Sprintf("%s: fast path gave %v, VM %v", p.path, v, slow))
	}
}

func (p *program) bool(m *vm.VM, e *env) (bool, error) {
	if p.fast != nil && !verifyFast {
		if err := e.meter.step(p.path); err != nil {
			return false, err
		}
		b := p.fast.b(e)
		return b, e.takeFault(p.path)
	}
	out, err := p.value(m, e)
	if err != nil {
		return false, err
	}
	return out.(bool), nil
}

// cents evaluates a money expression, truncating to the cent.
func (p *program) cents(m *vm.VM, e *env) (int64, error) {
	out, err := p.value(m, e)
	if err != nil {
		return 0, err
	}
	return truncCents(out.(decimal.Decimal)), nil
}

// key evaluates a key expression to a comparable value: a string for bucket
// maps, with money normalized so that 12.5 and 12.50 are the same key.
func (p *program) key(m *vm.VM, e *env) (string, error) {
	if p.fast != nil && p.fast.kind == fastString && !verifyFast {
		if err := e.meter.step(p.path); err != nil {
			return "", err
		}
		k := p.fast.s(e)
		return k, e.takeFault(p.path)
	}
	out, err := p.value(m, e)
	if err != nil {
		return "", err
	}
	switch x := out.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case decimal.Decimal:
		return x.String(), nil
	}
	return fmt.Sprint(out), nil
}

// sortKey evaluates an order key.
func (p *program) sortKey(m *vm.VM, e *env) (sortKey, error) {
	out, err := p.value(m, e)
	if err != nil {
		return sortKey{}, err
	}
	switch x := out.(type) {
	case bool:
		if x {
			return sortKey{i: 1}, nil
		}
		return sortKey{}, nil
	case int:
		return sortKey{i: int64(x)}, nil
	case string:
		return sortKey{s: x, str: true}, nil
	case decimal.Decimal:
		return sortKey{d: x, dec: true}, nil
	}
	return sortKey{}, &EvalError{Path: p.path, Err: fmt.Errorf("order key of type %T", out)}
}

// sortKey is one evaluated order key; all values of one key expression have
// the same kind.
type sortKey struct {
	i   int64
	s   string
	d   decimal.Decimal
	str bool
	dec bool
}

func (a sortKey) compare(b sortKey) int {
	switch {
	case a.str:
		switch {
		case a.s < b.s:
			return -1
		case a.s > b.s:
			return 1
		}
		return 0
	case a.dec:
		return a.d.Cmp(b.d)
	}
	switch {
	case a.i < b.i:
		return -1
	case a.i > b.i:
		return 1
	}
	return 0
}

// compiler compiles the expressions of one document, collecting errors.
type compiler struct {
	layout    *layout
	params    map[string]bool
	paramList []param
	pos       *positions
	errs      CompileErrors
	count     int  // expressions compiled, against maxExpressions
	compiles  *int // compilations, parts included, against maxCompiles
}

// config returns a fresh expr configuration with the vetter installed.
func (c *compiler) config(v *vetter) *conf.Config {
	cfg := conf.CreateNew()
	opts := []expr.Option{expr.Env(c.layout.proto)}
	opts = append(opts, moneyOptions...)
	opts = append(opts, expr.ConstExpr("dec"), expr.Patch(v), expr.MaxNodes(maxNodes))
	for _, name := range disabledBuiltins {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	for _, op := range opts {
		op(cfg)
	}
	for name := range cfg.Disabled {
		delete(cfg.Builtins, name)
	}
	cfg.Check()
	return cfg
}

func (c *compiler) vetter(path string, roots []string) *vetter {
	v := &vetter{what: path, roots: map[string]bool{}, params: c.params}
	for _, r := range roots {
		v.roots[r] = true
	}
	return v
}

// parse parses src for analysis (no patching, no type check). It returns
// nil if src does not parse; compile reports why.
func (c *compiler) parse(src string) *parser.Tree {
	tree, err := parser.ParseWithConfig(src, c.config(&vetter{}))
	if err != nil {
		return nil
	}
	return tree
}

// compile compiles the expression src found at path. It records any error
// and returns nil.
func (c *compiler) compile(path, src string, roots []string, w want) *program {
	if c.count++; c.count > maxExpressions {
		if c.count == maxExpressions+1 {
			c.failField(path, "a policy may have at most %d expressions", maxExpressions)
		}
		return nil
	}
	if len(src) > maxExprBytes {
		c.failField(path, "the expression is %d bytes long; the limit is %d", len(src), maxExprBytes)
		return nil
	}
	c.spend()
	v := c.vetter(path, roots)
	cfg := c.config(v)
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		c.fail(path, src, err)
		return nil
	}
	return c.compileTree(path, src, tree, cfg, v, w)
}

// spend counts one compilation against the document's maxCompiles; spent
// is how many there were.
func (c *compiler) spend() {
	if c.compiles != nil {
		*c.compiles++
	}
}

func (c *compiler) spent() int {
	if c.compiles == nil {
		return 0
	}
	return *c.compiles
}

// compileNode compiles a subtree of a parsed expression (a conjunct or one
// side of an equality); positions stay those of the whole expression.
func (c *compiler) compileNode(path, src string, node ast.Node, roots []string, w want) *program {
	c.spend()
	v := c.vetter(path, roots)
	cfg := c.config(v)
	tree := &parser.Tree{Node: node, Source: file.NewSource(src)}
	return c.compileTree(path, src, tree, cfg, v, w)
}

func (c *compiler) compileTree(path, src string, tree *parser.Tree, cfg *conf.Config, v *vetter, w want) *program {
	fast, hasFast := fastCompile(tree.Node, c.paramList)
	typ, err := new(checker.Checker).PatchAndCheck(tree, cfg)
	if v.err != nil {
		c.fail(path, src, v.err.Bind(tree.Source))
		return nil
	}
	if err != nil {
		c.fail(path, src, err)
		return nil
	}
	if msg := checkType(typ, w); msg != "" {
		c.fail(path, src, (&file.Error{Location: file.Location{From: 0, To: 1}, Message: msg}).Bind(tree.Source))
		return nil
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			err = fe.Bind(tree.Source)
		}
		c.fail(path, src, err)
		return nil
	}
	prog, err := exprcompiler.Compile(tree, cfg)
	if err != nil {
		c.fail(path, src, err)
		return nil
	}
	p := &program{path: path, prog: prog, typ: typ}
	if hasFast && fast.kind == fastKindOf(typ) {
		p.fast = &fast
	}
	return p
}

func fastKindOf(t reflect.Type) fastKind {
	switch {
	case t == decimalType:
		return fastMoney
	case t == nil:
		return 0
	case t.Kind() == reflect.Bool:
		return fastBool
	case t.Kind() == reflect.String:
		return fastString
	case t.Kind() == reflect.Int:
		return fastInt
	}
	return 0
}

func checkType(t reflect.Type, w want) string {
	name := "unknown"
	if t != nil {
		name = t.String()
	}
	switch w {
	case wantBool:
		if t == nil || t.Kind() != reflect.Bool {
			return fmt.Sprintf("expected bool, but got %s", name)
		}
	case wantMoney:
		if t != decimalType {
			return fmt.Sprintf("expected money (decimal.Decimal), but got %s; write literals as dec(\"12.50\")", name)
		}
	case wantKey:
		if t == nil || (t != decimalType && t.Kind() != reflect.Bool && t.Kind() != reflect.Int && t.Kind() != reflect.String) {
			return fmt.Sprintf("expected bool, int, string or money, but got %s", name)
		}
	}
	return ""
}

// fail records err for the expression at path.
func (c *compiler) fail(path, src string, err error) {
	ce := &CompileError{Path: path, Message: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Snippet == "" {
			fe = fe.Bind(file.NewSource(src))
		}
		ce.Message = fe.Message
		ce.Snippet = fe.Snippet
		ce.ExprLine = fe.Line
		ce.ExprColumn = fe.Column + 1
	}
	if ce.ExprLine == 0 {
		ce.ExprLine, ce.ExprColumn = 1, 1
	}
	ce.Line, ce.Column = c.pos.locate(path, ce.ExprLine, ce.ExprColumn)
	c.errs = append(c.errs, ce)
}

// failField records a problem that is not inside an expression.
func (c *compiler) failField(path, format string, args ...any) {
	ce := &CompileError{Path: path, Message: fmt.Sprintf(format, args...)}
	ce.Line, ce.Column = c.pos.node(path)
	c.errs = append(c.errs, ce)
}
