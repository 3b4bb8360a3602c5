package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysplit/paysplit/rules"
)

// AllocationOperation is what an allocation plan is for. The values are the
// rules package's operations.
type AllocationOperation string

// Allocation operations.
const (
	OperationAutoSplit        AllocationOperation = AllocationOperation(rules.AutoSplit)
	OperationTransfer         AllocationOperation = AllocationOperation(rules.Transfer)
	OperationAllocateUnearned AllocationOperation = AllocationOperation(rules.AllocateUnearned)
	OperationReapply          AllocationOperation = AllocationOperation(rules.Reapply)
	OperationCreditManagement AllocationOperation = AllocationOperation(rules.CreditManagement)
)

// BuiltinDefaultPolicy is the policy an operation uses when the practice has
// set no default for it.
const BuiltinDefaultPolicy = "rigorous"

// policyName is what a saved policy may be called: lower-case letters,
// digits, '-', '_' and '.', starting with a letter or digit. "@" is left
// out so that "name@version" is unambiguous.
var policyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// PolicyVersion is one saved version of a practice's policy, as stored.
type PolicyVersion struct {
	ID        ID
	Name      string
	Version   int
	Source    string // the document as written
	Document  string // its canonical JSON
	Hash      string // SHA-256 of Document
	SavedAt   time.Time
	SavedBy   *ID // the API key that saved it
	SavedRole Role
}

// PolicyDefault is a practice's default policy for an operation. Version 0
// follows the latest version of Name.
type PolicyDefault struct {
	Operation AllocationOperation
	Name      string
	Version   int
	SetAt     time.Time
	SetBy     *ID
}

// AllocationRecord is a plan the engine committed, as stored: the receipt it
// posted (nil when it moved nothing) and the plan as JSON.
type AllocationRecord struct {
	ID            ID
	ReceiptID     *ID
	Operation     AllocationOperation
	GuarantorID   ID
	PolicyName    string
	PolicyVersion int
	AsOf          Date
	Plan          []byte
	CreatedAt     time.Time
}

// AllocationReader is what the policies and the engine read from the Store.
type AllocationReader interface {
	// Policies returns saved policy versions by id.
	Policies(ctx context.Context, practiceID ID, ids []ID) ([]PolicyVersion, error)
	// PolicyVersions lists every saved version of the practice's policies,
	// by name then version.
	PolicyVersions(ctx context.Context, practiceID ID) ([]PolicyVersion, error)
	// PolicyNamed returns version of the named policy, the latest when
	// version is 0, or ErrNotFound.
	PolicyNamed(ctx context.Context, practiceID ID, name string, version int) (PolicyVersion, error)
	// PolicyDefaults lists the practice's default policies.
	PolicyDefaults(ctx context.Context, practiceID ID) ([]PolicyDefault, error)
	// AllocationRecords returns committed plans by their id or by the id of
	// the receipt they posted.
	AllocationRecords(ctx context.Context, practiceID ID, ids []ID) ([]AllocationRecord, error)
}

// AllocationWriter is what the policies and the engine write.
type AllocationWriter interface {
	// InsertPolicy stores the next version of p.Name and sets p.Version.
	InsertPolicy(ctx context.Context, practiceID ID, p *PolicyVersion) error
	// SetPolicyDefault sets (or replaces) the default for d.Operation.
	SetPolicyDefault(ctx context.Context, practiceID ID, d PolicyDefault) error
	// ClearPolicyDefault removes the default for op, if any.
	ClearPolicyDefault(ctx context.Context, practiceID ID, op AllocationOperation) error
	// InsertReceipts writes receipts and all their splits (each split names
	// its receipt) with a fixed number of statements.
	InsertReceipts(ctx context.Context, practiceID ID, rs []Receipt, splits []Split) error
	// InsertAllocationRecords writes committed plans.
	InsertAllocationRecords(ctx context.Context, practiceID ID, recs []AllocationRecord) error
}

// PolicyRef names the policy version a plan was made with.
type PolicyRef struct {
	Name    string
	Version int
	Builtin bool
}

func (r PolicyRef) String() string { return r.Name + "@" + strconv.Itoa(r.Version) }

// Policy is an allocation policy version: a built-in (version 1, read-only)
// or one the practice saved.
type Policy struct {
	PolicyRef
	Document    string // the document as written (YAML or JSON)
	JSON        string // its canonical JSON, the form plans depend on
	Hash        string
	Description string
	Stages      []string
	Params      []PolicyParam
	SavedAt     *time.Time
	SavedBy     *ID
}

// PolicyParam is a param a policy declares; Default is its text form.
type PolicyParam struct {
	Name        string
	Type        string
	Default     string
	Description string
}

// NewPolicy is a document to save as the next version of its name.
type NewPolicy struct {
	// Name, when given, must equal the document's name.
	Name           string
	Document       string
	IdempotencyKey string `json:"-"`
}

// PolicyDefaultChange sets or clears the practice's default for an
// operation: Policy is "name" (follow the latest version), "name@version",
// or "" to fall back to the built-in default.
type PolicyDefaultChange struct {
	Operation      AllocationOperation
	Policy         string
	IdempotencyKey string `json:"-"`
}

// policyCache holds compiled policies by practice, name and version, shared
// by every request. A saved version never changes, so entries never go
// stale; the oldest are forgotten when the cache is full (max policies, or
// rules.CacheBytes of their sources). Compilation goes through a
// rules.Cache, so practices that save the same text share one compiled
// policy.
type policyCache struct {
	mu       sync.Mutex
	max      int
	bytes    int // of the cached policies' sources
	m        map[policyKey]*rules.Policy
	sizes    map[policyKey]int
	order    []policyKey
	compiled *rules.Cache
}

type policyKey struct {
	practice ID
	name     string
	version  int
}

func newPolicyCache(size int) *policyCache {
	return &policyCache{max: size, m: map[policyKey]*rules.Policy{}, sizes: map[policyKey]int{}, compiled: rules.NewCache(size)}
}

func (c *policyCache) get(k policyKey) *rules.Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

// compile returns the compiled policy of a stored version.
func (c *policyCache) compile(pid ID, v PolicyVersion) (*rules.Policy, error) {
	k := policyKey{pid, v.Name, v.Version}
	if p := c.get(k); p != nil {
		return p, nil
	}
	p, err := c.compiled.Compile([]byte(v.Source))
	if err != nil {
		return nil, fmt.Errorf("policy %s@%d no longer compiles: %w", v.Name, v.Version, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.m[k], c.sizes[k] = p, len(v.Source)
		c.order = append(c.order, k)
		c.bytes += len(v.Source)
		for len(c.order) > 1 && (len(c.order) > c.max || c.bytes > rules.CacheBytes) {
			c.bytes -= c.sizes[c.order[0]]
			delete(c.m, c.order[0])
			delete(c.sizes, c.order[0])
			c.order = c.order[1:]
		}
	}
	return p, nil
}

// policyCacheSize bounds the compiled policies a Ledger keeps.
const policyCacheSize = 512

// policies returns the ledger's compiled-policy cache.
func (l *Ledger) policies() *policyCache { return l.compiled }

// resolvedPolicy is a compiled policy and the version it is, with the
// ledger's plan timeout.
type resolvedPolicy struct {
	ref     PolicyRef
	p       *rules.Policy
	timeout time.Duration
}

// planning bounds one plan under ctx by the plan timeout.
func (pol resolvedPolicy) planning(ctx context.Context) (context.Context, context.CancelFunc) {
	return withPlanTimeout(ctx, pol.timeout)
}

// parsePolicyRef reads "name" or "name@version".
func parsePolicyRef(field, s string) (name string, version int, err error) {
	name = strings.TrimSpace(s)
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		v, perr := strconv.Atoi(name[at+1:])
		if perr != nil || v < 1 {
			return "", 0, Invalid(field, "%q: a version after @ is a positive number", s)
		}
		name, version = name[:at], v
	}
	switch {
	case name == "":
		return "", 0, Invalid(field, "name a policy")
	case !policyName.MatchString(name): // nothing saved is called so
		return "", 0, Invalid(field, "no policy named %q", name)
	}
	return name, version, text(field, name, maxName, true)
}

// resolvePolicy finds and compiles the policy ref names for op: the
// practice's default for op when ref is empty (or the built-in default),
// a built-in by name, or a saved version (the latest without @version).
// An unknown policy is bad input in field.
func (l *Ledger) resolvePolicy(ctx context.Context, r Reader, pid ID, ref string, op AllocationOperation, field string) (resolvedPolicy, error) {
	var name string
	var version int
	if strings.TrimSpace(ref) == "" {
		defs, err := r.PolicyDefaults(ctx, pid)
		if err != nil {
			return resolvedPolicy{}, err
		}
		name = BuiltinDefaultPolicy
		for _, d := range defs {
			if d.Operation == op {
				name, version = d.Name, d.Version
			}
		}
	} else {
		var err error
		if name, version, err = parsePolicyRef(field, ref); err != nil {
			return resolvedPolicy{}, err
		}
	}
	if p, ok := rules.Builtin(name); ok {
		if version > 1 {
			return resolvedPolicy{}, Invalid(field, "built-in policy %s has only version 1", name)
		}
		return resolvedPolicy{ref: PolicyRef{Name: name, Version: 1, Builtin: true}, p: p, timeout: l.planTimeout}, nil
	}
	cache := l.policies()
	if version > 0 {
		if p := cache.get(policyKey{pid, name, version}); p != nil {
			return resolvedPolicy{ref: PolicyRef{Name: name, Version: version}, p: p, timeout: l.planTimeout}, nil
		}
	}
	v, err := r.PolicyNamed(ctx, pid, name, version)
	if errors.Is(err, ErrNotFound) {
		if version > 0 {
			return resolvedPolicy{}, Invalid(field, "policy %s has no version %d", name, version)
		}
		return resolvedPolicy{}, Invalid(field, "no policy named %q", name)
	}
	if err != nil {
		return resolvedPolicy{}, err
	}
	p, err := cache.compile(pid, v)
	if err != nil {
		return resolvedPolicy{}, err
	}
	return resolvedPolicy{ref: PolicyRef{Name: v.Name, Version: v.Version}, p: p, timeout: l.planTimeout}, nil
}

// policyOf describes a compiled policy.
func policyOf(ref PolicyRef, p *rules.Policy, source string) Policy {
	doc := p.Document()
	out := Policy{PolicyRef: ref, Document: source, JSON: string(p.JSON()), Hash: p.Hash(),
		Description: strings.TrimSpace(doc.Description), Stages: p.Stages()}
	for _, name := range slices.Sorted(maps.Keys(doc.Params)) {
		prm := doc.Params[name]
		def := ""
		if prm.Default != nil {
			def = fmt.Sprint(prm.Default)
		}
		out.Params = append(out.Params, PolicyParam{Name: name, Type: prm.Type, Default: def, Description: strings.TrimSpace(prm.Description)})
	}
	return out
}

func builtinPolicy(name string) (Policy, bool) {
	p, ok := rules.Builtin(name)
	if !ok {
		return Policy{}, false
	}
	src, _ := rules.BuiltinDocument(name)
	return policyOf(PolicyRef{Name: name, Version: 1, Builtin: true}, p, string(src)), true
}

func (l *Ledger) savedPolicy(pid ID, v PolicyVersion) (Policy, error) {
	p, err := l.policies().compile(pid, v)
	if err != nil {
		return Policy{}, err
	}
	out := policyOf(PolicyRef{Name: v.Name, Version: v.Version}, p, v.Source)
	out.SavedAt, out.SavedBy = &v.SavedAt, v.SavedBy
	return out, nil
}

// AllocationPolicies lists the policies a practice can use: the built-ins,
// then the latest version of each saved name.
func (l *Ledger) AllocationPolicies(ctx context.Context, practiceID ID) ([]Policy, error) {
	var out []Policy
	for _, name := range rules.BuiltinNames() {
		p, _ := builtinPolicy(name)
		out = append(out, p)
	}
	vs, err := l.store.PolicyVersions(ctx, practiceID)
	if err != nil {
		return nil, err
	}
	latest := map[string]PolicyVersion{}
	var names []string
	for _, v := range vs {
		if _, ok := latest[v.Name]; !ok {
			names = append(names, v.Name)
		}
		if v.Version > latest[v.Name].Version {
			latest[v.Name] = v
		}
	}
	slices.Sort(names)
	for _, n := range names {
		p, err := l.savedPolicy(practiceID, latest[n])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// AllocationPolicy returns a version of a policy (the latest when version
// is 0). A built-in has only version 1. An unknown name or version is
// ErrNotFound.
func (l *Ledger) AllocationPolicy(ctx context.Context, practiceID ID, name string, version int) (Policy, error) {
	if version < 0 {
		return Policy{}, Invalid("version", "must be positive")
	}
	if err := text("name", name, maxName, true); err != nil {
		return Policy{}, err
	}
	if p, ok := builtinPolicy(name); ok {
		if version > 1 {
			return Policy{}, fmt.Errorf("built-in policy %s has only version 1: %w", name, ErrNotFound)
		}
		return p, nil
	}
	v, err := l.store.PolicyNamed(ctx, practiceID, name, version)
	if err != nil {
		return Policy{}, err
	}
	return l.savedPolicy(practiceID, v)
}

// PolicyVersionNumbers lists the saved versions of a name (1 for a
// built-in).
func (l *Ledger) PolicyVersionNumbers(ctx context.Context, practiceID ID, name string) ([]int, error) {
	if _, ok := rules.Builtin(name); ok {
		return []int{1}, nil
	}
	vs, err := l.store.PolicyVersions(ctx, practiceID)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, v := range vs {
		if v.Name == name {
			out = append(out, v.Version)
		}
	}
	return out, nil
}

// ValidatePolicy compiles a document, type-checks and vets every
// expression, checks the name it would be saved under, and runs the
// document's examples, without saving anything. It returns
// rules.CompileErrors for problems in the document and an *InputError for
// a bad name or a failing example.
func (l *Ledger) ValidatePolicy(ctx context.Context, a Actor, document string) (Policy, error) {
	p, err := l.checkDocument(ctx, "", document)
	if err != nil {
		return Policy{}, err
	}
	return policyOf(PolicyRef{Name: p.Name()}, p, document), nil
}

// checkDocument compiles and checks a document for saving under name (the
// document's own name when empty). Its examples run within the plan
// timeout; one over its budget is a *rules.BudgetError.
func (l *Ledger) checkDocument(ctx context.Context, name, document string) (*rules.Policy, error) {
	if strings.TrimSpace(document) == "" {
		return nil, Invalid("document", "is empty")
	}
	if err := CheckText(document, true); err != nil {
		return nil, Invalid("document", "%v", err)
	}
	p, err := rules.Compile([]byte(document)) // not cached: any key may send any document
	if err != nil {
		return nil, err
	}
	switch n := p.Name(); {
	case name != "" && name != n:
		return nil, Invalid("name", "%q differs from the document's name %q", name, n)
	case !policyName.MatchString(n):
		return nil, Invalid("document", "policy name %q: use lower-case letters, digits, '-', '_' and '.' (at most 64)", n)
	}
	if _, ok := rules.Builtin(p.Name()); ok {
		return nil, Invalid("document", "%q is a built-in policy and cannot be changed; rename your copy", p.Name())
	}
	ctx, cancel := withPlanTimeout(ctx, l.planTimeout)
	defer cancel()
	if err := p.CheckExamplesContext(ctx); err != nil {
		if errors.Is(err, rules.ErrBudget) || ctx.Err() != nil {
			return nil, err
		}
		return nil, Invalid("document", "examples: %v", err)
	}
	return p, nil
}

// SavePolicy compiles a document, runs its examples and stores it as the
// next version of its name (version 1 for a new name). Only ADMIN keys may
// save policies. Built-in names are reserved.
func (l *Ledger) SavePolicy(ctx context.Context, a Actor, in NewPolicy) (Policy, error) {
	if a.Role != RoleAdmin {
		return Policy{}, fmt.Errorf("savePolicy: role %s may not change policies: %w", a.Role, ErrForbidden)
	}
	p, err := l.checkDocument(ctx, strings.TrimSpace(in.Name), in.Document)
	if err != nil {
		return Policy{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "savePolicy", key: in.IdempotencyKey, input: in, policy: p.Name()}, func(tx Tx) (ID, error) {
		v := PolicyVersion{ID: newID(), Name: p.Name(), Source: in.Document, Document: string(p.JSON()), Hash: p.Hash(),
			SavedAt: l.stamp(), SavedRole: a.Role, SavedBy: a.Key()}
		return v.ID, tx.InsertPolicy(ctx, a.PracticeID, &v)
	})
	if err != nil {
		return Policy{}, err
	}
	vs, err := l.store.Policies(ctx, a.PracticeID, []ID{id})
	v, err := one(vs, err, "policy", id)
	if err != nil {
		return Policy{}, err
	}
	return l.savedPolicy(a.PracticeID, v)
}

// EffectivePolicyDefault is the policy an operation uses when a request
// names none.
type EffectivePolicyDefault struct {
	Operation AllocationOperation
	Policy    string // "name" (latest version) or "name@version"
	// Set is false when the practice has set nothing and the built-in
	// default applies.
	Set   bool
	SetAt *time.Time
	SetBy *ID
}

// defaultOperations are the operations a default can be set for, in order:
// those the engine runs (re-apply and credit management come with them).
var defaultOperations = []AllocationOperation{OperationAutoSplit, OperationTransfer, OperationAllocateUnearned}

// PolicyDefaults returns the default policy of every operation.
func (l *Ledger) PolicyDefaults(ctx context.Context, practiceID ID) ([]EffectivePolicyDefault, error) {
	defs, err := l.store.PolicyDefaults(ctx, practiceID)
	if err != nil {
		return nil, err
	}
	byOp := map[AllocationOperation]PolicyDefault{}
	for _, d := range defs {
		byOp[d.Operation] = d
	}
	out := make([]EffectivePolicyDefault, len(defaultOperations))
	for i, op := range defaultOperations {
		out[i] = EffectivePolicyDefault{Operation: op, Policy: BuiltinDefaultPolicy}
		if d, ok := byOp[op]; ok {
			out[i].Policy, out[i].Set, out[i].SetAt, out[i].SetBy = d.Name, true, &d.SetAt, d.SetBy
			if d.Version > 0 {
				out[i].Policy = fmt.Sprintf("%s@%d", d.Name, d.Version)
			}
		}
	}
	return out, nil
}

// SetDefaultPolicy sets the practice's default policy for an operation, or
// clears it (Policy "") so that the built-in default applies. The policy
// must exist. Only ADMIN keys may change defaults.
func (l *Ledger) SetDefaultPolicy(ctx context.Context, a Actor, in PolicyDefaultChange) ([]EffectivePolicyDefault, error) {
	if a.Role != RoleAdmin {
		return nil, fmt.Errorf("setDefaultPolicy: role %s may not change policies: %w", a.Role, ErrForbidden)
	}
	if !slices.Contains(defaultOperations, in.Operation) {
		return nil, Invalid("operation", "no default can be set for operation %q", in.Operation)
	}
	var name string
	var version int
	if strings.TrimSpace(in.Policy) != "" {
		var err error
		if name, version, err = parsePolicyRef("policy", in.Policy); err != nil {
			return nil, err
		}
		// It must exist (and compile).
		if _, err := l.resolvePolicy(ctx, l.store, a.PracticeID, in.Policy, in.Operation, "policy"); err != nil {
			return nil, err
		}
		if _, ok := rules.Builtin(name); ok {
			version = 0
		}
	}
	_, err := l.mutate(ctx, a, mutation{op: "setDefaultPolicy", key: in.IdempotencyKey, input: in, policy: name, polVer: version},
		func(tx Tx) (ID, error) {
			if name == "" {
				return newID(), tx.ClearPolicyDefault(ctx, a.PracticeID, in.Operation)
			}
			d := PolicyDefault{Operation: in.Operation, Name: name, Version: version, SetAt: l.stamp(), SetBy: a.Key()}
			return newID(), tx.SetPolicyDefault(ctx, a.PracticeID, d)
		})
	if err != nil {
		return nil, err
	}
	return l.PolicyDefaults(ctx, a.PracticeID)
}
