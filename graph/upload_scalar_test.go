package graph_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// A file field sent as plain JSON (not a multipart upload) is bad input
// naming the field, never INTERNAL.
func TestUploadMustBeAFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := issueKey(t, h.f, ledger.RoleBiller)
	before := rowCounts(t, h.db)
	e, _ := h.fail(t, key, `mutation($in: ImportBalancesInput!) { importBalances(input: $in) { __typename } }`,
		map[string]any{"in": map[string]any{"file": "patient,amount\n", "mode": "VALIDATE"}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), e.Message)
	require.Equal(t, "file", e.field())
	require.Equal(t, before, rowCounts(t, h.db))
}

// TestMalformedUploads sends multipart requests that break the GraphQL
// multipart request spec: each is BAD_REQUEST with HTTP 400 (413 and
// BAD_USER_INPUT on file when the body runs over the limit), never an
// uncoded 422, and nothing is written. A well-formed request whose values
// are wrong reaches GraphQL: a string where the file belongs is
// BAD_USER_INPUT naming the field, a file where the mode belongs fails
// GraphQL's validation of variables.
func TestMalformedUploads(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	srv := graph.NewServer(f.Ledger, func(ctx context.Context) error { return db.PingContext(ctx) })
	srv.SetMaxUploadBytes(2000)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	key := issueKey(t, f, ledger.RoleBiller)

	ops := `{"query":"mutation($in: ImportBalancesInput!) { importBalances(input: $in) { report { outcome } } }",` +
		`"variables":{"in":{"file":null,"mode":"COMMIT"}}}`
	const b = "BOUNDARY"
	part := func(name, body string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + body + "\r\n"
	}
	file := func(name, body string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"b.csv\"\r\n" +
			"Content-Type: text/csv\r\n\r\n" + body + "\r\n"
	}
	csv := bfHeader + "A1,,,,,,2024-01-01,30.00,,,,,\r\n"
	end := "--" + b + "--\r\n"
	ctype := "multipart/form-data; boundary=" + b
	post := func(ctype string, body io.Reader, chunked bool) response {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/graphql", body)
		require.NoError(t, err)
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Paysplit-CSRF", "1")
		return send(t, req)
	}
	mapFile := part("map", `{"0":["variables.in.file"]}`)
	before := importRows(t, db)
	for _, c := range []struct{ name, ctype, body, msg string }{
		{"no boundary", "multipart/form-data", part("operations", ops) + mapFile + file("0", csv) + end, "failed to parse multipart form"},
		{"another boundary", "multipart/form-data; boundary=OTHER", part("operations", ops) + mapFile + file("0", csv) + end, "operations"},
		{"empty body", ctype, "", "operations"},
		{"no operations", ctype, mapFile + file("0", csv) + end, "first part must be operations"},
		{"operations not JSON", ctype, part("operations", "{") + mapFile + file("0", csv) + end, "could not be decoded"},
		{"no map", ctype, part("operations", ops) + file("0", csv) + end, "second part must be map"},
		{"map not JSON", ctype, part("operations", ops) + part("map", "[") + file("0", csv) + end, "could not be decoded"},
		{"map names a missing file", ctype, part("operations", ops) + mapFile + end, "failed to get key 0"},
		{"a file the map does not name", ctype, part("operations", ops) + part("map", `{}`) + file("0", csv) + end, "key 0"},
		{"a control character in the file name", ctype, part("operations", ops) + mapFile + strings.Replace(file("0", csv), "b.csv", "b\x1b.csv", 1) + end, ""},
		{"map path to nowhere", ctype, part("operations", ops) + part("map", `{"0":["variables.nope.file"]}`) + file("0", csv) + end, ""},
		{"cut short in a header", ctype, part("operations", ops) + mapFile + file("0", csv)[:60], ""},
		{"cut short in the file", ctype, part("operations", ops) + mapFile + file("0", csv)[:200], "failed to read file for key 0"},
	} {
		r := post(c.ctype, strings.NewReader(c.body), false)
		e := requireCode(t, r, "BAD_REQUEST")
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", c.name, r.Raw)
		require.Contains(t, e.Message, c.msg, c.name)
		require.Equal(t, before, importRows(t, db), c.name)
	}

	// Over the limit without a declared length: refused once the limit is read.
	big := part("operations", ops) + mapFile + file("0", csv+strings.Repeat("A1,,,,,,2024-01-01,30.00,,,,,\r\n", 40_000)) + end
	r := post(ctype, strings.NewReader(big), true)
	e := requireCode(t, r, "BAD_USER_INPUT")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, r.Raw)
	require.Equal(t, "file", e.field())

	// Well-formed, but the values are wrong: GraphQL names the field.
	notAFile := strings.Replace(ops, `"file":null`, `"file":"A1,30.00"`, 1)
	r = post(ctype, strings.NewReader(part("operations", notAFile)+part("map", `{}`)+end), false)
	require.Equal(t, "file", requireCode(t, r, "BAD_USER_INPUT").field(), r.Raw)
	r = post(ctype, strings.NewReader(part("operations", ops)+part("map", `{"0":["variables.in.file"],"1":["variables.in.mode"]}`)+
		file("0", csv)+file("1", "COMMIT")+end), false)
	require.Contains(t, requireCode(t, r, "GRAPHQL_VALIDATION_FAILED").Message, "enums", r.Raw)
	r = post(ctype, strings.NewReader(part("operations", ops)+mapFile+strings.Replace(file("0", csv), "b.csv", "b\t.csv", 1)+end), false)
	require.Equal(t, "fileName", requireCode(t, r, "BAD_USER_INPUT").field(), r.Raw)
	withOption := strings.Replace(ops, `"mode":"COMMIT"`, `"mode":"COMMIT","options":{"defaultProvider":"Dr\u0000X"}`, 1)
	r = post(ctype, strings.NewReader(part("operations", withOption)+mapFile+file("0", csv)+end), false)
	require.Equal(t, "options.defaultProvider", requireCode(t, r, "BAD_USER_INPUT").field(), r.Raw)
	require.Equal(t, before, importRows(t, db))

	// The server still serves: the same parts in order import.
	r = post(ctype, strings.NewReader(part("operations", ops)+mapFile+file("0", csv)+end), false)
	require.Empty(t, r.Errors, r.Raw)
	require.Equal(t, "REJECTED", str(t, r.Data, "importBalances.report.outcome"), "no patient A1: the file is read and refused row by row")
}
