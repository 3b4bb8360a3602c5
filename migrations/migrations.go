// Package migrations holds paysplit's PostgreSQL schema as goose SQL files,
// embedded into the binary. ledger/postgres applies them; nothing else reads
// this package.
package migrations

import "embed"

// FS holds every migration file (NNNNN_name.sql) at its root.
//
//go:embed *.sql
var FS embed.FS
