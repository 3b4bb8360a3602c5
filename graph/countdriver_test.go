package graph_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// countingDriverName is a database/sql driver that is lib/pq, counting the
// statements it sends: every QueryContext, ExecContext and Prepare.
const countingDriverName = "postgres-counting"

var (
	registerCounting sync.Once
	counters         sync.Map // DSN → *atomic.Int64
)

// openCounting opens dsn through the counting driver and returns the pool
// and its statement counter.
func openCounting(t *testing.T, dsn string) (*sqlx.DB, *atomic.Int64) {
	t.Helper()
	registerCounting.Do(func() {
		sql.Register(countingDriverName, countingDriver{})
		sqlx.BindDriver(countingDriverName, sqlx.DOLLAR)
	})
	n := new(atomic.Int64)
	_, loaded := counters.LoadOrStore(dsn, n)
	require.False(t, loaded, "one counter per database")
	t.Cleanup(func() { counters.Delete(dsn) })
	db, err := sqlx.Connect(countingDriverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, n
}

type countingDriver struct{}

func (countingDriver) Open(dsn string) (driver.Conn, error) {
	n, ok := counters.Load(dsn)
	if !ok {
		n = new(atomic.Int64) // a connection opened after its test ended
	}
	c, err := pq.Driver{}.Open(dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn: c.(pqConn), n: n.(*atomic.Int64)}, nil
}

// pqConn is what a lib/pq connection implements.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

type countingConn struct {
	conn pqConn
	n    *atomic.Int64
}

var _ pqConn = (*countingConn)(nil)

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.Add(1)
	return c.conn.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.n.Add(1)
	return c.conn.ExecContext(ctx, q, args)
}

func (c *countingConn) Prepare(q string) (driver.Stmt, error) {
	c.n.Add(1)
	return c.conn.Prepare(q)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.n.Add(1)
	return c.conn.PrepareContext(ctx, q)
}

func (c *countingConn) Begin() (driver.Tx, error) {
	return c.conn.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.BeginTx(ctx, opts)
}

func (c *countingConn) Close() error                           { return c.conn.Close() }
func (c *countingConn) Ping(ctx context.Context) error         { return c.conn.Ping(ctx) }
func (c *countingConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }
func (c *countingConn) IsValid() bool                          { return c.conn.IsValid() }
func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.conn.CheckNamedValue(nv)
}
