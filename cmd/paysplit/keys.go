package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

const keysUsage = `usage:
  paysplit keys create --practice ID --role ADMIN|BILLER|ANALYST [--name NAME]   create a key; it is shown once
  paysplit keys list   --practice ID                                            list keys (never their secrets)
  paysplit keys revoke --practice ID --key ID                                   revoke a key at once`

// runKeys manages API keys as the operator: each change is audited with no
// key id (an operator's command) and role ADMIN.
func runKeys(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "create", "list", "revoke":
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, keysUsage)
		return nil
	default:
		return fmt.Errorf("unknown keys command %q\n%s", cmd, keysUsage)
	}
	fs := newFlagSet("keys " + cmd)
	var db dbFlags
	db.register(fs)
	practice := fs.String("practice", "", "practice id")
	var role, name, key *string
	switch cmd {
	case "create":
		role = fs.String("role", "ANALYST", "ADMIN, BILLER or ANALYST")
		name = fs.String("name", "", "a label for the key")
	case "revoke":
		key = fs.String("key", "", "id of the key to revoke")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	pid, err := ledger.ParseID(*practice)
	if err != nil {
		return fmt.Errorf("--practice: %q is not a practice id", *practice)
	}
	var kid ledger.ID
	if key != nil {
		if kid, err = ledger.ParseID(*key); err != nil {
			return fmt.Errorf("--key: %q is not a key id", *key)
		}
	}
	d, err := db.openPractice(ctx, pid)
	if err != nil {
		return err
	}
	defer d.close()
	l := ledger.New(d.store)
	operator := ledger.Actor{PracticeID: pid, Role: ledger.RoleAdmin}
	switch cmd {
	case "create":
		k, token, err := l.CreateAPIKey(ctx, operator, ledger.NewAPIKey{Name: *name, Role: ledger.Role(strings.ToUpper(*role))})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) — shown once, store it now:\n%s\n", k.ID, k.Role, token)
	case "list":
		ks, err := l.APIKeys(ctx, operator)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED")
		for _, k := range ks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.CreatedAt.Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
		}
		return w.Flush()
	case "revoke":
		k, err := l.RevokeAPIKey(ctx, operator, ledger.RevokeAPIKey{KeyID: kid})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) revoked at %s\n", k.ID, k.Role, k.RevokedAt.Format(time.RFC3339))
	}
	return nil
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
