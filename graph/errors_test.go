package graph_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/rules"
)

// requireCode checks that r failed with one error of code and no data.
func requireCode(t *testing.T, r response, code string) gqlError {
	t.Helper()
	require.Len(t, r.Errors, 1, r.Raw)
	require.Equal(t, code, r.Errors[0].code(), r.Raw)
	for k, v := range r.Data {
		require.Nil(t, v, "%s: no data with an error: %s", k, r.Raw)
	}
	return r.Errors[0]
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A token of the right shape whose secret is wrong.
	wrongSecret := h.admin[:len(h.admin)-43] + strings.Repeat("A", 43)
	require.Len(t, wrongSecret, len(h.admin))
	// The right secret presented as another key of the same practice.
	otherKey := h.admin[:36] + strings.Repeat("0", 32) + h.admin[68:]
	require.Len(t, otherKey, len(h.admin))
	for name, auth := range map[string]string{
		"no key":          "",
		"malformed key":   "Bearer not-a-key",
		"wrong secret":    "Bearer " + wrongSecret,
		"unknown key id":  "Bearer " + otherKey,
		"not a bearer":    "Basic " + h.admin,
		"empty bearer":    "Bearer ",
		"truncated token": "Bearer " + h.admin[:len(h.admin)-1],
	} {
		t.Run(name, func(t *testing.T) {
			for _, q := range []string{`{ practice { id } }`, `mutation { createProvider(input: {name: "X"}) { provider { id } } }`} {
				before := rowCounts(t, h.db)
				r := h.doAuth(t, auth, q, nil)
				e := requireCode(t, r, "UNAUTHENTICATED")
				require.Equal(t, "send a valid API key as 'Authorization: Bearer <key>'", e.Message)
				require.Equal(t, before, rowCounts(t, h.db))
			}
		})
	}
	// With the key, the same request works.
	d := h.ok(t, h.admin, `{ practice { name } }`, nil)
	require.Equal(t, "Test Practice", str(t, d, "practice.name"))
}

func TestForbidden(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pat := h.f.Family(t, "Pat")[0]
	for _, q := range []string{
		`mutation { createProvider(input: {name: "Dr. X"}) { provider { id } } }`,
		`mutation { postReceipt(input: {kind: PATIENT_PAYMENT, patientId: "` + pat.ID.String() + `", amount: "1.00", splits: [{amount: "1.00"}]}) { receipt { id } } }`,
	} {
		before := rowCounts(t, h.db)
		requireCode(t, h.do(t, h.analyst, q, nil), "FORBIDDEN")
		require.Equal(t, before, rowCounts(t, h.db))
	}
	// An analyst reads.
	d := h.ok(t, h.analyst, `{ guarantors { totalCount } }`, nil)
	require.EqualValues(t, 1, at(t, d, "guarantors.totalCount"))
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, field := range []string{"guarantor", "patient", "encounter", "charge", "receipt"} {
		r := h.do(t, h.admin, `query($id: ID!) { `+field+`(id: $id) { id } }`, map[string]any{"id": newID()})
		e := requireCode(t, r, "NOT_FOUND")
		require.Contains(t, r.Data, field, "data holds the field, null: %s", r.Raw)
		require.Equal(t, []any{field}, e.Path)
	}
}

func TestConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	provider := func(name string) string {
		return `mutation { createProvider(input: {name: "` + name + `", idempotencyKey: "front-desk-1"}) { provider { id name } } }`
	}
	first := str(t, h.ok(t, h.admin, provider("Dr. A"), nil), "createProvider.provider.id")
	before := rowCounts(t, h.db)
	d := h.ok(t, h.admin, provider("Dr. A"), nil)
	require.Equal(t, first, str(t, d, "createProvider.provider.id"), "a replay returns the first result")
	require.Equal(t, before, rowCounts(t, h.db), "and writes nothing")

	e := requireCode(t, h.do(t, h.admin, provider("Dr. B"), nil), "CONFLICT")
	require.Equal(t, false, e.Extensions["retryable"])
	requireCode(t, h.do(t, h.admin, `mutation { createLocation(input: {name: "Dr. A", idempotencyKey: "front-desk-1"}) { location { id } } }`, nil), "CONFLICT")
	require.Equal(t, before, rowCounts(t, h.db))

	pat := f.Family(t, "Pat")[0]
	pay := f.Pay(t, pat, "10.00", ledgertest.Unallocated("10.00"))
	reverse := `mutation { reverseReceipt(input: {receiptId: "` + pay.ID.String() + `"}) { receipt { id kind } } }`
	require.Equal(t, "REVERSAL", str(t, h.ok(t, h.admin, reverse, nil), "reverseReceipt.receipt.kind"))
	before = rowCounts(t, h.db)
	e = requireCode(t, h.do(t, h.admin, reverse, nil), "CONFLICT")
	require.Contains(t, e.Message, "already reversed")
	require.Equal(t, before, rowCounts(t, h.db))
}

func TestInvariantViolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := h.f
	pat := f.Family(t, "Pat")[0]
	c := f.Visit(t, pat, "2026-05-01", "100.00")[0]
	pay := f.Pay(t, pat, "100.00", ledgertest.Unallocated("100.00"))
	// The payment's money is transferred onto the charge...
	h.ok(t, h.admin, `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id } } }`, map[string]any{"in": map[string]any{
		"kind": "TRANSFER", "patientId": pat.ID.String(), "amount": "0.00",
		"splits": []any{map[string]any{"amount": "-100.00"}, map[string]any{"amount": "100.00", "chargeId": c.ID.String()}}}})
	// ...so reversing the payment would overdraw the unallocated money.
	before := rowCounts(t, h.db)
	e := requireCode(t, h.do(t, h.admin, `mutation { reverseReceipt(input: {receiptId: "`+pay.ID.String()+`"}) { receipt { id } } }`, nil), "INVARIANT_VIOLATION")
	require.Equal(t, "no_overdraw", e.Extensions["invariant"])
	require.Contains(t, e.Message, "cannot reverse")
	require.Equal(t, before, rowCounts(t, h.db))
}

// TestInternalErrorsHideTheDatabase breaks the database under the server:
// the client sees "internal error" and nothing of the SQL or the driver.
func TestInternalErrorsHideTheDatabase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.f.Family(t, "Pat")
	requireInternal := func(t *testing.T, r response) {
		t.Helper()
		e := requireCode(t, r, "INTERNAL")
		require.Equal(t, "internal error", e.Message)
		require.Equal(t, map[string]any{"code": "INTERNAL"}, e.Extensions)
		for _, leak := range []string{"pq", "sql", "relation", "database", "SELECT", "42P01"} {
			require.NotContains(t, r.Raw, leak)
		}
	}

	t.Run("a table is gone", func(t *testing.T) {
		h.db.MustExec(`ALTER TABLE guarantors RENAME TO guarantors_gone`)
		requireInternal(t, h.do(t, h.admin, `{ guarantors { totalCount } }`, nil))
		requireInternal(t, h.do(t, h.admin, `mutation { createGuarantor(input: {name: "G"}) { guarantor { id } } }`, nil))
		h.db.MustExec(`ALTER TABLE guarantors_gone RENAME TO guarantors`)
		h.ok(t, h.admin, `{ guarantors { totalCount } }`, nil)
	})
	t.Run("the pool is closed", func(t *testing.T) {
		res, err := h.srv.Client().Get(h.srv.URL + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)

		require.NoError(t, h.db.Close())
		requireInternal(t, h.do(t, h.admin, `{ guarantors { totalCount } }`, nil))
		requireInternal(t, h.do(t, h.admin, `mutation { createProvider(input: {name: "X"}) { provider { id } } }`, nil))
		res, err = h.srv.Client().Get(h.srv.URL + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 503, res.StatusCode)
	})
}

func TestGraphQLErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	requireCode(t, h.do(t, h.admin, `{ practice { nope } }`, nil), "GRAPHQL_VALIDATION_FAILED")
	requireCode(t, h.do(t, h.admin, `{ practice { id `, nil), "GRAPHQL_PARSE_FAILED")
	requireCode(t, h.do(t, h.admin, `mutation { createProvider(input: {}) { provider { id } } }`, nil), "GRAPHQL_VALIDATION_FAILED")

	// An absurd query: 10 × 500 guarantors, each with nested lists.
	var b strings.Builder
	b.WriteString("{")
	for i := range 10 {
		fmt.Fprintf(&b, ` g%d: guarantors(first: 500) { edges { node { patients { charges { splits { receipt { splits { charge { id } } } } } } } } }`, i)
	}
	b.WriteString(" }")
	before := rowCounts(t, h.db)
	e := requireCode(t, h.do(t, h.admin, b.String(), nil), "COMPLEXITY_LIMIT_EXCEEDED")
	require.Contains(t, e.Message, "complexity")
	require.Equal(t, before, rowCounts(t, h.db))

	// The playground's introspection still works, with and without a key.
	for _, key := range []string{h.admin, ""} {
		d := h.ok(t, key, introspectionQuery, nil)
		require.Equal(t, "Query", str(t, d, "__schema.queryType.name"))
		require.Equal(t, "Mutation", str(t, d, "__schema.mutationType.name"))
		names := map[string]bool{}
		for _, ty := range list(t, d, "__schema.types") {
			names[str(t, ty, "name")] = true
		}
		for _, n := range []string{"Money", "Date", "DateTime", "Guarantor", "PostReceiptInput", "ReceiptConnection"} {
			require.True(t, names[n], "introspection lists %s", n)
		}
	}
}

// introspectionQuery is the query GraphiQL sends (graphql-js
// getIntrospectionQuery with descriptions).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// A request whose client went away is CANCELLED, not INTERNAL: its error
// wraps context.Canceled, from the store or the planner.
func TestCancelledIsNotInternal(t *testing.T) {
	for _, err := range []error{
		context.Canceled,
		fmt.Errorf("load charges: %w", context.Canceled),
		&rules.EvalError{Path: "stages[0].match", Err: context.Canceled},
	} {
		code, _ := graph.Classify(err)
		require.Equal(t, graph.CodeCancelled, code, "%v", err)
	}
	code, _ := graph.Classify(errors.New("boom"))
	require.Equal(t, graph.CodeInternal, code)
}
