package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/paysplit/paysplit/ledger"
)

const reportsUsage = `usage:
  paysplit reports net-unearned --practice ID [--as-of YYYY-MM-DD] [--visibility ALL|VISIBLE|HIDDEN] [--guarantor ID]
      the Net Unearned Income report as CSV on stdout (docs/reports.md)`

// runReports prints a practice report as the operator (role ANALYST: it
// reads only).
func runReports(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "net-unearned" {
		return errors.New(reportsUsage)
	}
	fs := newFlagSet("reports net-unearned")
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id")
	asOf := fs.String("as-of", "", "the report's date, YYYY-MM-DD (default today)")
	visibility := fs.String("visibility", "ALL", "ALL, VISIBLE or HIDDEN unearned types")
	guarantor := fs.String("guarantor", "", "one family's guarantor id")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	q := ledger.NetUnearnedQuery{Visibility: ledger.UnearnedVisibility(strings.ToUpper(*visibility))}
	if err := parseRunDate("as-of", *asOf, &q.AsOf); err != nil {
		return err
	}
	if *guarantor != "" {
		g, err := ledger.ParseID(*guarantor)
		if err != nil {
			return fmt.Errorf("--guarantor: %q is not a guarantor id", *guarantor)
		}
		q.GuarantorID = &g
	}
	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	r, err := ledger.New(d.store).NetUnearned(ctx, ledger.Actor{PracticeID: pid, Role: ledger.RoleAnalyst}, q)
	if err != nil {
		return err
	}
	return r.WriteCSV(stdout)
}
