package ledger

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
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
	k, gen, cached := l.keys.get(pid, kid)
	if !cached {
		if k, err = l.store.APIKey(ctx, pid, kid); err != nil {
			if isNotFound(err) {
				return Actor{}, refused("unknown key")
			}
			return Actor{}, err
		}
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
		k.LastUsedAt = &now
	}
	l.keys.put(k, gen)
	return Actor{PracticeID: pid, KeyID: kid, Role: k.Role}, nil
}

// keyCache holds the keys that authenticated lately, so that a request
// needs no statement of its own to authenticate (docs/security.md#keys). A
// revocation cannot hide behind it: every statement a request makes checks,
// in its own transaction, that the key still stands (WithKeyCheck), and the
// cache forgets a key as soon as this instance revokes it or hears that
// another did (ForgetKey).
type keyCache struct {
	mu   sync.Mutex
	on   bool // CacheKeys was called
	keys map[[2]ID]APIKey
	gen  uint64 // counts forgets: a key read before one is not cached after it
}

// CacheKeys turns the authentication cache on. Call it only on an instance
// that hears revocations (postgres.Listen with postgres.WithRevocations,
// whose sink calls ForgetKey and ForgetKeys), so that its cache forgets a
// revoked key; serve does.
func (l *Ledger) CacheKeys() {
	l.keys.mu.Lock()
	defer l.keys.mu.Unlock()
	l.keys.on = true
}

// maxCachedKeys bounds the cache; when it is full it starts again empty.
const maxCachedKeys = 10_000

// get returns the cached key, if any, and the generation to put it back
// with.
func (c *keyCache) get(pid, kid ID) (APIKey, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[[2]ID{pid, kid}]
	return k, c.gen, ok && c.on
}

// put caches k, read at generation gen, unless something was forgotten
// since (it may have been k's revocation).
func (c *keyCache) put(k APIKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || gen != c.gen {
		return
	}
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[[2]ID]APIKey)
	}
	c.keys[[2]ID{k.PracticeID, k.ID}] = k
}

// ForgetKey drops a key from the authentication cache: a revocation
// committed (on this instance or, heard through the database, on another).
func (l *Ledger) ForgetKey(practiceID, keyID ID) {
	l.keys.mu.Lock()
	defer l.keys.mu.Unlock()
	l.keys.gen++
	delete(l.keys.keys, [2]ID{practiceID, keyID})
}

// ForgetKeys empties the authentication cache: revocations may have been
// missed (the instance's change listener lost its connection).
func (l *Ledger) ForgetKeys() {
	l.keys.mu.Lock()
	defer l.keys.mu.Unlock()
	l.keys.gen++
	l.keys.keys = nil
}

type keyCheckKey struct{}

// WithKeyCheck marks ctx with a's key: the Store then checks, in the
// transaction of every statement made under ctx for a's practice, that the
// key has not been revoked, and refuses the statement with
// ErrUnauthenticated if it has. A request authenticated from the cache is
// so refused the moment a revocation commits, on any instance, whether or
// not this one has heard of it.
func WithKeyCheck(ctx context.Context, a Actor) context.Context {
	if a.KeyID == (ID{}) {
		return ctx
	}
	return context.WithValue(ctx, keyCheckKey{}, a)
}

// KeyToCheck returns the key WithKeyCheck marked ctx with.
func KeyToCheck(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(keyCheckKey{}).(Actor)
	return a, ok
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
