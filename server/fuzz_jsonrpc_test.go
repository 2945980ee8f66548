package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/server"
)

// jsonrpcFuzzSeeds are JSON-RPC frames, well and badly formed.
var jsonrpcFuzzSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status"}`,
	`{"jsonrpc":"2.0","id":"a","method":"Monitor.1.status@Replica"}`,
	`{"jsonrpc":"2.0","id":null,"method":"Monitor.status@Nope"}`,
	`{"jsonrpc":"2.0","id":2,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":3,"window":60}}}`,
	`{"jsonrpc":"2.0","id":3,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":-1,"window":1e309}}}`,
	`{"jsonrpc":"2.0","id":4,"method":"Monitor.1.resetstats","params":{"callsign":"Journal"}}`,
	`{"jsonrpc":"2.0","id":5,"method":"Monitor.1.register","params":{"event":"action","id":"client.events"}}`,
	`{"jsonrpc":"2.0","id":6,"method":"Monitor.1.status@Replica","params":[1]}`,
	`{"jsonrpc":"2.0","id":7,"method":"Monitor.2.status"}`,
	`{"jsonrpc":"2.0","id":8,"method":"Other.1.status"}`,
	`{"jsonrpc":"2.0","id":9,"method":"status"}`,
	`{"jsonrpc":"2.0","method":"Monitor.1.resetstats","params":{"callsign":"Replica"}}`,
	`{"jsonrpc":"2.0","id":{},"method":"Monitor.1.status"}`,
	`{"jsonrpc":"1.0","id":1,"method":"Monitor.1.status"}`,
	`{"jsonrpc":"2.0","id":1,"method":""}`,
	`{"jsonrpc":"2.0","id":1,"id":2,"method":"Monitor.1.status"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status"}]`,
	`[]`, `{}`, `null`, `1`, `"x"`, ``, `{`, "\xff", `{"jsonrpc":"2.0","id":1e999,"method":"x"}`,
}

// FuzzJSONRPC sends arbitrary frames to the JSON-RPC endpoint over HTTP
// POST, on both paths. Whatever the frame, the endpoint must not panic and
// must answer either 204 with no body, exactly when the frame is a valid
// JSON-RPC request without an id (a notification), or 200 with one
// JSON-RPC 2.0 response object carrying exactly one of result and error
// and the request's id when it had a valid one.
func FuzzJSONRPC(f *testing.F) {
	for _, s := range jsonrpcFuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	sup := supervisor.New(supervisor.Options{Logger: rpcQuietLogger()})
	ok := supervisor.ServiceFunc(func(ctx context.Context, ready func()) error { ready(); <-ctx.Done(); return nil })
	sup.Add("Replica", ok, supervisor.Limits{Limit: 3, Window: 60})
	sup.Add("Journal", ok, supervisor.Limits{})
	api := server.New(server.Config{Logger: rpcQuietLogger()})
	server.MountJSONRPC(api.Router, sup, rpcQuietLogger())
	handler := api.Handler()

	f.Fuzz(func(t *testing.T, frame []byte, bare bool) {
		path := server.JSONRPCPath
		if bare {
			path = server.MonitorJSONRPCPath
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(frame))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%q: Content-Type %q", frame, ct)
		}
		notification := isNotification(frame)
		switch rec.Code {
		case http.StatusNoContent:
			if !notification {
				t.Fatalf("%q: 204 for a frame that is not a notification", frame)
			}
			if len(body) != 0 {
				t.Fatalf("%q: 204 with body %q", frame, body)
			}
			return
		case http.StatusOK:
			if notification {
				t.Fatalf("%q: a notification was answered: %s", frame, body)
			}
		case http.StatusRequestEntityTooLarge:
			if len(frame) <= server.MaxJSONRPCMessageBytes {
				t.Fatalf("%q: 413 for %d bytes", frame, len(frame))
			}
			return
		default:
			t.Fatalf("%q: status %d %s", frame, rec.Code, body)
		}
		var reply map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&reply); err != nil || reply == nil || dec.More() {
			t.Fatalf("%q: reply %q is not one JSON object: %v", frame, body, err)
		}
		if string(reply["jsonrpc"]) != `"2.0"` {
			t.Fatalf("%q: reply %s lacks \"jsonrpc\":\"2.0\"", frame, body)
		}
		id, hasID := reply["id"]
		_, hasResult := reply["result"]
		rpcErr, hasError := reply["error"]
		if !hasID || hasResult == hasError {
			t.Fatalf("%q: reply %s needs an id and exactly one of result and error", frame, body)
		}
		if hasError {
			var e struct {
				Code    *int    `json:"code"`
				Message *string `json:"message"`
			}
			if err := json.Unmarshal(rpcErr, &e); err != nil || e.Code == nil || e.Message == nil || *e.Message == "" {
				t.Fatalf("%q: error object %s", frame, rpcErr)
			}
		}
		if want, ok := requestID(frame); ok && !jsonEqual(id, want) {
			t.Fatalf("%q: reply id %s, request id %s", frame, id, want)
		}
	})
}

// isNotification tells a valid JSON-RPC 2.0 request object without an id.
func isNotification(frame []byte) bool {
	if !json.Valid(frame) {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(frame, &fields) != nil || fields == nil {
		return false
	}
	if _, ok := fields["id"]; ok {
		return false
	}
	var version, method string
	return json.Unmarshal(fields["jsonrpc"], &version) == nil && version == "2.0" &&
		json.Unmarshal(fields["method"], &method) == nil && method != ""
}

// requestID returns a frame's id when it has a valid one (string, number
// or null).
func requestID(frame []byte) (json.RawMessage, bool) {
	if !json.Valid(frame) {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(frame, &fields) != nil || fields == nil {
		return nil, false
	}
	id, ok := fields["id"]
	if !ok {
		return nil, false
	}
	s := strings.TrimSpace(string(id))
	if s == "" || !(s[0] == '"' || s == "null" || s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return nil, false
	}
	return id, true
}

// jsonEqual compares two JSON values by their compact form.
func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
