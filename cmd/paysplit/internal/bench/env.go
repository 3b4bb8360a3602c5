package bench

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/postgres/localpg"
	"github.com/paysplit/paysplit/ledger/synth"
)

// env is the server the workloads run on and what they share.
type env struct {
	opt      Options
	cluster  *localpg.Cluster // nil with a DatabaseURL
	adminURL string
	admin    *sql.DB
	prefix   string // of every database the harness creates
	strategy string // CREATE DATABASE clause for cloning templates
	created  []string
	app      *app          // the synthetic practice behind a GraphQL server, made on first use
	runs     *runsTemplate // the loaded practice the runs' repetitions clone, made on first use
}

func newEnv(ctx context.Context, opt Options) (_ *env, err error) {
	e := &env{opt: opt, adminURL: opt.DatabaseURL, prefix: fmt.Sprintf("psbench_%d", os.Getpid())}
	if e.adminURL == "" {
		if e.cluster, err = localpg.Start(ctx, localpg.Options{Logf: opt.Logf}); err != nil {
			return nil, err
		}
		e.adminURL = e.cluster.URL("postgres")
	}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.admin, err = sql.Open("postgres", e.adminURL); err != nil {
		return nil, err
	}
	var version int
	if err := e.admin.QueryRowContext(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if version >= 150000 {
		e.strategy = " STRATEGY FILE_COPY"
	}
	return e, nil
}

// close stops the GraphQL server, drops the databases the harness made and
// stops the throwaway cluster.
func (e *env) close() {
	if e.app != nil {
		e.app.close()
	}
	if e.admin != nil {
		for _, name := range e.created {
			if _, err := e.admin.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(name) + ` WITH (FORCE)`); err != nil {
				e.opt.Logf("bench: drop %s: %v", name, err)
			}
		}
		e.admin.Close()
	}
	if e.cluster != nil {
		if err := e.cluster.Stop(); err != nil {
			e.opt.Logf("bench: %v", err)
		}
	}
}

// url is the connection URL of database name on the server, in UTC.
func (e *env) url(name string) string {
	return postgres.WithParams(e.adminURL, name, map[string]string{"timezone": "UTC"})
}

// createDB creates database prefix_suffix, cloned from template when one is
// given, and returns its name.
func (e *env) createDB(ctx context.Context, suffix, template string) (string, error) {
	name := e.prefix + "_" + suffix
	q := `CREATE DATABASE ` + pq.QuoteIdentifier(name)
	if template != "" {
		q += ` TEMPLATE ` + pq.QuoteIdentifier(template) + e.strategy
	}
	if _, err := e.admin.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	e.created = append(e.created, name)
	return name, nil
}

// dropDB drops a database createDB made.
func (e *env) dropDB(ctx context.Context, name string) error {
	if _, err := e.admin.ExecContext(ctx, `DROP DATABASE `+pq.QuoteIdentifier(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database: %w", err)
	}
	for i, n := range e.created {
		if n == name {
			e.created = append(e.created[:i], e.created[i+1:]...)
			break
		}
	}
	return nil
}

// migratedDB creates a database and migrates it.
func (e *env) migratedDB(ctx context.Context, suffix string) (string, error) {
	name, err := e.createDB(ctx, suffix, "")
	if err != nil {
		return "", err
	}
	db, err := sql.Open("postgres", e.url(name))
	if err != nil {
		return "", err
	}
	defer db.Close()
	return name, postgres.Migrate(ctx, db)
}

// config is the synthetic practice the workloads use.
func (e *env) config() synth.Config {
	return synth.Config{Size: e.opt.Size, Seed: e.opt.Seed, AsOf: ledger.DateOf(time.Now().UTC())}
}

// app is a database holding the synthetic practice, served over GraphQL by
// a real HTTP server on loopback, the way paysplit serve runs it.
type app struct {
	*server
	practice *synth.Practice
	token    string // an ADMIN key of the practice
}

// asAdmin returns the app with a ledger over its store and the actor its
// ADMIN key stands for, for workloads that call the ledger directly.
func (e *env) asAdmin(ctx context.Context) (*app, *ledger.Ledger, ledger.Actor, error) {
	a, err := e.application(ctx)
	if err != nil {
		return nil, nil, ledger.Actor{}, err
	}
	l := ledger.New(a.store)
	actor, err := l.Authenticate(ctx, a.token)
	return a, l, actor, err
}

// application returns the app, loading the practice and starting the server
// on first use.
func (e *env) application(ctx context.Context) (*app, error) {
	if e.app != nil {
		return e.app, nil
	}
	name, err := e.migratedDB(ctx, "app")
	if err != nil {
		return nil, err
	}
	e.opt.Logf("bench: generating and loading the %s practice", e.opt.Size)
	p, err := synth.Generate(e.config())
	if err != nil {
		return nil, err
	}
	loadDB, err := sql.Open("postgres", e.url(name))
	if err != nil {
		return nil, err
	}
	_, err = synth.Load(ctx, loadDB, p)
	loadDB.Close()
	if err != nil {
		return nil, err
	}
	s, err := e.serve(e.url(name), false)
	if err != nil {
		return nil, err
	}
	_, token, err := s.ledger.IssueKey(ctx, p.Practice.ID, "bench", ledger.RoleAdmin)
	if err != nil {
		s.close()
		return nil, err
	}
	e.app = &app{server: s, practice: p, token: token}
	return e.app, nil
}

// server is a GraphQL server over its own connection pool, on loopback,
// wired as paysplit serve wires it: serve's session settings and pool, a
// listener that makes it forget revoked keys (so keys authenticate from the
// cache) and, when live, an aging hub fed by that listener. Its rate limit
// is off: the harness posts far more with one key than a person would.
type server struct {
	store    *postgres.Store
	counter  *countingConnector // counts the statements the server sends
	ledger   *ledger.Ledger
	gs       *graph.Server
	hub      *aginghub.Hub // nil unless live
	srv      *http.Server
	keys     *postgres.Listener // hears revocations (and, when live, changes)
	endpoint string             // http://…/graphql
	closing  sync.Once
}

// serve starts a server on the database at dsn (e.url's form).
func (e *env) serve(dsn string, live bool) (*server, error) {
	conn, err := postgres.NewConnector(dsn) // as serve connects
	if err != nil {
		return nil, err
	}
	s := &server{counter: &countingConnector{Connector: conn}}
	s.store = postgres.NewStore(sqlx.NewDb(sql.OpenDB(s.counter), "postgres"))
	s.store.SetPool(postgres.DefaultMaxConns, postgres.DefaultWait) // serve's default pool
	if e.opt.MaxIdleConns != 0 {
		s.store.DB().SetMaxIdleConns(e.opt.MaxIdleConns)
	}
	s.ledger = ledger.New(s.store)
	var opts []graph.Option
	var changes postgres.ChangeSink = noChanges{}
	if live {
		s.hub = aginghub.New(s.ledger)
		opts, changes = append(opts, graph.WithAgingHub(s.hub)), s.hub
	}
	s.gs = graph.NewServer(s.ledger, func(ctx context.Context) error { return s.store.DB().PingContext(ctx) }, opts...)
	s.gs.SetRateLimit(0)
	s.gs.SetAccessLog(slog.New(slog.DiscardHandler)) // the harness prints its table, not a line per request
	if s.keys, err = postgres.Listen(postgres.SessionDSN(dsn), changes, slog.New(slog.DiscardHandler), postgres.WithRevocations(s.gs)); err != nil {
		s.store.DB().Close()
		return nil, err
	}
	s.ledger.CacheKeys()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.keys.Close()
		s.store.DB().Close()
		return nil, err
	}
	s.endpoint = "http://" + ln.Addr().String() + "/graphql"
	s.srv = &http.Server{Handler: s.gs, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.opt.Logf("bench: server: %v", err)
		}
	}()
	return s, nil
}

// close ends the server's subscriptions, then the server, its listener, its
// hub and its connections.
func (s *server) close() { s.closing.Do(s.shut) }

func (s *server) shut() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.gs.Close(ctx) //nolint:errcheck // the websockets are closed below in any case
	s.srv.Close()
	s.keys.Close()
	if s.hub != nil {
		s.hub.Close()
	}
	s.store.DB().Close()
}

// noChanges ignores the ledger's change notifications: a server that is not
// live has no aging hub.
type noChanges struct{}

func (noChanges) Changed(ledger.ID) {}
func (noChanges) ChangedAll()       {}

// Machine describes where a run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memoryGiB"`
	PostgreSQL string `json:"postgresql"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

func (m Machine) String() string {
	return fmt.Sprintf("%d cores (%s), %d GiB RAM, %s, %s, %s", m.Cores, m.CPU, m.MemoryGiB, m.PostgreSQL, m.Go, m.OS)
}

func (e *env) machine(ctx context.Context) (Machine, error) {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown CPU"}
	var version string
	if err := e.admin.QueryRowContext(ctx, `SELECT current_setting('server_version')`).Scan(&version); err != nil {
		return m, err
	}
	m.PostgreSQL = "PostgreSQL " + version
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.Atoi(f[1])
				m.MemoryGiB = (kb + 512*1024) / (1024 * 1024)
			}
		}
	}
	return m, nil
}
