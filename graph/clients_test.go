package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWebsocketAuthPayloadShapes: connection_init may carry the key flat
// ({Authorization}, graphql-ws clients) or under headers ({headers:
// {Authorization}}, Apollo, GraphiQL), over both protocols, through a real
// websocket; a payload with neither is closed with 4403.
func TestWebsocketAuthPayloadShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	shapes := map[string]func(auth string) map[string]any{
		"flat":            func(a string) map[string]any { return map[string]any{"Authorization": a} },
		"flat lower-case": func(a string) map[string]any { return map[string]any{"authorization": a} },
		"headers":         func(a string) map[string]any { return map[string]any{"headers": map[string]any{"Authorization": a}} },
		"headers lower":   func(a string) map[string]any { return map[string]any{"headers": map[string]any{"authorization": a}} },
	}
	for _, proto := range []string{transportWS, legacyWS} {
		for name, shape := range shapes {
			t.Run(proto+"/"+name, func(t *testing.T) {
				t.Parallel()
				c := openWS(t, h.srv.URL, proto)
				c.send(wsMessage{Type: "connection_init", Payload: mustJSON(t, shape("Bearer "+h.analyst))})
				m := c.read()
				require.Equal(t, "connection_ack", m.Type, "payload %s", m.Payload)
				c.subscribe("1", `query { practice { name } }`, nil)
				require.Equal(t, "Test Practice", str(t, c.next("1"), "practice.name"))
			})
		}
		t.Run(proto+"/no key", func(t *testing.T) {
			t.Parallel()
			c := openWS(t, h.srv.URL, proto)
			c.send(wsMessage{Type: "connection_init", Payload: mustJSON(t, map[string]any{"headers": "Bearer " + h.analyst})})
			require.EqualValues(t, 4403, c.closed())
		})
	}
}

// TestScalarsAreSpecified: every custom scalar names its specification
// (@specifiedBy), so code generators and clients can map it.
func TestScalarsAreSpecified(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, name := range []string{"Money", "Date", "DateTime", "Upload", "PolicyParams"} {
		r := h.do(t, "", `query($n: String!) { __type(name: $n) { kind specifiedByURL } }`, map[string]any{"n": name})
		require.Empty(t, r.Errors, r.Raw)
		require.Equal(t, "SCALAR", str(t, r.Data, "__type.kind"))
		require.Regexp(t, `^https://`, str(t, r.Data, "__type.specifiedByURL"), name)
	}
}
