package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"

	"github.com/lib/pq"
)

// Prepared statements, once per connection.
//
// lib/pq sends a statement with parameters as an unnamed prepared statement:
// PostgreSQL parses, analyzes and plans it on every call. For the short,
// key-based statements a receipt runs (the family's lines, its splits, the
// writes), planning cost more than executing (docs/benchmarks.md, "The
// write path"). A statement text passed through prepared is instead
// prepared by name the first time a connection runs it, and executed from
// that connection's statement afterwards: parsed once per connection, and
// planned once: inside a transaction, the connection runs them with
// plan_cache_mode force_generic_plan (set for the transaction while a
// registered statement runs, with the triggers its writes fire, and set back
// before any other statement, a COPY included), so PostgreSQL plans each of
// them once per connection for any parameters. Left to choose (auto), it kept
// planning the family's reads afresh, and planning cost more than running
// them. The registered statements are key lookups and writes whose best plan
// does not depend on the values: index reads by practice and id.
//
// Only texts registered with prepared are kept, so the set is bounded by
// the code; every other statement, the reports above all, whose best plan
// depends on their parameters and on settings they change for their own
// transaction (random_page_cost in aging), is sent as before and planned
// afresh with the server's plan_cache_mode. A statement PostgreSQL can no
// longer run (its table changed shape) is forgotten and prepared again; the
// old one stays on the server until the connection closes. PostgreSQL re-plans a
// prepared statement when the tables it reads change shape or the role
// running it differs from the one that planned it, so row-level security
// (the tenant role and practice of each transaction) holds as for any
// other statement.

// preparedTexts holds the registered statement texts.
var preparedTexts sync.Map // string → struct{}

// prepared registers q as a statement each connection prepares once, and
// returns it.
func prepared(q string) string {
	if _, ok := preparedTexts.Load(q); !ok {
		preparedTexts.Store(q, struct{}{})
	}
	return q
}

// NewConnector returns a connector to the database at dsn with the
// service's session settings (SessionDSN) whose connections keep their
// prepared statements.
func NewConnector(dsn string) (driver.Connector, error) {
	c, err := pq.NewConnector(SessionDSN(dsn))
	if err != nil {
		return nil, err
	}
	return preparingConnector{c}, nil
}

type preparingConnector struct{ driver.Connector }

func (c preparingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &preparingConn{Conn: conn}, nil
}

// preparingConn is a lib/pq connection with its prepared statements, by
// text. database/sql uses a connection from one goroutine at a time, so the
// map needs no lock.
type preparingConn struct {
	driver.Conn
	stmts map[string]driver.Stmt
	// inTx is set while a transaction is open, generic while it runs with
	// plan_cache_mode force_generic_plan (SET LOCAL: the transaction's end
	// resets it).
	inTx, generic bool
}

var (
	_ driver.QueryerContext     = (*preparingConn)(nil)
	_ driver.ExecerContext      = (*preparingConn)(nil)
	_ driver.ConnPrepareContext = (*preparingConn)(nil)
	_ driver.ConnBeginTx        = (*preparingConn)(nil)
	_ driver.Pinger             = (*preparingConn)(nil)
	_ driver.SessionResetter    = (*preparingConn)(nil)
	_ driver.Validator          = (*preparingConn)(nil)
	_ driver.NamedValueChecker  = (*preparingConn)(nil)
)

// stmt returns the connection's statement for q, preparing it first, or
// nil if q is not registered or has no parameters (a simple query is one
// round trip already). It sets the transaction's plan_cache_mode for what
// runs next: generic plans for a registered statement (and the triggers
// its writes fire), the server's choice for any other statement.
func (c *preparingConn) stmt(ctx context.Context, q string, args []driver.NamedValue) (driver.Stmt, error) {
	if len(args) == 0 {
		return nil, c.planMode(ctx, false)
	}
	st := c.stmts[q]
	if st == nil {
		if _, ok := preparedTexts.Load(q); !ok {
			return nil, c.planMode(ctx, false)
		}
	}
	if err := c.planMode(ctx, true); err != nil {
		return nil, err
	}
	if st != nil {
		return st, nil
	}
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = map[string]driver.Stmt{}
	}
	c.stmts[q] = st
	return st, nil
}

func (c *preparingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.stmt(ctx, q, args)
	if err != nil {
		return nil, err
	}
	if st != nil {
		rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
		return rows, c.check(q, err)
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *preparingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.stmt(ctx, q, args)
	if err != nil {
		return nil, err
	}
	if st != nil {
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		return res, c.check(q, err)
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

// planMode sets the open transaction's plan_cache_mode to generic plans,
// or back to the server's default, unless it is so already.
func (c *preparingConn) planMode(ctx context.Context, generic bool) error {
	if !c.inTx || c.generic == generic {
		return nil
	}
	q := `SET LOCAL plan_cache_mode = DEFAULT`
	if generic {
		q = `SET LOCAL plan_cache_mode = force_generic_plan`
	}
	if _, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, q, nil); err != nil {
		return err
	}
	c.generic = generic
	return nil
}

// check forgets q's statement if PostgreSQL can no longer run it (a
// table it reads changed its columns under it: feature_not_supported,
// "cached plan must not change result type"), so the next call prepares it
// again; it returns err.
func (c *preparingConn) check(q string, err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "0A000" {
		delete(c.stmts, q)
	}
	return err
}

func (c *preparingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if err := c.planMode(ctx, false); err != nil { // a COPY, or a statement prepared by hand
		return nil, err
	}
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *preparingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx, c.generic = true, false
	return preparingTx{Tx: tx, c: c}, nil
}

// preparingTx notes the end of its connection's transaction.
type preparingTx struct {
	driver.Tx
	c *preparingConn
}

func (t preparingTx) Commit() error {
	t.c.inTx, t.c.generic = false, false
	return t.Tx.Commit()
}

func (t preparingTx) Rollback() error {
	t.c.inTx, t.c.generic = false, false
	return t.Tx.Rollback()
}

func (c *preparingConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *preparingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *preparingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *preparingConn) CheckNamedValue(v *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(v)
}
