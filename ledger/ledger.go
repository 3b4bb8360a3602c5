package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Ledger performs every operation on the ledger: it validates input, takes
// the locks it needs, writes through the Store in one transaction, and
// records idempotency and audit. Reads go straight to the Store.
type Ledger struct {
	store    Store
	now      func() time.Time
	compiled *policyCache // compiled allocation policies (alloc_policies.go)
	runs     *runner      // long runs in progress (run.go)
	keys     *keyCache    // keys that authenticated lately (key_auth.go)
	// planTimeout is the longest one plan (or, in a run, one family's
	// plans, or a document's examples) may take.
	planTimeout time.Duration
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithClock injects the clock (tests use a fixed one).
func WithClock(now func() time.Time) Option { return func(l *Ledger) { l.now = now } }

// DefaultPlanTimeout is how long one plan may take unless WithPlanTimeout
// says otherwise.
const DefaultPlanTimeout = 10 * time.Second

// WithPlanTimeout sets the longest one plan may take: a preview's or a
// commit's plan, a document's examples together, one family's plans in a
// run. A plan over it stops with a *rules.BudgetError (budget "time"); a
// run records the family FAILED and goes on. A timeout of zero or less
// stops every plan at once (tests use it).
func WithPlanTimeout(d time.Duration) Option { return func(l *Ledger) { l.planTimeout = d } }

// New returns a Ledger over store.
func New(store Store, opts ...Option) *Ledger {
	l := &Ledger{store: store, now: time.Now, compiled: newPolicyCache(policyCacheSize), runs: newRunner(), keys: &keyCache{},
		planTimeout: DefaultPlanTimeout}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Store returns the store the ledger reads and writes.
func (l *Ledger) Store() Store { return l.store }

// stamp is the current instant in UTC, truncated to PostgreSQL's precision.
func (l *Ledger) stamp() time.Time { return l.now().UTC().Truncate(time.Microsecond) }

// withPlanTimeout bounds planning under ctx by the plan timeout d.
func withPlanTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("planning took longer than the plan timeout of %s", d))
}

// Today is the current date in UTC.
func (l *Ledger) Today() Date { return DateOf(l.now().UTC()) }

// newID returns a fresh time-ordered id.
func newID() ID { return uuid.Must(uuid.NewV7()) }

// maxRetries bounds how often a mutation is re-run after a transient
// database conflict before CONFLICT is returned.
const maxRetries = 5

// mutation describes one call to mutate.
type mutation struct {
	op     string // operation name, e.g. "postReceipt"
	key    string // idempotency key, "" for none
	input  any    // the validated input, hashed for idempotency and audit
	policy string // policy name and version used, for audit
	polVer int
	// resolved, if not nil, is the policy fn resolved in the transaction:
	// it replaces policy and polVer in the audit event.
	resolved *PolicyRef
}

// mutate runs fn in a transaction on behalf of actor: it checks the role,
// replays an idempotent request, records the idempotency key and an audit
// event, and retries transient conflicts. fn returns the id of what it
// created, which mutate returns.
func (l *Ledger) mutate(ctx context.Context, a Actor, m mutation, fn func(Tx) (ID, error)) (ID, error) {
	if err := authorize(a, m.op); err != nil { // key_roles.go
		return ID{}, err
	}
	if err := text("idempotencyKey", m.key, maxName, false); err != nil {
		return ID{}, err
	}
	digest, err := digestOf(m.input)
	if err != nil {
		return ID{}, err
	}
	var result ID
	for attempt := 1; ; attempt++ {
		err = l.store.InTx(ctx, func(tx Tx) error {
			if m.key != "" {
				if err := tx.LockIdempotencyKey(ctx, a.PracticeID, m.key); err != nil {
					return err
				}
				rec, ok, err := tx.IdempotencyRecord(ctx, a.PracticeID, m.key)
				if err != nil {
					return err
				}
				if ok {
					if rec.Operation != m.op || rec.RequestHash != digest {
						return fmt.Errorf("%w: idempotency key %q was used for a different request", ErrConflict, m.key)
					}
					result = rec.ResultID
					return nil
				}
			}
			id, err := fn(tx)
			if err != nil {
				return err
			}
			result = id
			now := l.stamp()
			var rec *IdempotencyRecord
			if m.key != "" {
				rec = &IdempotencyRecord{Key: m.key, Operation: m.op, RequestHash: digest, ResultID: id, CreatedAt: now}
			}
			if m.resolved != nil {
				m.policy, m.polVer = m.resolved.Name, m.resolved.Version
			}
			// The audit event, the idempotency record and (for live aging,
			// once it commits) the change notification, in one statement.
			return tx.RecordMutation(ctx, a.PracticeID, rec, AuditEvent{
				ID: newID(), At: now, KeyID: a.Key(), Role: a.Role, Operation: m.op, InputDigest: digest,
				CreatedIDs: []ID{id}, PolicyName: m.policy, PolicyVersion: m.polVer,
			})
		})
		if err == nil || !errors.Is(err, ErrRetryable) || attempt == maxRetries {
			break
		}
	}
	if errors.Is(err, ErrRetryable) {
		return ID{}, fmt.Errorf("%s: %w: the family was busy; retry", m.op, ErrConflict)
	}
	return result, err
}

// digestOf hashes an input for idempotency and audit.
func digestOf(input any) (string, error) {
	b, err := json.Marshal(input)
	if err != nil {
		return "", fmt.Errorf("digest input: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// byID indexes rows by their id.
func byID[T any](rows []T, id func(T) ID) map[ID]T {
	m := make(map[ID]T, len(rows))
	for _, r := range rows {
		m[id(r)] = r
	}
	return m
}

// one fetches a single row with a batch lookup, or ErrNotFound.
func one[T any](rows []T, err error, what string, id ID) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(rows) == 0 {
		return zero, fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return rows[0], nil
}

// ref resolves an id given in input: a missing row (including one of another
// practice) is bad input naming the field, not NOT_FOUND.
func ref[T any](rows []T, err error, field, what string, id ID) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(rows) == 0 {
		return zero, Invalid(field, "no %s with id %s", what, id)
	}
	return rows[0], nil
}
