package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

// harness is the real GraphQL handler over HTTP, on its own database with
// one practice (ledgertest's fixed clock: today is 2026-06-15) and keys.
type harness struct {
	db      *sqlx.DB
	f       *ledgertest.Practice
	srv     *httptest.Server
	admin   string // ADMIN key of f's practice
	analyst string // ANALYST key of f's practice
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	return serve(t, db, f)
}

// serve starts the handler over f's ledger and issues keys for f.
func serve(t *testing.T, db *sqlx.DB, f *ledgertest.Practice) *harness {
	t.Helper()
	h := &harness{db: db, f: f}
	h.srv = httptest.NewServer(graph.NewServer(f.Ledger, func(ctx context.Context) error { return db.PingContext(ctx) }))
	t.Cleanup(h.srv.Close)
	h.admin = issueKey(t, f, ledger.RoleAdmin)
	h.analyst = issueKey(t, f, ledger.RoleAnalyst)
	return h
}

func issueKey(t *testing.T, f *ledgertest.Practice, role ledger.Role) string {
	t.Helper()
	_, token, err := f.Ledger.IssueKey(context.Background(), f.Actor.PracticeID, strings.ToLower(string(role)), role)
	require.NoError(t, err)
	return token
}

// response is a GraphQL response. Data stays nil when it is null.
type response struct {
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
	Raw    string         `json:"-"`
	Status int            `json:"-"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() any  { return e.Extensions["code"] }
func (e gqlError) field() any { return e.Extensions["field"] }

// do POSTs a GraphQL request with token ("" for none) and decodes the answer.
func (h *harness) do(t *testing.T, token, query string, vars map[string]any) response {
	t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return h.doAuth(t, auth, query, vars)
}

// doAuth is do with the Authorization header given verbatim.
func (h *harness) doAuth(t *testing.T, auth, query string, vars map[string]any) response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return send(t, req)
}

// get sends a GraphQL request as GET /graphql?query=…
func (h *harness) get(t *testing.T, token, query string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/graphql?query="+url.QueryEscape(query), nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := response{Raw: string(b), Status: res.StatusCode}
	require.NoError(t, json.Unmarshal(b, &r), "body: %s", b)
	return r
}

// ok runs a request that must succeed and returns its data.
func (h *harness) ok(t *testing.T, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	r := h.do(t, token, query, vars)
	require.Empty(t, r.Errors, "errors: %s", r.Raw)
	require.NotNil(t, r.Data, r.Raw)
	return r.Data
}

// fail runs a request that must fail with exactly one error and returns it.
func (h *harness) fail(t *testing.T, token, query string, vars map[string]any) (gqlError, response) {
	t.Helper()
	r := h.do(t, token, query, vars)
	require.Len(t, r.Errors, 1, "want one error: %s", r.Raw)
	return r.Errors[0], r
}

// at walks decoded JSON along a dotted path; numbers index lists.
func at(t *testing.T, v any, path string) any {
	t.Helper()
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			v, ok = x[k]
			require.True(t, ok, "no %q in %v (path %s)", k, x, path)
		case []any:
			i, err := strconv.Atoi(k)
			require.NoError(t, err, "path %s", path)
			require.Less(t, i, len(x), "path %s", path)
			v = x[i]
		default:
			t.Fatalf("path %s: cannot take %q of %T %v", path, k, v, v)
		}
	}
	return v
}

// str is at for a string value.
func str(t *testing.T, v any, path string) string {
	t.Helper()
	s, ok := at(t, v, path).(string)
	require.True(t, ok, "%s is %T %v, want a string", path, at(t, v, path), at(t, v, path))
	return s
}

// list is at for a list value.
func list(t *testing.T, v any, path string) []any {
	t.Helper()
	l, ok := at(t, v, path).([]any)
	require.True(t, ok, "%s is %T, want a list", path, at(t, v, path))
	return l
}

var moneyRE = regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`)

// requireMoney checks that path holds Money serialised as a JSON string with
// two places, equal to want.
func requireMoney(t *testing.T, want string, v any, path string) {
	t.Helper()
	got, ok := at(t, v, path).(string)
	require.True(t, ok, "%s is %T %v: Money must be a JSON string", path, at(t, v, path), at(t, v, path))
	require.Regexp(t, moneyRE, got, path)
	require.Equal(t, want, got, path)
}

// requireBalances checks balance, owed, unallocated, unearned and credit.
func requireBalances(t *testing.T, v any, balance, owed, unallocated, unearned, credit string) {
	t.Helper()
	requireMoney(t, balance, v, "balance")
	requireMoney(t, owed, v, "owed")
	requireMoney(t, unallocated, v, "unallocated")
	requireMoney(t, unearned, v, "unearned")
	requireMoney(t, credit, v, "credit")
}

// ids lists the "id" of each element of a list at path (paths ending in
// "edges" take node.id).
func ids(t *testing.T, v any, path string) []string {
	t.Helper()
	var out []string
	for _, e := range list(t, v, path) {
		if strings.HasSuffix(path, "edges") {
			e = at(t, e, "node")
		}
		out = append(out, str(t, e, "id"))
	}
	return out
}

// tables are every table a mutation may write.
var tables = []string{"practices", "providers", "locations", "guarantors", "patients", "encounters",
	"charges", "receipts", "splits", "unearned_types", "batches", "idempotency_records", "audit_events", "insurance_write_offs", "planned_outcomes", "responsibility_changes", "statement_runs", "statements"}

// rowCounts counts the rows of every table.
func rowCounts(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	out := make(map[string]int, len(tables))
	for _, tbl := range tables {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM `+tbl))
		out[tbl] = n
	}
	return out
}

func newID() string { return uuid.NewString() }
