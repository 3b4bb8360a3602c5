package postgres

import (
	"context"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// RevokedChannel is the NOTIFY channel on which a commit that revoked an API
// key names it ("<practice id>/<key id>"); every server instance's Listener hears it and
// closes the websockets the key opened.
const RevokedChannel = "paysplit_key_revoked"

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
	// Delivered when the transaction commits, never if it rolls back.
	_, err := t.exec(ctx, `SELECT pg_notify($2, $1::text || '/' || $3::text)`, practiceID, RevokedChannel, keyID)
	return k, translate(err)
}
