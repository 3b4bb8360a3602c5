package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestAgingCommand: "paysplit aging check" finds a practice whose maintained
// aging state was tampered with, "rebuild" puts it right, and check then
// passes; bad arguments are refused.
func TestAgingCommand(t *testing.T) {
	ctx := context.Background()
	db, url := ledgertest.NewDBAndURL(t)
	f := ledgertest.NewPractice(t, db)
	s := ledgertest.BuildAging(t, f)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runTo(ctx, append(append([]string{"aging"}, args...), "--database-url", url, "--practice", f.Actor.PracticeID.String()), &out, io.Discard)
		return out.String(), err
	}

	out, err := cli("check")
	require.NoError(t, err)
	require.Contains(t, out, "matches history")

	_, err = db.Exec(`UPDATE aging_lines SET paid = paid + 1 WHERE charge_id = $1`, s.C1.ID)
	require.NoError(t, err)
	_, err = db.Exec(`DELETE FROM aging_credits WHERE patient_id = $1`, s.Pat.ID)
	require.NoError(t, err)
	_, err = cli("check")
	require.ErrorContains(t, err, "differs from history: 1 lines, 1 credit buckets")

	out, err = cli("rebuild")
	require.NoError(t, err)
	require.Contains(t, out, "rebuilt")
	_, err = cli("check")
	require.NoError(t, err)

	run := func(args ...string) error { return runTo(ctx, args, io.Discard, io.Discard) }
	require.ErrorContains(t, run("aging", "check", "--practice", "nope"), "--practice")
	require.ErrorContains(t, run("aging", "frobnicate"), "unknown command")
	require.ErrorContains(t, run("aging"), "which one?")
}
