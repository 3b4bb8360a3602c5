package graph_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/stretchr/testify/require"
)

// The embedded files are exactly the ones gqlgen's own playground loads
// from its CDN (same SHA-256 as its integrity attributes): an upgrade of
// gqlgen that moves GraphiQL or React fails here until
// graph/playground/fetch.sh is rerun with the new versions.
func TestPlaygroundAssetsAreGqlgensVersions(t *testing.T) {
	rec := httptest.NewRecorder()
	playground.Handler("x", "/graphql")(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	want := map[string]string{
		"graphiql.min.js":             "graphiql@",
		"graphiql.min.css":            "graphiql@",
		"react.production.min.js":     "react@",
		"react-dom.production.min.js": "react-dom@",
	}
	for file, pkg := range want {
		b, err := os.ReadFile(filepath.Join("playground", file))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		sri := "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
		re := regexp.MustCompile(`(?:src|href)="([^"]*/` + regexp.QuoteMeta(pkg) + `[^"]*/` + regexp.QuoteMeta(file) + `)"\s+integrity="([^"]+)"`)
		m := re.FindStringSubmatch(page)
		require.NotNil(t, m, "gqlgen's playground no longer loads %s", file)
		require.Equal(t, html.UnescapeString(m[2]), sri, "playground/%s is not the file gqlgen's playground loads (%s): rerun playground/fetch.sh", file, m[1])
	}
}

func TestPlaygroundServesItsOwnFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	for path, ctype := range map[string]string{
		"/playground/graphiql.min.js":         "text/javascript; charset=utf-8",
		"/playground/graphiql.min.css":        "text/css; charset=utf-8",
		"/playground/index.umd.js.map":        "",
		"/playground/playground.js":           "text/javascript; charset=utf-8",
		"/playground/react.production.min.js": "text/javascript; charset=utf-8",
	} {
		res, err := http.Get(h.srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		if ctype != "" {
			require.Equal(t, ctype, res.Header.Get("Content-Type"), path)
		}
	}
	for _, path := range []string{"/playground/", "/playground/nope.js"} {
		res, err := http.Get(h.srv.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusNotFound, res.StatusCode, path)
	}
}

// The playground in headless Chromium with no network but loopback: every
// file it loads comes from paysplit, a query with a key in the Headers pane
// answers, and the key stays in the tab's sessionStorage, not localStorage.
func TestPlaygroundOfflineInChromium(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	page := openChromium(t, h.srv.URL+"/",
		"--proxy-server=127.0.0.1:9", // any host but loopback goes to a closed port
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
	// GraphiQL drew its editors: every script and stylesheet loaded.
	page.waitFor(t, `document.querySelectorAll(".graphiql-query-editor .CodeMirror").length > 0`, "true")
	editor := func(sel string) string { return `document.querySelector("` + sel + ` .CodeMirror").CodeMirror` }
	page.eval(t, editor(".graphiql-query-editor")+`.setValue("{ practice { name } }")`)
	// The Headers pane holds the placeholder key; the user pastes theirs.
	page.eval(t, `[...document.querySelectorAll(".graphiql-editor .CodeMirror")].map((e) => e.CodeMirror)
		.find((cm) => cm.getValue().includes("Authorization"))
		.setValue(JSON.stringify({Authorization: "Bearer `+h.analyst+`"}))`)
	page.eval(t, `document.querySelector(".graphiql-execute-button").click()`)
	response := editor(".graphiql-response") + `.getValue()`
	page.waitFor(t, `(() => { const r = `+response+`; try { return JSON.parse(r).data.practice.name } catch (e) { return r } })()`,
		"Test Practice")

	origin := h.srv.URL
	foreign := page.eval(t, `JSON.stringify(performance.getEntriesByType("resource").map((e) => e.name).filter((n) => !n.startsWith("`+origin+`/")))`)
	require.Equal(t, "[]", foreign, "the playground loaded something from another host")
	// GraphiQL saves the Headers pane a moment after an edit.
	page.waitFor(t, `JSON.stringify(sessionStorage).includes("`+h.analyst+`")`, "true")
	require.Equal(t, "false", page.eval(t, `JSON.stringify(localStorage).includes("`+h.analyst+`")`))
	// Ticking "remember" is the opt-in that keeps it in localStorage.
	page.eval(t, `document.getElementById("remember").click()`)
	require.Equal(t, "true", page.eval(t, `JSON.stringify(localStorage).includes("`+h.analyst+`")`))
}
