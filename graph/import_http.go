package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

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
	// uploadMemory: an upload declaring less is read into memory; a larger
	// one (or one of undeclared length, see declareUploadLength) goes to a
	// temporary file, which the import reads in passes (ledger.ImportBalances).
	uploadMemory = 8 << 20
	// TemplatePath serves the balance-forward CSV template.
	TemplatePath = "/templates/balance-forward.csv"
	// HistoryTemplatePath serves the history set template (a zip).
	HistoryTemplatePath = "/templates/history.zip"
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
// from a caller whose key may not post (only importBalances and importHistory take a file),
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

// multipartForm is gqlgen's multipart transport with its refusals coded.
// gqlgen answers a malformed upload (a bad boundary, no operations or map
// part, a map naming a file the request does not carry, a file the map does
// not name) with HTTP 422 and an error without extensions.code; through
// uploadRefusal the client gets HTTP 400 BAD_REQUEST instead, or 413
// BAD_USER_INPUT on file when the body ran over the limit. GraphQL has not
// run, so nothing is written.
type multipartForm struct{ *transport.MultipartForm }

// Do serves an upload through gqlgen, recoding its refusals.
func (f multipartForm) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body := &watchedBody{ReadCloser: r.Body}
	r.Body = body
	limit := f.MaxUploadSize - uploadOverhead
	f.MultipartForm.Do(&uploadRefusal{ResponseWriter: w, body: body, limit: limit}, r, exec)
}

// watchedBody remembers the last error reading a request body.
type watchedBody struct {
	io.ReadCloser
	err error
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// uploadRefusal passes gqlgen's answer through, except a 422 whose errors
// carry no code (the transport's own refusal), which it answers coded.
type uploadRefusal struct {
	http.ResponseWriter
	body    *watchedBody
	limit   int64
	refused bool
}

func (u *uploadRefusal) WriteHeader(status int) {
	if status == http.StatusUnprocessableEntity {
		u.refused = true // the status waits for the body: coded or not
		return
	}
	u.ResponseWriter.WriteHeader(status)
}

func (u *uploadRefusal) Write(b []byte) (int, error) {
	if !u.refused {
		return u.ResponseWriter.Write(b)
	}
	u.refused = false
	var res struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &res) == nil && len(res.Errors) > 0 && res.Errors[0].Extensions["code"] != nil {
		u.ResponseWriter.WriteHeader(http.StatusUnprocessableEntity) // GraphQL's own, coded (a parse error)
		return u.ResponseWriter.Write(b)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(u.body.err, &tooLarge) {
		refuse(u.ResponseWriter, http.StatusRequestEntityTooLarge, CodeBadUserInput, "file", fmt.Sprintf(
			"file: the upload is over the limit of %d bytes for the file", u.limit))
		return len(b), nil
	}
	msg := "the multipart upload is malformed"
	if len(res.Errors) > 0 {
		msg += ": " + cut(res.Errors[0].Message, 200)
	}
	refuse(u.ResponseWriter, http.StatusBadRequest, CodeBadRequest, "", msg+
		" (send operations, then map, then one part per file the map names: the GraphQL multipart request spec)")
	return len(b), nil
}

// cut shortens s to at most n bytes of valid UTF-8.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// declareUploadLength gives an upload whose body has no declared length
// (sent chunked) the largest length it may have. gqlgen's multipart
// transport reads the file into memory when the request declares less than
// uploadMemory, which an undeclared length (-1) is; declared, the file goes
// to a temporary file like any large upload, and the import reads it from
// there. http.MaxBytesReader still holds the body to limit.
func declareUploadLength(r *http.Request, limit int64) {
	if r.ContentLength < 0 {
		r.ContentLength = limit
	}
}

// refuse answers a request refused before GraphQL runs, in GraphQL's error
// shape (refuseWith, limits.go).
func refuse(w http.ResponseWriter, status int, code, field, msg string) {
	ext := map[string]any{}
	if field != "" {
		ext["field"] = field
	}
	refuseWith(w, status, code, msg, ext)
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
	if r.URL.Path == HistoryTemplatePath {
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="history.zip"`)
		_ = ledger.WriteHistoryTemplate(w)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="balance-forward.csv"`)
	_, _ = w.Write([]byte(ledger.BalanceForwardTemplate()))
}

// getQueries is gqlgen's GET transport with its refusal of a mutation (or
// subscription) coded: gqlgen answers 406 with an uncoded error; the client
// gets 405 Method Not Allowed, Allow: POST, and BAD_REQUEST, as the GraphQL
// over HTTP spec asks. GraphQL has not run, so nothing is written.
type getQueries struct{ transport.GET }

// Do serves a GET through gqlgen, recoding its refusal.
func (g getQueries) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	g.GET.Do(&getRefusal{ResponseWriter: w}, r, exec)
}

// getRefusal passes gqlgen's answer through, except its 406.
type getRefusal struct {
	http.ResponseWriter
	refused bool
}

func (g *getRefusal) WriteHeader(status int) {
	if status != http.StatusNotAcceptable {
		g.ResponseWriter.WriteHeader(status)
		return
	}
	g.refused = true
	g.Header().Set("Allow", "POST")
	refuse(g.ResponseWriter, http.StatusMethodNotAllowed, CodeBadRequest, "",
		"GET runs only queries: send a mutation or subscription with POST (or a websocket)")
}

func (g *getRefusal) Write(b []byte) (int, error) {
	if g.refused {
		return len(b), nil // gqlgen's uncoded body: the coded one is written
	}
	return g.ResponseWriter.Write(b)
}
