package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/paysplit/paysplit/ledger"
)

// Treatment plans from the command line (issue 17): what a biller scripts
// when planned work is done, dropped or prepaid. Each command runs one
// ledger operation in this process (docs/ledger.md, "Treatment plans") and
// prints what it wrote as JSON.

const plansUsage = `usage:
  paysplit plans complete CHARGE_ID --practice ID [--on YYYY-MM-DD] [--note TEXT]   the planned procedure was done
  paysplit plans remove CHARGE_ID --practice ID [--note TEXT]                       it will not be done
  paysplit plans attach CHARGE_ID --practice ID --amount M [--type ID] [--note TEXT] attach prepayment to it
  paysplit plans detach CHARGE_ID --practice ID [--amount M] [--note TEXT]          detach prepayment from it
Every command takes [--idempotency-key K] and the database flags. See docs/ledger.md.`

// runPlans is "paysplit plans …".
func runPlans(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(plansUsage)
	}
	cmd := args[0]
	if cmd == "-h" || cmd == "-help" || cmd == "--help" || cmd == "help" {
		fmt.Fprintln(stdout, plansUsage)
		return nil
	}
	fs := newFlagSet("plans " + cmd)
	fs.SetOutput(stderr)
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id (required)")
	note := fs.String("note", "", "a note")
	on := fs.String("on", "", "complete: when the work was done, YYYY-MM-DD (default today)")
	amount := fs.String("amount", "", "attach: the amount (required); detach: default everything attached")
	typ := fs.String("type", "", "attach: the unearned type the money is taken from (default the treatment-plan type)")
	key := fs.String("idempotency-key", "", "replaying a key returns the first result")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("say which planned procedure: one CHARGE_ID\n%s", plansUsage)
	}
	charge, err := ledger.ParseID(pos[0])
	if err != nil {
		return fmt.Errorf("%q is not a charge id", pos[0])
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	money, err := optMoney(*amount)
	if err != nil {
		return err
	}
	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	l, a := ledger.New(d.store), ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}
	var out any
	switch cmd {
	case "complete":
		var when *ledger.Date
		if err := parseRunDate("on", *on, &when); err != nil {
			return err
		}
		out, err = l.CompletePlanned(ctx, a, ledger.PlannedCompletion{ChargeID: charge, CompletedOn: when, Note: *note, IdempotencyKey: *key})
	case "remove":
		out, err = l.RemovePlanned(ctx, a, ledger.PlannedRemoval{ChargeID: charge, Note: *note, IdempotencyKey: *key})
	case "attach":
		if money == nil {
			return errors.New("--amount: say how much to attach")
		}
		in := ledger.PrepaymentAttachment{ChargeID: charge, Amount: *money, Note: *note, IdempotencyKey: *key}
		if *typ != "" {
			id, err := ledger.ParseID(*typ)
			if err != nil {
				return fmt.Errorf("--type: %q is not an unearned type id", *typ)
			}
			in.UnearnedTypeID = &id
		}
		out, err = l.AttachPrepayment(ctx, a, in)
	case "detach":
		out, err = l.DetachPrepayment(ctx, a, ledger.PrepaymentDetachment{ChargeID: charge, Amount: money, Note: *note, IdempotencyKey: *key})
	default:
		return fmt.Errorf("unknown plans command %q\n%s", cmd, plansUsage)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// optMoney parses an optional --amount.
func optMoney(s string) (*ledger.Money, error) {
	if s == "" {
		return nil, nil
	}
	m, err := ledger.ParseMoney(s)
	if err != nil {
		return nil, fmt.Errorf("--amount: %v", err)
	}
	return &m, nil
}
