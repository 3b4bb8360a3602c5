package graph

import (
	_ "embed"
	"net/http"
)

// dashboardHTML is the live aging dashboard: one page of plain HTML and
// JavaScript, no build step. It asks for an API key, subscribes to
// agingUpdated over graphql-transport-ws and draws the buckets and KPIs.
//
//go:embed dashboard/index.html
var dashboardHTML []byte

// statementHTML is the printable guarantor statement: a page that takes
// an API key like the dashboard, asks the API for the statement (so it is
// authorised exactly like the API) and lays it out for print. No outside
// assets.
//
//go:embed statements/index.html
var statementHTML []byte

// StatementsPath prefixes the printable statements:
// /statements/{guarantorId}?from=…&asOf=….
const StatementsPath = "/statements/"

// serveDashboard serves /dashboard.
func serveDashboard(w http.ResponseWriter, r *http.Request) { servePage(w, r, dashboardHTML) }

// serveStatement serves the statement page (it holds no data: the page
// reads the statement from the API with the key it is given).
func serveStatement(w http.ResponseWriter, r *http.Request) { servePage(w, r, statementHTML) }

// servePage serves one of paysplit's own pages: scripts and styles inline,
// nothing from elsewhere, requests only to paysplit itself.
func servePage(w http.ResponseWriter, r *http.Request, page []byte) {
	if !pageHeaders(w, r, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'") {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(page)
}

// pageHeaders answers a request for one of paysplit's pages that is not a
// GET or HEAD (and returns false), else sets the headers every page has:
// its Content-Security-Policy, no sniffing, no referrer.
func pageHeaders(w http.ResponseWriter, r *http.Request, csp string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
	return true
}
