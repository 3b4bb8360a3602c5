// Package synth generates synthetic practices for benchmarks, demos and
// tests, and loads them into a migrated paysplit database with COPY.
//
// A practice is shaped like a real one: families of one to six patients
// (most guarantors are patients themselves, some are not), a few providers and
// locations, visits spread over the two years before the as-of date with
// dental (CDT) and office (CPT) codes from a fee schedule, insurance estimates
// for insured families and insurance payments on most of their claims,
// adjustments (attached to a line or standing alone, positive and negative),
// patient payments that pay a visit, part of it, or a round sum across the
// family's oldest lines with the rest left unallocated, guarantors holding
// unallocated credit while their dependants owe, prepayments (the default
// unearned type) and some refunds of them, treatment plans with planned lines
// and treatment-plan prepayments (the hidden unearned type), and a few lines
// paid twice on purpose (forced overpayments, which leave a credit on the
// line).
//
// Generate is a pure function of Config: the same seed, size and as-of date
// give the same rows, ids and timestamps included (ids are UUIDv7 whose time
// is the row's own timestamp and whose random bits come from the seeded
// generator). Families are generated independently, each from its own
// generator, so generation runs on every core and stays deterministic.
//
// The generated ledger keeps the invariants of docs/design.md §5: every
// receipt's splits sum to its amount; money has two places; no split pays a
// line more than it owes except a forced one; no negative split takes more
// from a patient's unearned money than is there; no receipt reaches outside
// its family. Generate also computes every family's balance in Go, the way
// the database computes it, so a test can compare the two.
package synth
