package postgres

import (
	"fmt"
	"regexp"
	"slices"
)

// paramName is a named parameter in a long statement: @name.
var paramName = regexp.MustCompile(`@([a-z_][a-z0-9_]*)`)

// bindParams numbers the named parameters of stmt: @name becomes $n, n
// being name's place in names (from 1). A name not in names is a
// programming error: it panics (at package initialisation, where the
// statements are bound).
func bindParams(stmt string, names []string) string {
	return paramName.ReplaceAllStringFunc(stmt, func(m string) string {
		i := slices.Index(names, m[1:])
		if i < 0 {
			panic(fmt.Sprintf("postgres: statement parameter %s is not among %v", m, names))
		}
		return fmt.Sprintf("$%d", i+1)
	})
}

// paramValues orders a statement's parameter values as names lists them;
// a name without a value is a programming error (it panics).
func paramValues(names []string, values map[string]any) []any {
	out := make([]any, len(names))
	for i, n := range names {
		v, ok := values[n]
		if !ok {
			panic(fmt.Sprintf("postgres: no value for statement parameter @%s", n))
		}
		out[i] = v
	}
	return out
}
