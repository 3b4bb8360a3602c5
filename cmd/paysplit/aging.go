package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/paysplit/paysplit/ledger"
)

const agingUsage = `usage:
  paysplit aging check   --practice ID   compare the maintained aging state with a recomputation from history (changes nothing)
  paysplit aging rebuild --practice ID   replace the maintained aging state with one recomputed from history
See docs/aging.md ("The maintained state").`

// runAging checks or rebuilds a practice's maintained aging state (issue
// 21). check exits non-zero when the state has drifted.
func runAging(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(agingUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "check", "rebuild":
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, agingUsage)
		return nil
	default:
		return fmt.Errorf("unknown aging command %q\n%s", cmd, agingUsage)
	}
	fs := flag.NewFlagSet("aging "+cmd, flag.ContinueOnError)
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
	d, err := db.open(ctx)
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
