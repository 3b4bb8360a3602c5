package postgres

import (
	"context"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

const apiKeyColumns = `practice_id, id, name, role, secret_hash, created_at, last_used_at, revoked_at`

func (s queries) APIKeys(ctx context.Context, practiceID ledger.ID) ([]ledger.APIKey, error) {
	const q = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE practice_id = $1 ORDER BY created_at DESC, id DESC`
	var rows []ledger.APIKey
	return rows, translate(s.sel(ctx, &rows, q, practiceID))
}

func (t *txStore) RevokeAPIKey(ctx context.Context, practiceID, keyID ledger.ID, at time.Time) (ledger.APIKey, error) {
	const q = `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)
	            WHERE practice_id = $1 AND id = $2
	        RETURNING ` + apiKeyColumns
	var k ledger.APIKey
	if err := t.get(ctx, &k, q, practiceID, keyID, at); err != nil {
		return k, notFound(err, "api key")
	}
	return k, nil
}
