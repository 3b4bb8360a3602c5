package graph

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// playgroundFiles is the GraphiQL playground served at / with every file it
// loads (React, GraphiQL, its stylesheet with the fonts inlined, the source
// map), so it works with no outside host: offline, behind a blocked CDN.
// The versions are the ones gqlgen's own playground names, checked by hash
// in playground_test.go; playground/fetch.sh refetches them.
//
//go:embed playground
var playgroundFiles embed.FS

// PlaygroundPrefix is the path under which the playground's files are served.
const PlaygroundPrefix = "/playground/"

// playgroundCSP lets the page load only paysplit's own files (fonts and
// images come inlined as data: URLs) and talk only to paysplit.
const playgroundCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"font-src data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'"

var playgroundAssets = func() http.Handler {
	sub, err := fs.Sub(playgroundFiles, "playground")
	if err != nil {
		panic(err)
	}
	return http.StripPrefix(PlaygroundPrefix, http.FileServerFS(sub))
}()

// servePlayground serves the playground page at / and its files under
// PlaygroundPrefix.
func servePlayground(w http.ResponseWriter, r *http.Request) {
	if !pageHeaders(w, r, playgroundCSP) { // dashboard.go
		return
	}
	h := w.Header()
	if r.URL.Path == "/" {
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, playgroundFiles, "playground/index.html")
		return
	}
	if strings.HasSuffix(r.URL.Path, "/") { // no listings
		http.NotFound(w, r)
		return
	}
	h.Set("Cache-Control", "public, max-age=3600")
	playgroundAssets.ServeHTTP(w, r)
}
