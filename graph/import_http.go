package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/paysplit/paysplit/ledger"
)

// Uploads (the GraphQL multipart request spec, for importBalances) and the
// balance-forward template.

const (
	// DefaultMaxUploadBytes is the largest file an upload may carry unless
	// SetMaxUploadBytes says otherwise.
	DefaultMaxUploadBytes = ledger.DefaultImportMaxBytes
	// uploadOverhead allows for the rest of the multipart form.
	uploadOverhead = 1 << 20
	// uploadMemory is how much of an upload is held in memory; the rest
	// waits in a temporary file.
	uploadMemory = 8 << 20
	// TemplatePath serves the balance-forward CSV template.
	TemplatePath = "/templates/balance-forward.csv"
)

// CSRFHeaders are the headers an upload must carry, one of them non-empty.
// A multipart form post is a CORS "simple" request that any web page can
// make to any site; a request with a custom header is not, so a browser
// sends it cross-site only after a preflight the server does not grant.
var CSRFHeaders = []string{"X-Paysplit-CSRF", "Apollo-Require-Preflight"}

// SetMaxUploadBytes sets the largest file an upload may carry (default
// DefaultMaxUploadBytes). A larger one is refused before it is read. Call it
// before serving.
func (s *Server) SetMaxUploadBytes(n int64) {
	s.maxUpload = n
	s.multipart.MaxUploadSize = n + uploadOverhead
}

// isMultipart reports whether r is a multipart form post (an upload).
func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// admitUpload refuses, before reading it, an upload without a CSRF header,
// from a caller whose key may not post (only importBalances takes a file),
// or whose body is declared larger than the limit. It answers the request
// and returns false when it refuses.
func (s *Server) admitUpload(w http.ResponseWriter, r *http.Request) bool {
	hasHeader := false
	for _, h := range CSRFHeaders {
		if strings.TrimSpace(r.Header.Get(h)) != "" {
			hasHeader = true
		}
	}
	if !hasHeader {
		refuse(w, http.StatusBadRequest, CodeBadRequest, "", fmt.Sprintf(
			"uploads must carry a non-empty %s header: a multipart form could be posted from another site (CSRF)",
			strings.Join(CSRFHeaders, " or ")))
		return false
	}
	if a, err := actor(r.Context()); err != nil {
		code, msg, _ := classify(err)
		status := http.StatusUnauthorized
		if code != CodeUnauthenticated {
			status = http.StatusInternalServerError
		}
		refuse(w, status, code, "", msg)
		return false
	} else if !a.Role.CanPost() {
		refuse(w, http.StatusForbidden, CodeForbidden, "", "your key's role may not upload files")
		return false
	}
	if r.ContentLength > s.maxUpload+uploadOverhead {
		refuse(w, http.StatusRequestEntityTooLarge, CodeBadUserInput, "file", fmt.Sprintf(
			"file: the upload is %d bytes; the limit is %d bytes for the file", r.ContentLength, s.maxUpload))
		return false
	}
	return true
}

// refuse answers a request refused before GraphQL runs, in GraphQL's error
// shape.
func refuse(w http.ResponseWriter, status int, code, field, msg string) {
	ext := map[string]any{"code": code}
	if field != "" {
		ext["field"] = field
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}, "data": nil})
}

type uploadLimitKey struct{}

// withUploadLimit records the upload limit for the resolvers.
func withUploadLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, uploadLimitKey{}, n)
}

// uploadLimit is the largest file a resolver may read.
func uploadLimit(ctx context.Context) int64 {
	if n, ok := ctx.Value(uploadLimitKey{}).(int64); ok {
		return n
	}
	return DefaultMaxUploadBytes
}

// serveTemplate serves the balance-forward CSV template. It holds no
// practice's data, so it needs no key.
func serveTemplate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="balance-forward.csv"`)
	_, _ = w.Write([]byte(ledger.BalanceForwardTemplate()))
}
