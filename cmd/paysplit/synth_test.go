package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/synth"
)

// capture runs paysplit with args and returns what it printed.
func capture(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	runErr := run(context.Background(), args)
	os.Stdout = stdout
	w.Close()
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out), runErr
}

func TestDemoSynthetic(t *testing.T) {
	url := ledgertest.NewDBURL(t)
	out, err := capture(t, "demo", "--size", "small", "--seed", "3", "--database-url", url)
	require.NoError(t, err)
	require.Contains(t, out, "Synthetic small practice (seed 3")
	require.Contains(t, out, "ADMIN key psk_")

	// The same seed on the same day is the same practice: refused.
	_, err = capture(t, "demo", "--size", "small", "--seed", "3", "--database-url", url)
	require.ErrorIs(t, err, synth.ErrLoaded)

	_, err = capture(t, "demo", "--size", "huge", "--database-url", url)
	require.ErrorContains(t, err, `unknown size "huge"`)

	// Plain demo still loads the hand-written practice.
	out, err = capture(t, "demo", "--database-url", url)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "practice "), out)
}
