package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// A file field sent as plain JSON (not a multipart upload) is bad input
// naming the field, never INTERNAL.
func TestUploadMustBeAFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	key := issueKey(t, h.f, ledger.RoleBiller)
	before := rowCounts(t, h.db)
	e, _ := h.fail(t, key, `mutation($in: ImportBalancesInput!) { importBalances(input: $in) { __typename } }`,
		map[string]any{"in": map[string]any{"file": "patient,amount\n", "mode": "VALIDATE"}})
	require.Equal(t, "BAD_USER_INPUT", e.code(), e.Message)
	require.Equal(t, "file", e.field())
	require.Equal(t, before, rowCounts(t, h.db))
}
