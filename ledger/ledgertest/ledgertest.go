// Package ledgertest gives each test its own freshly migrated PostgreSQL
// database, in the manner of net/http/httptest.
//
// The first call in a test binary picks a server: the one DATABASE_URL names
// (any PostgreSQL ≥ 14 on which its user may create databases, and roles
// unless paysplit_app exists and is granted to it), otherwise a
// throwaway cluster started with localpg. It creates a template database there
// and migrates it once; NewDB and NewDBURL then clone the template for each
// test (about 50 ms) and drop the clone when the test ends. If no server can
// be had, the test fails: a database test never skips.
//
// Use Main in TestMain so that the cluster is stopped (and, on a DATABASE_URL
// server, the template dropped) when the tests are done:
//
//	func TestMain(m *testing.M) { ledgertest.Main(m) }
//
// Without it the cluster still shuts down when the test binary exits, but its
// temporary directory is only removed by a later run.
package ledgertest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/postgres/localpg"
)

// server is the database server a test binary uses.
type server struct {
	cluster  *localpg.Cluster // nil when DATABASE_URL names the server
	url      string           // connection URL or key=value DSN of the admin database
	admin    *sql.DB
	template string
	strategy string // clause for CREATE DATABASE; FILE_COPY is faster for small templates (PostgreSQL ≥ 15)
}

var (
	setupOnce sync.Once
	shared    *server
	setupErr  error
)

// Main runs the tests, then stops the cluster (or drops the template on a
// DATABASE_URL server) and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.close(); err != nil {
			fmt.Fprintln(os.Stderr, "ledgertest:", err)
		}
	}
	os.Exit(code)
}

// NewDB returns a connection pool to a new database migrated to the latest
// schema, closed and dropped when t ends. Its sessions use UTC.
func NewDB(t testing.TB) *sqlx.DB {
	t.Helper()
	db, _ := NewDBAndURL(t)
	return db
}

// NewDBAndURL is NewDB that also returns the database's connection string,
// for tests that hand it to code opening its own connections (a CLI
// command, a listener).
func NewDBAndURL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	u := NewDBURL(t)
	conn, err := postgres.NewConnector(u) // as the service connects
	if err != nil {
		t.Fatalf("ledgertest: %v", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	t.Cleanup(func() { db.Close() }) // runs before NewDBURL's drop
	return db, u
}

// NewDBURL is like NewDB but returns the database's lib/pq connection string
// (with timezone=UTC), for code that opens its own connections.
func NewDBURL(t testing.TB) string {
	t.Helper()
	setupOnce.Do(func() { shared, setupErr = setup(context.Background()) })
	if setupErr != nil {
		t.Fatalf("ledgertest: %v", setupErr)
	}
	s := shared
	name := fmt.Sprintf("t_%016x", rand.Uint64())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := `CREATE DATABASE ` + pq.QuoteIdentifier(name) + ` TEMPLATE ` + pq.QuoteIdentifier(s.template) + s.strategy
	if _, err := s.admin.ExecContext(ctx, q); err != nil {
		t.Fatalf("ledgertest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, `DROP DATABASE `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
			t.Errorf("ledgertest: %v", err)
		}
	})
	return withDatabase(s.url, name)
}

// setup connects to DATABASE_URL's server or starts a local one, and creates
// and migrates the template database.
func setup(ctx context.Context) (_ *server, err error) {
	s := &server{url: os.Getenv("DATABASE_URL")}
	if s.url == "" {
		c, err := localpg.Start(ctx, localpg.Options{})
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL is not set and no local PostgreSQL could be started: %w", err)
		}
		s.cluster, s.url = c, c.URL("postgres")
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.admin, err = sql.Open("postgres", s.url); err != nil {
		return nil, err
	}
	var version int
	if err := s.admin.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return nil, fmt.Errorf("connect to the test server: %w", err)
	}
	if version >= 150000 {
		s.strategy = " STRATEGY FILE_COPY"
	}

	// Unique per process, so test binaries sharing a DATABASE_URL server don't collide.
	name := fmt.Sprintf("tmpl_%d_%08x", os.Getpid(), rand.Uint32())
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		return nil, fmt.Errorf("create template database: %w", err)
	}
	s.template = name
	db, err := sql.Open("postgres", withDatabase(s.url, name))
	if err != nil {
		return nil, err
	}
	err = postgres.Migrate(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr // a template must have no open connections when cloned
	}
	if err != nil {
		return nil, fmt.Errorf("template database: %w", err)
	}
	return s, nil
}

// close drops the template from a DATABASE_URL server, or stops the cluster.
func (s *server) close() error {
	var err error
	if s.cluster == nil && s.template != "" {
		_, err = s.admin.Exec(`DROP DATABASE ` + pq.QuoteIdentifier(s.template) + ` WITH (FORCE)`)
	}
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cluster != nil {
		err = s.cluster.Stop()
	}
	return err
}

// withDatabase returns base with database name and timezone=UTC.
func withDatabase(base, name string) string {
	return postgres.WithParams(base, name, map[string]string{"timezone": "UTC"})
}
