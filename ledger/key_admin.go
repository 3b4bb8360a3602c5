package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// KeyReader lists a practice's API keys (part of Reader).
type KeyReader interface {
	// APIKeys lists every key of the practice, revoked or not, newest first.
	APIKeys(ctx context.Context, practiceID ID) ([]APIKey, error)
}

// KeyWriter changes API keys (part of Tx).
type KeyWriter interface {
	// RevokeAPIKey sets a key's revoked time unless it is set already and
	// returns the key; ErrNotFound if the practice has no such key. It also
	// announces the revocation to every server instance, once the
	// transaction commits (never if it rolls back), so that each closes the
	// websockets the key opened (postgres.Listener).
	RevokeAPIKey(ctx context.Context, practiceID, keyID ID, at time.Time) (APIKey, error)
}

// NewAPIKey asks for a key: a label and a role.
type NewAPIKey struct {
	Name           string
	Role           Role
	IdempotencyKey string
}

// RevokeAPIKey asks for a key to be revoked.
type RevokeAPIKey struct {
	KeyID          ID
	IdempotencyKey string
}

// CreateAPIKey creates a key of a's practice (ADMIN) and returns it with its
// token, which is shown this once and never stored. A replayed idempotency
// key returns the key it created first and an empty token: the token cannot
// be shown again.
func (l *Ledger) CreateAPIKey(ctx context.Context, a Actor, in NewAPIKey) (APIKey, string, error) {
	if err := checkNewKey(in.Name, in.Role); err != nil {
		return APIKey{}, "", err
	}
	in.Name = strings.TrimSpace(in.Name)
	var (
		token  string
		minted ID // the key this request's last attempt made
	)
	digestInput := struct{ Name, Role string }{in.Name, string(in.Role)}
	id, err := l.mutate(ctx, a, mutation{op: "createApiKey", key: in.IdempotencyKey, input: digestInput}, func(tx Tx) (ID, error) {
		if _, err := tx.Practice(ctx, a.PracticeID); err != nil {
			return ID{}, err
		}
		k, t, err := mintKey(a.PracticeID, in.Name, in.Role, l.stamp())
		if err != nil {
			return ID{}, err
		}
		token, minted = t, k.ID
		return k.ID, tx.InsertAPIKey(ctx, k)
	})
	if err != nil {
		return APIKey{}, "", err
	}
	k, err := l.store.APIKey(ctx, a.PracticeID, id)
	if err != nil {
		return APIKey{}, "", err
	}
	if minted != id {
		token = "" // a replay: the first request's token was shown once
	}
	return k, token, nil
}

// RevokeAPIKey revokes a key of a's practice (ADMIN): from now on it
// authenticates nothing, and every server instance closes the websockets it
// opened as soon as the revocation commits. Revoking a revoked key keeps its first revocation
// time. An id the practice does not have is bad input naming "id".
func (l *Ledger) RevokeAPIKey(ctx context.Context, a Actor, in RevokeAPIKey) (APIKey, error) {
	var k APIKey
	_, err := l.mutate(ctx, a, mutation{op: "revokeApiKey", key: in.IdempotencyKey, input: in.KeyID}, func(tx Tx) (ID, error) {
		var err error
		k, err = tx.RevokeAPIKey(ctx, a.PracticeID, in.KeyID, l.stamp())
		if isNotFound(err) {
			return ID{}, Invalid("id", "no API key with id %s", in.KeyID)
		}
		return k.ID, err
	})
	if err != nil {
		return APIKey{}, err
	}
	l.ForgetKey(a.PracticeID, in.KeyID) // other instances forget it when they hear of it
	return l.store.APIKey(ctx, a.PracticeID, in.KeyID)
}

// APIKeys lists the keys of a's practice (ADMIN), newest first. A key's
// secret never leaves the store: the listing carries only its hash, which
// callers must not show.
func (l *Ledger) APIKeys(ctx context.Context, a Actor) ([]APIKey, error) {
	if err := authorize(a, "apiKeys"); err != nil {
		return nil, err
	}
	return l.store.APIKeys(ctx, a.PracticeID)
}

func checkNewKey(name string, role Role) error {
	if !role.Valid() {
		return Invalid("role", "must be ADMIN, BILLER or ANALYST")
	}
	return text("name", name, maxName, false)
}

// mintKey makes a key with a fresh random secret, and its token.
func mintKey(practiceID ID, name string, role Role, now time.Time) (APIKey, string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return APIKey{}, "", fmt.Errorf("issue key: %w", err)
	}
	sum := sha256.Sum256(secret)
	k := APIKey{PracticeID: practiceID, ID: newID(), Name: strings.TrimSpace(name), Role: role, SecretHash: sum[:], CreatedAt: now}
	token := tokenPrefix + hex.EncodeToString(practiceID[:]) + hex.EncodeToString(k.ID[:]) +
		base64.RawURLEncoding.EncodeToString(secret)
	return k, token, nil
}
