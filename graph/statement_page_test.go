package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestStatementPageServed: the page is paysplit's own (no outside assets
// allowed by its policy) and holds no data without a key.
func TestStatementPageServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/statements/" + newID())
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
		res.Header.Get("Content-Security-Policy"))
	require.Contains(t, string(b), "@media print")
	require.NotContains(t, string(b), "http://")
	require.NotContains(t, string(b), "https://")
	res, err = http.Post(h.srv.URL+"/statements/x", "text/plain", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

// TestStatementPageInChromium prints the Smith family's June statement in
// headless Chromium: names and amounts are on the page, it asked nothing of
// any other origin, it prints to PDF and renders a screenshot; a revoked or
// wrong key, or another practice's family, shows the API's coded error.
func TestStatementPageInChromium(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := ledgertest.BuildAging(t, h.f)
	page := openChromium(t, h.srv.URL+"/statements/"+s.Pat.GuarantorID.String()+"?from=2026-06-01#key="+h.analyst)
	page.waitFor(t, `document.body.dataset.ready || document.body.dataset.error || ""`, "1")
	text := page.eval(t, `document.getElementById("statement").innerText`)
	for _, want := range []string{"Test Practice", "Pat Family", "From 2026-06-01 to 2026-06-15", "Kid Family",
		"Previous balance", "330.00", "Insurance payment", "-50.00", "Payment — thank you", "-25.00",
		"40.00 held as a treatment-plan prepayment", "New balance", "245.00", "Amount due now", "120+", "65.00",
		"Unapplied credits", "35.00", "Held for treatment plans"} {
		require.Contains(t, text, want)
	}
	require.Equal(t, "245.00", page.eval(t, `document.getElementById("amount-due").textContent`))
	require.Equal(t, "[]", page.eval(t, `JSON.stringify(performance.getEntriesByType("resource")
		.map((e) => e.name).filter((n) => !n.startsWith(location.origin)))`), "no request leaves paysplit")
	require.Equal(t, "", page.eval(t, `location.hash`), "the key does not stay in the address bar")

	for _, method := range []string{"Page.printToPDF", "Page.captureScreenshot"} {
		raw, err := page.call(method, map[string]any{})
		require.NoError(t, err)
		var out struct{ Data string }
		require.NoError(t, json.Unmarshal(raw, &out))
		b, err := base64.StdEncoding.DecodeString(out.Data)
		require.NoError(t, err)
		require.Greater(t, len(b), 1000, method)
	}

	other := ledgertest.AddPractice(t, h.f.Ledger, "Other").Family(t, "There")[0].GuarantorID.String()
	for url, code := range map[string]string{
		"/statements/" + s.Pat.GuarantorID.String() + "#key=psk_wrong": "UNAUTHENTICATED",
		"/statements/" + other + "#key=" + h.analyst:                   "BAD_USER_INPUT",
	} {
		_, err := page.call("Page.navigate", map[string]any{"url": h.srv.URL + url})
		require.NoError(t, err)
		page.waitFor(t, `document.readyState === "complete" && (document.body.dataset.error || "")`, code)
		require.Equal(t, "true", page.eval(t, `String(document.getElementById("statement").hidden)`))
	}
}
