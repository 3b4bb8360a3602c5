package postgres_test

import (
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// TestOpenSetsTimeouts: every session Open makes carries the statement and
// idle-in-transaction timeouts, and the server enforces them: a statement
// over its timeout is cancelled with query_canceled (57014).
func TestOpenSetsTimeouts(t *testing.T) {
	db, err := postgres.Open(ledgertest.NewDBURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var stmt, idle string
	require.NoError(t, db.Get(&stmt, `SHOW statement_timeout`))
	require.NoError(t, db.Get(&idle, `SHOW idle_in_transaction_session_timeout`))
	require.Equal(t, "30s", stmt)
	require.Equal(t, "1min", idle)
	var rpc string
	require.NoError(t, db.Get(&rpc, `SHOW random_page_cost`))
	require.Equal(t, postgres.RandomPageCost, rpc, "the planner's page cost for key lookups")

	tx, err := db.Beginx()
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`SET LOCAL statement_timeout = 1`) // 1 ms, for this transaction only
	require.NoError(t, err)
	_, err = tx.Exec(`SELECT pg_sleep(10)`)
	var pe *pq.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, pq.ErrorCode("57014"), pe.Code)
}
