package postgres

import (
	"errors"
	"fmt"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/paysplit/paysplit/ledger"
)

// translate turns driver errors into ledger errors, keeping the original
// wrapped for logs. Constraint names map to the domain error they stand for.
func translate(err error) error {
	if err == nil {
		return nil
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
	case pe.Code == pqerror.QueryCanceled:
		return fmt.Errorf("database call timed out or was cancelled: %w", err)
	}
	return err
}

// uniqueFields names the input field behind each unique constraint.
var uniqueFields = map[string]string{
	"providers_code_key":         "code",
	"locations_code_key":         "code",
	"guarantors_external_id_key": "externalId",
	"patients_external_id_key":   "externalId",
	"unearned_types_name_key":    "name",
}
