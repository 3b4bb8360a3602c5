package localpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned (wrapped, with what to do about it) by BinDir and
// Start when no PostgreSQL server binaries are installed.
var ErrNoBinaries = errors.New("localpg: no PostgreSQL server binaries found")

// Where BinDir looks; tests point these elsewhere.
var (
	pgConfig = "pg_config"
	binGlob  = "/usr/lib/postgresql/*/bin" // Debian and Ubuntu
)

// BinDir returns the directory holding the PostgreSQL server binaries (initdb
// and postgres): the one "pg_config --bindir" prints, else the newest version
// under /usr/lib/postgresql.
func BinDir() (string, error) {
	if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServer(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(binGlob)
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasServer(d) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("%w (tried `pg_config --bindir` and %s): install them (scripts/run and scripts/test do; Debian/Ubuntu: apt-get install -y postgresql), "+
			"or point paysplit at an existing PostgreSQL server with --database-url or DATABASE_URL", ErrNoBinaries, binGlob)
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	return dirs[len(dirs)-1], nil
}

// hasServer reports whether dir holds initdb and postgres.
func hasServer(dir string) bool {
	if dir == "" {
		return false
	}
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions compares dotted version numbers ("9.6" < "15").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// DefaultDataDir returns where a persistent cluster lives by default, outside
// any source tree: /var/lib/paysplit/pg for root (its parents must be
// traversable by the postgres user, which rules out /root), else
// $XDG_DATA_HOME/paysplit/pg, defaulting to ~/.local/share/paysplit/pg.
func DefaultDataDir() (string, error) {
	if os.Geteuid() == 0 {
		return "/var/lib/paysplit/pg", nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "paysplit", "pg"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("localpg: no default data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "paysplit", "pg"), nil
}
