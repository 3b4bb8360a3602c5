package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
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
	// DefaultRateLimit is how many requests a key may make per minute,
	// with bursts of as many, unless SetRateLimit says otherwise.
	DefaultRateLimit = 1200
	// CodeDepthLimitExceeded is depthLimit's error code.
	CodeDepthLimitExceeded = "DEPTH_LIMIT_EXCEEDED"
)

// depthLimit is the gqlgen extension that refuses operations selecting
// deeper than max, before anything runs.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                          { return "DepthLimit" }
func (depthLimit) Validate(schema graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if n := selectionDepth(oc.Doc, oc.Operation.SelectionSet, true); n > d.max {
		err := gqlerror.Errorf("operation is %d fields deep, which exceeds the limit of %d", n, d.max)
		errcode.Set(err, CodeDepthLimitExceeded)
		return err
	}
	return nil
}

// selectionDepth is the depth of the deepest field in set, following
// fragments (validation has already refused fragment cycles). At the root,
// introspection fields are skipped.
func selectionDepth(doc *ast.QueryDocument, set ast.SelectionSet, root bool) int {
	deepest := 0
	for _, s := range set {
		n := 0
		switch s := s.(type) {
		case *ast.Field:
			if root && strings.HasPrefix(s.Name, "__") {
				continue
			}
			n = 1 + selectionDepth(doc, s.SelectionSet, false)
		case *ast.InlineFragment:
			n = selectionDepth(doc, s.SelectionSet, root)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(s.Name); f != nil {
				n = selectionDepth(doc, f.SelectionSet, root)
			}
		}
		deepest = max(deepest, n)
	}
	return deepest
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

// refuseWith is refuse (import_http.go) with extra extensions.
func refuseWith(w http.ResponseWriter, status int, code, msg string, ext map[string]any) {
	ext["code"] = code
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": ext}}, "data": nil})
}
