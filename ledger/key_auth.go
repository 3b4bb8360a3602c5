package ledger

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// An API key token is "psk_" + the practice id and key id in hex + a
// 256-bit random secret in base64url. Only SHA-256 of the secret is stored:
// the secret is random and high-entropy, so a plain hash is enough and is
// compared in constant time.
const (
	tokenPrefix = "psk_"
	tokenLen    = len(tokenPrefix) + 32 + 32 + 43
)

// touchEvery bounds how often a key's last-used time is written.
const touchEvery = time.Minute

// IssueKey creates an API key for a practice and returns it with its token,
// which is shown this once and never stored.
func (l *Ledger) IssueKey(ctx context.Context, practiceID ID, name string, role Role) (APIKey, string, error) {
	if err := checkNewKey(name, role); err != nil { // key_admin.go
		return APIKey{}, "", err
	}
	k, token, err := mintKey(practiceID, name, role, l.stamp())
	if err != nil {
		return APIKey{}, "", err
	}
	err = l.store.InTx(ctx, func(tx Tx) error {
		if _, err := tx.Practice(ctx, practiceID); err != nil {
			return err
		}
		return tx.InsertAPIKey(ctx, k)
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, token, nil
}

// AuthRefusal is the ErrUnauthenticated Authenticate returns: it says, for
// the server's log only, why the token was refused and, when the token was
// well formed, the practice and key it named (never its secret). Its
// message is ErrUnauthenticated's, so a client learns nothing more.
type AuthRefusal struct {
	Reason     string // "malformed token", "unknown key", "wrong secret", "revoked key"
	PracticeID ID     // zero for a malformed token
	KeyID      ID
}

func (e *AuthRefusal) Error() string { return ErrUnauthenticated.Error() }

// Is makes an AuthRefusal an ErrUnauthenticated.
func (e *AuthRefusal) Is(target error) bool { return target == ErrUnauthenticated }

// Authenticate resolves a bearer token to the actor it stands for. Any
// malformed, unknown, revoked or wrong token is an *AuthRefusal, which is
// ErrUnauthenticated with no detail for the client about which.
func (l *Ledger) Authenticate(ctx context.Context, token string) (Actor, error) {
	malformed := &AuthRefusal{Reason: "malformed token"}
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return Actor{}, malformed
	}
	rest := token[len(tokenPrefix):]
	var pid, kid ID
	if _, err := hex.Decode(pid[:], []byte(rest[:32])); err != nil {
		return Actor{}, malformed
	}
	if _, err := hex.Decode(kid[:], []byte(rest[32:64])); err != nil {
		return Actor{}, malformed
	}
	secret, err := base64.RawURLEncoding.DecodeString(rest[64:])
	if err != nil || len(secret) != 32 {
		return Actor{}, malformed
	}
	refused := func(reason string) error { return &AuthRefusal{Reason: reason, PracticeID: pid, KeyID: kid} }
	k, err := l.store.APIKey(ctx, pid, kid)
	if err != nil {
		if isNotFound(err) {
			return Actor{}, refused("unknown key")
		}
		return Actor{}, err
	}
	sum := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 {
		return Actor{}, refused("wrong secret")
	}
	if k.RevokedAt != nil {
		return Actor{}, refused("revoked key")
	}
	if now := l.stamp(); k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > touchEvery {
		if err := l.store.TouchAPIKey(ctx, pid, kid, now); err != nil {
			return Actor{}, err
		}
	}
	return Actor{PracticeID: pid, KeyID: kid, Role: k.Role}, nil
}

// CheckKey reports whether the key a authenticated with still stands:
// ErrUnauthenticated if it has been revoked (or no longer exists) since.
// A long-lived connection calls it where a request would authenticate again
// (a websocket's new subscription). An actor with no key (an operator's
// command) always stands.
func (l *Ledger) CheckKey(ctx context.Context, a Actor) error {
	if a.KeyID == (ID{}) {
		return nil
	}
	k, err := l.store.APIKey(ctx, a.PracticeID, a.KeyID)
	switch {
	case isNotFound(err):
		return ErrUnauthenticated
	case err != nil:
		return err
	case k.RevokedAt != nil:
		return ErrUnauthenticated
	}
	return nil
}
