// Package localpg runs a private PostgreSQL cluster from the server binaries
// installed on the machine (initdb and postgres), so that paysplit and its
// tests need no Docker and no database set up by hand.
//
// Start initialises a data directory if it has none, then runs postgres
// directly as a child process that listens only on a unix socket in a private
// temporary directory. With Options.DataDir empty the cluster is throwaway:
// it lives in a temporary directory (in /dev/shm when that has room), runs
// without fsync, and Stop removes it; a later Start removes one left behind by
// a killed process.
// Otherwise the data directory persists and is reused by the next Start.
//
// PostgreSQL refuses to run as root, so a root process runs initdb and postgres
// as the "postgres" OS user; the data directory and every directory above it
// must then be reachable by that user (DefaultDataDir picks one that is).
//
// On Linux the server is told to shut down (fast) when the process that
// started it dies, so a killed test binary or server leaves no postgres behind.
package localpg

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the readiness probe connects through lib/pq
)

// Options configures Start.
type Options struct {
	// DataDir is the cluster's data directory (PGDATA), created and
	// initialised on first use and reused afterwards. Empty means a throwaway
	// cluster in a temporary directory, removed by Stop.
	DataDir string
	// Logf, if set, receives a line about each step (initdb, ready).
	Logf func(format string, args ...any)
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	sockDir string // private socket directory; also holds a throwaway cluster's data
	dataDir string
	port    int
	version string
	cmd     func() *exec.Cmd // a new server process, not yet started
	owner   int              // for a cluster Running found: the pid of the postgres another process runs

	mu       sync.Mutex
	srv      *server // the server process running now, or the last one
	stopping bool    // Stop was called: no new server process starts

	stopOnce sync.Once
	stopErr  error
}

// server is one run of the postgres process.
type server struct {
	proc    *os.Process
	exited  chan struct{} // closed when the process has exited
	waitErr error         // its exit status; read only after exited is closed
}

const (
	ownerFile = "localpg.owner" // pid of the process that created a socket directory
	logName   = "postgres.log"  // server log, in the data directory
	readyWait = time.Minute     // default limit for the server to accept connections
)

// Start starts a cluster as described by opt and returns once it accepts
// connections. ctx bounds the wait for readiness (a minute if ctx has no
// deadline); the server itself runs until Stop or until this process dies.
func Start(ctx context.Context, opt Options) (_ *Cluster, err error) {
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	as, err := runAs()
	if err != nil {
		return nil, err
	}

	parent := tempParent()
	removeAbandoned(parent)
	sockDir, err := os.MkdirTemp(parent, "pspg")
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(sockDir)
		}
	}()
	if err := os.WriteFile(filepath.Join(sockDir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	if err := as.own(sockDir); err != nil {
		return nil, err
	}

	throwaway := opt.DataDir == ""
	dataDir, workDir := filepath.Join(sockDir, "data"), sockDir
	if !throwaway {
		if dataDir, err = filepath.Abs(opt.DataDir); err != nil {
			return nil, fmt.Errorf("localpg: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
			return nil, fmt.Errorf("localpg: %w", err)
		}
		if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("localpg: %w", err)
		}
		if err := as.own(dataDir); err != nil {
			return nil, err
		}
		workDir = dataDir
	}

	pg := filepath.Join(bin, "postgres")
	version, err := as.serverVersion(pg, workDir)
	if err != nil {
		return nil, err
	}
	if err := as.initOrReuse(bin, dataDir, workDir, version, throwaway, logf); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", dataDir, "-k", sockDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=", "-c", "max_connections=200"}
	if throwaway {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c := &Cluster{sockDir: sockDir, dataDir: dataDir, port: port, version: version,
		cmd: func() *exec.Cmd { return as.command(dataDir, pg, args...) }}

	t0 := time.Now()
	if !hasDeadline(ctx) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyWait)
		defer cancel()
	}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	logf("localpg: PostgreSQL %s ready on %s (data %s, log %s) in %s",
		version, sockDir, dataDir, c.logPath(), time.Since(t0).Round(time.Millisecond))
	return c, nil
}

// start runs a new server process, on the cluster's data directory, socket
// directory and port, and waits until it accepts connections, it exits, or
// ctx ends. After Stop it starts nothing and returns errStopped.
func (c *Cluster) start(ctx context.Context) error {
	srv, err := c.spawn()
	if err != nil {
		return err
	}
	if err := c.waitReady(ctx, srv); err != nil {
		return fmt.Errorf("localpg: PostgreSQL %s in %s did not start: %w\n%s", c.version, c.dataDir, err, readTail(c.logPath()))
	}
	return nil
}

// errStopped is start's answer once Stop has been called.
var errStopped = errors.New("localpg: the cluster is stopped")

// spawn starts a server process, its output appended to the cluster's log,
// and makes it the cluster's current one.
func (c *Cluster) spawn() (*server, error) {
	logFile, err := os.OpenFile(c.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	cmd := c.cmd()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setParentDeathSignal(cmd.SysProcAttr)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, errStopped
	}
	srv := &server{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the child
		// exits, so fork from a locked thread and keep it until the child exits.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		srv.waitErr = cmd.Wait()
		close(srv.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("localpg: start postgres: %w", err)
	}
	srv.proc = cmd.Process
	c.srv = srv
	return srv, nil
}

// current returns the server process running now (or the last one).
func (c *Cluster) current() *server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv
}

func (c *Cluster) logPath() string { return filepath.Join(c.dataDir, logName) }

func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

// URL returns a lib/pq connection URL for database dbname on the cluster's
// unix socket, as the superuser "postgres".
func (c *Cluster) URL(dbname string) string { return c.UserURL("postgres", dbname) }

// UserURL is URL for another role (the cluster trusts local connections).
func (c *Cluster) UserURL(user, dbname string) string {
	q := url.Values{"host": {c.sockDir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	u := url.URL{Scheme: "postgres", User: url.User(user), Path: "/" + dbname, RawQuery: q.Encode()}
	return u.String()
}

// Stop shuts the server down (fast shutdown: open sessions are ended), waits
// for it to exit and removes the socket directory, which for a throwaway
// cluster holds its data too; Supervise restarts nothing after it. Calling
// Stop again returns the first result.
func (c *Cluster) Stop() error {
	if c.owner != 0 {
		return nil // another process's server
	}
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopping = true
		srv := c.srv
		c.mu.Unlock()
		if srv == nil { // Start failed before a server process ran
			c.stopErr = os.RemoveAll(c.sockDir)
			return
		}
		_ = srv.proc.Signal(os.Interrupt) // fails only if it has already exited
		select {
		case <-srv.exited:
		case <-time.After(time.Minute):
			_ = srv.proc.Kill()
			<-srv.exited
		}
		if srv.waitErr != nil {
			c.stopErr = fmt.Errorf("localpg: postgres: %w\n%s", srv.waitErr, readTail(c.logPath()))
		}
		if err := os.RemoveAll(c.sockDir); err != nil && c.stopErr == nil {
			c.stopErr = fmt.Errorf("localpg: %w", err)
		}
	})
	return c.stopErr
}

// waitReady polls the server until it accepts a connection, it exits, or ctx
// ends.
func (c *Cluster) waitReady(ctx context.Context, srv *server) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-srv.exited:
			return fmt.Errorf("postgres exited: %v", srv.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// serverVersion returns the version of the server binary pg ("15.18"),
// checking that a's user can reach workDir.
func (a *account) serverVersion(pg, workDir string) (string, error) {
	out, err := a.command("", pg, "-V").Output() // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	if err != nil {
		return "", fmt.Errorf("localpg: %s -V: %w", pg, err)
	}
	if err := a.command(workDir, pg, "-V").Run(); err != nil { // fails if the user cannot chdir there
		return "", fmt.Errorf("localpg: PostgreSQL runs as the %q OS user, which cannot reach %s (%v); "+
			"choose a data directory that user can traverse to, such as /var/lib/paysplit/pg", a.name, workDir, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "", fmt.Errorf("localpg: %s -V printed %q", pg, out)
	}
	return f[2], nil
}

// initOrReuse runs initdb on dataDir if it holds no cluster, and otherwise
// checks that the cluster's version matches the binaries' and removes a stale
// lock file.
func (a *account) initOrReuse(bin, dataDir, workDir, version string, throwaway bool, logf func(string, ...any)) error {
	have, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t0 := time.Now()
		args := []string{"-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"}
		if throwaway {
			args = append(args, "--no-sync")
		}
		if out, err := a.command(workDir, filepath.Join(bin, "initdb"), args...).CombinedOutput(); err != nil {
			return fmt.Errorf("localpg: initdb %s: %w\n%s", dataDir, err, tail(out))
		}
		logf("localpg: initdb %s (%s)", dataDir, time.Since(t0).Round(time.Millisecond))
		return nil
	case err != nil:
		return fmt.Errorf("localpg: %w", err)
	}
	if have := strings.TrimSpace(string(have)); !strings.HasPrefix(version+".", have+".") {
		return fmt.Errorf("localpg: %s holds a PostgreSQL %s cluster, but the server binaries in %s are version %s; "+
			"install PostgreSQL %[2]s, upgrade the cluster with pg_upgrade, or use another data directory",
			dataDir, have, bin, version)
	}
	return removeStalePid(dataDir, logf)
}

// account is the OS user that initdb and postgres run as.
type account struct {
	name string
	cred *syscall.Credential // nil: this process's own user
	env  []string
}

// runAs returns this process's user, or the "postgres" user when this
// process is root.
func runAs() (*account, error) {
	var env []string
	for _, kv := range os.Environ() { // PG* variables are for clients and must not steer the server
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	if os.Geteuid() != 0 {
		name := strconv.Itoa(os.Geteuid())
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return &account{name: name, env: env}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: this process is root, which PostgreSQL refuses to run as, and there is no "+
			"\"postgres\" OS user to run it as (%v); install the server package, which creates that user "+
			"(apt-get install -y postgresql), or run as a non-root user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("localpg: user postgres: %w", err)
	}
	env = append(env, "HOME="+u.HomeDir, "USER=postgres", "LOGNAME=postgres")
	return &account{name: "postgres", cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, env: env}, nil
}

// command returns a command that runs as a in dir, in its own process group
// so that a terminal's Ctrl-C reaches only this process, which decides when
// to stop the server.
func (a *account) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, a.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.cred, Setpgid: true}
	return cmd
}

// own hands dir to a's user when that is not this process's user.
func (a *account) own(dir string) error {
	if a.cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(a.cred.Uid), int(a.cred.Gid)); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	return nil
}

// removeStalePid removes dataDir/postmaster.pid if the pid in it now belongs
// to a process that is not postgres (a pid reused after a crash or a
// container restart), which would otherwise make postgres refuse to start.
// A dead pid, or a live postgres, is left for postgres to judge.
func removeStalePid(dataDir string, logf func(string, ...any)) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	pid, err := readPid(path)
	if err != nil || !alive(pid) {
		return nil
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) == "postgres" {
		return nil
	}
	logf("localpg: removing stale %s (pid %d is now %q)", path, pid, strings.TrimSpace(string(comm)))
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	return nil
}

// removeAbandoned deletes the socket directories (and the throwaway clusters
// in them) under parent whose creating process and server have both exited:
// what a killed test binary leaves behind.
func removeAbandoned(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "pspg*"))
	for _, dir := range dirs {
		owner, err := readPid(filepath.Join(dir, ownerFile))
		if err != nil || alive(owner) {
			continue
		}
		server, err := readPid(filepath.Join(dir, "data", "postmaster.pid"))
		if (err != nil && !errors.Is(err, fs.ErrNotExist)) || (err == nil && alive(server)) {
			continue
		}
		os.RemoveAll(dir)
	}
}

// Running returns the cluster of a postgres that another process (a
// running paysplit serve) already runs on dataDir, or nil when none does,
// so that a second process can use the same database instead of failing to
// start a server of its own. Its Stop leaves that server running, and it
// is not to be supervised; Server names the postgres process.
func Running(ctx context.Context, dataDir string) (*Cluster, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	// pid, data directory, start time, port, socket directory, listen
	// address, shared memory key, status (PostgreSQL's postmaster.pid).
	f := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(f[0]))
	if pid <= 0 || !alive(pid) || len(f) < 8 {
		return nil, nil // stale, or not written yet: Start judges
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err == nil && strings.TrimSpace(string(comm)) != "postgres" {
		return nil, nil // a reused pid: Start removes the file
	}
	if st := strings.TrimSpace(f[7]); st != "ready" {
		return nil, fmt.Errorf("localpg: the PostgreSQL running on %s (pid %d) is %s; try again once it is ready", dataDir, pid, st)
	}
	port, err := strconv.Atoi(strings.TrimSpace(f[3]))
	if err != nil {
		return nil, fmt.Errorf("localpg: %s: no port in postmaster.pid", dataDir)
	}
	c := &Cluster{sockDir: strings.TrimSpace(f[4]), dataDir: dataDir, port: port, owner: pid}
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err == nil {
		err = db.PingContext(ctx)
		db.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("localpg: the PostgreSQL running on %s (pid %d) does not answer: %w", dataDir, pid, err)
	}
	return c, nil
}

// Server is the pid of the postgres process of a cluster Running found, or
// 0 for one this process started.
func (c *Cluster) Server() int { return c.owner }

// readPid reads the pid on the first line of path.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(line)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid", path)
	}
	return pid, nil
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tempParent returns where to create a cluster's temporary directory:
// /dev/shm when it has room, since on a tmpfs creating a test database takes
// about 10 ms instead of 50-400 ms on disk; else the system temporary
// directory, or /tmp if that path is too long for a unix socket (~107 bytes).
func tempParent() string {
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && uint64(st.Bavail)*uint64(st.Bsize) >= 2<<30 {
		return "/dev/shm"
	}
	if dir := os.TempDir(); len(dir) <= 64 {
		return dir
	}
	return "/tmp"
}

// freePort returns a TCP port that is free now. The server listens on no TCP
// port, but the number names its socket file and appears in URLs, where a port
// in use by another server would only confuse.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localpg: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readTail returns the end of the log file at path.
func readTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 4096 {
		f.Seek(fi.Size()-4096, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return tail(b)
}

// tail returns the last 20 lines of b, indented.
func tail(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\t" + strings.Join(lines, "\n\t")
}
