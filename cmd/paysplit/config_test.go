package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// serveHelp runs `paysplit serve --help` and returns what it printed.
func serveHelp(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stderr := os.Stderr
	os.Stderr = w
	err = run(context.Background(), []string{"serve", "--help"})
	os.Stderr = stderr
	require.NoError(t, w.Close())
	require.True(t, errors.Is(err, flag.ErrHelp), "serve --help: %v", err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out)
}

var (
	helpFlag  = regexp.MustCompile(`^  -([a-z-]+)(?: (\w+))?$`)
	envName   = regexp.MustCompile(`PAYSPLIT_[A-Z_]+`)
	readmeRow = regexp.MustCompile("^\\| `--([a-z-]+)`[^|]*\\|([^|]*)\\|")
)

// helpFlags maps each flag of `serve --help` to its type and usage text.
func helpFlags(t *testing.T, help string) map[string][2]string {
	t.Helper()
	flags := map[string][2]string{}
	lines := strings.Split(help, "\n")
	for i, line := range lines {
		if m := helpFlag.FindStringSubmatch(line); m != nil {
			require.Less(t, i+1, len(lines), "flag %s has no usage line", m[1])
			flags[m[1]] = [2]string{m[2], lines[i+1]}
		}
	}
	require.NotEmpty(t, flags, "no flags found in:\n%s", help)
	return flags
}

// Every flag of `paysplit serve` has a PAYSPLIT_* variable, named in its
// --help text and in README's configuration table, and the variable sets
// the flag's default; README lists no flag serve does not have.
func TestServeConfigurationIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	documented := map[string]string{} // flag → README's environment column
	for _, line := range strings.Split(string(readme), "\n") {
		if m := readmeRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
		}
	}

	flags := helpFlags(t, serveHelp(t))
	for name, f := range flags {
		typ, usage := f[0], f[1]
		env := envName.FindString(usage)
		require.NotEmpty(t, env, "--%s: its --help text names no PAYSPLIT_* variable: %q", name, usage)
		col, ok := documented[name]
		require.True(t, ok, "--%s is not in README's configuration table", name)
		require.Contains(t, envName.FindAllString(col, -1), env, "README's row for --%s does not name %s", name, env)

		// The variable is the flag's default.
		value, shown := "from-the-environment", `(default "from-the-environment")`
		switch typ {
		case "int":
			value, shown = "12345", "(default 12345)"
		case "duration":
			value, shown = "12s", "(default 12s)"
		}
		t.Setenv(env, value)
		if name == "database-url" {
			t.Setenv("DATABASE_URL", "")
		}
		again := helpFlags(t, serveHelp(t))
		require.Contains(t, again[name][1], shown, "%s=%s does not set --%s", env, value, name)
	}
	for name := range documented {
		_, ok := flags[name]
		require.True(t, ok, "README documents --%s, which serve does not have", name)
	}
}
