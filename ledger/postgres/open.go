package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// maxIdleConns is how many idle connections the pool keeps.
const maxIdleConns = 32

// Session timeouts (docs/security.md#limits): no statement runs longer than
// StatementTimeout, and no transaction sits idle longer than IdleTxTimeout
// holding its locks.
const (
	StatementTimeout = 30 * time.Second
	IdleTxTimeout    = 60 * time.Second
)

// RandomPageCost is the planner's cost of a random page read in the
// service's sessions. PostgreSQL's default (4) models spinning disks; the
// ledger's reads are key lookups (a batch of families' charges, splits and
// receipts by id) over data that is cached or on SSD, and at 4 the planner
// scanned a whole practice's charges and splits for every batch of 200
// families (docs/benchmarks.md, "runs").
const RandomPageCost = "1.1"

// SessionDSN returns dsn (a postgres:// URL or a key=value DSN) with the
// service's session settings: UTC, the timeouts above, RandomPageCost, and
// lib/pq's binary_parameters, with which a statement with parameters is one
// round trip (parse, bind and execute sent together) instead of two (parse
// and describe, then bind and execute); docs/benchmarks.md, "The write path".
func SessionDSN(dsn string) string {
	return WithParams(dsn, "", map[string]string{"timezone": "UTC", "binary_parameters": "yes",
		"statement_timeout":                   fmt.Sprint(StatementTimeout.Milliseconds()),
		"idle_in_transaction_session_timeout": fmt.Sprint(IdleTxTimeout.Milliseconds()),
		"random_page_cost":                    RandomPageCost})
}

// Open connects to the database at dsn with the service's session settings
// (SessionDSN) and prepared statements (NewConnector), in a pool of at most DefaultMaxConns connections
// (Store.SetPool changes it).
func Open(dsn string) (*sqlx.DB, error) {
	conn, err := NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	db.SetMaxOpenConns(DefaultMaxConns)
	// Keep connections for concurrent requests instead of database/sql's
	// default of two idle ones: each new connection is a new backend with
	// cold caches.
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// WithParams returns dsn with its database set to dbname (unless empty) and
// the given connection parameters added, for both URL and key=value forms.
func WithParams(dsn, dbname string, params map[string]string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			if dbname != "" {
				u.Path, u.RawPath = "/"+dbname, ""
			}
			q := u.Query()
			for k, v := range params {
				q.Set(k, v)
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	if dbname != "" {
		dsn += " dbname=" + dbname // in a DSN the last setting wins
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// CreateDatabase creates database name on the server at adminDSN unless it
// exists.
func CreateDatabase(ctx context.Context, adminDSN, name string) error {
	db, err := sqlx.Open("postgres", adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
