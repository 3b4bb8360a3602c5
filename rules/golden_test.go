package rules_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

// goldenFile is one file under testdata/golden: scenarios and the policies
// they must hold under. A policy is a built-in name or a file under
// testdata.
type goldenFile struct {
	Policies  []string         `yaml:"policies"`
	Scenarios []rules.Scenario `yaml:"scenarios"`
}

func loadPolicy(t *testing.T, name string) *rules.Policy {
	t.Helper()
	if p, ok := rules.Builtin(name); ok {
		return p
	}
	src, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	p, err := rules.Compile(src)
	require.NoError(t, err)
	return p
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		var g goldenFile
		require.NoError(t, yaml.UnmarshalWithOptions(src, &g, yaml.DisallowUnknownField()), f)
		require.NotEmpty(t, g.Policies, f)
		require.NotEmpty(t, g.Scenarios, f)
		for _, name := range g.Policies {
			for _, sc := range g.Scenarios {
				t.Run(filepath.Base(f)+"/"+name+"/"+sc.Name, func(t *testing.T) {
					require.NoError(t, sc.Run(loadPolicy(t, name)))
				})
			}
		}
	}
}
