package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
	"github.com/paysplit/paysplit/ledger/ledgertest"
)

func TestDashboardServesThePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/dashboard")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "connect-src 'self'")
	require.Contains(t, string(b), "agingUpdated")
	require.Contains(t, string(b), "graphql-transport-ws")

	res, err = http.Post(h.srv.URL+"/dashboard", "text/plain", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}

// The dashboard in a real browser (headless Chromium, Debian's chromium
// package, which .ci/run installs): it connects with the key, draws the
// buckets, and redraws them when a receipt is posted.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	_, s, in := liveScenario(t)
	page := openChromium(t, in.srv.URL+"/dashboard#key="+in.h.analyst)

	bars := `JSON.stringify([...document.querySelectorAll("#chart .bar")].map((b) => b.dataset.amount))`
	page.waitFor(t, `document.getElementById("chart").dataset.total`, "238.00")
	require.Equal(t, `["-10.00","0.00","180.00","3.00","100.00"]`, page.eval(t, bars))
	require.Equal(t, "3", page.eval(t, `document.getElementById("kpi-accounts").textContent`))
	require.Equal(t, "43.28%", page.eval(t, `document.getElementById("kpi-over90").textContent`))
	require.Equal(t, "", page.eval(t, `location.hash`)) // the key does not stay in the address bar

	s.Receive(t, ledger.ReceiptPatientPayment, &s.Pat, "40.00", "2026-06-15", ledgertest.On("40.00", s.C1))
	page.waitFor(t, `document.getElementById("chart").dataset.total`, "198.00")
	require.Equal(t, `["-10.00","0.00","180.00","3.00","60.00"]`, page.eval(t, bars))
	require.Equal(t, "2", page.eval(t, `document.getElementById("chart").dataset.updates`))
}

// cdpPage drives one browser tab over the Chrome DevTools Protocol.
type cdpPage struct {
	conn *websocket.Conn
	seq  atomic.Int64
}

// openChromium starts headless Chromium on url and connects to its tab.
// The test fails (it never skips) when no Chromium is installed. flags are
// more command-line flags for Chromium.
func openChromium(t *testing.T, url string, flags ...string) *cdpPage {
	t.Helper()
	bin := os.Getenv("PAYSPLIT_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin != "" {
			break
		}
		bin, _ = exec.LookPath(name)
	}
	require.NotEmpty(t, bin, "no Chromium: install Debian's chromium package (scripts/test does) or set PAYSPLIT_CHROMIUM")

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--user-data-dir=" + dir, "--remote-debugging-port=0"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "about:blank")...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	// Chromium writes its port to DevToolsActivePort once it listens.
	var port string
	require.Eventually(t, func() bool {
		f, err := os.Open(filepath.Join(dir, "DevToolsActivePort"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			port = strings.TrimSpace(sc.Text())
		}
		return port != ""
	}, wsWait, 20*time.Millisecond, "Chromium did not start")

	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:"+port+"/json/new?about:blank", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&target))
	dctx, dcancel := context.WithTimeout(context.Background(), wsWait)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, target.WebSocketDebuggerURL, nil)
	require.NoError(t, err)
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	p := &cdpPage{conn: conn}
	_, err = p.call("Page.navigate", map[string]any{"url": url})
	require.NoError(t, err)
	return p
}

// eval evaluates a JavaScript expression in the page and returns its value
// as text ("" for undefined or null).
func (p *cdpPage) eval(t *testing.T, expr string) string {
	t.Helper()
	v, err := p.tryEval(expr)
	require.NoError(t, err)
	return v
}

func (p *cdpPage) tryEval(expr string) (string, error) {
	b, err := p.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return "", err
	}
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", err
	}
	switch {
	case r.ExceptionDetails != nil:
		return "", fmt.Errorf("evaluating %s: %s", expr, b)
	case r.Result.Value == nil:
		return "", nil
	}
	return fmt.Sprint(r.Result.Value), nil
}

// call sends a DevTools command and returns its result.
func (p *cdpPage) call(method string, params map[string]any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	id := p.seq.Add(1)
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := p.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, err
	}
	for {
		_, b, err := p.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		var r struct {
			ID     int64           `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		switch {
		case r.ID != id:
			continue // an event
		case r.Error != nil:
			return nil, fmt.Errorf("%s: %s", method, r.Error)
		}
		return r.Result, nil
	}
}

// waitFor evaluates expr until it yields want.
func (p *cdpPage) waitFor(t *testing.T, expr, want string) {
	t.Helper()
	var got string
	var err error
	ok := assert.Eventually(t, func() bool {
		got, err = p.tryEval(expr)
		return err == nil && got == want
	}, wsWait, 50*time.Millisecond)
	if !ok {
		status, _ := p.tryEval(`document.getElementById("status").textContent`)
		t.Fatalf("%s is %q (%v), want %q; page status: %q", expr, got, err, want, status)
	}
}
