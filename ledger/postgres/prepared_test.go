package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// A registered statement is prepared once per connection and runs with
// generic plans inside a transaction; any other statement with parameters
// runs as before, with the server's plan_cache_mode, even between two
// registered ones, and so does one without parameters; the transaction's end resets the mode. A statement whose
// table changed shape under it fails once, and is prepared afresh next time.
func TestPreparedStatements(t *testing.T) {
	ctx := context.Background()
	u := ledgertest.NewDBURL(t)
	conn, err := postgres.NewConnector(u)
	require.NoError(t, err)
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: its statements are the ones counted

	hot := postgres.Prepared(`SELECT current_setting('plan_cache_mode') WHERE $1::int = 1`)
	cold := `SELECT current_setting('plan_cache_mode') WHERE $1::int = 2`
	mode := func(q sqlx.QueryerContext, text string, arg int) string {
		var m string
		require.NoError(t, sqlx.GetContext(ctx, q, &m, text, arg))
		return m
	}
	prepared := func() (n, generic int) {
		require.NoError(t, db.QueryRowxContext(ctx,
			`SELECT count(*), coalesce(sum(generic_plans), 0) FROM pg_prepared_statements WHERE statement = $1`, hot).Scan(&n, &generic))
		return n, generic
	}

	for range 3 {
		tx, err := db.BeginTxx(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, "force_generic_plan", mode(tx, hot, 1))
		require.Equal(t, "auto", mode(tx, cold, 2))
		require.Equal(t, "force_generic_plan", mode(tx, hot, 1))
		var bare string // no parameters: a simple query, under the server's mode too
		require.NoError(t, tx.GetContext(ctx, &bare, `SELECT current_setting('plan_cache_mode')`))
		require.Equal(t, "auto", bare)
		require.Equal(t, "force_generic_plan", mode(tx, hot, 1))
		require.NoError(t, tx.Commit())
	}
	require.Equal(t, "auto", mode(db, cold, 2), "the mode ends with the transaction")
	n, generic := prepared()
	require.Equal(t, 1, n, "prepared once on the connection")
	require.Equal(t, 9, generic, "every run inside a transaction used the generic plan")

	shape := postgres.Prepared(`SELECT * FROM prep_shape WHERE a = $1`)
	_, err = db.ExecContext(ctx, `CREATE TABLE prep_shape (a int)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, shape, 1)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `ALTER TABLE prep_shape ADD COLUMN b int`)
	require.NoError(t, err)
	_, err = db.QueryContext(ctx, shape, 1) //nolint:rowserrcheck // it fails
	require.ErrorContains(t, err, "cached plan must not change result type")
	rows, err := db.QueryContext(ctx, shape, 1)
	require.NoError(t, err, "prepared afresh")
	cols, err := rows.Columns()
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, cols)
	require.NoError(t, rows.Close())
}
