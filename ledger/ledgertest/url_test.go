package ledgertest

import (
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

func TestWithDatabase(t *testing.T) {
	for _, base := range []string{
		"postgres://u:p@db.example:5433/postgres?sslmode=disable&timezone=Europe/Paris",
		"postgres://postgres@/postgres?host=%2Ftmp%2Fpspg1&port=5432&sslmode=disable",
		"host=db.example port=5433 user=u dbname=postgres sslmode=disable",
	} {
		cfg, err := pq.NewConfig(withDatabase(base, "t_1"))
		require.NoError(t, err, base)
		require.Equal(t, "t_1", cfg.Database, base)
		require.Equal(t, "UTC", cfg.Runtime["timezone"], base)
	}
}

// TestDatabaseURL runs setup as if DATABASE_URL named the server this test
// binary already uses.
func TestDatabaseURL(t *testing.T) {
	NewDBURL(t) // sets up shared
	t.Setenv("DATABASE_URL", shared.url)
	s, err := setup(t.Context())
	require.NoError(t, err)
	require.Nil(t, s.cluster)
	require.NotEqual(t, shared.template, s.template)

	var n int
	require.NoError(t, s.admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, s.template).Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, s.close())
	require.NoError(t, shared.admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, s.template).Scan(&n))
	require.Zero(t, n, "close drops the template from a DATABASE_URL server")
}
