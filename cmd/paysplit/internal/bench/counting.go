package bench

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// countingConnector wraps lib/pq's connector and counts the SQL statements
// sent through its connections: every query and exec, direct or prepared
// (BEGIN, COMMIT and ROLLBACK are not counted). It also adds up, per
// statement text, the time from sending a direct query or exec until its
// result is read, which says where a workload's database time goes. Each
// method forwards to the driver's own, so database/sql behaves exactly as it
// does over lib/pq.
type countingConnector struct {
	driver.Connector
	n atomic.Int64

	mu    sync.Mutex
	times map[string]*statementTime
}

// statementTime is the time spent on one statement text.
type statementTime struct {
	SQL   string
	Count int64
	Total time.Duration
}

// Statements returns how many statements have been sent so far.
func (c *countingConnector) Statements() int64 { return c.n.Load() }

// Times returns the time per statement text since the last call, longest
// total first, and starts over.
func (c *countingConnector) Times() []statementTime {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]statementTime, 0, len(c.times))
	for _, t := range c.times {
		out = append(out, *t)
	}
	c.times = nil
	slices.SortFunc(out, func(a, b statementTime) int { return cmp.Compare(b.Total, a.Total) })
	return out
}

func (c *countingConnector) record(q string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.times == nil {
		c.times = map[string]*statementTime{}
	}
	t := c.times[q]
	if t == nil {
		t = &statementTime{SQL: q}
		c.times[q] = t
	}
	t.Count++
	t.Total += d
}

func (c *countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: &c.n, c: c}, nil
}

type countingConn struct {
	driver.Conn
	n *atomic.Int64
	c *countingConnector
}

var (
	_ driver.QueryerContext     = (*countingConn)(nil)
	_ driver.ExecerContext      = (*countingConn)(nil)
	_ driver.ConnPrepareContext = (*countingConn)(nil)
	_ driver.ConnBeginTx        = (*countingConn)(nil)
	_ driver.Pinger             = (*countingConn)(nil)
	_ driver.SessionResetter    = (*countingConn)(nil)
	_ driver.Validator          = (*countingConn)(nil)
	_ driver.NamedValueChecker  = (*countingConn)(nil)
)

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	t0 := time.Now()
	rows, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	if err != nil {
		c.c.record(q, time.Since(t0))
		return nil, err
	}
	return &timedRows{Rows: rows, done: func() { c.c.record(q, time.Since(t0)) }}, nil
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	t0 := time.Now()
	defer func() { c.c.record(q, time.Since(t0)) }()
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

// timedRows records its query's time when it is closed.
type timedRows struct {
	driver.Rows
	done func()
	once sync.Once
}

func (r *timedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.done)
	return err
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: s, n: c.n}, nil
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *countingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *countingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *countingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(v)
}

type countingStmt struct {
	driver.Stmt
	n *atomic.Int64
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.n.Add(1)
	if x, ok := s.Stmt.(driver.StmtExecContext); ok {
		return x.ExecContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // the driver's statement has only the old method
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.n.Add(1)
	if x, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return x.QueryContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // the driver's statement has only the old method
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("bench: named parameters are not supported")
		}
		out[i] = a.Value
	}
	return out, nil
}
