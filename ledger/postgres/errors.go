package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/paysplit/paysplit/ledger"
)

// translate turns driver errors into ledger errors, keeping the original
// wrapped for logs. Constraint names map to the domain error they stand for;
// an error with no domain meaning is prefixed with the store method it came
// from (failedIn). Call it in the store method itself, not in a helper.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
	}
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pq.As(err, pqerror.TRSerializationFailure, pqerror.TRDeadlockDetected) != nil:
		return fmt.Errorf("%w: %w", ledger.ErrRetryable, err)
	case pe.Code == pqerror.UniqueViolation:
		if field, ok := uniqueFields[pe.Constraint]; ok {
			return fmt.Errorf("%w: %w", &ledger.InputError{Field: field, Message: "is already in use"}, err)
		}
		return fmt.Errorf("%w: %s: %w", ledger.ErrConflict, pe.Constraint, err)
	case pe.Code == pqerror.ForeignKeyViolation:
		return fmt.Errorf("%w: %w", &ledger.InputError{Message: "refers to something that does not exist: " + pe.Constraint}, err)
	case pe.Code == pqerror.CheckViolation, pe.Code == pqerror.RaiseException:
		return fmt.Errorf("%w: %w", &ledger.InvariantError{Invariant: pe.Constraint, Message: pe.Message}, err)
	case pe.Code == pqerror.CharacterNotInRepertoire, pe.Code == pqerror.UntranslatableCharacter:
		// Text the ledger's own checks should have refused (a NUL): still the
		// client's input, never INTERNAL.
		return fmt.Errorf("%w: %w", &ledger.InputError{Message: "contains a character the database cannot store (NUL)"}, err)
	case pe.Code == "28000": // paysplit_key_stands: the request's key was revoked
		return fmt.Errorf("%w: %w", ledger.ErrUnauthenticated, err)
	case pe.Code == pqerror.QueryCanceled:
		return fmt.Errorf("database call timed out or was cancelled: %w", failedIn(err))
	}
	return failedIn(err)
}

// failedIn prefixes an error the ledger has no name for (it will be an
// INTERNAL error, logged) with the store method translate was called from,
// so the log says which read or write of a mutation failed. Only the
// translate in that method may call it.
func failedIn(err error) error {
	pc, _, _, ok := runtime.Caller(2) // failedIn ← translate ← the store method
	if !ok {
		return err
	}
	name := runtime.FuncForPC(pc).Name() // …/ledger/postgres.(*txStore).InsertBulk
	return fmt.Errorf("%s: %w", name[strings.LastIndex(name, "/")+1:], err)
}

// unavailable reports whether err says the server cannot be reached or has
// gone: a connection that failed or broke (class 08), the server shutting
// down or starting up (57P01–57P03), no connection slot (53300), or the
// database not accepting connections (ALLOW_CONNECTIONS false).
func unavailable(err error) bool {
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Code.Class() == "08", pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300":
			return true
		case pe.Code == "55000" && pe.Routine == "CheckMyDatabase":
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) && !ne.Timeout()
}

// uniqueFields names the input field behind each unique constraint.
var uniqueFields = map[string]string{
	"providers_code_key":         "code",
	"locations_code_key":         "code",
	"guarantors_external_id_key": "externalId",
	"patients_external_id_key":   "externalId",
	"unearned_types_name_key":    "name",
}

// waitFailed translates a wait for what (a connection, or a practice's share
// of them) that ended with err: past the pool's wait, while the request is
// still there, the database is unavailable for now (retryable); a request
// that went away keeps its own error.
func waitFailed(ctx context.Context, err error, what string, wait time.Duration) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: waited %s for %s", ledger.ErrUnavailable, wait, what)
	}
	return translate(fmt.Errorf("wait for %s: %w", what, err))
}
