package rules

import (
	"encoding/json"
	"errors"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Document is a policy as written: YAML for people, JSON for storage (the
// two round-trip). Every string field named like an expression holds an expr
// expression; docs/rules.md is the reference.
type Document struct {
	// Name identifies the policy (fifo, rigorous, my-practice-rigorous).
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Params are named, typed switches the expressions read as params.name.
	Params map[string]Param `json:"params,omitempty" yaml:"params,omitempty"`
	// Links says which explicit links count.
	Links Links `json:"links" yaml:"links"`
	// Offsets are stages run silently before every operation: they net
	// credits against charges without posting anything (unattached
	// adjustments offsetting each other).
	Offsets []Stage `json:"offsets,omitempty" yaml:"offsets,omitempty"`
	// Credits says which credits may be spent, how much, and in what order.
	Credits Credits `json:"credits" yaml:"credits"`
	// Charges says which charges may receive money, and in what order.
	Charges Charges `json:"charges" yaml:"charges"`
	// Stages pair credits with charges, in order.
	Stages []Stage `json:"stages" yaml:"stages"`
	// Cap, if set, is a money expression over credit and charge: the most
	// one move may carry.
	Cap string `json:"cap,omitempty" yaml:"cap,omitempty"`
	// Unearned says where money parked in unearned goes.
	Unearned Unearned `json:"unearned" yaml:"unearned"`
	// Leftover says what happens to credit left after the stages; the first
	// rule whose when holds applies. No rule applying means keep.
	Leftover []Leftover `json:"leftover,omitempty" yaml:"leftover,omitempty"`
	// Requirements are checked on every proposed split.
	Requirements []Requirement `json:"requirements,omitempty" yaml:"requirements,omitempty"`
	// Examples are scenarios the policy must reproduce; see
	// Policy.CheckExamples.
	Examples []Scenario `json:"examples,omitempty" yaml:"examples,omitempty"`
}

// Param declares a param: type bool, money or string, and a default
// (money defaults are quoted decimals).
type Param struct {
	Type        string `json:"type" yaml:"type"`
	Default     any    `json:"default,omitempty" yaml:"default,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Links are the conditions under which explicit links count. Empty means
// always.
type Links struct {
	// Adjustment: over adjustment and charge (the procedure it names);
	// true folds the adjustment into the procedure.
	Adjustment string `json:"adjustment,omitempty" yaml:"adjustment,omitempty"`
	// Split: over split and charge (its target); true makes the split pay
	// the charge, false leaves it a loose (MISALLOCATED) credit.
	Split string `json:"split,omitempty" yaml:"split,omitempty"`
	// Relink: over adjustment and charge (the procedure it is folded
	// into); true makes a transfer re-link money sitting on the folded
	// adjustment to the procedure (−x from the adjustment to unearned, then
	// to the procedure), so the splits say where the money is. Empty means
	// never.
	Relink string `json:"relink,omitempty" yaml:"relink,omitempty"`
}

// Credits selects and orders credits.
type Credits struct {
	// Filter: bool over credit; empty means every credit.
	Filter string `json:"filter,omitempty" yaml:"filter,omitempty"`
	// Spendable: money over credit, how much of it a plan may move; empty
	// means credit.amount.
	Spendable string `json:"spendable,omitempty" yaml:"spendable,omitempty"`
	// Order: keys (bool, int, string or money) sorted ascending, false
	// before true; the planner appends date, kind rank and id.
	Order []string `json:"order,omitempty" yaml:"order,omitempty"`
}

// Charges selects and orders what may receive money.
type Charges struct {
	Filter string   `json:"filter,omitempty" yaml:"filter,omitempty"`
	Order  []string `json:"order,omitempty" yaml:"order,omitempty"`
}

// Stage is one step of pairing. A stage has either Match (pair credits with
// charges) or Park (move credits to unearned).
type Stage struct {
	Name string `json:"name" yaml:"name"`
	// When: bool over request and params; the stage runs only when true.
	When string `json:"when,omitempty" yaml:"when,omitempty"`
	// Match: bool over credit and charge; pairs that match move money,
	// charges in charge order, each taking from credits in credit order.
	Match string `json:"match,omitempty" yaml:"match,omitempty"`
	// Park: bool over credit; credits that match move, whole, into unearned
	// in their own patient/provider/location bucket (see Unearned). Park
	// stages only run when a plan posts, never while linking.
	Park string `json:"park,omitempty" yaml:"park,omitempty"`
	// Cap overrides the policy's cap in this stage.
	Cap string `json:"cap,omitempty" yaml:"cap,omitempty"`
}

// Unearned configures money this policy puts into unearned.
type Unearned struct {
	// Type is the unearned type's name or id; empty means the practice's
	// default type.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// KeepProvider: bool over credit; true keeps the credit's provider on
	// the unearned money, false (or empty) leaves it without one.
	KeepProvider string `json:"keepProvider,omitempty" yaml:"keepProvider,omitempty"`
	// Shortfall: bool over request and params; true lets ALLOCATE_UNEARNED
	// draw an amount beyond the unearned money there is from the default
	// type without a provider (negative unearned), as request.force does.
	// Empty means never.
	Shortfall string `json:"shortfall,omitempty" yaml:"shortfall,omitempty"`
}

// Leftover is one rule for credit left after the stages.
type Leftover struct {
	// When: bool over credit; empty means always.
	When string `json:"when,omitempty" yaml:"when,omitempty"`
	// To is unearned, keep or refuse.
	To string `json:"to" yaml:"to"`
	// Message explains a refusal.
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
}

// Leftover destinations.
const (
	LeftoverUnearned = "unearned"
	LeftoverKeep     = "keep"
	LeftoverRefuse   = "refuse"
)

// Requirement is checked on every proposed split; a split for which Check
// is false refuses the whole plan with Message.
type Requirement struct {
	Name    string `json:"name" yaml:"name"`
	Check   string `json:"check" yaml:"check"`
	Message string `json:"message" yaml:"message"`
}

// parseDocument decodes a YAML or JSON policy document and indexes the
// positions of its values. A document over its size or depth budget, or
// with an alias, is refused before it is parsed (preScan); a control
// character in the decoded document is refused after. A syntax or shape
// error is returned as CompileErrors.
func parseDocument(src []byte) (Document, *positions, error) {
	var doc Document
	if ce := preScan(src); ce != nil {
		return doc, nil, CompileErrors{ce}
	}
	f, perr := parser.ParseBytes(src, 0)
	if perr != nil {
		return doc, nil, CompileErrors{yamlError(perr)}
	}
	pos := newPositions(src, f)
	if err := yaml.UnmarshalWithOptions(src, &doc, yaml.DisallowUnknownField()); err != nil {
		return doc, pos, CompileErrors{yamlError(err)}
	}
	if ce := controlText(reflect.ValueOf(doc), "", pos); ce != nil {
		return doc, pos, CompileErrors{ce}
	}
	if ce := controlSource(src); ce != nil {
		return doc, pos, CompileErrors{ce}
	}
	return doc, pos, nil
}

func yamlError(err error) *CompileError {
	ce := &CompileError{Message: err.Error()}
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &ye) {
		ce.Message = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			ce.Line, ce.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return ce
}

// JSON returns d as canonical JSON: the storage form. Decoding it with
// Compile gives the same policy.
func (d Document) JSON() ([]byte, error) { return json.Marshal(d) }

// YAML returns d as YAML.
func (d Document) YAML() ([]byte, error) { return yaml.Marshal(d) }
