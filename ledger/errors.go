package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is; the GraphQL layer maps
// each to a stable extensions.code.
var (
	// ErrNotFound: the thing does not exist in the caller's practice.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request collides with the ledger's state (an
	// idempotency key reused with a different input, a receipt already
	// reversed, a concurrent change that could not be retried).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the caller's role may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: no valid API key.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrRetryable marks a transient database conflict (serialization
	// failure, deadlock); the operation is safe to run again.
	ErrRetryable = errors.New("transient conflict")
	// ErrUnavailable: the database cannot be reached now (it is restarting,
	// or the connection was lost). Nothing was written, unless a commit's
	// answer was what got lost; an idempotency key makes sending the request
	// again safe either way.
	ErrUnavailable = errors.New("the database is unavailable")

	errInvalidID = errors.New("not a valid id")
)

// InputError is bad input: a field with a value the operation cannot accept.
// Nothing was written.
type InputError struct {
	Field   string // input path, e.g. "splits[1].amount"
	Message string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Invalid returns an *InputError for field.
func Invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// InvariantError reports an operation refused because it would break a ledger
// invariant (docs/design.md §5), or a database check that caught one. Nothing was
// written.
type InvariantError struct {
	Invariant string // short name, e.g. "splits_sum", "append_only"
	Message   string
}

func (e *InvariantError) Error() string { return e.Message }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
