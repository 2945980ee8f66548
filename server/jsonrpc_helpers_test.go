package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/gorilla/websocket"
)

// rpcWait bounds every wait in the JSON-RPC tests. It is generous because
// the machine is small and shared: the tests wait on conditions, never on
// durations.
const rpcWait = 60 * time.Second

func rpcQuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rpcService becomes ready at every start and fails when the test sends it
// an error.
type rpcService struct {
	runs atomic.Int64
	fail chan error
}

func newRPCService() *rpcService { return &rpcService{fail: make(chan error)} }

func (s *rpcService) Run(ctx context.Context, ready func()) error {
	s.runs.Add(1)
	ready()
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.fail:
		return err
	}
}

// rpcFixture is a supervisor watching two steerable services (Replica and
// Journal), served through the JSON-RPC endpoint on an httptest server.
type rpcFixture struct {
	t        *testing.T
	sup      *supervisor.Supervisor
	endpoint *server.JSONRPC
	httpURL  string
	wsURL    string
	token    string
	replica  *rpcService
	journal  *rpcService
}

// rpcFixtureOptions shape a fixture.
type rpcFixtureOptions struct {
	token string
	// services replaces the default Replica and Journal services.
	services func(*supervisor.Supervisor)
	backoff  supervisor.Backoff
	// logger receives the server's and the endpoint's log; nil discards it.
	logger *slog.Logger
	// allowOrigins are the parsed -allow-origin entries.
	allowOrigins []string
}

func newRPCFixture(t *testing.T, o rpcFixtureOptions) *rpcFixture {
	t.Helper()
	backoff := o.backoff
	if backoff == (supervisor.Backoff{}) {
		backoff = supervisor.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	}
	f := &rpcFixture{t: t, token: o.token}
	f.sup = supervisor.New(supervisor.Options{Interval: 5 * time.Millisecond, Logger: rpcQuietLogger(), Backoff: backoff})
	if o.services != nil {
		o.services(f.sup)
	} else {
		f.replica, f.journal = newRPCService(), newRPCService()
		f.sup.Add("Replica", f.replica, supervisor.Limits{Limit: 3, Window: 60})
		f.sup.Add("Journal", f.journal, supervisor.Limits{})
	}
	logger := o.logger
	if logger == nil {
		logger = rpcQuietLogger()
	}
	api := server.New(server.Config{Token: o.token, AllowOrigins: o.allowOrigins, Logger: logger})
	f.endpoint = server.MountJSONRPC(api.Router, f.sup, logger)
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(f.endpoint.Close) // before ts.Close: hijacked connections are not ts's to close
	f.httpURL = ts.URL
	f.wsURL = "ws" + strings.TrimPrefix(ts.URL, "http")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(rpcWait):
			t.Errorf("supervisor did not stop within %s", rpcWait)
		}
	})
	if o.services == nil {
		rpcEventually(t, "Replica and Journal in operation", func() bool {
			return f.sup.Operational("Replica") && f.sup.Operational("Journal")
		})
	}
	rpcEventually(t, "a first sample", func() bool {
		all := f.sup.Status("")
		return len(all) > 0 && all[0].Measurements.Count > 0
	})
	return f
}

// rpcEventually waits for cond, failing the test after rpcWait.
func rpcEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rpcWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", rpcWait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rpcMessage is anything the server sends: a reply or a notification.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	raw    []byte
}

func (m rpcMessage) String() string { return string(m.raw) }

func decodeRPCMessage(t *testing.T, raw []byte) rpcMessage {
	t.Helper()
	var m rpcMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("server sent a message that is not JSON-RPC: %v\n%s", err, raw)
	}
	m.raw = raw
	if m.JSONRPC != "2.0" {
		t.Fatalf("message without \"jsonrpc\":\"2.0\": %s", raw)
	}
	return m
}

// rpcRequestBody builds a request; id nil makes it a notification.
func rpcRequestBody(t *testing.T, id any, method string, params any) []byte {
	t.Helper()
	req := map[string]any{"jsonrpc": "2.0", "method": method}
	if id != nil {
		req["id"] = id
	}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rpcHTTPResult is the answer to an HTTP POST.
type rpcHTTPResult struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to path with the fixture's token.
func (f *rpcFixture) post(path string, body []byte) rpcHTTPResult {
	return f.send(http.MethodPost, path, body, f.token)
}

func (f *rpcFixture) send(method, path string, body []byte, token string) rpcHTTPResult {
	f.t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return f.do(method, path, header, string(body))
}

// postRPC sends one raw JSON-RPC message over HTTP and decodes the reply,
// which must come with 200 and a JSON content type.
func (f *rpcFixture) postRPC(path string, body []byte) rpcMessage {
	f.t.Helper()
	r := f.post(path, body)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		f.t.Fatalf("POST %s %s: HTTP %d %q, want 200 with JSON", path, body, r.status, r.header.Get("Content-Type"))
	}
	return decodeRPCMessage(f.t, r.body)
}

// rpcClient is a test's WebSocket JSON-RPC client.
type rpcClient struct {
	t      *testing.T
	conn   *websocket.Conn
	nextID int
	// notes are notifications that arrived while the client waited for a
	// reply, in order.
	notes []rpcMessage
}

// dial opens a WebSocket on path, asking for the given subprotocols and
// sending the fixture's token.
func (f *rpcFixture) dial(path string, subprotocols ...string) *rpcClient {
	f.t.Helper()
	conn, resp, err := f.dialRaw(path, f.token, subprotocols...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		f.t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	f.t.Cleanup(func() { conn.Close() })
	return &rpcClient{t: f.t, conn: conn}
}

func (f *rpcFixture) dialRaw(path, token string, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	dialer := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: rpcWait}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return dialer.Dial(f.wsURL+path, header)
}

// writeRaw sends one text message as it is.
func (c *rpcClient) writeRaw(msg []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next message from the server.
func (c *rpcClient) read() rpcMessage {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(rpcWait))
	_, raw, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return decodeRPCMessage(c.t, raw)
}

// call sends a request with a fresh id and returns its reply. It insists
// that the reply is the next message, i.e. that no notification was pending.
func (c *rpcClient) call(method string, params any) rpcMessage {
	c.t.Helper()
	c.nextID++
	c.writeRaw(rpcRequestBody(c.t, c.nextID, method, params))
	m := c.read()
	if string(m.ID) != fmt.Sprint(c.nextID) {
		c.t.Fatalf("%s: expected the reply with id %d, got %s", method, c.nextID, m)
	}
	return m
}

// callKeepingNotes is call for a client that may have notifications in
// flight: they are kept for notification and action.
func (c *rpcClient) callKeepingNotes(method string, params any) rpcMessage {
	c.t.Helper()
	c.nextID++
	c.writeRaw(rpcRequestBody(c.t, c.nextID, method, params))
	for {
		m := c.read()
		if m.ID == nil && m.Method != "" {
			c.notes = append(c.notes, m)
			continue
		}
		if string(m.ID) != fmt.Sprint(c.nextID) {
			c.t.Fatalf("%s: expected the reply with id %d, got %s", method, c.nextID, m)
		}
		return m
	}
}

// roundTrip sends a raw message and returns the next message.
func (c *rpcClient) roundTrip(msg []byte) rpcMessage {
	c.t.Helper()
	c.writeRaw(msg)
	return c.read()
}

// notification returns the next notification.
func (c *rpcClient) notification() rpcMessage {
	c.t.Helper()
	if len(c.notes) > 0 {
		m := c.notes[0]
		c.notes = c.notes[1:]
		return m
	}
	m := c.read()
	if m.ID != nil || m.Method == "" {
		c.t.Fatalf("expected a notification, got %s", m)
	}
	return m
}

// actionParams are the params of an action notification.
type actionParams struct {
	Callsign string `json:"callsign"`
	Action   string `json:"action"`
	Reason   string `json:"reason"`
}

// action reads the next notification, checks it is "<id>.action" with
// exactly callsign, action and reason, and returns its params.
func (c *rpcClient) action(id string) actionParams {
	c.t.Helper()
	m := c.notification()
	if m.Method != id+".action" {
		c.t.Fatalf("notification %s, want method %s.action", m, id)
	}
	var p actionParams
	dec := json.NewDecoder(bytes.NewReader(m.Params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Callsign == "" || p.Action == "" {
		c.t.Fatalf("notification params %s: %v", m.Params, err)
	}
	return p
}

// expectClose reads until the connection ends and returns the close error.
func (c *rpcClient) expectClose() error {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(rpcWait))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			var netErr interface{ Timeout() bool }
			if errors.As(err, &netErr) && netErr.Timeout() {
				c.t.Fatalf("connection still open after %s", rpcWait)
			}
			return err
		}
	}
}

// wantRPCError checks that m is an error reply with code and, when id is
// not empty, that id.
func wantRPCError(t *testing.T, what string, m rpcMessage, code int, id string) {
	t.Helper()
	if m.Error == nil || m.Result != nil || m.Error.Code != code || m.Error.Message == "" {
		t.Fatalf("%s: got %s, want error %d", what, m, code)
	}
	if id != "" && string(m.ID) != id {
		t.Fatalf("%s: id %s, want %s", what, m.ID, id)
	}
}

// wantRPCResult checks that m is a success reply whose result is JSON-equal
// to want when want is not empty.
func wantRPCResult(t *testing.T, what string, m rpcMessage, want string) {
	t.Helper()
	if m.Error != nil || m.Result == nil {
		t.Fatalf("%s: got %s, want a result", what, m)
	}
	if want != "" && !rpcJSONEqual(t, m.Result, []byte(want)) {
		t.Fatalf("%s: result %s, want %s", what, m.Result, want)
	}
}

func rpcJSONEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// decodeEntries decodes a status result strictly into Monitor entries.
func decodeEntries(t *testing.T, raw json.RawMessage) []supervisor.Entry {
	t.Helper()
	var entries []supervisor.Entry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		t.Fatalf("status result %s: %v", raw, err)
	}
	return entries
}
