package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// The bank test (Jepsen's bank, on a patient ledger): many clients post
// receipts (explicit and auto-split), income transfers, unearned allocations
// and reversals on a few shared families through the real GraphQL handler,
// while a checker reads the ledger continuously. Money is never created,
// destroyed or double-spent, whatever the interleaving.
//
// CI runs it small, but not so small that an operation can go without a
// success by the luck of the interleaving: a balancing moves money only when
// the family is out of balance at that moment, and at 30 operations a
// client, the few balancings of a loaded run sometimes all found nothing to
// move (the "no balance succeeded" check below failed about once in fifty).
// At 60 that takes some eighteen balancings in a row. A full-size run (docs/reliability.md; each client has
// its own key, so the default rate limit applies to each as to a real
// integration):
//
//	PAYSPLIT_BANK_CLIENTS=32 PAYSPLIT_BANK_OPS=500 PAYSPLIT_BANK_SEED=7 go test ./graph/ -run TestBank -v -timeout 30m
func TestBank(t *testing.T) {
	cfg := bankConfig{clients: envInt(t, "PAYSPLIT_BANK_CLIENTS", 6), ops: envInt(t, "PAYSPLIT_BANK_OPS", 60),
		seed: uint64(envInt(t, "PAYSPLIT_BANK_SEED", 1)), families: envInt(t, "PAYSPLIT_BANK_FAMILIES", 3)}
	h := newHarness(t)
	b := newBank(t, h, cfg)

	ctx, stop := context.WithCancel(context.Background())
	checked := make(chan int)
	go func() { // the checker: a consistent snapshot of the whole ledger, over and over
		n := 0
		for ctx.Err() == nil {
			if err := b.check(context.Background()); err != nil {
				b.violation("checker read %d: %v", n, err)
			}
			n++
		}
		checked <- n
	}()
	var wg sync.WaitGroup
	for c := range cfg.clients {
		wg.Go(func() { b.client(c) })
	}
	wg.Wait()
	stop()
	reads := <-checked

	if n := len(b.violations); n > 0 {
		t.Fatalf("%d invariant violation(s); the first: %s", n, strings.Join(b.violations[:min(n, 5)], "\n"))
	}
	require.NoError(t, b.check(context.Background()), "final snapshot")
	b.checkAcknowledged(t)
	b.checkBalancesThroughGraphQL(t)

	ops := make([]string, 0, len(b.outcomes))
	for k := range b.outcomes {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	for _, k := range ops {
		t.Logf("%-32s %d", k, b.outcomes[k])
	}
	t.Logf("seed %d: %d clients × %d operations on %d families; checker read %d snapshots; %d receipts acknowledged",
		cfg.seed, cfg.clients, cfg.ops, cfg.families, reads, len(b.acked))
	for _, op := range []string{"explicit", "unearned", "autoSplit", "transfer", "allocateUnearned", "reapply", "balance", "reverse", "replay"} {
		require.Positive(t, b.outcomes[op+" ok"], "no %s succeeded: the test exercised nothing", op)
	}
	require.Positive(t, reads, "the checker never read")
}

type bankConfig struct {
	clients, ops, families int
	seed                   uint64
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	require.Positive(t, n, name)
	return n
}

type bankFamily struct {
	guarantor ledger.ID
	patients  []ledger.Patient
	charges   []ledger.Charge
	total     decimal.Decimal // what the charges cost
}

// bankReceipt is an acknowledged receipt: the server answered with its id.
type bankReceipt struct {
	kind   string
	family int
	amount decimal.Decimal
}

type bank struct {
	h        *harness
	cfg      bankConfig
	families []bankFamily
	// tokens holds each client's own ADMIN key: clients are separate
	// integrations, each within the server's default rate limit.
	tokens []string

	mu         sync.Mutex
	acked      map[string]bankReceipt // receipt id → what was acknowledged
	keys       map[string]string      // idempotency key → receipt id acknowledged for it
	payments   []string               // acknowledged payments, candidates for reversal
	outcomes   map[string]int         // "op ok", "op CODE"
	violations []string
}

func newBank(t *testing.T, h *harness, cfg bankConfig) *bank {
	b := &bank{h: h, cfg: cfg, acked: map[string]bankReceipt{}, keys: map[string]string{}, outcomes: map[string]int{}}
	for i := range cfg.families {
		pats := h.f.Family(t, fmt.Sprintf("Bank%d", i), "Kid", "Teen")
		f := bankFamily{guarantor: pats[0].GuarantorID, patients: pats}
		for j, p := range pats {
			f.charges = append(f.charges, h.f.Visit(t, p, fmt.Sprintf("2026-0%d-1%d", 2+j, i), "120.00", "80.00", "45.50")...)
		}
		for _, c := range f.charges {
			f.total = f.total.Add(c.Amount.Decimal())
		}
		b.families = append(b.families, f)
	}
	for range cfg.clients {
		b.tokens = append(b.tokens, issueKey(t, h.f, ledger.RoleAdmin))
	}
	return b
}

func (b *bank) violation(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.violations = append(b.violations, fmt.Sprintf(format, args...))
}

func (b *bank) count(op, outcome string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outcomes[op+" "+outcome]++
}

// allowed are the codes a mutation may legitimately fail with under
// contention: a split that would overpay a charge a concurrent payment
// already paid, a policy refusal, money that moved before its reversal, a
// receipt already reversed or a family still busy after the service's own
// retries. INTERNAL (a leaked deadlock or serialization failure) is not.
var allowed = map[string]bool{"BAD_USER_INPUT": true, "RULE_REJECTED": true, "INVARIANT_VIOLATION": true, "CONFLICT": true}

// send posts one GraphQL request with client c's key, without touching t
// (clients run off the test goroutine).
func (b *bank) send(c int, query string, vars map[string]any) (response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return response{}, err
	}
	req, err := http.NewRequest(http.MethodPost, b.h.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.tokens[c])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Raw: string(raw), Status: res.StatusCode}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("decode %q: %w", raw, err)
	}
	return r, nil
}

const (
	bankPost     = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id kind amount } } }`
	bankTransfer = `mutation($in: TransferInput!) { transferIncome(input: $in) { receipt { id kind amount } } }`
	bankAllocate = `mutation($in: AllocateUnearnedInput!) { allocateUnearned(input: $in) { receipt { id kind amount } } }`
	bankReverse  = `mutation($in: ReverseReceiptInput!) { reverseReceipt(input: $in) { receipt { id kind amount } } }`
	bankReapply  = `mutation($in: ReapplyCreditInput!) { reapplyCredit(input: $in) { receipt { id kind amount } } }`
	bankBalance  = `mutation($in: BalanceFamilyInput!) { balanceFamily(input: $in) {
		run { id status error } family { status reason receipts { id kind amount } } } }`
	bankCandidates = `query($in: ReapplyCandidatesInput!) { reapplyCandidates(input: $in) {
		lines { charge { id } owed } credits { id amount } } }`
)

// cents is a random amount between lo and hi cents, as Money text.
func cents(rng *rand.Rand, lo, hi int) string {
	return decimal.New(int64(lo+rng.IntN(hi-lo+1)), -2).StringFixed(2)
}

// client runs cfg.ops random operations; its choices depend only on the
// seed and its index.
func (b *bank) client(c int) {
	rng := rand.New(rand.NewPCG(b.cfg.seed, uint64(c)))
	for i := range b.cfg.ops {
		fi := rng.IntN(len(b.families))
		f := b.families[fi]
		p := f.patients[rng.IntN(len(f.patients))]
		key := fmt.Sprintf("bank-%d-%d", c, i)
		var op, query, path string
		var in map[string]any
		switch n := rng.IntN(10); {
		case n < 2:
			ch := f.charges[rng.IntN(len(f.charges))]
			amt := cents(rng, 100, 4000)
			op, query, path = "explicit", bankPost, "postReceipt"
			in = map[string]any{"kind": "PATIENT_PAYMENT", "patientId": ch.PatientID.String(), "amount": amt,
				"splits": []any{map[string]any{"amount": amt, "chargeId": ch.ID.String()}}}
		case n < 4:
			amt := cents(rng, 500, 6000)
			split := map[string]any{"amount": amt, "patientId": p.ID.String()}
			if rng.IntN(2) == 0 {
				split["unearnedTypeId"] = b.h.f.Prepayment.String()
			}
			op, query, path = "unearned", bankPost, "postReceipt"
			in = map[string]any{"kind": "PATIENT_PAYMENT", "patientId": p.ID.String(), "amount": amt, "splits": []any{split}}
		case n < 6:
			op, query, path = "autoSplit", bankPost, "postReceipt"
			in = map[string]any{"kind": "PATIENT_PAYMENT", "patientId": p.ID.String(), "amount": cents(rng, 500, 9000),
				"allocation": map[string]any{"policy": "fifo"}}
		case n < 7:
			op, query, path = "transfer", bankTransfer, "transferIncome"
			in = map[string]any{"guarantorId": f.guarantor.String(), "policy": "fifo"}
		case n < 8:
			op, query, path = "allocateUnearned", bankAllocate, "allocateUnearned"
			in = map[string]any{"guarantorId": f.guarantor.String(), "chargeIds": []any{
				f.charges[rng.IntN(len(f.charges))].ID.String(), f.charges[rng.IntN(len(f.charges))].ID.String()}}
		case n < 9 && rng.IntN(2) == 0:
			// Re-apply a credit of the family to a line that owes, as the
			// re-apply screen would: read the candidates, then choose.
			op, query, path = "reapply", bankReapply, "reapplyCredit"
			in = b.reapplyInput(c, rng, p)
			if in == nil {
				b.count(op, "nothing")
				continue
			}
		case n < 9:
			method := []string{"INCOME_TRANSFER", "RECREATE_SPLITS"}[rng.IntN(2)]
			op, query, path = "balance", bankBalance, "balanceFamily"
			in = map[string]any{"guarantorId": f.guarantor.String(), "method": method, "policy": "fifo"}
		default:
			b.mu.Lock()
			var target string
			if len(b.payments) > 0 {
				target = b.payments[rng.IntN(len(b.payments))]
				fi = b.acked[target].family
			}
			b.mu.Unlock()
			if target == "" {
				continue
			}
			op, query, path = "reverse", bankReverse, "reverseReceipt"
			in = map[string]any{"receiptId": target}
		}
		if op == "allocateUnearned" {
			// Two chosen charges may be the same one; the service refuses
			// duplicates as bad input, which is fine, but pick distinct ones
			// more often than not.
			ids := in["chargeIds"].([]any)
			if ids[0] == ids[1] {
				in["chargeIds"] = ids[:1]
			}
		}
		in["idempotencyKey"] = key
		id := b.mutate(c, op, query, path, fi, key, in)
		if id != "" && rng.IntN(4) == 0 {
			// The client did not hear the answer and sends it again: the
			// same key must answer with the same receipt, and post nothing.
			if again := b.mutate(c, "replay", query, path, fi, key, in); again != id {
				b.violation("%s %s: replay answered %q, first answer %q", op, key, again, id)
			}
		}
	}
}

// reapplyInput chooses a re-apply on p's family from its candidates: a
// random credit to a random line that owes ("" when there is none).
func (b *bank) reapplyInput(client int, rng *rand.Rand, p ledger.Patient) map[string]any {
	r, err := b.send(client, bankCandidates, map[string]any{"in": map[string]any{"patientId": p.ID.String(), "sameGuarantor": true}})
	if err != nil || len(r.Errors) > 0 {
		b.violation("reapplyCandidates: %v %s", err, r.Raw)
		return nil
	}
	c, _ := r.Data["reapplyCandidates"].(map[string]any)
	credits, _ := c["credits"].([]any)
	var owing []string
	lines, _ := c["lines"].([]any)
	for _, l := range lines {
		l := l.(map[string]any)
		if owed, err := decimal.NewFromString(fmt.Sprint(l["owed"])); err == nil && owed.IsPositive() {
			owing = append(owing, l["charge"].(map[string]any)["id"].(string))
		}
	}
	if len(credits) == 0 || len(owing) == 0 {
		return nil
	}
	credit := credits[rng.IntN(len(credits))].(map[string]any)
	return map[string]any{"patientId": p.ID.String(), "sources": []any{credit["id"]},
		"targets": []any{map[string]any{"chargeId": owing[rng.IntN(len(owing))]}}}
}

// mutate sends one mutation, records the outcome, and returns the id of the
// receipt it acknowledged ("" for none); for a balancer run, the run's id
// (what its idempotency key records), with every receipt it posted
// acknowledged.
func (b *bank) mutate(c int, op, query, path string, family int, key string, in map[string]any) string {
	r, err := b.send(c, query, map[string]any{"in": in})
	if err != nil {
		b.violation("%s %s: %v", op, key, err)
		return ""
	}
	if len(r.Errors) > 0 {
		code, _ := r.Errors[0].Extensions["code"].(string)
		if retryable, _ := r.Errors[0].Extensions["retryable"].(bool); retryable {
			b.count(op, code+" (busy after the service's retries)")
		} else {
			b.count(op, code)
		}
		if !allowed[code] || len(r.Errors) > 1 || r.Status != http.StatusOK {
			b.violation("%s %s: HTTP %d %s", op, key, r.Status, r.Raw)
		}
		return ""
	}
	payload, _ := r.Data[path].(map[string]any)
	var recs []any
	var result string // what the idempotency key records
	if rec, _ := payload["receipt"].(map[string]any); rec != nil {
		recs, result = []any{rec}, fmt.Sprint(rec["id"])
	} else if fam, _ := payload["family"].(map[string]any); fam != nil {
		run, _ := payload["run"].(map[string]any)
		if status := fmt.Sprint(run["status"]); status != "COMPLETED" {
			b.violation("%s %s: the run ended %s: %v", op, key, status, run["error"])
			return ""
		}
		if fam["status"] == "FAILED" {
			b.count(op, "family failed")
			return ""
		}
		recs, _ = fam["receipts"].([]any)
		result = fmt.Sprint(run["id"])
	}
	if len(recs) == 0 { // a transfer, allocation or balancing that had nothing to move
		b.count(op, "nothing")
		return ""
	}
	b.count(op, "ok")
	type posted struct {
		id, kind string
		amount   decimal.Decimal
	}
	ps := make([]posted, len(recs))
	for i, x := range recs {
		rec, _ := x.(map[string]any)
		id, _ := rec["id"].(string)
		kind, _ := rec["kind"].(string)
		amount, err := decimal.NewFromString(fmt.Sprint(rec["amount"]))
		if err != nil || id == "" {
			b.violation("%s %s: bad receipt in %s", op, key, r.Raw)
			return ""
		}
		ps[i] = posted{id, kind, amount}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.keys[key]; ok {
		return prev // a replay: checked by the caller, recorded once
	}
	b.keys[key] = result
	for _, p := range ps {
		if _, ok := b.acked[p.id]; ok {
			b.violations = append(b.violations, fmt.Sprintf("%s %s: receipt %s acknowledged for two keys", op, key, p.id))
		}
		b.acked[p.id] = bankReceipt{kind: p.kind, family: family, amount: p.amount}
		if p.kind == "PATIENT_PAYMENT" {
			b.payments = append(b.payments, p.id)
		}
	}
	return result
}

// check reads the whole ledger in one REPEATABLE READ snapshot and checks
// the money invariants. It returns the first violation.
func (b *bank) check(ctx context.Context) error {
	tx, err := b.h.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if _, err := tx.Exec(`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
		return err
	}
	var bad []string
	query := func(q string, args ...any) error {
		bad = bad[:0]
		if err := tx.Select(&bad, q, args...); err != nil {
			return err
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d violation(s), first: %s", len(bad), bad[0])
		}
		return nil
	}
	checks := []struct{ name, sql string }{
		{"splits sum to the receipt's amount; transfers sum to zero", `
			SELECT r.id || ' ' || r.kind || ' amount ' || r.amount || ' splits ' || coalesce(sum(s.amount), 0)
			  FROM receipts r LEFT JOIN splits s ON s.practice_id = r.practice_id AND s.receipt_id = r.id
			 WHERE r.practice_id = $1
			 GROUP BY r.id, r.kind, r.amount
			HAVING coalesce(sum(s.amount), 0) <> r.amount OR count(s.id) = 0
			    OR r.kind IN ('TRANSFER', 'CREDIT_REAPPLY') AND r.amount <> 0`},
		{"no charge paid more than it costs", `
			SELECT c.id || ' costs ' || c.amount || ' paid ' || sum(s.amount)
			  FROM charges c JOIN splits s ON s.practice_id = c.practice_id AND s.charge_id = c.id
			 WHERE c.practice_id = $1
			 GROUP BY c.id, c.amount
			HAVING sum(s.amount) > c.amount`},
		{"no source over-drawn", `
			SELECT s.patient_id || ' ' || coalesce(s.unearned_type_id::text, 'unallocated') || ' holds ' || sum(s.amount)
			  FROM splits s
			 WHERE s.practice_id = $1 AND s.charge_id IS NULL
			 GROUP BY s.patient_id, s.unearned_type_id, s.provider_id, s.location_id
			HAVING sum(s.amount) < 0`},
		{"transfers stay in the family and are zero-sum there", `
			SELECT r.id || ' moves ' || sum(s.amount) || ' into guarantor ' || p.guarantor_id
			  FROM receipts r
			  JOIN splits s ON s.practice_id = r.practice_id AND s.receipt_id = r.id
			  JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id
			 WHERE r.practice_id = $1 AND r.kind IN ('TRANSFER', 'CREDIT_REAPPLY')
			 GROUP BY r.id, p.guarantor_id
			HAVING sum(s.amount) <> 0`},
		{"a family holds exactly the money it received", `
			WITH held AS (
				SELECT p.guarantor_id AS g, sum(s.amount) AS amount
				  FROM splits s JOIN patients p ON p.practice_id = s.practice_id AND p.id = s.patient_id
				 WHERE s.practice_id = $1 GROUP BY p.guarantor_id),
			received AS (
				SELECT p.guarantor_id AS g, sum(r.amount) AS amount
				  FROM receipts r JOIN patients p ON p.practice_id = r.practice_id AND p.id = r.patient_id
				 WHERE r.practice_id = $1 GROUP BY p.guarantor_id)
			SELECT coalesce(held.g, received.g) || ' holds ' || coalesce(held.amount, 0) || ' received ' || coalesce(received.amount, 0)
			  FROM held FULL JOIN received ON received.g = held.g
			 WHERE coalesce(held.amount, 0) <> coalesce(received.amount, 0)`},
	}
	for _, c := range checks {
		if err := query(c.sql, b.h.f.Actor.PracticeID); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// checkAcknowledged: every acknowledged receipt is in the ledger exactly
// once, nothing else is (a failed or retried attempt left no trace), and
// every idempotency key maps to the receipt it acknowledged.
func (b *bank) checkAcknowledged(t *testing.T) {
	t.Helper()
	var got []string
	require.NoError(t, b.h.db.Select(&got, `SELECT id::text FROM receipts WHERE practice_id = $1`, b.h.f.Actor.PracticeID))
	want := make([]string, 0, len(b.acked))
	for id := range b.acked {
		want = append(want, id)
	}
	require.ElementsMatch(t, want, got, "the ledger's receipts are exactly the acknowledged ones")

	var recs []struct {
		Key    string `db:"key"`
		Result string `db:"result_id"`
	}
	// A transfer's or allocation's key records its plan, which names its receipt.
	require.NoError(t, b.h.db.Select(&recs, `SELECT i.key, coalesce(a.receipt_id, i.result_id)::text AS result_id
		  FROM idempotency_records i
		  LEFT JOIN allocation_plans a ON a.practice_id = i.practice_id AND a.id = i.result_id
		 WHERE i.practice_id = $1 AND i.key LIKE 'bank-%'`, b.h.f.Actor.PracticeID))
	stored := map[string]string{}
	for _, r := range recs {
		stored[r.Key] = r.Result
	}
	for key, id := range b.keys {
		require.Equal(t, id, stored[key], "idempotency key %s (%s)", key, b.acked[id].kind)
	}
}

// checkBalancesThroughGraphQL: each family's balance, as the API reports
// it, is what its charges cost minus the money acknowledged as received.
func (b *bank) checkBalancesThroughGraphQL(t *testing.T) {
	t.Helper()
	received := make([]decimal.Decimal, len(b.families))
	for _, r := range b.acked {
		received[r.family] = received[r.family].Add(r.amount)
	}
	for i, f := range b.families {
		d := b.h.ok(t, b.h.analyst, `query($id: ID!) { guarantor(id: $id) { balance } }`, map[string]any{"id": f.guarantor.String()})
		requireMoney(t, f.total.Sub(received[i]).StringFixed(2), d, "guarantor.balance")
	}
}
