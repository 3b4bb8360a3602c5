package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
	"github.com/paysplit/paysplit/ledger/postgres"
)

// cliPractice is a practice in a database of its own, and a way to run the
// run commands against it.
type cliPractice struct {
	url string
	db  *sqlx.DB
	f   *ledgertest.Practice
}

func newCLIPractice(t *testing.T, name string) *cliPractice {
	t.Helper()
	c := &cliPractice{url: ledgertest.NewDBURL(t)}
	var err error
	c.db, err = sqlx.Connect("postgres", c.url)
	require.NoError(t, err)
	t.Cleanup(func() { c.db.Close() })
	// The command runs on the real clock, so the fixtures do too.
	c.f = ledgertest.AddPractice(t, ledger.New(postgres.NewStore(c.db)), name)
	return c
}

// cli runs a command (credits, balance or runs) against the practice.
func (c *cliPractice) cli(ctx context.Context, stderr *bytes.Buffer, cmd string, args ...string) (string, error) {
	var out bytes.Buffer
	if stderr == nil {
		stderr = &bytes.Buffer{}
	}
	args = append(args, "--database-url", c.url, "--practice", c.f.Actor.PracticeID.String())
	var err error
	switch cmd {
	case "credits":
		err = runCredits(ctx, args, &out, stderr)
	case "balance":
		err = runBalance(ctx, args, &out, stderr)
	case "runs":
		err = runRuns(ctx, args, &out, stderr)
	default:
		panic(cmd)
	}
	return out.String(), err
}

// unbalancedFamilies adds n families whose guarantor paid 40.00 that sits
// unallocated while the guarantor's child owes 40.00 on a line: each is
// balanced by one transfer (INCOME_TRANSFER) or one re-split
// (RECREATE_SPLITS). It returns the child's lines.
func unbalancedFamilies(t *testing.T, f *ledgertest.Practice, n int) []ledger.Charge {
	t.Helper()
	var lines []ledger.Charge
	for i := range n {
		name := fmt.Sprintf("Fam%03d", i)
		fam := f.Family(t, name, name+" kid")
		lines = append(lines, f.Visit(t, fam[1], "2026-05-01", "40.00")[0])
		f.Pay(t, fam[0], "40.00", ledgertest.Unallocated("40.00"))
	}
	return lines
}

func owedOn(t *testing.T, f *ledgertest.Practice, c ledger.Charge) string {
	t.Helper()
	b, err := f.Store.ChargeBalances(context.Background(), f.Actor.PracticeID, []ledger.ID{c.ID})
	require.NoError(t, err)
	return b[c.ID].Owed.String()
}

func countReceipts(t *testing.T, db *sqlx.DB, pid ledger.ID, kind ledger.ReceiptKind) int {
	t.Helper()
	var n int
	require.NoError(t, db.Get(&n, `SELECT count(*) FROM receipts WHERE practice_id = $1 AND kind = $2`, pid, kind))
	return n
}

// TestCreditsManageCommand: "paysplit credits manage" previews (nothing
// posted), commits (one CREDIT_REAPPLY receipt per family with credit to
// apply, with the note), and a second commit changes nothing; its report
// names the family it skipped and why; a missing note is refused.
func TestCreditsManageCommand(t *testing.T) {
	ctx := context.Background()
	c := newCLIPractice(t, "CLI Credits")
	f := c.f
	// Gus paid 90.00 onto a 50.00 line: 40.00 of credit, which pays his
	// other 10.00 line and his daughter Kit's 15.00 line.
	a := f.Family(t, "Gus", "Kit")
	gusLine := f.Visit(t, a[0], "2026-03-01", "50.00")[0]
	gusOther := f.Visit(t, a[0], "2026-03-05", "10.00")[0]
	kitLine := f.Visit(t, a[1], "2026-03-10", "15.00")[0]
	over := ledgertest.On("90.00", gusLine)
	over.Force = true
	f.Pay(t, a[0], "90.00", over)
	// Cat owes and has no credit.
	cat := f.Family(t, "Cat")
	catLine := f.Visit(t, cat[0], "2026-03-01", "30.00")[0]
	// Dot has 5.00 of credit and nothing to apply it to.
	dot := f.Family(t, "Dot")
	dotLine := f.Visit(t, dot[0], "2026-03-01", "20.00")[0]
	dotOver := ledgertest.On("25.00", dotLine)
	dotOver.Force = true
	f.Pay(t, dot[0], "25.00", dotOver)

	_, err := c.cli(ctx, nil, "credits", "manage", "--quiet")
	require.ErrorContains(t, err, "note")
	// Flags keep to the API's rules: dates in range, no control characters.
	_, err = c.cli(ctx, nil, "credits", "manage", "--quiet", "--note", "n", "--as-of", "0001-01-01")
	require.ErrorContains(t, err, "--as-of: 0001-01-01 is out of range")
	_, err = c.cli(ctx, nil, "credits", "manage", "--quiet", "--note", "n\x00")
	require.ErrorContains(t, err, "note")

	var progress bytes.Buffer
	out, err := c.cli(ctx, &progress, "credits", "manage", "--note", "monthly credit run")
	require.NoError(t, err, out)
	require.Contains(t, out, "credit management, preview (nothing posted), policy same-guarantor@1")
	require.Regexp(t, `status\s+COMPLETED`, out)
	require.Regexp(t, `families\s+3 of 3 done: 1 changed, 2 skipped or unchanged, 0 failed`, out)
	require.Regexp(t, `credits found\s+45.00`, out)
	require.Regexp(t, `amount that would move\s+25.00`, out)
	require.Regexp(t, `credits left\s+20.00`, out)
	require.Regexp(t, `receipts\s+0`, out)
	require.Regexp(t, dot[0].GuarantorID.String()+`\s+Dot Family\s+SKIPPED\s+5.00\s+5.00\s+no balance within the scope`, out)
	require.Contains(t, progress.String(), "3/3 families")
	require.Equal(t, "-40.00", owedOn(t, f, gusLine), "a preview posts nothing")
	require.Equal(t, 0, countReceipts(t, c.db, f.Actor.PracticeID, ledger.ReceiptCreditReapply))

	out, err = c.cli(ctx, nil, "credits", "manage", "--note", "monthly credit run", "--commit", "--quiet", "--scope", "guarantor")
	require.NoError(t, err, out)
	require.Contains(t, out, "credit management, commit")
	require.Regexp(t, `amount moved\s+25.00`, out)
	require.Regexp(t, `receipts\s+1\n`, out)
	require.Equal(t, "-15.00", owedOn(t, f, gusLine))
	require.Equal(t, "0.00", owedOn(t, f, gusOther))
	require.Equal(t, "0.00", owedOn(t, f, kitLine))
	require.Equal(t, "30.00", owedOn(t, f, catLine), "guarantors are never crossed")
	require.Equal(t, "-5.00", owedOn(t, f, dotLine))
	var note string
	require.NoError(t, c.db.Get(&note, `SELECT note FROM receipts WHERE practice_id = $1 AND kind = 'CREDIT_REAPPLY'`, f.Actor.PracticeID))
	require.Equal(t, "monthly credit run", note)

	out, err = c.cli(ctx, nil, "credits", "manage", "--note", "monthly credit run", "--commit", "--quiet", "--json")
	require.NoError(t, err, out)
	var rep struct {
		Run struct {
			ID              ledger.ID
			Status          ledger.RunStatus
			FamiliesChanged int
			Receipts        int
			CreditsLeft     string
		}
		Families []struct{ Status, Reason string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, ledger.RunCompleted, rep.Run.Status)
	require.Equal(t, 0, rep.Run.FamiliesChanged, "the second commit has nothing to do")
	require.Equal(t, 0, rep.Run.Receipts)
	require.Equal(t, "20.00", rep.Run.CreditsLeft)
	require.Len(t, rep.Families, 2, "Gus's 15.00 left and Dot's 5.00 are skipped")
	require.Equal(t, "SKIPPED", rep.Families[0].Status)
	require.Equal(t, 1, countReceipts(t, c.db, f.Actor.PracticeID, ledger.ReceiptCreditReapply))

	// runs list and show read the runs back.
	out, err = c.cli(ctx, nil, "runs", "list")
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(out, "credit management"), out)
	out, err = c.cli(ctx, nil, "runs", "show", rep.Run.ID.String())
	require.NoError(t, err)
	require.Contains(t, out, "run "+rep.Run.ID.String()+": credit management, commit")
	_, err = c.cli(ctx, nil, "runs", "resume", rep.Run.ID.String())
	require.ErrorIs(t, err, ledger.ErrConflict, "a completed run cannot be resumed")
}

// TestBalanceCommand: "paysplit balance" with each method previews
// (nothing posted), commits (each family balanced once, totals unchanged),
// and a second commit proposes nothing.
func TestBalanceCommand(t *testing.T) {
	for _, method := range []ledger.BalanceMethod{ledger.MethodIncomeTransfer, ledger.MethodRecreateSplits} {
		t.Run(string(method), func(t *testing.T) {
			ctx := context.Background()
			c := newCLIPractice(t, "CLI Balance "+string(method))
			lines := unbalancedFamilies(t, c.f, 3)
			pid := c.f.Actor.PracticeID
			args := []string{"--method", string(method), "--quiet"}
			if method == ledger.MethodIncomeTransfer {
				args = append(args, "--policy", "fifo")
			}

			out, err := c.cli(ctx, nil, "balance", args...)
			require.NoError(t, err, out)
			require.Contains(t, out, "balance "+string(method)+", preview (nothing posted)")
			require.Regexp(t, `families\s+3 of 3 done: 3 changed`, out)
			require.Regexp(t, `amount that would move\s+120.00`, out)
			require.Equal(t, 0, countReceipts(t, c.db, pid, ledger.ReceiptTransfer))
			for _, l := range lines {
				require.Equal(t, "40.00", owedOn(t, c.f, l))
			}

			out, err = c.cli(ctx, nil, "balance", append(args, "--commit", "--note", "balancer")...)
			require.NoError(t, err, out)
			require.Regexp(t, `families\s+3 of 3 done: 3 changed, 0 skipped or unchanged, 0 failed`, out)
			require.Regexp(t, `receipts\s+3\n`, out)
			require.Equal(t, 3, countReceipts(t, c.db, pid, ledger.ReceiptTransfer))
			for _, l := range lines {
				require.Equal(t, "0.00", owedOn(t, c.f, l))
			}
			var balances []string
			require.NoError(t, c.db.Select(&balances, `SELECT DISTINCT sum(s.amount)::text FROM splits s
				JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
				WHERE r.practice_id = $1 AND r.kind = 'TRANSFER' GROUP BY r.id`, pid))
			require.Equal(t, []string{"0.00"}, balances, "transfers are zero-sum")

			out, err = c.cli(ctx, nil, "balance", append(args, "--commit")...)
			require.NoError(t, err, out)
			require.Regexp(t, `families\s+3 of 3 done: 0 changed`, out)
			require.Equal(t, 3, countReceipts(t, c.db, pid, ledger.ReceiptTransfer), "the second run proposes nothing")
		})
	}
	t.Run("bad input", func(t *testing.T) {
		c := newCLIPractice(t, "CLI Balance bad input")
		_, err := c.cli(context.Background(), nil, "balance", "--quiet")
		require.ErrorContains(t, err, "INCOME_TRANSFER or RECREATE_SPLITS")
		_, err = c.cli(context.Background(), nil, "balance", "--method", "INCOME_TRANSFER", "--policy", "nope", "--quiet")
		require.ErrorContains(t, err, "policy")
		_, err = c.cli(context.Background(), nil, "balance", "--method", "INCOME_TRANSFER", "--transfer-date", "2026-13-01", "--quiet")
		require.ErrorContains(t, err, "--transfer-date")
		_, err = c.cli(context.Background(), nil, "balance", "--method", "INCOME_TRANSFER", "--transfer-date", "2026-05-10", "--as-of", "2026-05-11", "--quiet")
		require.ErrorContains(t, err, "transferDate")
	})
	t.Run("transfer date", func(t *testing.T) {
		// --transfer-date dates every transfer of either method that day.
		ctx := context.Background()
		c := newCLIPractice(t, "CLI Balance transfer date")
		fam := c.f.Family(t, "Tess", "Tom")
		line := c.f.Visit(t, fam[1], "2026-05-01", "40.00")[0]
		c.f.Receive(t, ledger.ReceiptPatientPayment, &fam[0], "40.00", "2026-05-02", ledgertest.Unallocated("40.00"))
		out, err := c.cli(ctx, nil, "balance", "--method", "RECREATE_SPLITS", "--transfer-date", "2026-05-10", "--commit", "--quiet")
		require.NoError(t, err, out)
		require.Contains(t, out, "as of 2026-05-10, transfers dated 2026-05-10")
		require.Equal(t, "0.00", owedOn(t, c.f, line))
		var dates []string
		require.NoError(t, c.db.Select(&dates, `SELECT DISTINCT received_on::text FROM receipts WHERE practice_id = $1 AND kind = 'TRANSFER'`,
			c.f.Actor.PracticeID))
		require.Equal(t, []string{"2026-05-10"}, dates)
	})
}

// stopAfter is a progress writer that cancels the command's context (as
// Ctrl-C does) once the run has committed a family.
type stopAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (s *stopAfter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.Contains(string(p), " 0/") && strings.Contains(string(p), "families") {
		s.cancel()
	}
	return s.buf.Write(p)
}

// TestBalanceCommandInterruptAndResume: Ctrl-C stops the run after the
// batch being committed (those families stay), the run is INTERRUPTED and
// the command says how to resume; "paysplit runs resume" finishes it and
// no family is balanced twice.
func TestBalanceCommandInterruptAndResume(t *testing.T) {
	c := newCLIPractice(t, "CLI Interrupt")
	const n = 30
	lines := unbalancedFamilies(t, c.f, n)
	pid := c.f.Actor.PracticeID

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &stopAfter{cancel: cancel}
	var out bytes.Buffer
	err := runBalance(ctx, []string{"--method", "INCOME_TRANSFER", "--policy", "fifo", "--commit", "--run-batch", "1",
		"--database-url", c.url, "--practice", pid.String()}, &out, progress)
	require.ErrorContains(t, err, "ended INTERRUPTED")
	require.Contains(t, progress.buf.String(), "stopping at the end of the batch")
	// The command to paste names the database, and says the user stopped it.
	require.Regexp(t, `INTERRUPTED \(you stopped it\)`, progress.buf.String())
	pasted := regexp.MustCompile(`paysplit (runs resume \S+ --practice ` + pid.String() + ` --database-url .*)`).FindStringSubmatch(progress.buf.String())
	require.NotNil(t, pasted, progress.buf.String())
	require.Regexp(t, `status\s+INTERRUPTED`, out.String())
	var run struct {
		ID   string `db:"id"`
		Done int    `db:"families_done"`
	}
	var why string
	require.NoError(t, c.db.Get(&run, `SELECT id::text, families_done FROM runs WHERE practice_id = $1`, pid))
	require.Positive(t, run.Done)
	require.Less(t, run.Done, n, "the run stopped part-way")
	require.Equal(t, run.Done, countReceipts(t, c.db, pid, ledger.ReceiptTransfer), "the committed families stay committed")

	require.NoError(t, c.db.Get(&why, `SELECT error FROM runs WHERE id = $1`, run.ID))
	require.Contains(t, why, "stopped by the user")

	// Pasted as printed, it resumes the run.
	var resumedOut bytes.Buffer
	require.NoError(t, runTo(context.Background(), append(shellWords(t, pasted[1]), "--quiet"), &resumedOut, io.Discard))
	resumed := resumedOut.String()
	require.Regexp(t, `status\s+COMPLETED`, resumed)
	require.Regexp(t, fmt.Sprintf(`families\s+%d of %d done: %d changed`, n, n, n), resumed)
	require.Regexp(t, `attempts\s+2`, resumed)
	require.Equal(t, n, countReceipts(t, c.db, pid, ledger.ReceiptTransfer), "no family balanced twice")
	for _, l := range lines {
		require.Equal(t, "0.00", owedOn(t, c.f, l))
	}
}

// shellWords splits a command line as a POSIX shell would, for the forms
// shellQuote writes (bare words, and single quotes with '\” inside).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case ch == '\'':
			quoted, inWord = !quoted, true
		case ch == '\\' && !quoted && i+1 < len(line):
			i++
			w.WriteByte(line[i])
		case ch == ' ' && !quoted:
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	require.False(t, quoted, "unterminated quote in %q", line)
	if inWord {
		words = append(words, w.String())
	}
	return words
}
