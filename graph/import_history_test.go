package graph_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

const historyDoc = `mutation($input: ImportHistoryInput!) { importHistory(input: $input) {
	report { outcome message rows rowsToPost rowsSkipped errors warnings
		files { name encoding rows rowsToPost rowsSkipped }
		issues { file row line column severity code message }
		issueCounts { code severity count }
		reconciliation { matches guarantorCount differing guarantors { guarantor { id } filePatient ledgerPatient matches } } }
	import { id kind status rowsPosted } } }`

// TestImportHistoryUpload: the history template, downloaded from
// /templates/history.zip, checked and committed through importHistory as
// a multipart upload: the report names each file's encoding and every
// finding with its file; the same set again posts nothing; an ANALYST may
// not upload; a file that is not a zip is BAD_USER_INPUT on file.
func TestImportHistoryUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/templates/history.zip")
	require.NoError(t, err)
	set, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "application/zip", res.Header.Get("Content-Type"))

	post := func(token, mode string, file []byte) response {
		return send(t, uploadDocRequest(t, h.srv.URL, token, csrf, historyDoc, "history.zip", file, map[string]any{"mode": mode}))
	}
	before := importRows(t, h.db)
	r := post(h.admin, "VALIDATE", set)
	require.Empty(t, r.Errors, r.Raw)
	rep := r.Data["importHistory"].(map[string]any)["report"].(map[string]any)
	require.Equal(t, "VALID", rep["outcome"], r.Raw)
	require.Len(t, rep["files"], 9)
	require.Equal(t, "UTF-8", rep["files"].([]any)[0].(map[string]any)["encoding"])
	require.Contains(t, r.Raw, `"file":"procedures.csv"`)
	require.Contains(t, r.Raw, `"code":"OVERPAID_CHARGE"`)
	require.Equal(t, before, importRows(t, h.db), "VALIDATE writes nothing")

	r = post(h.admin, "COMMIT", set)
	require.Empty(t, r.Errors, r.Raw)
	out := r.Data["importHistory"].(map[string]any)
	require.Equal(t, "COMMITTED", out["report"].(map[string]any)["outcome"], r.Raw)
	require.Equal(t, "HISTORY", out["import"].(map[string]any)["kind"])
	require.Equal(t, true, out["report"].(map[string]any)["reconciliation"].(map[string]any)["matches"], r.Raw)

	r = post(h.admin, "COMMIT", set)
	require.Equal(t, "ALREADY_IMPORTED", r.Data["importHistory"].(map[string]any)["report"].(map[string]any)["outcome"], r.Raw)

	after := importRows(t, h.db)
	r = post(h.analyst, "COMMIT", set)
	require.Equal(t, http.StatusForbidden, r.Status, r.Raw)
	r = post(h.admin, "COMMIT", []byte("not a zip"))
	require.NotEmpty(t, r.Errors, r.Raw)
	require.Equal(t, "BAD_USER_INPUT", r.Errors[0].Extensions["code"], r.Raw)
	require.Equal(t, "file", r.Errors[0].Extensions["field"], r.Raw)
	require.Equal(t, after, importRows(t, h.db), "refusals write nothing")
}
