package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/shopspring/decimal"
)

// Policy is a compiled policy document. It is immutable and safe for
// concurrent use.
type Policy struct {
	doc    Document
	json   []byte
	hash   string
	layout *layout
	params []param

	linkAdjustment, linkSplit *program // nil: always
	relink                    *program // nil: never
	offsets                   []*stage
	creditFilter, spendable   *program // nil: every credit, all of it
	creditOrder               []*program
	chargeFilter              *program
	chargeOrder               []*program
	stages                    []*stage
	cap                       *program
	unearnedType              string
	keepProvider              *program // nil: never
	shortfall                 *program // nil: never
	leftover                  []leftoverRule
	requirements              []requirement
}

type stage struct {
	name  string
	path  string // stages[i] or offsets[i]
	when  *program
	park  *program
	match *matcher
	cap   *program
}

type leftoverRule struct {
	path    string
	when    *program
	to      string
	message string
}

type requirement struct {
	name, message string
	check         *program
}

// Compile parses and compiles a policy document written in YAML or JSON.
// Every expression is type-checked and vetted. When anything is wrong it
// returns CompileErrors listing every problem, in document order.
func Compile(src []byte) (*Policy, error) {
	doc, pos, err := parseDocument(src)
	if err != nil {
		return nil, err
	}
	return compileDocument(doc, pos)
}

func compileDocument(doc Document, pos *positions) (*Policy, error) {
	p := &Policy{}
	c := &compiler{pos: pos, params: map[string]bool{}, compiles: new(int)}
	if doc.Name == "" {
		c.failField("name", "a policy needs a name")
	}
	doc.Params = c.declareParams(p, doc.Params)
	p.layout = newLayout(p.params)
	c.layout, c.paramList = p.layout, p.params
	c.expressions(p, doc)
	c.leftovers(p, doc.Leftover)
	c.requirements(p, doc.Requirements)
	if len(c.errs) > 0 {
		slices.SortStableFunc(c.errs, func(a, b *CompileError) int {
			if (a.Line == 0) != (b.Line == 0) {
				return cmp.Compare(b.Line, a.Line) // unknown positions last
			}
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		return nil, c.errs
	}

	p.doc = doc
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rules: encoding policy %s: %w", doc.Name, err)
	}
	p.json = js
	sum := sha256.Sum256(js)
	p.hash = hex.EncodeToString(sum[:])
	return p, nil
}

// opt compiles src at path, or returns nil when src is empty.
func (c *compiler) opt(path, src string, roots []string, w want) *program {
	if src == "" {
		return nil
	}
	return c.compile(path, src, roots, w)
}

// declareParams declares the document's params on p, in name order so the
// layout is deterministic, and returns them with canonical defaults (nil
// when there are none).
func (c *compiler) declareParams(p *Policy, params map[string]Param) map[string]Param {
	norm := make(map[string]Param, len(params))
	if len(params) > maxParams {
		c.failField("params", "a policy may declare at most %d params", maxParams)
		params = nil
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		spec := params[name]
		path := "params." + name
		if !paramName.MatchString(name) {
			c.failField(path, "param name %q is not an identifier", name)
			continue
		}
		t := paramType(spec.Type)
		def, err := t.parseDefault(spec.Default)
		if err != nil {
			field := ".default"
			if !validType(t) {
				field = ".type"
			}
			c.failField(path+field, "%v", err)
			continue
		}
		p.params = append(p.params, param{name: name, typ: t, def: def})
		c.params[name] = true
		spec.Default = canonicalDefault(def)
		norm[name] = spec
	}
	if len(norm) > 0 {
		return norm
	}
	return nil
}

// expressions compiles the links, offsets, credits, charges, stages, cap
// and unearned settings of doc into p.
func (c *compiler) expressions(p *Policy, doc Document) {
	p.linkAdjustment = c.opt("links.adjustment", doc.Links.Adjustment, ctxLinkAdjustment, wantBool)
	p.linkSplit = c.opt("links.split", doc.Links.Split, ctxLinkSplit, wantBool)
	p.relink = c.opt("links.relink", doc.Links.Relink, ctxLinkAdjustment, wantBool)
	for i, st := range doc.Offsets {
		path := fmt.Sprintf("offsets[%d]", i)
		if st.Park != "" {
			c.failField(path+".park", "offsets only net credits against charges; they cannot park")
		}
		p.offsets = append(p.offsets, c.stage(path, st))
	}
	p.creditFilter = c.opt("credits.filter", doc.Credits.Filter, ctxCredit, wantBool)
	p.spendable = c.opt("credits.spendable", doc.Credits.Spendable, ctxCredit, wantMoney)
	for i, src := range doc.Credits.Order {
		p.creditOrder = append(p.creditOrder, c.compile(fmt.Sprintf("credits.order[%d]", i), src, ctxCredit, wantKey))
	}
	p.chargeFilter = c.opt("charges.filter", doc.Charges.Filter, ctxCharge, wantBool)
	for i, src := range doc.Charges.Order {
		p.chargeOrder = append(p.chargeOrder, c.compile(fmt.Sprintf("charges.order[%d]", i), src, ctxCharge, wantKey))
	}
	if len(doc.Stages) == 0 {
		c.failField("stages", "a policy needs at least one stage")
	}
	seen := map[string]string{}
	for i, st := range doc.Stages {
		path := fmt.Sprintf("stages[%d]", i)
		if prev, dup := seen[st.Name]; dup && st.Name != "" {
			c.failField(path+".name", "stage name %q is already used by %s", st.Name, prev)
		}
		seen[st.Name] = path
		p.stages = append(p.stages, c.stage(path, st))
	}
	p.cap = c.opt("cap", doc.Cap, ctxPair, wantMoney)
	p.unearnedType = doc.Unearned.Type
	p.keepProvider = c.opt("unearned.keepProvider", doc.Unearned.KeepProvider, ctxCredit, wantBool)
	p.shortfall = c.opt("unearned.shortfall", doc.Unearned.Shortfall, ctxRequest, wantBool)
}

// leftovers compiles the leftover rules into p.
func (c *compiler) leftovers(p *Policy, leftover []Leftover) {
	for i, l := range leftover {
		path := fmt.Sprintf("leftover[%d]", i)
		switch l.To {
		case LeftoverUnearned, LeftoverKeep:
		case LeftoverRefuse:
			if l.Message == "" {
				c.failField(path+".message", "a refusing leftover rule needs a message")
			}
		default:
			c.failField(path+".to", "to must be unearned, keep or refuse, not %q", l.To)
		}
		p.leftover = append(p.leftover, leftoverRule{
			path: path, to: l.To, message: l.Message,
			when: c.opt(path+".when", l.When, ctxCredit, wantBool),
		})
	}
}

// requirements compiles the requirements into p.
func (c *compiler) requirements(p *Policy, reqs []Requirement) {
	names := map[string]bool{}
	for i, r := range reqs {
		path := fmt.Sprintf("requirements[%d]", i)
		switch {
		case r.Name == "":
			c.failField(path+".name", "a requirement needs a name")
		case names[r.Name]:
			c.failField(path+".name", "requirement name %q is already used", r.Name)
		}
		names[r.Name] = true
		if r.Message == "" {
			c.failField(path+".message", "a requirement needs a message")
		}
		if r.Check == "" {
			c.failField(path+".check", "a requirement needs a check")
		}
		p.requirements = append(p.requirements, requirement{
			name: r.Name, message: r.Message,
			check: c.opt(path+".check", r.Check, ctxRequirement, wantBool),
		})
	}
}

func validType(t paramType) bool {
	return t == paramBool || t == paramMoney || t == paramString
}

func canonicalDefault(v any) any {
	if d, ok := v.(decimal.Decimal); ok {
		return d.StringFixed(2)
	}
	return v
}

// stage compiles one stage of stages or offsets.
func (c *compiler) stage(path string, st Stage) *stage {
	s := &stage{name: st.Name, path: path}
	if st.Name == "" {
		c.failField(path+".name", "a stage needs a name")
	}
	if st.When != "" {
		s.when = c.compile(path+".when", st.When, ctxRequest, wantBool)
	}
	switch {
	case st.Match != "" && st.Park != "":
		c.failField(path, "a stage has either match or park, not both")
	case st.Match != "":
		s.match = c.matcher(path+".match", st.Match)
	case st.Park != "":
		s.park = c.compile(path+".park", st.Park, ctxCredit, wantBool)
	default:
		c.failField(path, "a stage needs match or park")
	}
	if st.Cap != "" {
		s.cap = c.compile(path+".cap", st.Cap, ctxPair, wantMoney)
	}
	return s
}

// matcher is a stage's match expression, split so that the planner can
// bucket instead of testing every credit against every charge: the
// top-level conjuncts that read neither credit nor charge are tested once,
// those that read only one side filter that side, equalities between a
// credit-side and a charge-side expression become bucket keys, and the rest
// are tested per pair.
type matcher struct {
	constant []*program
	credit   []*program
	charge   []*program
	keys     []keyPair
	pair     []*program
}

type keyPair struct{ credit, charge *program }

func (c *compiler) matcher(path, src string) *matcher {
	whole := c.compile(path, src, ctxPair, wantBool)
	if whole == nil {
		return nil
	}
	fallback := &matcher{pair: []*program{whole}}
	tree := c.parse(src)
	if tree == nil {
		return fallback
	}
	// Compile the parts with a scratch compiler: the whole expression is
	// valid, so a part that fails to compile alone just disables the split,
	// as does a document whose compile budget the parts would exceed.
	parts := conjuncts(tree.Node)
	need := 0
	for _, n := range parts {
		need++
		if _, _, ok := keySides(n); ok {
			need++
		}
	}
	if c.spent()+need > maxCompiles {
		return fallback
	}
	sc := &compiler{layout: c.layout, params: c.params, paramList: c.paramList, compiles: c.compiles}
	m := &matcher{}
	for _, n := range parts {
		r := rootsOf(n)
		switch {
		case !r[rootCredit] && !r[rootCharge]:
			m.constant = append(m.constant, sc.compileNode(path, src, n, ctxPair, wantBool))
		case !r[rootCharge]:
			m.credit = append(m.credit, sc.compileNode(path, src, n, ctxPair, wantBool))
		case !r[rootCredit]:
			m.charge = append(m.charge, sc.compileNode(path, src, n, ctxPair, wantBool))
		default:
			if cs, hs, ok := keySides(n); ok {
				m.keys = append(m.keys, keyPair{
					credit: sc.compileNode(path, src, cs, ctxPair, wantKey),
					charge: sc.compileNode(path, src, hs, ctxPair, wantKey),
				})
			} else {
				m.pair = append(m.pair, sc.compileNode(path, src, n, ctxPair, wantBool))
			}
		}
	}
	if len(sc.errs) > 0 {
		return fallback
	}
	return m
}

// conjuncts flattens the top-level && of n.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

// keySides recognizes `<credit side> == <charge side>` (either way round)
// and returns the credit side first.
func keySides(n ast.Node) (creditSide, chargeSide ast.Node, ok bool) {
	b, isBin := n.(*ast.BinaryNode)
	if !isBin || b.Operator != "==" {
		return nil, nil, false
	}
	l, r := rootsOf(b.Left), rootsOf(b.Right)
	switch {
	case l[rootCredit] && !l[rootCharge] && r[rootCharge] && !r[rootCredit]:
		return b.Left, b.Right, true
	case r[rootCredit] && !r[rootCharge] && l[rootCharge] && !l[rootCredit]:
		return b.Right, b.Left, true
	}
	return nil, nil, false
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.doc.Name }

// Hash returns the hex SHA-256 of the policy's canonical JSON: two documents
// with the same hash plan the same way.
func (p *Policy) Hash() string { return p.hash }

// Document returns the policy's document, with param defaults normalized.
func (p *Policy) Document() Document { return p.doc }

// JSON returns the policy's canonical JSON, its storage form.
func (p *Policy) JSON() []byte { return slices.Clone(p.json) }

// Stages returns the names of the policy's stages, in order.
func (p *Policy) Stages() []string {
	names := make([]string, len(p.stages))
	for i, s := range p.stages {
		names[i] = s.name
	}
	return names
}
