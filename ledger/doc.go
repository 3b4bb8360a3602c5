// Package ledger owns paysplit's domain: practices, providers, locations,
// guarantors and their patients, encounters and their charges, receipts and
// their splits, and the rules that keep that ledger correct (money exact to the
// cent, splits summing to their receipt, append-only history, tenant scoping,
// idempotent mutations). It declares the Store it needs; ledger/postgres
// implements it. Nothing here knows about GraphQL or SQL drivers.
//
// # A mutation
//
// Every write is a method of [Ledger] that validates its input (errors wrap
// [ErrInvalidInput] and name the field), then calls mutate (ledger.go):
// authorize the actor's role for the operation (key_roles.go), replay an
// idempotency key or record it, run the change in one Store transaction,
// write an audit event, and retry transient conflicts. Nothing is half
// posted: the transaction holds the whole change.
//
// # Allocation
//
// Deciding where money goes is the job of package rules, a pure planner. The
// engine around it loads a family's snapshot (charges, splits, receipts,
// unearned types) from the Store, turns it into a rules.Input, asks the
// compiled policy for a plan, checks the plan against the ledger's invariants
// and posts it as one receipt under the family's lock. A preview stops
// before posting.
//
// # Where things are
//
// Files are grouped by the feature they implement:
//
//	ledger.go, store.go, types.go     the Ledger, mutate, the Store interface, domain types
//	money.go, date.go, errors.go      Money, Date, domain errors
//	parties.go                        practices, providers, locations, guarantors, patients; text checks (CheckText)
//	encounters.go                     encounters, charges (any sign for a procedure), adjustments
//	insurance.go                      insurance write-offs, insurance payments as a claim total
//	unearned.go                       unearned types: create, rename, show or hide, default and treatment-plan roles
//	treatment_plans.go                planned procedures: complete, remove; prepayment attached, detached, following completion
//	practice_settings.go              practice settings (prepayments on planned procedures, balances that do not subtract insurance)
//	manual_transfers.go               manual income transfers: the default TRANSFER policy's requirements
//	receipts.go, receipt_batches.go   receipts with explicit splits, reversals, deposit batches
//	alloc_engine.go                   snapshots, the plan's types, the engine's checks, posting a plan
//	alloc_ops.go                      auto-split, income transfer, allocate unearned, family balances
//	alloc_policies.go                 stored policies, versions, defaults, the compiled-policy cache
//	alloc_json.go                     a plan's JSON (kept beside the receipt it made)
//	credit_reapply.go                 re-apply a patient credit (PD/PCA), candidates
//	credit_management.go              credit management over a family
//	credit_spend.go                   which credits a credit-management run may spend
//	credit_balancer.go                the family balancer (income transfer, recreate splits)
//	credit_account.go                 the Store's side of credits: Txfr rows, reallocations
//	run.go, run_family.go             long runs over many families, what a run does to one family
//	import_run.go                     the one import machinery: VALIDATE/COMMIT, lock, idempotency, record, reconcile
//	import.go, import_plan.go         balance-forward import: validate, plan, commit, undo
//	import_passes.go                  how an import reads its file in passes, its bounded issue log
//	import_balanceforward.go          the balance-forward CSV: template, parsing, row checks
//	import_history*.go                history import (conversions): the set's files and encodings, match,
//	                                  check and findings, post, reconcile, undo
//	aging.go                          aging as of a date: query, buckets, report
//	report_unearned.go                the Net Unearned Income report (visible and hidden unearned money)
//	bill_to_patient.go                bill a line's pending estimate to the patient, and back
//	statement.go, statement_run.go    guarantor statements; runs over many families, recorded
//	key_auth.go, key_admin.go         API keys: authentication (its cache, CheckKey for live sockets), create, list, revoke
//	key_roles.go                      which role each operation needs
//	audit.go                          the audit trail
//
// Live aging (the hub that re-sends aging reports after commits) is
// package ledger/aginghub, apart from the domain; ledger/postgres feeds it
// the commits.
//
// The invariants this package enforces, with the names the API sends, are
// in docs/design.md §5; how balances are computed in docs/ledger.md; the
// allocation rules in docs/allocation.md and the policy language in
// docs/rules.md.
package ledger
