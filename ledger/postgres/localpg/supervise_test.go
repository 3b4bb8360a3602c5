package localpg

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// logLines is a JSON log written by one goroutine and read by another.
type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the log's lines whose msg is msg.
func (l *logLines) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if line != "" && json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestSuperviseRestartsAKilledServer: the server SIGKILLed under Supervise
// is started again at the same URL, the restart logged with its attempt and
// cause; after Stop nothing is restarted and Supervise returns.
func TestSuperviseRestartsAKilledServer(t *testing.T) {
	c, err := Start(t.Context(), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	db, err := sql.Open("postgres", c.URL("postgres"))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Ping())

	var log logLines
	restarted := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Supervise(context.Background(), slogTo(&log), func() { restarted <- struct{}{} })
	}()

	killed := c.current()
	require.NoError(t, killed.proc.Signal(syscall.SIGKILL))
	<-restarted
	require.NotSame(t, killed, c.current())
	var one int
	require.NoError(t, db.QueryRow(`SELECT 1`).Scan(&one), "the same URL reaches the new server (a dead pooled connection is retried)")
	down := log.records(t, "private PostgreSQL is down; restarting it")
	require.NotEmpty(t, down)
	require.EqualValues(t, 1, down[0]["attempt"])
	require.Equal(t, "postgres exited: signal: killed", down[0]["cause"])
	up := log.records(t, "private PostgreSQL restarted")
	require.Len(t, up, 1)
	require.EqualValues(t, len(down), up[0]["attempt"], "the last attempt is the one that succeeded")

	require.NoError(t, c.Stop())
	<-done
	require.Len(t, log.records(t, "private PostgreSQL is down; restarting it"), len(down), "nothing restarted after Stop")
}

// TestSuperviseStopsWithItsContext: Supervise returns when its context ends.
func TestSuperviseStopsWithItsContext(t *testing.T) {
	c, err := Start(t.Context(), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Supervise(ctx, slogTo(&logLines{}), nil)
	}()
	cancel()
	<-done
}

func slogTo(w *logLines) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
