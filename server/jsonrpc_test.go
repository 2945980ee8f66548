package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/server"
)

// rpcCase is one request of the Monitor interface and what must come back,
// the same over HTTP POST and over WebSocket.
type rpcCase struct {
	name string
	path string // server.JSONRPCPath when empty
	body string
	// code is the expected error code; 0 expects a result.
	code int
	// id is the id the reply must carry (raw JSON); empty skips the check.
	id string
	// result, when not empty, is the exact result expected (as JSON).
	result string
	// check, when set, inspects a successful reply further.
	check func(t *testing.T, f *rpcFixture, m rpcMessage)
}

// The JSON-RPC error codes docs/monitor.md lists, spelled out
// independently of the implementation's constants.
const (
	wantParseError         = -32700
	wantInvalidRequest     = -32600
	wantMethodNotFound     = -32601
	wantInvalidParams      = -32602
	wantReadOnly           = -31002 // Thunder ERROR_UNAVAILABLE (2): a property without a setter
	wantUnknownKey         = -31022 // Thunder ERROR_UNKNOWN_KEY (22)
	wantUnsupportedVersion = -31038 // Thunder ERROR_INVALID_SIGNATURE (38): no handler for the version
	wantFailedRegistration = -31048 // Thunder ERROR_FAILED_REGISTERED (48)
	// Thunder reports a failed unregister with ERROR_FAILED_REGISTERED too.
	wantFailedUnregister = wantFailedRegistration
)

// checkEntries returns a check that the result is the entries of callsigns,
// in that order, each well-formed.
func checkEntries(callsigns ...string) func(t *testing.T, f *rpcFixture, m rpcMessage) {
	return func(t *testing.T, f *rpcFixture, m rpcMessage) {
		t.Helper()
		entries := decodeEntries(t, m.Result)
		if len(entries) != len(callsigns) {
			t.Fatalf("%d entries, want %v: %s", len(entries), callsigns, m.Result)
		}
		for i, e := range entries {
			if e.Observable != callsigns[i] {
				t.Fatalf("entry %d is %q, want %q", i, e.Observable, callsigns[i])
			}
			checkEntry(t, e)
		}
	}
}

// checkEntry checks an entry of a running fixture service: sampled, in
// operation, one process.
func checkEntry(t *testing.T, e supervisor.Entry) {
	t.Helper()
	m := e.Measurements
	if !m.Operational || m.Count == 0 || m.Resident.Max == 0 || m.Allocated.Max < m.Resident.Max ||
		m.Process != (supervisor.Measurement{Min: 1, Max: 1, Average: 1, Last: 1}) {
		t.Fatalf("implausible entry %+v", e)
	}
}

func rpcCases() []rpcCase {
	return []rpcCase{
		// The status property.
		{name: "status of every service", body: `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status"}`, id: "1",
			check: checkEntries("Replica", "Journal")},
		{name: "status with an index", body: `{"jsonrpc":"2.0","id":"a","method":"Monitor.1.status@Replica"}`, id: `"a"`,
			check: func(t *testing.T, f *rpcFixture, m rpcMessage) {
				checkEntries("Replica")(t, f, m)
				if e := decodeEntries(t, m.Result)[0]; e.Restart != (supervisor.Limits{Limit: 3, Window: 60}) {
					t.Fatalf("restart = %+v", e.Restart)
				}
			}},
		{name: "version defaults to 1", body: `{"jsonrpc":"2.0","id":2,"method":"Monitor.status@Journal"}`,
			check: checkEntries("Journal")},
		{name: "unknown callsign is an empty list", body: `{"jsonrpc":"2.0","id":3,"method":"Monitor.1.status@Nope"}`, result: `[]`},
		{name: "null params read the property", body: `{"jsonrpc":"2.0","id":4,"method":"Monitor.1.status@Replica","params":null}`,
			check: checkEntries("Replica")},
		{name: "bare method on the Monitor path", path: server.MonitorJSONRPCPath,
			body: `{"jsonrpc":"2.0","id":5,"method":"status@Replica"}`, check: checkEntries("Replica")},
		{name: "bare versioned method on the Monitor path", path: server.MonitorJSONRPCPath,
			body: `{"jsonrpc":"2.0","id":6,"method":"1.status"}`, check: checkEntries("Replica", "Journal")},
		{name: "designator on the Monitor path", path: server.MonitorJSONRPCPath,
			body: `{"jsonrpc":"2.0","id":7,"method":"Monitor.1.status@Journal"}`, check: checkEntries("Journal")},
		{name: "writing status", body: `{"jsonrpc":"2.0","id":8,"method":"Monitor.1.status@Replica","params":{"measurements":{}}}`,
			code: wantReadOnly, id: "8"},
		{name: "writing status with a scalar", body: `{"jsonrpc":"2.0","id":9,"method":"Monitor.1.status","params":5}`, code: wantReadOnly},

		// restartlimits.
		{name: "restartlimits", body: `{"jsonrpc":"2.0","id":10,"method":"Monitor.1.restartlimits","params":{"callsign":"Journal","restart":{"limit":7,"window":30}}}`,
			result: `null`, check: func(t *testing.T, f *rpcFixture, m rpcMessage) {
				if got := f.sup.Status("Journal")[0].Restart; got != (supervisor.Limits{Limit: 7, Window: 30}) {
					t.Fatalf("limits after restartlimits: %+v", got)
				}
			}},
		{name: "restartlimits unlimited", path: server.MonitorJSONRPCPath,
			body: `{"jsonrpc":"2.0","id":11,"method":"restartlimits","params":{"callsign":"Journal","restart":{"limit":0,"window":0}}}`, result: `null`},
		{name: "restartlimits of an unknown callsign", body: `{"jsonrpc":"2.0","id":12,"method":"Monitor.1.restartlimits","params":{"callsign":"Nope","restart":{"limit":1,"window":1}}}`,
			code: wantUnknownKey, id: "12"},
		{name: "restartlimits without params", body: `{"jsonrpc":"2.0","id":13,"method":"Monitor.1.restartlimits"}`, code: wantInvalidParams},
		{name: "restartlimits with array params", body: `{"jsonrpc":"2.0","id":14,"method":"Monitor.1.restartlimits","params":[]}`, code: wantInvalidParams},
		{name: "restartlimits without callsign", body: `{"jsonrpc":"2.0","id":15,"method":"Monitor.1.restartlimits","params":{"restart":{"limit":1,"window":1}}}`, code: wantInvalidParams},
		{name: "restartlimits without restart", body: `{"jsonrpc":"2.0","id":16,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica"}}`, code: wantInvalidParams},
		{name: "restartlimits without limit", body: `{"jsonrpc":"2.0","id":17,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"window":1}}}`, code: wantInvalidParams},
		{name: "restartlimits without window", body: `{"jsonrpc":"2.0","id":18,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":1}}}`, code: wantInvalidParams},
		{name: "restartlimits with a string limit", body: `{"jsonrpc":"2.0","id":19,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":"3","window":1}}}`, code: wantInvalidParams},
		{name: "restartlimits with a fractional limit", body: `{"jsonrpc":"2.0","id":20,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":2.5,"window":1}}}`, code: wantInvalidParams},
		{name: "restartlimits with a negative window", body: `{"jsonrpc":"2.0","id":21,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":1,"window":-1}}}`, code: wantInvalidParams},
		{name: "restartlimits with a huge limit", body: `{"jsonrpc":"2.0","id":22,"method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":1e12,"window":1}}}`, code: wantInvalidParams},
		{name: "restartlimits with a numeric callsign", body: `{"jsonrpc":"2.0","id":23,"method":"Monitor.1.restartlimits","params":{"callsign":5,"restart":{"limit":1,"window":1}}}`, code: wantInvalidParams},

		// resetstats.
		{name: "resetstats", body: `{"jsonrpc":"2.0","id":30,"method":"Monitor.1.resetstats","params":{"callsign":"Replica"}}`,
			check: func(t *testing.T, f *rpcFixture, m rpcMessage) {
				var e supervisor.Entry
				dec := json.NewDecoder(bytes.NewReader(m.Result))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&e); err != nil || e.Observable != "Replica" {
					t.Fatalf("resetstats result %s: %v", m.Result, err)
				}
				checkEntry(t, e)
			}},
		{name: "resetstats of an unknown callsign", body: `{"jsonrpc":"2.0","id":31,"method":"Monitor.1.resetstats","params":{"callsign":"Nope"}}`, result: `null`},
		{name: "resetstats without callsign", body: `{"jsonrpc":"2.0","id":32,"method":"Monitor.1.resetstats","params":{}}`, code: wantInvalidParams},
		{name: "resetstats with a numeric callsign", body: `{"jsonrpc":"2.0","id":33,"method":"Monitor.1.resetstats","params":{"callsign":1}}`, code: wantInvalidParams},
		{name: "resetstats with string params", body: `{"jsonrpc":"2.0","id":34,"method":"Monitor.1.resetstats","params":"Replica"}`, code: wantInvalidParams},

		// register and unregister: parameters are checked before the transport.
		{name: "register without id", body: `{"jsonrpc":"2.0","id":40,"method":"Monitor.1.register","params":{"event":"action"}}`, code: wantInvalidParams},
		{name: "register with an empty id", body: `{"jsonrpc":"2.0","id":41,"method":"Monitor.1.register","params":{"event":"action","id":""}}`, code: wantInvalidParams},
		{name: "register without event", body: `{"jsonrpc":"2.0","id":42,"method":"Monitor.1.register","params":{"id":"x"}}`, code: wantInvalidParams},
		{name: "register for an unknown event", body: `{"jsonrpc":"2.0","id":43,"method":"Monitor.1.register","params":{"event":"statechange","id":"x"}}`, code: wantFailedRegistration},
		{name: "unregister from an unknown event", body: `{"jsonrpc":"2.0","id":44,"method":"Monitor.1.unregister","params":{"event":"statechange","id":"x"}}`, code: wantFailedUnregister},

		// Unknown methods.
		{name: "unknown method", body: `{"jsonrpc":"2.0","id":50,"method":"Monitor.1.reboot"}`, code: wantMethodNotFound, id: "50"},
		{name: "other callsign", body: `{"jsonrpc":"2.0","id":51,"method":"Controller.1.status"}`, code: wantMethodNotFound},
		{name: "callsigns are case-sensitive", body: `{"jsonrpc":"2.0","id":52,"method":"monitor.1.status"}`, code: wantMethodNotFound},
		{name: "unknown version", body: `{"jsonrpc":"2.0","id":53,"method":"Monitor.2.status"}`, code: wantUnsupportedVersion, id: "53"},
		{name: "version 0", body: `{"jsonrpc":"2.0","id":58,"method":"Monitor.0.status@Replica"}`, code: wantUnsupportedVersion},
		{name: "bare method on the generic path", body: `{"jsonrpc":"2.0","id":54,"method":"status"}`, code: wantMethodNotFound},
		{name: "index on a method", body: `{"jsonrpc":"2.0","id":55,"method":"Monitor.1.resetstats@Replica","params":{"callsign":"Replica"}}`, code: wantMethodNotFound},
		{name: "callsign without method", body: `{"jsonrpc":"2.0","id":56,"method":"Monitor.1."}`, code: wantMethodNotFound},
		{name: "unknown bare method", path: server.MonitorJSONRPCPath, body: `{"jsonrpc":"2.0","id":57,"method":"reboot"}`, code: wantMethodNotFound},

		// Malformed messages.
		{name: "truncated JSON", body: `{"jsonrpc":"2.0","id":60,"method":`, code: wantParseError, id: "null"},
		{name: "not JSON", body: `status please`, code: wantParseError, id: "null"},
		{name: "empty message", body: ``, code: wantParseError, id: "null"},
		{name: "invalid UTF-8 JSON", body: "{\"jsonrpc\":\"2.0\",\"id\":61,\"method\":\"Monitor.1.status\"}\xff", code: wantParseError, id: "null"},
		{name: "batch", body: `[{"jsonrpc":"2.0","id":62,"method":"Monitor.1.status"}]`, code: wantInvalidRequest, id: "null"},
		{name: "a number", body: `42`, code: wantInvalidRequest, id: "null"},
		{name: "null", body: `null`, code: wantInvalidRequest, id: "null"},
		{name: "wrong protocol version", body: `{"jsonrpc":"1.0","id":63,"method":"Monitor.1.status"}`, code: wantInvalidRequest, id: "63"},
		{name: "no protocol version", body: `{"id":64,"method":"Monitor.1.status"}`, code: wantInvalidRequest, id: "64"},
		{name: "no method", body: `{"jsonrpc":"2.0","id":65}`, code: wantInvalidRequest, id: "65"},
		{name: "numeric method", body: `{"jsonrpc":"2.0","id":66,"method":5}`, code: wantInvalidRequest, id: "66"},
		{name: "object id", body: `{"jsonrpc":"2.0","id":{"n":1},"method":"Monitor.1.status"}`, code: wantInvalidRequest, id: "null"},

		// Ids come back as they were sent.
		{name: "null id", body: `{"jsonrpc":"2.0","id":null,"method":"Monitor.1.status@Nope"}`, id: "null", result: `[]`},
		{name: "fractional id", body: `{"jsonrpc":"2.0","id":1.5,"method":"Monitor.1.status@Nope"}`, id: "1.5", result: `[]`},
		{name: "string id", body: `{"jsonrpc":"2.0","id":"x-\u00e9","method":"Monitor.1.status@Nope"}`, id: `"x-\u00e9"`, result: `[]`},
	}
}

// checkRPCCase compares a reply with the case's expectations.
func checkRPCCase(t *testing.T, f *rpcFixture, c rpcCase, m rpcMessage) {
	t.Helper()
	if c.code != 0 {
		wantRPCError(t, c.name, m, c.code, c.id)
		return
	}
	wantRPCResult(t, c.name, m, c.result)
	if c.id != "" && string(m.ID) != c.id {
		t.Fatalf("%s: id %s, want %s", c.name, m.ID, c.id)
	}
	if c.check != nil {
		c.check(t, f, m)
	}
}

func TestJSONRPCOverHTTP(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	for _, c := range rpcCases() {
		path := c.path
		if path == "" {
			path = server.JSONRPCPath
		}
		checkRPCCase(t, f, c, f.postRPC(path, []byte(c.body)))
	}
}

func TestJSONRPCRegistrationNeedsWebSocket(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	m := f.postRPC(server.JSONRPCPath, []byte(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.register","params":{"event":"action","id":"x"}}`))
	wantRPCError(t, "register over HTTP", m, wantFailedRegistration, "1")
	m = f.postRPC(server.JSONRPCPath, []byte(`{"jsonrpc":"2.0","id":2,"method":"Monitor.1.unregister","params":{"event":"action","id":"x"}}`))
	wantRPCError(t, "unregister over HTTP", m, wantFailedUnregister, "2")
}

func TestJSONRPCNotificationOverHTTP(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	r := f.post(server.JSONRPCPath, []byte(`{"jsonrpc":"2.0","method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":9,"window":99}}}`))
	if r.status != http.StatusNoContent || len(r.body) != 0 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("request without id: HTTP %d %q %q, want 204 without body", r.status, r.header.Get("Content-Type"), r.body)
	}
	if got := f.sup.Status("Replica")[0].Restart; got != (supervisor.Limits{Limit: 9, Window: 99}) {
		t.Fatalf("a request without id must still run: limits %+v", got)
	}
	// A failing request without id gets no reply either.
	r = f.post(server.MonitorJSONRPCPath, []byte(`{"jsonrpc":"2.0","method":"reboot"}`))
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("failing request without id: HTTP %d %q, want 204", r.status, r.body)
	}
}

func TestJSONRPCHTTPMethods(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	for _, path := range []string{server.JSONRPCPath, server.MonitorJSONRPCPath} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
			r := f.send(method, path, nil, "")
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
				t.Fatalf("%s %s: HTTP %d Allow %q, want 405 Allow POST", method, path, r.status, r.header.Get("Allow"))
			}
			if method == http.MethodHead {
				continue
			}
			var body map[string]string
			if err := json.Unmarshal(r.body, &body); err != nil || body["error"] == "" || len(body) != 1 {
				t.Fatalf("%s %s: body %q, want {\"error\": ...}", method, path, r.body)
			}
		}
	}
}

func TestJSONRPCHTTPBodyLimit(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	request := `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Nope"}`
	atLimit := request + strings.Repeat(" ", server.MaxJSONRPCMessageBytes-len(request))
	wantRPCResult(t, "request of exactly the limit", f.postRPC(server.JSONRPCPath, []byte(atLimit)), `[]`)

	r := f.post(server.JSONRPCPath, []byte(atLimit+" "))
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.body), `"error"`) {
		t.Fatalf("oversized body: HTTP %d %s, want 413 with an error", r.status, r.body)
	}
	wantRPCResult(t, "after an oversized body", f.postRPC(server.JSONRPCPath, []byte(request)), `[]`)
}

func TestJSONRPCRequiresToken(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{token: "s3cret"})
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Nope"}`)
	for _, token := range []string{"", "wrong"} {
		r := f.send(http.MethodPost, server.JSONRPCPath, body, token)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "unauthorized") {
			t.Fatalf("POST with token %q: HTTP %d %s, want 401", token, r.status, r.body)
		}
		conn, resp, err := f.dialRaw(server.JSONRPCPath, token, "notification")
		if err == nil {
			conn.Close()
			t.Fatalf("WebSocket upgrade with token %q was accepted", token)
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("WebSocket upgrade with token %q: %v, want HTTP 401", token, err)
		}
	}
	wantRPCResult(t, "POST with the token", f.postRPC(server.JSONRPCPath, body), `[]`)
	ws := f.dial(server.JSONRPCPath, "notification")
	wantRPCResult(t, "WebSocket with the token", ws.call("Monitor.1.status@Nope", nil), `[]`)
}
