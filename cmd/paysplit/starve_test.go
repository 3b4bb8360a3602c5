package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// TestOnePracticeCannotStarveAnother runs serve as deployed (its default
// pool, limits and timeouts; the rate limit off unless
// PAYSPLIT_STARVE_RATE_LIMIT says, so that what protects practice B is the
// pool and the field limits) and has practice A attack it
// while practice B posts receipts: first no attack (B's baseline), then the
// alias bomb (10,000 aliases of a cheap field per request), then a flood of
// the largest requests the limits allow (graph.MaxRootFields root fields
// each, every one a statement of its own), then, for comparison, a flood of
// the smallest request. B must see no error, and A no
// INTERNAL. It logs B's latency per phase and A's answers.
//
// At CI size each of B's clients posts 10 receipts per phase. The full size
// (docs/reliability.md#pool-limits-and-slow-clients) runs each phase for
// PAYSPLIT_STARVE_DURATION with PAYSPLIT_STARVE_ATTACKERS clients of A and
// PAYSPLIT_STARVE_CLIENTS of B, and the phases PAYSPLIT_STARVE_ROUNDS
// times in turn, so that the machine's other load hits each alike.
func TestOnePracticeCannotStarveAnother(t *testing.T) {
	size := starveSizeFromEnv(t)
	ctx := context.Background()
	p := newPracticeDB(t) // practice A, with an ADMIN key
	b := ledgertest.AddPractice(t, p.f.Ledger, "Other Dental")
	bPat := b.Family(t, "Bo")[0]
	_, bKey, err := b.Ledger.IssueKey(ctx, b.Actor.PracticeID, "biller", ledger.RoleBiller)
	require.NoError(t, err)

	addr := freeAddr(t)
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(serveCtx, []string{"serve", "--database-url", p.url, "--addr", addr, "--rate-limit", size.rateLimit})
	}()
	waitHealthy(t, "http://"+addr+"/healthz", done)

	client := &http.Client{Timeout: waitFor, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	attacks := []struct{ name, query string }{
		{"none", ""},
		{"alias bomb", aliasQuery(10000, "practice { id }")},
		{"flood within the limits", aliasQuery(graph.MaxRootFields, "practice { name }")},
		{"control: a flood of the smallest request", "{ practice { id } }"},
	}
	phases := make([]*phase, len(attacks))
	for range size.rounds {
		for i, attack := range attacks {
			phases[i] = starvePhase(t, client, addr, size, attack.query, p.key, bKey, bPat, phases[i])
		}
	}
	for i, ph := range phases {
		t.Logf("%s: B %d receipts, %d errors %v, p50 %s, p99 %s, max %s; A %d requests: %v",
			attacks[i].name, len(ph.latencies), ph.bErrors, ph.bCodes, ph.percentile(0.50), ph.percentile(0.99), ph.percentile(1),
			ph.aRequests, ph.aCodes)
	}
	for i, ph := range phases {
		require.Zero(t, ph.bErrors, "%s: B's receipts failed: %v", attacks[i].name, ph.bCodes)
		require.Zero(t, ph.aCodes["INTERNAL"], "%s: A got INTERNAL", attacks[i].name)
		require.NotEmpty(t, ph.latencies)
	}
	stop()
	require.NoError(t, <-done)
}

// starveSize is how long and how hard TestOnePracticeCannotStarveAnother
// pushes.
type starveSize struct {
	duration  time.Duration // per phase; 0: receipts per client of B
	receipts  int
	attackers int    // A's clients
	clients   int    // B's clients
	rounds    int    // of the phases
	rateLimit string // serve's --rate-limit
}

func starveSizeFromEnv(t *testing.T) starveSize {
	s := starveSize{receipts: 10, attackers: 4, clients: 2, rounds: 1, rateLimit: "0"}
	if v := os.Getenv("PAYSPLIT_STARVE_RATE_LIMIT"); v != "" {
		s.rateLimit = v
	}
	if v := os.Getenv("PAYSPLIT_STARVE_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "PAYSPLIT_STARVE_DURATION")
		s.duration = d
	}
	for name, dst := range map[string]*int{"PAYSPLIT_STARVE_ATTACKERS": &s.attackers, "PAYSPLIT_STARVE_CLIENTS": &s.clients,
		"PAYSPLIT_STARVE_ROUNDS": &s.rounds} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, name)
			*dst = n
		}
	}
	return s
}

// aliasQuery selects field n times under aliases.
func aliasQuery(n int, field string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String() + " }"
}

// phase is what one phase saw.
type phase struct {
	mu        sync.Mutex
	latencies []time.Duration // B's receipts that succeeded
	bErrors   int
	bCodes    map[string]int
	aRequests int
	aCodes    map[string]int // A's answers by error code ("ok": none)
}

func (ph *phase) percentile(q float64) time.Duration {
	if len(ph.latencies) == 0 {
		return 0
	}
	d := slices.Clone(ph.latencies)
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// starvePhase runs size.attackers clients of A sending query in a loop
// (none if query is empty) while size.clients clients of B post receipts,
// adding what it sees to ph (a new phase if nil).
func starvePhase(t *testing.T, client *http.Client, addr string, size starveSize, query, aKey, bKey string, bPat ledger.Patient,
	ph *phase) *phase {
	if ph == nil {
		ph = &phase{bCodes: map[string]int{}, aCodes: map[string]int{}}
	}
	body, err := json.Marshal(map[string]any{"query": query})
	require.NoError(t, err)
	stopA := make(chan struct{})
	var attackers, clients sync.WaitGroup
	for range size.attackers {
		if query == "" {
			break
		}
		attackers.Go(func() {
			for {
				select {
				case <-stopA:
					return
				default:
				}
				out, err := postBody(client, addr, aKey, body)
				ph.mu.Lock()
				ph.aRequests++
				for _, c := range answerCodes(out, err) {
					ph.aCodes[c]++
				}
				ph.mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(size.duration)
	for range size.clients {
		clients.Go(func() {
			for i := 0; size.duration > 0 && time.Now().Before(deadline) || size.duration == 0 && i < size.receipts; i++ {
				pid := bPat.ID.String()
				start := time.Now()
				_, out, err := gql(client, addr, bKey, crashPost, map[string]any{"in": map[string]any{
					"idempotencyKey": uuid.NewString(), "kind": "PATIENT_PAYMENT", "patientId": pid, "amount": "1.00",
					"splits": []any{map[string]any{"amount": "1.00", "patientId": pid}}}})
				took := time.Since(start)
				codes := answerCodes(out, err)
				ph.mu.Lock()
				if len(codes) == 1 && codes[0] == "ok" {
					ph.latencies = append(ph.latencies, took)
				} else {
					ph.bErrors++
					for _, c := range codes {
						ph.bCodes[c]++
					}
				}
				ph.mu.Unlock()
			}
		})
	}
	clients.Wait()
	close(stopA)
	attackers.Wait()
	return ph
}

// postBody posts an encoded GraphQL request with key and decodes the answer
// (the attack's body is encoded once: the load generator shares the
// server's cores).
func postBody(client *http.Client, addr, key string, body []byte) (map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	return out, json.NewDecoder(res.Body).Decode(&out)
}

// answerCodes lists the extensions.code of a GraphQL answer's errors, "ok"
// for none, or the transport error.
func answerCodes(out map[string]any, err error) []string {
	if err != nil {
		return []string{"transport: " + err.Error()}
	}
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return []string{"ok"}
	}
	var codes []string
	for _, e := range errs {
		ext, _ := e.(map[string]any)["extensions"].(map[string]any)
		codes = append(codes, fmt.Sprint(ext["code"]))
	}
	return codes
}
