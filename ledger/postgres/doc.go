// Package postgres implements ledger.Store over PostgreSQL with sqlx and lib/pq:
// the SQL for every read and write, family locking, COPY loading, and the
// translation of driver errors (constraint names, SQLSTATEs) into ledger errors.
// It also applies the embedded migrations (Migrate).
package postgres
