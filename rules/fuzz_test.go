package rules_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/rules"
)

// fuzzFamily is a small family touching every kind of credit and charge.
var fuzzFamily = rules.Input{
	Patients:      []rules.Patient{{ID: "g", GuarantorID: "g"}, {ID: "k", GuarantorID: "g"}},
	UnearnedTypes: []rules.UnearnedType{{ID: "prepay", Name: "Prepayment", Default: true}, {ID: "tp", Name: "TP", Hidden: true}},
	Charges: []rules.Charge{
		{ID: "p1", Kind: rules.Procedure, PatientID: "g", ProviderID: "dr1", EncounterID: "e1", Date: rules.NewDate(2024, 1, 1), Amount: decimal.NewFromInt(100)},
		{ID: "p2", Kind: rules.Procedure, PatientID: "k", ProviderID: "dr2", EncounterID: "e2", Date: rules.NewDate(2024, 1, 2), Amount: decimal.NewFromInt(50)},
		{ID: "a1", Kind: rules.Adjustment, PatientID: "k", ProviderID: "dr2", Date: rules.NewDate(2024, 1, 3), Amount: decimal.NewFromInt(-20), AttachedTo: "p2"},
		{ID: "p3", Kind: rules.Procedure, Status: rules.Planned, PatientID: "g", Date: rules.NewDate(2024, 1, 4), Amount: decimal.NewFromInt(70)},
	},
	Splits: []rules.Split{
		{ID: "s1", Date: rules.NewDate(2024, 1, 1), Amount: decimal.NewFromInt(120), PatientID: "g", ProviderID: "dr1", ChargeID: "p1"},
		{ID: "s2", Date: rules.NewDate(2024, 1, 2), Amount: decimal.NewFromInt(30), PatientID: "k"},
		{ID: "s3", Date: rules.NewDate(2024, 1, 2), Amount: decimal.NewFromInt(40), PatientID: "g", UnearnedTypeID: "prepay"},
		{ID: "s4", Date: rules.NewDate(2024, 1, 2), Amount: decimal.NewFromInt(-15), PatientID: "k", UnearnedTypeID: "prepay"},
	},
}

// FuzzCompile compiles an arbitrary expression into each slot of a policy
// and, when it compiles, plans every operation with it. Nothing may panic, a
// plan that succeeds must still balance, and the fast path must agree with
// expr's VM on every evaluation.
func FuzzCompile(f *testing.F) {
	rules.SetVerifyFast(true)
	f.Cleanup(func() { rules.SetVerifyFast(false) })
	for _, seed := range []string{
		`true`,
		`credit.patientId == charge.patientId && credit.providerId == charge.providerId`,
		`credit.amount > dec("10.00") || charge.owed <= 5`,
		`-credit.amount < charge.owed * 2`,
		`charge.patientId in request.additionalPatientIds`,
		`all(request.chargeIds, {# != charge.id})`,
		`len(request.chargeIds) > 0 ? request.chargeIds[0] == charge.id : charge.production`,
		`let x = credit.ageDays; x > 30`,
		`params.flag && split.amount < 0`,
		`credit.amount > 1.5`,
		`dec("1e400") > credit.amount`,
	} {
		for slot := range 5 {
			f.Add(seed, slot)
		}
	}
	f.Fuzz(func(t *testing.T, expr string, slot int) {
		if slot < 0 {
			slot = -slot
		}
		doc, key := fuzzPolicy(expr, slot%5)
		p, err := rules.Compile([]byte(doc))
		if err != nil {
			var ce *rules.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: Compile returned %T, not CompileErrors: %v", key, err, err)
			}
			return
		}
		for _, op := range []rules.Operation{rules.AutoSplit, rules.Transfer, rules.AllocateUnearned, rules.Reapply, rules.CreditManagement} {
			in := fuzzFamily
			in.Request = rules.Request{
				Operation: op, AsOf: rules.NewDate(2024, 6, 30), PatientID: "k", GuarantorID: "g",
				Amount: decimal.NewNullDecimal(decimal.NewFromInt(60)), ChargeIDs: []string{"p2"},
				Sources: []string{"p1"}, Targets: []rules.Target{{ChargeID: "p2"}},
			}
			plan, err := p.Plan(in)
			if err != nil {
				continue
			}
			total := decimal.Zero
			for _, s := range plan.Splits {
				total = total.Add(s.Amount)
			}
			want := decimal.Zero
			if op == rules.AutoSplit {
				want = in.Request.Amount.Decimal
			}
			if !total.Equal(want) {
				t.Fatalf("%s: %s splits sum to %s", key, op, total)
			}
		}
	})
}

// fuzzPolicy puts expr in one of five slots of an otherwise valid policy.
func fuzzPolicy(expr string, slot int) (doc, key string) {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
	}
	slots := []string{"stages[0].match", "credits.filter", "charges.order[0]", "requirements[0].check", "cap"}
	v := map[string]string{"match": q("true"), "filter": q("true"), "order": q("charge.date"), "check": q("true"), "cap": q(`dec("1000")`)}
	key = slots[slot]
	v[[]string{"match", "filter", "order", "check", "cap"}[slot]] = q(expr)
	doc = fmt.Sprintf(`{"name": "fuzz",
"params": {"flag": {"type": "bool", "default": true}},
"credits": {"filter": %s},
"charges": {"order": [%s]},
"stages": [{"name": "s", "match": %s}],
"cap": %s,
"leftover": [{"to": "unearned"}],
"requirements": [{"name": "r", "check": %s, "message": "m"}]}`, v["filter"], v["order"], v["match"], v["cap"], v["check"])
	return doc, key
}

// FuzzPolicyDocument compiles an arbitrary policy document and runs its
// examples, as validatePolicy does, and requires each input to stay within
// bounded time and memory: the examples stop at their deadline (with a
// generous grace for a loaded machine), and the heap grows by no more than
// fuzzHeapCap while the input is handled. The seeds are the built-in
// policies and the hostile documents of budget_test.go.
func FuzzPolicyDocument(f *testing.F) {
	for _, name := range []string{"fifo", "rigorous", "same-guarantor", "additional-patient"} {
		src, _ := rules.BuiltinDocument(name)
		f.Add(src)
	}
	for _, b := range bombs {
		f.Add([]byte(policyWith("match", b.expr)))
	}
	for _, g := range growing {
		f.Add([]byte(exampleWith(g.expr)))
	}
	// Deep nesting (TestDocumentBudget has the full 128 KiB one; a seed
	// that large slows the fuzzer's minimizing to a crawl).
	f.Add([]byte("name: x\nstages: " + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "\n"))
	f.Add([]byte("name: x\nparams:\n  a: {type: string, default: &a [l,l,l,l,l,l,l,l,l,l]}\n  b: {type: string, default: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]}\nstages: [{name: s, match: 'true'}]\n"))
	f.Add([]byte("name: x\ndescription: \"\\0\"\nstages: [{name: s, match: 'true'}]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		const deadline = 2 * time.Second
		before := heapBytes()
		peak := make(chan uint64)
		done := make(chan struct{})
		go watchHeap(done, peak)
		start := time.Now()
		if p, err := rules.Compile(doc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			_ = p.CheckExamplesContext(ctx)
			cancel()
		} else if !errors.As(err, new(*rules.CompileError)) {
			t.Fatalf("Compile returned %T, not CompileErrors: %v", err, err)
		}
		elapsed := time.Since(start)
		close(done)
		if grew := int64(<-peak) - int64(before); grew > fuzzHeapCap {
			t.Fatalf("the heap grew by %d MiB handling one document", grew>>20)
		}
		if elapsed > deadline+fuzzGrace {
			t.Fatalf("one document took %s; its examples' deadline is %s", elapsed, deadline)
		}
	})
}

const (
	fuzzHeapCap = 512 << 20
	fuzzGrace   = 30 * time.Second
)

// exampleWith is a policy whose stage matches with expr, with one example
// that plans a small transfer.
func exampleWith(expr string) string {
	return `name: x
stages: [{name: s, match: '` + strings.ReplaceAll(expr, "'", "''") + `'}]
examples:
  - name: e
    input:
      patients: [{id: p, guarantorId: p}]
      charges: [{id: c, kind: PROCEDURE, patientId: p, date: 2024-01-01, amount: "10.00"}]
      splits: [{id: s, patientId: p, date: 2024-01-01, amount: "10.00"}]
      request: {operation: TRANSFER, asOf: 2024-01-02}
    expect: {}
`
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap samples the heap until done closes, then sends its peak.
func watchHeap(done <-chan struct{}, peak chan<- uint64) {
	top := heapBytes()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			peak <- max(top, heapBytes())
			return
		case <-tick.C:
			top = max(top, heapBytes())
		}
	}
}
