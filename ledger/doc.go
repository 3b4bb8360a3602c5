// Package ledger owns paysplit's domain: practices, providers, locations,
// guarantors and their patients, encounters and their charges, receipts and
// their splits, and the rules that keep that ledger correct (money exact to the
// cent, splits summing to their receipt, append-only history, tenant scoping,
// idempotent mutations). It declares the Store it needs; ledger/postgres
// implements it. Nothing here knows about GraphQL or SQL drivers.
package ledger
