package localpg

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary act as a helper process instead of running
// tests: "check" starts a throwaway cluster as whoever runs it, checks it and
// prints helperOK; "orphan" starts one, prints its server's pid and socket
// directory, and waits to be killed.
const (
	helperEnv = "LOCALPG_TEST_HELPER"
	helperOK  = "LOCALPG_HELPER_OK"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "check":
		if err := helperCheck(); err != nil {
			fmt.Println("helper:", err)
			os.Exit(1)
		}
		fmt.Println(helperOK)
		os.Exit(0)
	case "orphan":
		c, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("helper:", err)
			os.Exit(1)
		}
		fmt.Printf("%d %s\n", c.current().proc.Pid, c.sockDir)
		io.Copy(io.Discard, os.Stdin) // until killed
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func helperCheck() error {
	if os.Geteuid() == 0 {
		return errors.New("the helper must not run as root")
	}
	c, err := Start(context.Background(), Options{})
	if err != nil {
		return err
	}
	defer c.Stop()
	if err := checkServer(c, uint32(os.Geteuid()), true); err != nil {
		return err
	}
	return c.Stop()
}

// checkServer checks that c's server runs as uid and is configured as Start
// promises.
func checkServer(c *Cluster, uid uint32, throwaway bool) error {
	fi, err := os.Stat(fmt.Sprintf("/proc/%d", c.current().proc.Pid))
	if err != nil {
		return err
	}
	if got := fi.Sys().(*syscall.Stat_t).Uid; got != uid {
		return fmt.Errorf("server runs as uid %d, want %d", got, uid)
	}
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	var user, maxConn, listen, fsync string
	err = db.QueryRow(`SELECT current_user, current_setting('max_connections'),
		current_setting('listen_addresses'), current_setting('fsync')`).Scan(&user, &maxConn, &listen, &fsync)
	if err != nil {
		return err
	}
	want := map[bool]string{true: "off", false: "on"}[throwaway]
	if user != "postgres" || maxConn != "200" || listen != "" || fsync != want {
		return fmt.Errorf("user %q, max_connections %s, listen_addresses %q, fsync %s; want postgres, 200, \"\", %s",
			user, maxConn, listen, fsync, want)
	}
	return nil
}

// serverUID is the uid Start runs the server as.
func serverUID(t *testing.T) uint32 {
	as, err := runAs()
	require.NoError(t, err)
	if as.cred != nil {
		return as.cred.Uid
	}
	return uint32(os.Geteuid())
}

// running reports whether pid is a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

// sharedTempDir returns a new directory that the server's user can use and
// that is removed when t ends.
func sharedTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "localpgtest")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// helper returns a command that runs this test binary in the given helper
// mode as the server's user: when the test runs as root, as the postgres OS
// user, from a copy of the binary that user can read.
func helper(t *testing.T, mode string) *exec.Cmd {
	as, err := runAs()
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := sharedTempDir(t)
	if as.cred != nil {
		b, err := os.ReadFile(exe)
		require.NoError(t, err)
		exe = filepath.Join(dir, "localpg.test")
		require.NoError(t, os.WriteFile(exe, b, 0o755))
		require.NoError(t, as.own(dir))
	}
	cmd := as.command(dir, exe)
	cmd.Env = append(cmd.Env, helperEnv+"="+mode, "TMPDIR="+dir)
	return cmd
}

func TestStart(t *testing.T) {
	c, err := Start(t.Context(), Options{Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })

	require.NoError(t, checkServer(c, serverUID(t), true))
	fi, err := os.Stat(c.dataDir)
	require.NoError(t, err)
	require.Equal(t, serverUID(t), fi.Sys().(*syscall.Stat_t).Uid, "data directory owner")
	require.FileExists(t, filepath.Join(c.dataDir, logName))

	pid := c.current().proc.Pid
	require.NoError(t, c.Stop())
	require.NoError(t, c.Stop(), "second Stop")
	require.NoDirExists(t, c.sockDir)
	require.False(t, running(pid), "server still running after Stop")
}

// TestNonRoot starts a cluster from a process that is not root: when this test
// runs as root, a copy of the test binary run as the postgres OS user.
func TestNonRoot(t *testing.T) {
	out, err := helper(t, "check").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), helperOK)
}

func TestServerDiesWithStarter(t *testing.T) {
	cmd := helper(t, "orphan")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var pid int
	var sockDir string
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "helper output: %q", line)
	_, err = fmt.Sscanf(line, "%d %s", &pid, &sockDir)
	require.NoError(t, err, "helper output: %q", line)
	require.True(t, running(pid))

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	require.Eventually(t, func() bool { return !running(pid) }, 30*time.Second, 20*time.Millisecond,
		"server %d outlived the process that started it", pid)

	// The killed helper could not remove its cluster; the next Start does.
	require.DirExists(t, sockDir)
	removeAbandoned(filepath.Dir(sockDir))
	require.NoDirExists(t, sockDir)
}

func TestPersistent(t *testing.T) {
	dataDir := filepath.Join(sharedTempDir(t), "state", "pg") // parents created by Start
	start := func() (*Cluster, *sql.DB) {
		t.Helper()
		c, err := Start(t.Context(), Options{DataDir: dataDir, Logf: t.Logf})
		require.NoError(t, err)
		t.Cleanup(func() { c.Stop() })
		require.NoError(t, checkServer(c, serverUID(t), false))
		db, err := sql.Open("postgres", c.URL("postgres"))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return c, db
	}
	stop := func(c *Cluster, db *sql.DB) {
		t.Helper()
		require.NoError(t, db.Close())
		require.NoError(t, c.Stop())
		require.NoDirExists(t, c.sockDir)
		require.FileExists(t, filepath.Join(dataDir, "PG_VERSION"))
	}
	kept := func(db *sql.DB) {
		t.Helper()
		var v string
		require.NoError(t, db.QueryRow(`SELECT v FROM kept`).Scan(&v))
		require.Equal(t, "one", v)
	}

	c, db := start()
	_, err := db.Exec(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('one')`)
	require.NoError(t, err)
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	stop(c, db)

	c, db = start()
	kept(db)
	stop(c, db)

	// A postmaster.pid left by a server that died, naming a pid now used by
	// another program of the server's user (which postgres alone would refuse)
	// or by nobody.
	as, err := runAs()
	require.NoError(t, err)
	other := as.command("", "sleep", "600")
	require.NoError(t, other.Start())
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	for _, pid := range []int{other.Process.Pid, gone.ProcessState.Pid()} {
		_, rest, _ := strings.Cut(string(pidFile), "\n")
		path := filepath.Join(dataDir, "postmaster.pid")
		require.NoError(t, os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"+rest), 0o600))
		require.NoError(t, os.Chown(path, int(serverUID(t)), -1))
		c, db = start()
		kept(db)
		stop(c, db)
	}

	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "PG_VERSION"), []byte("9.6\n"), 0o600))
	_, err = Start(t.Context(), Options{DataDir: dataDir})
	require.ErrorContains(t, err, "PostgreSQL 9.6 cluster")
	require.ErrorContains(t, err, "pg_upgrade")
}

func TestUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only a root process hands the data directory to another user")
	}
	private, err := os.MkdirTemp("", "localpgtest") // mode 0700, owned by root
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(private) })
	_, err = Start(t.Context(), Options{DataDir: filepath.Join(private, "pg")})
	require.ErrorContains(t, err, `the "postgres" OS user, which cannot reach`)
	require.ErrorContains(t, err, "/var/lib/paysplit/pg")
}

// fakeBinaries swaps BinDir's search for dir/<version>/bin directories with
// fake initdb and postgres files; versions ending in "-" get only initdb.
func fakeBinaries(t *testing.T, versions ...string) string {
	dir := t.TempDir()
	oldConfig, oldGlob := pgConfig, binGlob
	t.Cleanup(func() { pgConfig, binGlob = oldConfig, oldGlob })
	pgConfig, binGlob = filepath.Join(dir, "no-pg_config"), filepath.Join(dir, "*", "bin")
	for _, v := range versions {
		bin := filepath.Join(dir, strings.TrimSuffix(v, "-"), "bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(bin, "initdb"), nil, 0o755))
		if !strings.HasSuffix(v, "-") {
			require.NoError(t, os.WriteFile(filepath.Join(bin, "postgres"), nil, 0o755))
		}
	}
	return dir
}

func TestNoBinaries(t *testing.T) {
	fakeBinaries(t, "16-")
	_, err := BinDir()
	require.ErrorIs(t, err, ErrNoBinaries)
	for _, want := range []string{"apt-get install -y postgresql", "--database-url", "DATABASE_URL"} {
		require.ErrorContains(t, err, want)
	}
	_, err = Start(t.Context(), Options{})
	require.ErrorIs(t, err, ErrNoBinaries)
}

func TestBinDir(t *testing.T) {
	dir := fakeBinaries(t, "9.6", "15", "10", "16-")
	got, err := BinDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "15", "bin"), got)

	// pg_config wins when it names a directory with the server binaries.
	require.NoError(t, os.WriteFile(pgConfig, []byte("#!/bin/sh\necho "+filepath.Join(dir, "10", "bin")+"\n"), 0o755))
	got, err = BinDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "10", "bin"), got)
}

func TestRemoveAbandoned(t *testing.T) {
	parent := t.TempDir()
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	dirs := map[string]int{"pspgdead": gone.ProcessState.Pid(), "pspglive": os.Getpid(), "pspgforeign": 0}
	for name, owner := range dirs {
		require.NoError(t, os.Mkdir(filepath.Join(parent, name), 0o700))
		if owner != 0 {
			require.NoError(t, os.WriteFile(filepath.Join(parent, name, ownerFile), []byte(strconv.Itoa(owner)), 0o600))
		}
	}
	removeAbandoned(parent)
	require.NoDirExists(t, filepath.Join(parent, "pspgdead"))
	require.DirExists(t, filepath.Join(parent, "pspglive"))
	require.DirExists(t, filepath.Join(parent, "pspgforeign"), "a directory without an owner file is not ours")
}

func TestDefaultDataDir(t *testing.T) {
	dir, err := DefaultDataDir()
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		require.Equal(t, "/var/lib/paysplit/pg", dir)
		return
	}
	t.Setenv("XDG_DATA_HOME", "/xdg")
	dir, err = DefaultDataDir()
	require.NoError(t, err)
	require.Equal(t, "/xdg/paysplit/pg", dir)
}
