package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// FuzzPostReceiptVariables sends arbitrary variables JSON with a
// postReceipt mutation through the real handler, as a BILLER would: whatever
// the input, the answer is a well-formed GraphQL response and never
// INTERNAL (a panic or an unclassified error).
func FuzzPostReceiptVariables(f *testing.F) {
	db := ledgertest.NewDB(f)
	p := ledgertest.NewPractice(f, db)
	pat := p.Family(f, "Fuzz")[0]
	ch := p.Visit(f, pat, "2026-05-01", "100.00")[0]
	srv := httptest.NewServer(graph.NewServer(p.Ledger, func(ctx context.Context) error { return db.PingContext(ctx) }))
	f.Cleanup(srv.Close)
	_, token, err := p.Ledger.IssueKey(context.Background(), p.Actor.PracticeID, "fuzz", ledger.RoleAdmin)
	if err != nil {
		f.Fatal(err)
	}
	in := func(kv string) string {
		return `{"in":{"kind":"PATIENT_PAYMENT","patientId":"` + pat.ID.String() + `",` + kv + `}}`
	}
	for _, s := range []string{
		in(`"amount":"10.00","splits":[{"amount":"10.00","chargeId":"` + ch.ID.String() + `"}]`),
		in(`"amount":"10.00","allocation":{"policy":"fifo"}`),
		in(`"amount":"10.00","allocation":{"policy":"fifo","params":{"x":"1"}},"splits":[]`),
		in(`"amount":10,"splits":[{"amount":"10.001"}]`),
		in(`"amount":"1e3","receivedOn":"2026-02-30","splits":[{"amount":"-1.00","unearnedTypeId":"` + p.Prepayment.String() + `"}]`),
		in(`"amount":"5.00","splits":[{"amount":"5.00","chargeId":"not-a-uuid","force":true,"crossFamily":"yes"}]`),
		in(`"amount":"99999999999999999.99","splits":[{"amount":"99999999999999999.99"}],"idempotencyKey":""`),
		in(`"amount":"+1.00","receivedOn":"0001-01-01","splits":[{"amount":"01.00"}],"note":"a\u0000b","method":"\u001b[2J"`),
		in(`"amount":"30","splits":[{"amount":"30.5"}],"idempotencyKey":"k\u0000"`),
		`{"in":null}`, `{}`, `[]`, `{"in":{"kind":"NOPE"}}`, `{"in":"x"}`, `null`,
	} {
		f.Add([]byte(s))
	}
	const query = `mutation($in: PostReceiptInput!) { postReceipt(input: $in) { receipt { id amount splits { amount } } } }`
	f.Fuzz(func(t *testing.T, vars []byte) {
		if !json.Valid(vars) {
			return // the transport's own JSON error, not input decoding
		}
		body, err := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(vars)})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		var r response
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("HTTP %d, not a GraphQL response: %s", res.StatusCode, raw)
		}
		if res.StatusCode >= 500 {
			t.Fatalf("HTTP %d: %s", res.StatusCode, raw)
		}
		for _, e := range r.Errors {
			if e.code() == "INTERNAL" || e.code() == nil {
				t.Fatalf("variables %s: %s", vars, raw)
			}
		}
	})
}

// TestMalformedRequestIsBadRequest: a request gqlgen cannot even decode is
// the client's mistake (BAD_REQUEST), not INTERNAL, and the answer does not
// echo the body. Found by FuzzPostReceiptVariables.
func TestMalformedRequestIsBadRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, body := range map[string]string{
		"variables not an object": `{"query":"{ practice { name } }","variables":[]}`,
		"body not an object":      `["{ practice { name } }"]`,
	} {
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/graphql", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.analyst)
		r := send(t, req)
		e := requireCode(t, r, "BAD_REQUEST")
		if r.Status != http.StatusBadRequest || bytes.Contains([]byte(e.Message), []byte("practice")) {
			t.Errorf("%s: HTTP %d, message %q", name, r.Status, e.Message)
		}
	}
}
