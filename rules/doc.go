// Package rules is paysplit's allocation DSL and its pure planner.
//
// A policy is a YAML (or JSON) [Document] of named expr expressions over a
// small, typed environment: credit, charge, split, adjustment, request and
// params. It says which explicit links count, which credits may be spent and
// in what order, which charges may receive money and in what order, the
// ordered stages that pair credits with charges, an optional cap per move,
// where leftover credit goes, the requirements every proposed split must
// meet, and the params its expressions read. [Compile] type-checks and vets
// every expression once; a compiled [Policy] is immutable and safe for
// concurrent use, and [Cache] shares compiled policies by document hash.
//
// [Policy.Plan] is the pure planner: given an [Input] (a snapshot of one
// family's charges, splits and unearned types, and a [Request]) it returns a
// [Plan]: the moves (each naming the stage that produced it), the signed
// splits to post, and what every charge still owes. It implements Open
// Dental's allocation and income-transfer rules (FIFO and rigorous auto-split,
// income transfer, allocate unearned) and OPS's credit re-apply, with the
// behaviour chosen by the policy document, not by Go code paths. Money is
// exact: decimal in expressions, integer cents in the planner, never float.
//
// The four built-in policies (fifo, rigorous, same-guarantor and
// additional-patient) are embedded documents; see [Builtin] and
// docs/rules.md.
//
// Errors: [Compile] returns [CompileErrors] (each a [*CompileError] naming
// the expression, its document line and column, and a caret snippet). Plan
// returns a [*ParamError] for a bad param override, a [*RejectedError]
// (wrapping [ErrRejected]) when a requirement or a leftover rule refuses the
// plan, an [*EvalError] when an expression fails at run time, and errors
// wrapping [ErrInvalidInput] for a malformed snapshot or request.
package rules
