package graph_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// getPath GETs a path of the server and returns the status and body.
func (h *harness) getPath(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := h.srv.Client().Get(h.srv.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	status, body := h.getPath(t, "/healthz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ok\n", body)
	status, body = h.getPath(t, "/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ready\n", body)
	status, body = h.getPath(t, "/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "/playground/graphiql.min.js", "the playground loads its own GraphiQL")
	status, _ = h.getPath(t, "/nope")
	require.Equal(t, http.StatusNotFound, status)

	// GET runs queries, with or without a key where none is needed.
	r := h.get(t, "", `{__typename}`)
	require.Equal(t, http.StatusOK, r.Status)
	require.Empty(t, r.Errors, r.Raw)
	require.Equal(t, "Query", r.Data["__typename"])
	r = h.get(t, h.analyst, `{ practice { name } }`)
	require.Empty(t, r.Errors, r.Raw)
	require.Equal(t, "Test Practice", str(t, r.Data, "practice.name"))
	requireCode(t, h.get(t, "", `{ practice { name } }`), "UNAUTHENTICATED")

	// ...but never a mutation, whatever the key.
	before := rowCounts(t, h.db)
	r = h.get(t, h.admin, `mutation { createProvider(input: {name: "Dr. Get"}) { provider { id } } }`)
	require.Equal(t, http.StatusMethodNotAllowed, r.Status, r.Raw)
	require.Len(t, r.Errors, 1, r.Raw)
	require.Contains(t, r.Errors[0].Message, "GET")
	requireCode(t, r, "BAD_REQUEST")
	require.Nil(t, r.Data)
	require.Equal(t, before, rowCounts(t, h.db))

	// The response carries a request id, the caller's if it sent one.
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/graphql?query=%7B__typename%7D", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", "req-42")
	res, err := h.srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "req-42", res.Header.Get("X-Request-Id"))
}
