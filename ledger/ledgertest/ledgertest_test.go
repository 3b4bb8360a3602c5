package ledgertest_test

import (
	"database/sql"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestMain(m *testing.M) { ledgertest.Main(m) }

func TestNewDBIsolated(t *testing.T) {
	var mu sync.Mutex
	names := map[string]bool{}
	t.Run("group", func(t *testing.T) {
		for _, tc := range []string{"a", "b"} {
			t.Run(tc, func(t *testing.T) {
				t.Parallel()
				db := ledgertest.NewDB(t)
				var name string
				require.NoError(t, db.Get(&name, `SELECT current_database()`))
				mu.Lock()
				names[name] = true
				mu.Unlock()

				// Were the database shared, one of the two CREATEs would fail
				// or the SELECT would see two rows.
				db.MustExec(`CREATE TABLE probe (who text)`)
				db.MustExec(`INSERT INTO probe VALUES ($1)`, tc)
				var who []string
				require.NoError(t, db.Select(&who, `SELECT who FROM probe`))
				require.Equal(t, []string{tc}, who)
			})
		}
	})
	require.Len(t, names, 2, "each test gets its own database")
}

func TestNewDBMigrated(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	var practices, probe sql.NullString
	require.NoError(t, db.QueryRow(`SELECT to_regclass('practices'), to_regclass('probe')`).Scan(&practices, &probe))
	require.Equal(t, "practices", practices.String)
	require.False(t, probe.Valid, "a table another test created leaked into the template")
}

func TestNewDBDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("inner", func(t *testing.T) {
		require.NoError(t, ledgertest.NewDB(t).Get(&name, `SELECT current_database()`))
	})
	var n int
	require.NoError(t, ledgertest.NewDB(t).Get(&n, `SELECT count(*) FROM pg_database WHERE datname = $1`, name))
	require.Zero(t, n, "database %s still exists after its test ended", name)
}

func TestNewDBURLUsesUTC(t *testing.T) {
	t.Parallel()
	u := ledgertest.NewDBURL(t)
	db, err := sql.Open("postgres", u)
	require.NoError(t, err)
	defer db.Close()
	// A database default that the session's timezone must override.
	_, err = db.Exec(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'Asia/Tokyo'); END $$`)
	require.NoError(t, err)
	db.SetMaxIdleConns(0) // the next query opens a new session
	var tz string
	require.NoError(t, db.QueryRow(`SHOW timezone`).Scan(&tz))
	require.Equal(t, "UTC", tz)
}
