package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/graph"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

// syncBuffer is a log sink the server writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// accessLine waits for the access-log line of request id and decodes it.
func accessLine(t *testing.T, log *syncBuffer, id string) map[string]any {
	t.Helper()
	var line map[string]any
	require.Eventually(t, func() bool {
		for _, l := range strings.Split(log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["request_id"] == id {
				line = m
				return true
			}
		}
		return false
	}, wsWait, 10*time.Millisecond, "no access-log line for %s in:\n%s", id, log.String())
	return line
}

// TestAccessLog: one JSON line per request with method, path, operation
// name and type, status, duration, request id, practice and key ids; never
// the key nor what the answer carried; a refused key's line says why,
// over HTTP and over a websocket.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	db := ledgertest.NewDB(t)
	f := ledgertest.NewPractice(t, db)
	log := &syncBuffer{}
	gs := graph.NewServer(f.Ledger, func(ctx context.Context) error { return db.PingContext(ctx) })
	gs.SetAccessLog(slog.New(slog.NewJSONHandler(log, nil)))
	srv := httptest.NewServer(gs)
	t.Cleanup(srv.Close)
	h := &harness{db: db, f: f, srv: srv, analyst: issueKey(t, f, "ANALYST")}
	pid := f.Actor.PracticeID.String()

	post := func(id, auth, query string) int {
		body, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", id)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, post("ok-1", "Bearer "+h.analyst, `query Who { practice { name } }`))
	line := accessLine(t, log, "ok-1")
	assert.Equal(t, "POST", line["method"])
	assert.Equal(t, "/graphql", line["path"])
	assert.Equal(t, "Who", line["operation"])
	assert.Equal(t, "query", line["operation_type"])
	assert.EqualValues(t, 200, line["status"])
	assert.Contains(t, line, "duration_ms")
	assert.Equal(t, pid, line["practice"])
	assert.Equal(t, keyID(h.analyst), line["key"])
	assert.Equal(t, "INFO", line["level"])

	wrong := h.analyst[:len(h.analyst)-4] + "AAAA" // the right key id, a wrong secret
	require.Equal(t, http.StatusUnauthorized, post("bad-1", "Bearer "+wrong, `{ practice { name } }`))
	line = accessLine(t, log, "bad-1")
	assert.Equal(t, "wrong secret", line["auth_refused"])
	assert.Equal(t, keyID(h.analyst), line["key"])
	assert.EqualValues(t, 401, line["status"])
	assert.Equal(t, "WARN", line["level"])
	require.Equal(t, http.StatusUnauthorized, post("bad-2", "Bearer nope", `{ practice { name } }`))
	assert.Equal(t, "malformed token", accessLine(t, log, "bad-2")["auth_refused"])

	// A websocket whose connection_init carries a wrong key: 4403, and its
	// line (written when it closes) says why.
	c := openWS(t, srv.URL, transportWS)
	c.init(wrong)
	require.EqualValues(t, 4403, c.closed())
	require.Eventually(t, func() bool { return strings.Contains(log.String(), `"status":101`) }, wsWait, 10*time.Millisecond)
	var ws map[string]any
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, `"status":101`) {
			require.NoError(t, json.Unmarshal([]byte(l), &ws))
		}
	}
	assert.Equal(t, "wrong secret", ws["auth_refused"])

	all := log.String()
	require.NotContains(t, all, h.analyst[68:], "the key's secret is never logged")
	require.NotContains(t, all, "Test Practice", "no answer data is logged")
}
