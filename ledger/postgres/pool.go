package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
)

// Pool bounds (docs/security.md#limits, docs/operations.md#the-database-pool).
const (
	// DefaultMaxConns is the size of the pool Open makes: well below
	// PostgreSQL's default max_connections (100), so that a few instances,
	// their change listeners and an operator's session fit; the private
	// cluster allows 200 (localpg).
	DefaultMaxConns = 32
	// DefaultWait is how long a statement waits for a connection, and for
	// its practice's share of them, before it is refused as unavailable.
	DefaultWait = 3 * time.Second
)

// pool is the store's connections and the rules for taking one: at most
// wait to get it, and at most share of them per practice at once, so a
// burst from one practice leaves the rest of the pool to the others.
type pool struct {
	db   *sqlx.DB
	wait time.Duration
	gate *gate // nil: no share per practice (an unbounded pool)
}

// newPool wraps db, sharing its connections between practices if it is
// bounded (half each).
func newPool(db *sqlx.DB) *pool {
	return &pool{db: db, wait: DefaultWait, gate: newGate(db.Stats().MaxOpenConnections)}
}

// SetPool bounds the store's pool to maxConns connections (0: unbounded) and
// sets how long a statement waits for one (0: DefaultWait). A practice may
// hold at most half of them (at least two) at once. Call it before use.
func (s *Store) SetPool(maxConns int, wait time.Duration) {
	if wait <= 0 {
		wait = DefaultWait
	}
	idle := maxIdleConns
	if maxConns > 0 {
		idle = maxConns
	}
	s.pool.db.SetMaxOpenConns(maxConns)
	s.pool.db.SetMaxIdleConns(idle)
	s.pool.wait, s.pool.gate = wait, newGate(maxConns)
}

// PracticeConns reports how many of the pool's connections practice pid
// holds, and how many of its statements wait for its share.
func (s *Store) PracticeConns(pid ledger.ID) (held, waiting int) {
	if s.pool.gate == nil {
		return 0, 0
	}
	return s.pool.gate.load(pid)
}

// acquire takes a connection for a statement of practice pid (nil: of no
// practice, outside the shares), waiting at most p.wait for the practice's
// share and the connection together. release gives both back.
func (p *pool) acquire(ctx context.Context, pid *ledger.ID) (_ *sqlx.Conn, release func(), err error) {
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	leave := func() {}
	if p.gate != nil && pid != nil {
		if leave, err = p.gate.enter(wctx, *pid); err != nil {
			return nil, nil, waitFailed(ctx, err, "its practice's share of database connections", p.wait)
		}
	}
	conn, err := p.db.Connx(wctx)
	if err != nil {
		leave()
		return nil, nil, waitFailed(ctx, err, "a database connection", p.wait)
	}
	return conn, func() { conn.Close(); leave() }, nil
}

// gate holds a counting semaphore per practice with statements in flight.
type gate struct {
	share int
	mu    sync.Mutex
	slots map[ledger.ID]*slots
}

// slots is one practice's semaphore; users counts holders and waiters, and
// the entry goes when it drops to zero.
type slots struct {
	sem   chan struct{}
	users int
}

// newGate gives each practice half of a pool of maxConns, and at least two
// (a run holds one for its lock while its batches take another); nil for an
// unbounded pool.
func newGate(maxConns int) *gate {
	if maxConns <= 0 {
		return nil
	}
	return &gate{share: max(2, maxConns/2), slots: make(map[ledger.ID]*slots)}
}

// enter takes one of practice pid's slots, waiting until ctx ends.
func (g *gate) enter(ctx context.Context, pid ledger.ID) (leave func(), err error) {
	g.mu.Lock()
	s := g.slots[pid]
	if s == nil {
		s = &slots{sem: make(chan struct{}, g.share)}
		g.slots[pid] = s
	}
	s.users++
	g.mu.Unlock()
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; g.done(pid, s) }, nil
	case <-ctx.Done():
		g.done(pid, s)
		return nil, ctx.Err()
	}
}

func (g *gate) done(pid ledger.ID, s *slots) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(g.slots, pid)
	}
}

func (g *gate) load(pid ledger.ID) (held, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.slots[pid]
	if s == nil {
		return 0, 0
	}
	return len(s.sem), s.users - len(s.sem)
}
