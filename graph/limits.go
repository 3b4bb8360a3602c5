package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paysplit/paysplit/ledger"
)

// Limits on the shape and rate of requests (docs/security.md#limits).
const (
	// MaxQueryDepth is the deepest selection an operation may make, counted
	// in fields through fragments. Introspection (__schema, __type) is not
	// counted: the standard introspection query is deeper.
	MaxQueryDepth = 15
	// MaxRootFields is how many root fields (aliases included) an operation
	// may select. gqlgen resolves a query's root fields concurrently, each
	// on database connections of its own; the complexity limit does not see
	// that (a root field costs 1 plus its children, so 10,000 aliases of
	// `practice { id }` cost 20,000, within complexityLimit).
	MaxRootFields = 50
	// MaxFields is how many fields an operation may select in all, counted
	// through fragments as they are executed (not per listed item: page
	// sizes are the complexity limit's business).
	MaxFields = 5000
	// MaxTokens is how many lexical tokens an operation's text may have:
	// past it the parser stops, before validation, so an oversized document
	// (the alias bomb: 10,000 aliases are 60,000 tokens, ~80 ms of parsing
	// and validation) costs at most 10,000 tokens of parsing. Selecting
	// every field of the schema three levels deep takes under 3,500.
	// Refused as FIELD_LIMIT_EXCEEDED.
	MaxTokens = 10000
	// DefaultRateLimit is how many requests a key may make per minute,
	// with bursts of as many, unless SetRateLimit says otherwise.
	DefaultRateLimit = 1200
)

// shapeLimit is the gqlgen extension that refuses, before anything runs,
// operations selecting deeper than depth, or more than roots root fields or
// fields fields in all. Root introspection fields (__schema, __type,
// __typename) and what they select count only in fields.
type shapeLimit struct{ depth, roots, fields int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimit{}

func (shapeLimit) ExtensionName() string                          { return "ShapeLimit" }
func (shapeLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measurer{doc: oc.Doc, frags: map[fragmentAt]shape{}}
	sh := m.measure(oc.Operation.SelectionSet, true)
	var err *gqlerror.Error
	switch {
	case sh.depth > l.depth:
		err = gqlerror.Errorf("operation is %d fields deep, which exceeds the limit of %d", sh.depth, l.depth)
		errcode.Set(err, CodeDepthLimitExceeded)
	case sh.roots > l.roots:
		err = gqlerror.Errorf("operation selects %d root fields (aliases included), which exceeds the limit of %d", sh.roots, l.roots)
		errcode.Set(err, CodeFieldLimitExceeded)
	case sh.fields > l.fields:
		err = gqlerror.Errorf("operation selects more than %d fields in all, counted through fragments", l.fields)
		errcode.Set(err, CodeFieldLimitExceeded)
	}
	return err
}

// shape is what shapeLimit measures of a selection set: the depth of its
// deepest field, its fields at the top (roots), and its fields in all.
type shape struct{ depth, roots, fields int }

// measurer measures selection sets, following fragments (validation has
// already refused fragment cycles). Each fragment is measured once, so a
// document whose fragments spread each other many times costs its size, not
// the size of its expansion.
type measurer struct {
	doc   *ast.QueryDocument
	frags map[fragmentAt]shape
}

// fragmentAt is a fragment spread at the root or below it (introspection
// fields are skipped only at the root).
type fragmentAt struct {
	name string
	root bool
}

// fieldsCap keeps sums of counts far from overflowing: an expansion can be
// exponential in the document's size.
const fieldsCap = 1 << 40

func (m measurer) measure(set ast.SelectionSet, root bool) shape {
	var out shape
	add := func(s shape) {
		out.depth = max(out.depth, s.depth)
		out.roots = min(out.roots+s.roots, fieldsCap)
		out.fields = min(out.fields+s.fields, fieldsCap)
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			sub := m.measure(s.SelectionSet, false)
			if root && strings.HasPrefix(s.Name, "__") { // introspection: counted in fields only
				add(shape{fields: 1 + sub.fields})
				continue
			}
			add(shape{depth: 1 + sub.depth, roots: 1, fields: 1 + sub.fields})
		case *ast.InlineFragment:
			add(m.measure(s.SelectionSet, root))
		case *ast.FragmentSpread:
			add(m.fragment(s.Name, root))
		}
	}
	return out
}

// fragment measures the named fragment, once at the root and once below.
func (m measurer) fragment(name string, root bool) shape {
	key := fragmentAt{name, root}
	if sh, ok := m.frags[key]; ok {
		return sh
	}
	var sh shape
	if f := m.doc.Fragments.ForName(name); f != nil {
		sh = m.measure(f.SelectionSet, root)
	}
	m.frags[key] = sh
	return sh
}

// rateLimiter is a token bucket per API key, in memory: each key may make
// perMinute requests a minute, in bursts of up to perMinute. Each server
// instance keeps its own buckets.
type rateLimiter struct {
	mu        sync.Mutex
	perMinute int // 0: no limit
	now       func() time.Time
	buckets   map[ledger.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the memory of idle buckets: past it, full ones are
// forgotten (a full bucket is the same as none).
const maxBuckets = 10000

func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	return &rateLimiter{perMinute: perMinute, now: now, buckets: make(map[ledger.ID]*bucket)}
}

// take spends one token of key's bucket; if there is none it returns how
// long until there is.
func (rl *rateLimiter) take(key ledger.ID) (ok bool, retryAfter time.Duration) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.perMinute <= 0 {
		return true, 0
	}
	now, burst, perSecond := rl.now(), float64(rl.perMinute), float64(rl.perMinute)/60
	b := rl.buckets[key]
	if b == nil {
		if len(rl.buckets) >= maxBuckets {
			rl.forgetFull(now, burst, perSecond)
		}
		b = &bucket{tokens: burst, at: now}
		rl.buckets[key] = b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*perSecond)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
}

func (rl *rateLimiter) forgetFull(now time.Time, burst, perSecond float64) {
	for k, b := range rl.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*perSecond >= burst {
			delete(rl.buckets, k)
		}
	}
}

// SetRateLimit sets how many requests a key may make per minute (bursts of
// as many); 0 turns the limit off. The default is DefaultRateLimit.
func (s *Server) SetRateLimit(perMinute int) {
	s.limiter.mu.Lock()
	defer s.limiter.mu.Unlock()
	s.limiter.perMinute = perMinute
}

// admitRate refuses a request of a key over its rate with HTTP 429,
// Retry-After and RATE_LIMITED (extensions.retryAfter, in whole seconds).
func (s *Server) admitRate(w http.ResponseWriter, ctx context.Context) bool {
	a, err := actor(ctx)
	if err != nil {
		return true // no key: UNAUTHENTICATED later, and nothing runs
	}
	ok, wait := s.limiter.take(a.KeyID)
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	refuseWith(w, http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("this key made more than %d requests in a minute; retry in %d s", s.limiter.perMinute, secs),
		map[string]any{"retryAfter": secs})
	return false
}

// refuseWith answers a request refused before GraphQL runs, in GraphQL's
// error shape, with extra extensions. The answer goes out before the body is
// read; the connection is then closed, once net/http has read what it reads
// of an unwanted body (up to 256 KiB, within the body timeout), so that a
// client still sending it sees the answer rather than a reset.
func refuseWith(w http.ResponseWriter, status int, code, msg string, ext map[string]any) {
	ext["code"] = code
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}, "data": nil})
}

// Bodies: how long they may take to arrive, and how large one without a key
// may be.
const (
	// DefaultBodyTimeout is how long a request's body may take to arrive,
	// unless SetBodyTimeout says otherwise.
	DefaultBodyTimeout = 10 * time.Second
	// uploadRate is the slowest an upload may arrive, in bytes a second: an
	// upload's body timeout is the body timeout plus a second per MiB of the
	// upload limit (64 MiB: 74 s).
	uploadRate = 1 << 20
	// anonymousBodyBytes is the largest body a request without a key may
	// send: without a key only introspection, __typename and
	// balanceForwardTemplate answer.
	anonymousBodyBytes = 64 << 10
)

// SetBodyTimeout sets how long a request's body may take to arrive (default
// DefaultBodyTimeout; uploads get more, see uploadRate). Past it, reading
// the body fails and the connection is closed. Call it before serving.
func (s *Server) SetBodyTimeout(d time.Duration) { s.bodyTimeout = d }

// uploadTimeout is how long an upload's body may take to arrive.
func (s *Server) uploadTimeout() time.Duration {
	return s.bodyTimeout + time.Duration(s.maxUpload/uploadRate)*time.Second
}

// bodyDeadline gives r's body d from now to arrive. Requests without a body
// are left alone (net/http is already watching their connection for the
// client going away, and a deadline would end that watch and the request),
// and so are websocket upgrades, which live on. net/http clears the deadline
// once the body has been read to its end.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.ContentLength == 0 || r.Header.Get("Upgrade") != "" || d <= 0 {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// bodyReader names a body that did not arrive in time in its read errors,
// which gqlgen reports as BAD_REQUEST.
type bodyReader struct {
	io.ReadCloser
	timeout time.Duration
}

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the request body did not arrive within %s", b.timeout)
	}
	return n, err
}
