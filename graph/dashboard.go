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
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write(dashboardHTML)
}
