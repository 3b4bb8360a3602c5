package graph_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
)

// The schema as introspection tells it: enough to call every root field
// with arguments of the right types and to select what it returns.

type ischemaType struct {
	Kind        string                  `json:"kind"`
	Name        string                  `json:"name"`
	Fields      []ischemaFld            `json:"fields"`
	InputFields []ischemaArg            `json:"inputFields"`
	EnumValues  []struct{ Name string } `json:"enumValues"`
}

type ischemaFld struct {
	Name string       `json:"name"`
	Args []ischemaArg `json:"args"`
	Type ischemaRef   `json:"type"`
}

type ischemaArg struct {
	Name string     `json:"name"`
	Type ischemaRef `json:"type"`
}

type ischemaRef struct {
	Kind   string      `json:"kind"`
	Name   string      `json:"name"`
	OfType *ischemaRef `json:"ofType"`
}

// named unwraps NON_NULL and LIST.
func (r ischemaRef) named() ischemaRef {
	for r.OfType != nil {
		r = *r.OfType
	}
	return r
}

type ischema struct {
	types map[string]ischemaType
	roots map[string][]ischemaFld // "Query", "Mutation", "Subscription"
}

const rootFieldsIntrospection = `{ __schema {
  queryType { name } mutationType { name } subscriptionType { name }
  types { kind name
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } }
    enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`

// introspect reads the served schema, without a key (introspection is open).
func introspect(t *testing.T, h *harness) ischema {
	t.Helper()
	var out struct {
		Data struct {
			Schema struct {
				QueryType, MutationType, SubscriptionType struct{ Name string }
				Types                                     []ischemaType
			} `json:"__schema"`
		}
	}
	r := h.do(t, "", rootFieldsIntrospection, nil)
	require.Empty(t, r.Errors, r.Raw)
	require.NoError(t, json.Unmarshal([]byte(r.Raw), &out))
	s := ischema{types: map[string]ischemaType{}, roots: map[string][]ischemaFld{}}
	for _, ty := range out.Data.Schema.Types {
		s.types[ty.Name] = ty
	}
	for obj, name := range map[string]string{"Query": out.Data.Schema.QueryType.Name,
		"Mutation": out.Data.Schema.MutationType.Name, "Subscription": out.Data.Schema.SubscriptionType.Name} {
		require.Equal(t, obj, name)
		s.roots[obj] = s.types[name].Fields
	}
	require.NotEmpty(t, s.roots["Query"])
	require.NotEmpty(t, s.roots["Mutation"])
	return s
}

// value builds a value of type r: every required input field is filled, ID
// values come from id(name of the field or argument).
func (s ischema) value(r ischemaRef, name string, id func(name string, required bool) string, depth int) any {
	switch r.Kind {
	case "NON_NULL":
		if r.OfType.Name == "ID" {
			return id(name, true)
		}
		return s.value(*r.OfType, name, id, depth)
	case "LIST":
		return []any{s.value(*r.OfType, name, id, depth)}
	case "ENUM":
		return s.types[r.Name].EnumValues[0].Name
	case "INPUT_OBJECT":
		o := map[string]any{}
		for _, f := range s.types[r.Name].InputFields {
			isID := f.Type.named().Name == "ID"
			if f.Type.Kind == "NON_NULL" || isID && depth < 3 {
				o[f.Name] = s.value(f.Type, f.Name, id, depth+1)
			}
		}
		return o
	}
	switch r.Name {
	case "ID":
		return id(name, false)
	case "Int":
		return 1
	case "Boolean":
		return false
	case "Money":
		return "1.00"
	case "Date":
		return "2026-06-01"
	case "DateTime":
		return "2026-06-01T00:00:00Z"
	case "PolicyParams":
		return map[string]any{}
	}
	return "x"
}

// selection selects every argument-free field of type r, three levels deep.
func (s ischema) selection(r ischemaRef, depth int) string {
	ty := s.types[r.named().Name]
	if ty.Kind != "OBJECT" && ty.Kind != "INTERFACE" && ty.Kind != "UNION" {
		return ""
	}
	parts := []string{"__typename"}
	for _, f := range ty.Fields {
		required := false
		for _, a := range f.Args {
			required = required || a.Type.Kind == "NON_NULL"
		}
		if required {
			continue
		}
		sub := s.types[f.Type.named().Name]
		switch {
		case sub.Kind == "SCALAR" || sub.Kind == "ENUM":
			parts = append(parts, f.Name)
		case depth < 3:
			parts = append(parts, f.Name+s.selection(f.Type, depth+1))
		}
	}
	return " { " + strings.Join(parts, " ") + " }"
}

// call writes a request for root field f of op ("query", "mutation" or
// "subscription") with arguments built by value.
func (s ischema) call(op string, f ischemaFld, id func(name string, required bool) string) (string, map[string]any) {
	var decls, args []string
	vars := map[string]any{}
	for _, a := range f.Args {
		if a.Type.Kind != "NON_NULL" && a.Type.named().Name != "ID" {
			continue
		}
		if a.Type.named().Name == "Upload" {
			continue // uploads travel as multipart (import_test.go)
		}
		decls = append(decls, "$"+a.Name+": "+typeString(a.Type))
		args = append(args, a.Name+": $"+a.Name)
		vars[a.Name] = s.value(a.Type, a.Name, id, 0)
	}
	q := op
	if len(decls) > 0 {
		q += "(" + strings.Join(decls, ", ") + ")"
	}
	q += " { " + f.Name
	if len(args) > 0 {
		q += "(" + strings.Join(args, ", ") + ")"
	}
	return q + s.selection(f.Type, 0) + " }", vars
}

func typeString(r ischemaRef) string {
	switch r.Kind {
	case "NON_NULL":
		return typeString(*r.OfType) + "!"
	case "LIST":
		return "[" + typeString(*r.OfType) + "]"
	}
	return r.Name
}

// TestEveryRootFieldHasARole: the role table of graph/auth.go lists exactly
// the root fields the schema serves, and agrees with the ledger's table on
// every mutation.
func TestEveryRootFieldHasARole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := introspect(t, h)
	for obj, fields := range s.roots {
		for _, f := range fields {
			role, ok := graph.RootFieldRole(obj, f.Name)
			require.True(t, ok, "%s.%s has no role in graph/auth.go rootRoles", obj, f.Name)
			if obj == "Mutation" {
				require.Equal(t, role, ledger.RoleFor(f.Name), "ledger.RoleFor(%q) disagrees with graph/auth.go", f.Name)
			}
		}
	}
}

// TestRolesPerRootField calls every Query and Mutation root field with each
// role: a role below the field's is FORBIDDEN before anything runs; a role
// at or above it is never FORBIDDEN; no key is UNAUTHENTICATED.
func TestRolesPerRootField(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	keys := map[ledger.Role]string{ledger.RoleAnalyst: h.analyst, ledger.RoleBiller: issueKey(t, h.f, ledger.RoleBiller), ledger.RoleAdmin: h.admin}
	s := introspect(t, h)
	id := func(string, bool) string { return uuid.NewString() }
	counted := map[string]int{}
	for _, obj := range []string{"Query", "Mutation"} {
		for _, f := range s.roots[obj] {
			need, _ := graph.RootFieldRole(obj, f.Name)
			q, vars := s.call(strings.ToLower(obj), f, id)
			r := h.do(t, "", q, vars)
			if need == "" { // public
				require.NotContains(t, errorCodes(r), "UNAUTHENTICATED", "%s.%s: %s", obj, f.Name, r.Raw)
				continue
			}
			requireCode(t, r, "UNAUTHENTICATED")
			for _, role := range []ledger.Role{ledger.RoleAnalyst, ledger.RoleBiller, ledger.RoleAdmin} {
				r := h.do(t, keys[role], q, vars)
				codes := errorCodes(r)
				for _, c := range codes {
					require.NotContains(t, []string{"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "COMPLEXITY_LIMIT_EXCEEDED"}, c,
						"%s.%s: the test's request is wrong: %s", obj, f.Name, r.Raw)
				}
				if role.Allows(need) {
					require.NotContains(t, codes, "FORBIDDEN", "%s.%s as %s: %s", obj, f.Name, role, r.Raw)
				} else {
					require.Equal(t, []string{"FORBIDDEN"}, codes, "%s.%s as %s: %s", obj, f.Name, role, r.Raw)
					require.Equal(t, []any{f.Name}, r.Errors[0].Path)
					counted[obj+" "+string(role)]++
				}
			}
		}
	}
	// The analyst is refused every mutation; the biller the ADMIN ones,
	// and both the ADMIN queries (keys, the audit trail).
	require.Equal(t, len(s.roots["Mutation"]), counted["Mutation ANALYST"])
	require.Positive(t, counted["Mutation BILLER"])
	require.Equal(t, counted["Query ANALYST"], counted["Query BILLER"])
	require.Positive(t, counted["Query BILLER"])
}

func errorCodes(r response) []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, fmt.Sprint(e.code()))
	}
	sort.Strings(out)
	return out
}
