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

// serveDashboard serves /dashboard.
func serveDashboard(w http.ResponseWriter, r *http.Request) {
	if !pageHeaders(w, r, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'") {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(dashboardHTML)
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
