package main

import (
	"context"
	"fmt"
	"io"

	"github.com/paysplit/paysplit/ledger"
)

// runAging checks or rebuilds a practice's maintained aging state (issue
// 21). check exits non-zero when the state has drifted.
func runAging(ctx context.Context, args []string, stdout, _ io.Writer) error {
	cmd, args := args[0], args[1:] // "check" or "rebuild": the command table's sub
	fs := newFlagSet("aging " + cmd)
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	if cmd == "rebuild" {
		if err := d.store.AgingRebuild(ctx, pid); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "aging state of practice %s rebuilt from history\n", pid)
		return nil
	}
	drift, err := d.store.AgingCheck(ctx, pid)
	if err != nil {
		return err
	}
	if !drift.InStep() {
		return fmt.Errorf("aging state of practice %s differs from history: %d lines, %d credit buckets, horizon behind: %t; run paysplit aging rebuild",
			pid, drift.Lines, drift.Credits, drift.HorizonBehind)
	}
	fmt.Fprintf(stdout, "aging state of practice %s matches history\n", pid)
	return nil
}
