package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// Websocket subprotocols gqlgen speaks.
const (
	transportWS = "graphql-transport-ws" // the graphql-ws npm library's protocol
	legacyWS    = "graphql-ws"           // Apollo's subscriptions-transport-ws
)

// wsWait bounds every websocket read in the tests, so a missing message
// fails the test instead of hanging it.
const wsWait = 30 * time.Second

// wsClient is a minimal GraphQL-over-websocket client for either protocol.
type wsClient struct {
	t     *testing.T
	conn  *websocket.Conn
	proto string
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a websocket to srvURL's /graphql speaking proto, with extra
// request headers.
func dialWS(t *testing.T, srvURL, proto string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	u := "ws" + strings.TrimPrefix(srvURL, "http") + "/graphql"
	return websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{proto}, HTTPHeader: header})
}

// connectWS dials and completes connection_init with token ("" sends an
// empty payload), requiring the server's acknowledgement.
func connectWS(t *testing.T, srvURL, proto, token string) *wsClient {
	t.Helper()
	c := openWS(t, srvURL, proto)
	c.init(token)
	m := c.read()
	require.Equal(t, "connection_ack", m.Type, "payload %s", m.Payload)
	return c
}

// openWS dials without initialising.
func openWS(t *testing.T, srvURL, proto string) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, srvURL, proto, nil)
	require.NoError(t, err)
	require.Equal(t, proto, conn.Subprotocol())
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn, proto: proto}
}

func (c *wsClient) init(token string) {
	c.t.Helper()
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	c.send(wsMessage{Type: "connection_init", Payload: mustJSON(c.t, payload)})
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	b, err := json.Marshal(m)
	require.NoError(c.t, err)
	require.NoError(c.t, c.conn.Write(ctx, websocket.MessageText, b))
}

// read returns the next message, answering pings and skipping keep-alives.
func (c *wsClient) read() wsMessage {
	c.t.Helper()
	for {
		m, err := c.readErr()
		require.NoError(c.t, err)
		switch m.Type {
		case "ka", "pong":
			continue
		case "ping":
			c.send(wsMessage{Type: "pong"})
			continue
		}
		return m
	}
}

func (c *wsClient) readErr() (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wsWait)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	return m, json.Unmarshal(b, &m)
}

// subscribe starts operation id.
func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	typ := "subscribe"
	if c.proto == legacyWS {
		typ = "start"
	}
	c.send(wsMessage{ID: id, Type: typ, Payload: mustJSON(c.t, map[string]any{"query": query, "variables": vars})})
}

// stop ends operation id.
func (c *wsClient) stop(id string) {
	c.t.Helper()
	typ := "complete"
	if c.proto == legacyWS {
		typ = "stop"
	}
	c.send(wsMessage{ID: id, Type: typ})
}

// next reads the next result of operation id and returns its data,
// requiring no errors.
func (c *wsClient) next(id string) map[string]any {
	c.t.Helper()
	m := c.read()
	want := "next"
	if c.proto == legacyWS {
		want = "data"
	}
	require.Equal(c.t, want, m.Type, "payload %s", m.Payload)
	require.Equal(c.t, id, m.ID)
	var r response
	require.NoError(c.t, json.Unmarshal(m.Payload, &r))
	require.Empty(c.t, r.Errors, "%s", m.Payload)
	return r.Data
}

// closed reads until the connection ends and returns its close status
// (-1 if it ended without a close frame).
func (c *wsClient) closed() websocket.StatusCode {
	c.t.Helper()
	for {
		_, err := c.readErr()
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return -1
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
