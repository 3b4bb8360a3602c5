// Command paysplit runs the paysplit service and its operator tasks:
// "paysplit serve" (the default) serves the GraphQL API, and the other
// commands (keys, import, credits, balance, runs, plans, demo, migrate,
// bench) work on the same database; commands.go lists them all ("paysplit
// help") and says how to add one.
//
// With no --database-url (or DATABASE_URL), paysplit uses the private
// PostgreSQL under --data-dir: the one another paysplit process (a running
// serve) already runs there, or one it starts from the machine's server
// binaries. main only wires things together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/aginghub"
	"github.com/paysplit/paysplit/ledger/demo"
	"github.com/paysplit/paysplit/ledger/postgres"
	"github.com/paysplit/paysplit/ledger/postgres/localpg"
)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "paysplit:", err)
		os.Exit(1)
	}
}

// env returns the environment variable or a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envInt returns the environment variable as a number of what (at least 0),
// or def.
func envInt(name string, def int, what string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a number of %s", name, v, what)
	}
	return n, nil
}

// envDuration returns the environment variable as a duration ("3s"), or def.
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a duration such as 3s", name, v)
	}
	return d, nil
}

// dbFlags are the flags every command uses to reach the database.
type dbFlags struct {
	url     string
	dataDir string
	fs      *flag.FlagSet
}

// pasteArgs are the flags a command printed for the user to paste needs to
// reach this database: --data-dir for the private PostgreSQL, and
// --database-url when it was given as a flag (from the environment it is
// there for the pasted command too).
func (d *dbFlags) pasteArgs() string {
	if d.url == "" {
		return " --data-dir " + shellQuote(d.dataDir)
	}
	set := false
	d.fs.Visit(func(f *flag.Flag) { set = set || f.Name == "database-url" })
	if set {
		return " --database-url " + shellQuote(d.url)
	}
	return ""
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	d.fs = fs
	defDir := ""
	if dir, err := localpg.DefaultDataDir(); err == nil {
		defDir = filepath.Dir(dir)
	}
	fs.StringVar(&d.url, "database-url", env("PAYSPLIT_DATABASE_URL", os.Getenv("DATABASE_URL")),
		"PostgreSQL URL (env PAYSPLIT_DATABASE_URL or DATABASE_URL); empty starts a private local PostgreSQL")
	fs.StringVar(&d.dataDir, "data-dir", env("PAYSPLIT_DATA_DIR", defDir),
		"state directory of the private PostgreSQL (env PAYSPLIT_DATA_DIR)")
}

// database is an open, migrated database, and the private cluster if one
// was started.
type database struct {
	store   *postgres.Store
	owner   *sqlx.DB // the tables' owner: the store's pool unless the private cluster's
	cluster *localpg.Cluster
	url     string // for connections of their own (the change listener)
}

// openPractice opens the database for a command about one practice and
// checks the practice exists: an unknown id is an error naming the flag,
// not an empty report or a driver error.
func (d *dbFlags) openPractice(ctx context.Context, pid ledger.ID) (*database, error) {
	db, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := db.store.Practice(ctx, pid); err != nil {
		db.close()
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, fmt.Errorf("--practice: no practice with id %s", pid)
		}
		return nil, err
	}
	return db, nil
}

func (d *database) close() {
	d.store.DB().Close()
	if d.owner != d.store.DB() {
		d.owner.Close()
	}
	if d.cluster != nil {
		if err := d.cluster.Stop(); err != nil {
			slog.Error("stopping PostgreSQL", "err", err)
		}
	}
}

// open connects to --database-url, or starts the private cluster and its
// paysplit database, and migrates.
func (d *dbFlags) open(ctx context.Context) (*database, error) {
	out := &database{}
	url := d.url
	if url == "" {
		if d.dataDir == "" {
			return nil, errors.New("no --database-url and no --data-dir for a private PostgreSQL")
		}
		c, err := privateCluster(ctx, filepath.Join(d.dataDir, "pg"))
		if err != nil {
			return nil, err
		}
		out.cluster = c
		if err := postgres.CreateDatabase(ctx, c.URL("postgres"), "paysplit"); err != nil {
			c.Stop()
			return nil, err
		}
		url = c.URL("paysplit")
	}
	db, err := postgres.Open(url)
	if err == nil {
		err = postgres.Migrate(ctx, db.DB)
	}
	out.owner = db
	if err == nil && out.cluster != nil {
		// The private cluster's service logs in as the role that owns
		// nothing and that row-level security restricts; the migrations
		// above and the synthetic loader run as the owner (docs/security.md).
		if _, err = db.ExecContext(ctx, `ALTER ROLE `+postgres.AppRole+` LOGIN`); err == nil {
			url = out.cluster.UserURL(postgres.AppRole, "paysplit")
			db, err = postgres.Open(url)
		}
	}
	if err != nil {
		if out.owner != nil {
			out.owner.Close()
		}
		if out.cluster != nil {
			out.cluster.Stop()
		}
		return nil, err
	}
	out.store, out.url = postgres.NewStore(db), url
	return out, nil
}

// privateCluster is the private PostgreSQL on dir: the one a running
// paysplit (serve, or another command) already runs there, or one this
// process starts and stops.
func privateCluster(ctx context.Context, dir string) (*localpg.Cluster, error) {
	c, err := localpg.Running(ctx, dir)
	if err != nil || c != nil {
		if c != nil {
			slog.Info("using the private PostgreSQL another paysplit process runs", "data", dir, "pid", c.Server())
		}
		return c, err
	}
	return localpg.Start(ctx, localpg.Options{DataDir: dir})
}

// limits are serve's bounds on the database pool and on request bodies.
type limits struct {
	maxConns    *int
	dbWait      *time.Duration
	bodyTimeout *time.Duration
}

func limitFlags(fs *flag.FlagSet) (limits, error) {
	conns, err := envInt("PAYSPLIT_DB_MAX_CONNS", postgres.DefaultMaxConns, "connections")
	if err != nil {
		return limits{}, err
	}
	wait, err := envDuration("PAYSPLIT_DB_WAIT", postgres.DefaultWait)
	if err != nil {
		return limits{}, err
	}
	body, err := envDuration("PAYSPLIT_BODY_TIMEOUT", graph.DefaultBodyTimeout)
	if err != nil {
		return limits{}, err
	}
	return limits{
		maxConns: fs.Int("db-max-conns", conns, "largest number of database connections; one practice may hold half of them; "+
			"keep instances × this below PostgreSQL's max_connections; 0: no limit (env PAYSPLIT_DB_MAX_CONNS)"),
		dbWait: fs.Duration("db-wait", wait, "how long a request waits for a database connection before it is answered UNAVAILABLE (env PAYSPLIT_DB_WAIT)"),
		bodyTimeout: fs.Duration("body-timeout", body, "how long a request's body may take to arrive; uploads get a second more per MiB of "+
			"--max-upload-bytes (env PAYSPLIT_BODY_TIMEOUT)"),
	}, nil
}

func serve(ctx context.Context, args []string) error {
	fs := newFlagSet("serve")
	var db dbFlags
	db.register(fs)
	addr := fs.String("addr", env("PAYSPLIT_ADDR", "127.0.0.1:8080"), "listen address (env PAYSPLIT_ADDR)")
	origins := fs.String("allowed-origins", os.Getenv("PAYSPLIT_ALLOWED_ORIGINS"),
		"comma-separated origins whose pages may open websockets, e.g. https://dash.example.com (env PAYSPLIT_ALLOWED_ORIGINS)")
	defUpload := int64(graph.DefaultMaxUploadBytes)
	if v := os.Getenv("PAYSPLIT_MAX_UPLOAD_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("PAYSPLIT_MAX_UPLOAD_BYTES: %q is not a number of bytes", v)
		}
		defUpload = n
	}
	maxUpload := fs.Int64("max-upload-bytes", defUpload,
		"largest balance-forward file an upload may carry; larger ones are refused unread (env PAYSPLIT_MAX_UPLOAD_BYTES)")
	defRate, err := envInt("PAYSPLIT_RATE_LIMIT", graph.DefaultRateLimit, "requests")
	if err != nil {
		return err
	}
	rate := fs.Int("rate-limit", defRate, "requests per minute per API key, in bursts of as many; 0: no limit (env PAYSPLIT_RATE_LIMIT)")
	lim, err := limitFlags(fs)
	if err != nil {
		return err
	}
	runBatch, err := runBatchFlag(fs)
	if err != nil {
		return err
	}
	planTime, err := planTimeoutFlag(fs)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	pt, err := planTimeout(planTime)
	if err != nil {
		return err
	}
	d, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer d.close()
	if d.owner != d.store.DB() {
		d.owner.Close() // the server needs none of the owner's connections
	}
	d.store.SetPool(*lim.maxConns, *lim.dbWait) // docs/operations.md#the-database-pool
	l := ledger.New(d.store, ledger.WithRunBatch(*runBatch), pt)
	// Runs left RUNNING by a server that died are marked INTERRUPTED (their
	// committed families stay); runs stop at a batch boundary on the way out,
	// before the database closes (credits.go).
	if err := recoverRuns(ctx, l); err != nil {
		return err
	}
	defer stopRuns(l, 15*time.Second)
	if d.cluster != nil {
		if err := firstStart(ctx, l, d.store, db.dataDir); err != nil {
			return err
		}
		// The private PostgreSQL is restarted whenever it dies, until serve
		// stops (docs/operations.md); meanwhile requests are UNAVAILABLE.
		// After a restart, runs whose end it could not record are marked
		// INTERRUPTED, as at a start.
		go d.cluster.Supervise(ctx, slog.Default(), func() {
			if err := recoverRuns(ctx, l); err != nil {
				slog.Error("after restarting PostgreSQL", "err", err)
			}
		})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	// Live aging: commits of every instance reach this one's subscribers;
	// a key revoked on any instance closes its websockets on this one.
	hub := aginghub.New(l)
	defer hub.Close()
	gs := graph.NewServer(l, func(ctx context.Context) error { return d.store.DB().PingContext(ctx) },
		graph.WithAgingHub(hub), graph.WithAllowedOrigins(strings.FieldsFunc(*origins, func(r rune) bool { return r == ',' || r == ' ' })...))
	changes, err := postgres.Listen(d.url, hub, slog.Default(), postgres.WithRevocations(gs))
	if err != nil {
		return err
	}
	defer changes.Close()
	l.CacheKeys() // the listener makes the server forget revoked keys (docs/security.md#keys)
	gs.SetMaxUploadBytes(*maxUpload)
	gs.SetRateLimit(*rate) // graph/limits.go
	gs.SetBodyTimeout(*lim.bodyTimeout)
	collectors := append(graph.RunProgressMetrics(l.RunProgress), graph.DBStatsMetrics(d.store.DB().DB), graph.ListenerReconnectsMetric(changes.Reconnects))
	if err := gs.RegisterMetrics(collectors...); err != nil {
		return err
	}
	srv := &http.Server{Handler: gs, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Printf("paysplit: playground at http://%s/  (GraphQL at /graphql)\n", ln.Addr())
	fmt.Printf("paysplit: live aging dashboard at http://%s/dashboard\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := gs.Close(shutdownCtx); err != nil { // websockets: Shutdown leaves them open
		slog.Warn("closing subscriptions", "err", err)
	}
	err = srv.Shutdown(shutdownCtx)
	stopRunsBy(shutdownCtx, l)
	return err
}

// firstStart loads the demo practice into an empty private database and
// keeps its ADMIN key in the state directory (readable only by this user),
// so every start can print it.
func firstStart(ctx context.Context, l *ledger.Ledger, s *postgres.Store, dataDir string) error {
	keyFile := filepath.Join(dataDir, "demo-admin-key")
	n, err := s.CountPractices(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		p, err := demo.Load(ctx, l, "Demo Family Dental")
		if err != nil {
			return fmt.Errorf("load demo practice: %w", err)
		}
		_, token, err := l.IssueKey(ctx, p.ID, "demo admin", ledger.RoleAdmin)
		if err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, []byte(token+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Println("paysplit: loaded the demo practice", p.ID)
	}
	if b, err := os.ReadFile(keyFile); err == nil {
		fmt.Printf("paysplit: demo ADMIN key (send as 'Authorization: Bearer <key>'):\n  %s", b)
	}
	return nil
}

func migrate(ctx context.Context, args []string) error {
	fs := newFlagSet("migrate")
	var db dbFlags
	db.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := db.open(ctx)
	if err != nil {
		return err
	}
	d.close()
	fmt.Println("paysplit: database is migrated")
	return nil
}

func loadDemo(ctx context.Context, args []string) error {
	fs := newFlagSet("demo")
	var db dbFlags
	db.register(fs)
	name := fs.String("name", "Demo Family Dental", "practice name")
	size := fs.String("size", "", "load a synthetic practice of this size instead: small, medium or large")
	seed := fs.Uint64("seed", 1, "seed of the synthetic practice (with --size)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer d.close()
	if *size != "" {
		return loadSynthetic(ctx, d, *size, *seed)
	}
	l := ledger.New(d.store)
	p, err := demo.Load(ctx, l, *name)
	if err != nil {
		return err
	}
	_, token, err := l.IssueKey(ctx, p.ID, "demo admin", ledger.RoleAdmin)
	if err != nil {
		return err
	}
	fmt.Printf("practice %s\nADMIN key %s\n", p.ID, token)
	return nil
}
