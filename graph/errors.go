package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/rules"
)

// Error codes: the stable extensions.code of every error the API returns.
// They are part of the API contract and listed in README.md.
const (
	CodeBadUserInput       = "BAD_USER_INPUT"
	CodeNotFound           = "NOT_FOUND"
	CodeConflict           = "CONFLICT"
	CodeForbidden          = "FORBIDDEN"
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeInvariantViolation = "INVARIANT_VIOLATION"
	CodeRuleRejected       = "RULE_REJECTED"
	CodeRuleCompileFailed  = "RULE_COMPILE_FAILED"
	CodeBadRequest         = "BAD_REQUEST"          // refused before GraphQL runs (an upload without its CSRF header, a malformed body)
	CodeRateLimited        = "RATE_LIMITED"         // a key over its rate (limits.go); extensions.retryAfter in seconds
	CodeDepthLimitExceeded = "DEPTH_LIMIT_EXCEEDED" // an operation deeper than MaxQueryDepth (limits.go)
	CodeFieldLimitExceeded = "FIELD_LIMIT_EXCEEDED" // more than MaxRootFields root fields or MaxFields fields (limits.go)
	CodeUnavailable        = "UNAVAILABLE"          // the database cannot be reached now; extensions.retryable is true
	CodeCancelled          = "CANCELLED"            // the client went away (or cancelled) before the answer; nothing was committed
	CodeInternal           = "INTERNAL"

	// CodeSubscriptionLimitExceeded: a websocket already runs
	// MaxSubscriptionsPerSocket operations (socket_limits.go).
	CodeSubscriptionLimitExceeded = "SUBSCRIPTION_LIMIT_EXCEEDED"

	// CodeRuleBudget: a plan (or one of its evaluations, or a document's
	// examples) went over its budget; extensions.budget and path.
	CodeRuleBudget = "RULE_BUDGET_EXCEEDED"
)

// classify maps an error to its code, the message the client sees, and extra
// extensions. This is the one table from domain errors to the wire.
func classify(err error) (code, msg string, ext map[string]any) {
	var (
		input     *ledger.InputError
		invariant *ledger.InvariantError
		rejected  *rules.RejectedError
		evalErr   *rules.EvalError
		budget    *rules.BudgetError
		compile   *rules.CompileError
		gqlErr    *gqlerror.Error
	)
	switch {
	case errors.Is(err, context.Canceled): // the client hung up: its work stopped
		return CodeCancelled, "the request was cancelled before it finished", nil
	case errors.As(err, &input):
		ext = map[string]any{}
		if input.Field != "" {
			ext["field"] = input.Field
		}
		return CodeBadUserInput, input.Error(), ext
	case errors.As(err, &invariant):
		return CodeInvariantViolation, invariant.Message, map[string]any{"invariant": invariant.Invariant}
	case errors.As(err, &rejected): // a policy's requirement or leftover rule refused the plan
		return CodeRuleRejected, rejected.Message, map[string]any{"requirement": rejected.Requirement, "rule": rejected.Requirement}
	case errors.As(err, &evalErr): // a policy expression failed while planning
		return CodeRuleRejected, fmt.Sprintf("the policy's %s failed: %v", evalErr.Path, evalErr.Err), map[string]any{"path": evalErr.Path}
	case errors.As(err, &budget): // a plan, an example or an evaluation over its budget
		msg := "the plan went over its " + budget.Budget + " budget: " + budget.Message
		if budget.Path != "" {
			msg = budget.Path + ": " + msg
		}
		return CodeRuleBudget, msg, map[string]any{"budget": budget.Budget, "path": budget.Path}
	case errors.As(err, &compile): // one problem of a policy document
		msg := compile.Message
		if compile.Path != "" {
			msg = compile.Path + ": " + msg
		}
		if compile.Line > 0 {
			msg += fmt.Sprintf(" (%d:%d)", compile.Line, compile.Column)
		}
		return CodeRuleCompileFailed, msg, map[string]any{"path": compile.Path, "line": compile.Line, "column": compile.Column,
			"exprLine": compile.ExprLine, "exprColumn": compile.ExprColumn, "snippet": compile.Snippet}
	case errors.Is(err, ledger.ErrNotFound):
		return CodeNotFound, "not found", nil
	case errors.Is(err, ledger.ErrConflict):
		return CodeConflict, conflictMessage(err), map[string]any{"retryable": errors.Is(err, ledger.ErrRetryable)}
	case errors.Is(err, ledger.ErrUnavailable):
		return CodeUnavailable, "the database is unavailable; send the request again shortly (with its idempotency key, for a mutation)", map[string]any{"retryable": true}
	case errors.Is(err, ledger.ErrForbidden):
		return CodeForbidden, "your key's role may not do this", nil
	case errors.Is(err, ledger.ErrUnauthenticated):
		return CodeUnauthenticated, "send a valid API key as 'Authorization: Bearer <key>'", nil
	case errors.As(err, &gqlErr) && strings.HasPrefix(gqlErr.Message, "exceeded token limit"): // the parser's MaxTokens
		return CodeFieldLimitExceeded, fmt.Sprintf("operation has more than %d tokens, which exceeds the limit", MaxTokens), nil
	case errors.As(err, &gqlErr) && gqlErr.Extensions["code"] != nil:
		return fmt.Sprint(gqlErr.Extensions["code"]), gqlErr.Message, nil
	case errors.As(err, &gqlErr) && len(gqlErr.Path) == 0 && gqlErr.Unwrap() == nil:
		// gqlgen's transport or executor refusing the request itself (a
		// body or variables that are not JSON objects, no operation, a body
		// that did not arrive in time): the client's mistake. The body a
		// decoding error echoes is cut.
		msg := gqlErr.Message
		if strings.HasPrefix(msg, "json request body could not be decoded") {
			msg, _, _ = strings.Cut(msg, " body:")
		}
		return CodeBadRequest, msg, nil
	}
	return CodeInternal, "internal error", nil
}

// conflictMessage keeps the domain's explanation of a conflict but never
// a driver's text.
func conflictMessage(err error) string {
	var ce interface{ Unwrap() []error }
	if errors.As(err, &ce) {
		return "conflict with the ledger's current state"
	}
	return err.Error()
}

// presentError is the server's error presenter: every error leaves with a
// code from the table above. Internal errors are logged, and the client sees
// only "internal error".
func presentError(ctx context.Context, err error) *gqlerror.Error {
	e := graphql.DefaultErrorPresenter(ctx, err)
	code, msg, ext := classify(err)
	if code == CodeCancelled {
		slog.InfoContext(ctx, "request cancelled", "path", e.Path.String(), "request_id", requestID(ctx))
	}
	if code == CodeInternal {
		slog.ErrorContext(ctx, "internal error", "err", err, "path", e.Path.String(), "request_id", requestID(ctx))
	}
	if _, ok := ext["field"]; code == CodeBadUserInput && !ok && len(e.Path) > 0 {
		// A scalar that could not be decoded is reported on the path of
		// the argument field it came from, named as the ledger names
		// fields: relative to the mutation's input ("splits[0].amount"),
		// or to the query field's arguments ("filter.name").
		field := inputField(e.Path)
		ext["field"] = field
		msg = field + ": " + msg
	}
	e.Message = msg
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	for k, v := range ext {
		e.Extensions[k] = v
	}
	e.Extensions["code"] = code
	return e
}

// inputField names the argument field at path p (root field, argument,
// fields and indexes) without the root field and a mutation's "input".
func inputField(p ast.Path) string {
	if len(p) < 2 {
		return p.String()
	}
	p = p[1:]
	if len(p) > 1 && p[0] == ast.PathName("input") {
		p = p[1:]
	}
	return p.String()
}

// recoverPanic turns a resolver panic into INTERNAL, logging it.
func recoverPanic(ctx context.Context, p any) error {
	slog.ErrorContext(ctx, "panic in resolver", "panic", p, "request_id", requestID(ctx))
	return errors.New("internal error")
}
