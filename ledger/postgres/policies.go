package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

const policyColumns = `id, name, version, source, document, hash, saved_at, saved_by, coalesce(saved_role, '') AS saved_role`

func (s queries) Policies(ctx context.Context, practiceID ledger.ID, ids []ledger.ID) ([]ledger.PolicyVersion, error) {
	const q = `SELECT ` + policyColumns + ` FROM policies WHERE practice_id = $1 AND id = ANY($2::uuid[])`
	var rows []ledger.PolicyVersion
	return rows, translate(s.sel(ctx, &rows, q, practiceID, idArray(ids)))
}

func (s queries) PolicyVersions(ctx context.Context, practiceID ledger.ID) ([]ledger.PolicyVersion, error) {
	const q = `SELECT ` + policyColumns + ` FROM policies WHERE practice_id = $1 ORDER BY name, version`
	var rows []ledger.PolicyVersion
	return rows, translate(s.sel(ctx, &rows, q, practiceID))
}

func (s queries) PolicyNamed(ctx context.Context, practiceID ledger.ID, name string, version int) (ledger.PolicyVersion, error) {
	const q = `SELECT ` + policyColumns + ` FROM policies
	            WHERE practice_id = $1 AND name = $2 AND (version = $3 OR $3 = 0)
	            ORDER BY version DESC LIMIT 1`
	var v ledger.PolicyVersion
	if err := s.get(ctx, &v, q, practiceID, name, version); err != nil {
		return v, notFound(err, "policy "+name)
	}
	return v, nil
}

func (s queries) PolicyDefaults(ctx context.Context, practiceID ledger.ID) ([]ledger.PolicyDefault, error) {
	const q = `SELECT operation, name, coalesce(version, 0) AS version, set_at, set_by FROM policy_defaults
	            WHERE practice_id = $1 ORDER BY operation`
	var rows []ledger.PolicyDefault
	return rows, translate(s.sel(ctx, &rows, prepared(q), practiceID))
}

// InsertPolicy numbers the version under a per-name advisory lock, so that
// concurrent saves of one name get consecutive versions.
func (t *txStore) InsertPolicy(ctx context.Context, practiceID ledger.ID, p *ledger.PolicyVersion) error {
	const lock = `SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/policy/' || $2, 0))`
	if _, err := t.exec(ctx, lock, practiceID, p.Name); err != nil {
		return translate(err)
	}
	const q = `
INSERT INTO policies (practice_id, id, name, version, source, document, hash, saved_at, saved_by, saved_role)
SELECT $1, $2, $3, coalesce(max(version), 0) + 1, $4, $5, $6, $7, $8, NULLIF($9, '')
  FROM policies WHERE practice_id = $1 AND name = $3
RETURNING version`
	err := t.get(ctx, &p.Version, q, practiceID, p.ID, p.Name, p.Source, p.Document, p.Hash,
		p.SavedAt, p.SavedBy, string(p.SavedRole))
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Constraint == "policies_name_version_key" {
		return fmt.Errorf("%w: %w", ledger.ErrRetryable, err)
	}
	return translate(err)
}

func (t *txStore) SetPolicyDefault(ctx context.Context, practiceID ledger.ID, d ledger.PolicyDefault) error {
	const q = `
INSERT INTO policy_defaults (practice_id, operation, name, version, set_at, set_by)
VALUES ($1, $2, $3, NULLIF($4, 0), $5, $6)
ON CONFLICT ON CONSTRAINT policy_defaults_pkey
DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by`
	_, err := t.exec(ctx, q, practiceID, string(d.Operation), d.Name, d.Version, d.SetAt, d.SetBy)
	return translate(err)
}

func (t *txStore) ClearPolicyDefault(ctx context.Context, practiceID ledger.ID, op ledger.AllocationOperation) error {
	const q = `DELETE FROM policy_defaults WHERE practice_id = $1 AND operation = $2`
	_, err := t.exec(ctx, q, practiceID, string(op))
	return translate(err)
}
