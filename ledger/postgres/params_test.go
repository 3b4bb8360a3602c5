package postgres

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// TestAgingStatementHasMaxAgingBucketsColumns: the aging statement spells
// out one column per bucket in each of its four families (the period sums p,
// the running sums s, the netted buckets n and the summary's t), and the
// report can have up to ledger.MaxAgingBuckets buckets: they must agree.
func TestAgingStatementHasMaxAgingBucketsColumns(t *testing.T) {
	for _, col := range []string{"p", "s", "n", "t"} {
		re := regexp.MustCompile(`AS ` + col + `(\d+)\b`)
		seen := map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(agingStatement, -1) {
			seen[m[1]] = true
		}
		want := map[string]bool{}
		for i := range ledger.MaxAgingBuckets {
			want[fmt.Sprint(i)] = true
		}
		require.Equal(t, want, seen, "bucket columns %s0…: one per bucket, MaxAgingBuckets = %d", col, ledger.MaxAgingBuckets)
	}
}

func TestBindParams(t *testing.T) {
	require.Equal(t, "SELECT $2, $1 WHERE x = $2", bindParams("SELECT @b, @a WHERE x = @b", []string{"a", "b"}))
	require.Panics(t, func() { bindParams("SELECT @c", []string{"a"}) })
	require.Equal(t, []any{1, "x"}, paramValues([]string{"a", "b"}, map[string]any{"b": "x", "a": 1}))
	require.Panics(t, func() { paramValues([]string{"a"}, map[string]any{}) })
}
