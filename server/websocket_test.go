package server_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/gorilla/websocket"
)

func TestWebSocketEchoesFirstSubprotocol(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	for _, c := range []struct {
		asked []string
		want  string
	}{
		{[]string{"notification"}, "notification"},
		{[]string{"json"}, "json"},
		{[]string{"json", "notification"}, "json"},
		{[]string{"notification", "json"}, "notification"},
		{nil, ""},
	} {
		ws := f.dial(server.JSONRPCPath, c.asked...)
		if got := ws.conn.Subprotocol(); got != c.want {
			t.Fatalf("asked for %v, got subprotocol %q, want %q", c.asked, got, c.want)
		}
		wantRPCResult(t, "status", ws.call("Monitor.1.status@Nope", nil), `[]`)
		ws.conn.Close()
	}
}

func TestJSONRPCOverWebSocket(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	clients := map[string]*rpcClient{
		server.JSONRPCPath:        f.dial(server.JSONRPCPath, "json"),
		server.MonitorJSONRPCPath: f.dial(server.MonitorJSONRPCPath, "notification"),
	}
	// Every case on one connection per path: an error never ends it.
	for _, c := range rpcCases() {
		path := c.path
		if path == "" {
			path = server.JSONRPCPath
		}
		checkRPCCase(t, f, c, clients[path].roundTrip([]byte(c.body)))
	}
	// Binary frames carry JSON-RPC too; the reply is text.
	ws := clients[server.JSONRPCPath]
	if err := ws.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"jsonrpc":"2.0","id":"bin","method":"Monitor.1.status@Nope"}`)); err != nil {
		t.Fatal(err)
	}
	ws.conn.SetReadDeadline(time.Now().Add(rpcWait))
	kind, raw, err := ws.conn.ReadMessage()
	if err != nil || kind != websocket.TextMessage {
		t.Fatalf("reply to a binary frame: kind %d, %v", kind, err)
	}
	wantRPCResult(t, "binary frame", decodeRPCMessage(t, raw), `[]`)
}

func TestWebSocketRequestWithoutIDGetsNoReply(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "json")
	ws.writeRaw([]byte(`{"jsonrpc":"2.0","method":"Monitor.1.restartlimits","params":{"callsign":"Replica","restart":{"limit":4,"window":40}}}`))
	ws.writeRaw([]byte(`{"jsonrpc":"2.0","method":"Monitor.1.reboot"}`))
	// The next message is the reply to this call: the two above got none.
	entries := decodeEntries(t, ws.call("Monitor.1.status@Replica", nil).Result)
	if entries[0].Restart != (supervisor.Limits{Limit: 4, Window: 40}) {
		t.Fatalf("restartlimits without id did not run: %+v", entries[0].Restart)
	}
}

func TestWebSocketRegistration(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "notification")
	other := f.dial(server.JSONRPCPath, "notification") // never registers

	wantRPCResult(t, "register", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "ops"}), `null`)
	wantRPCError(t, "duplicate registration", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "ops"}), wantFailedRegistration, "")
	wantRPCError(t, "unregister unknown id", ws.call("Monitor.1.unregister", map[string]string{"event": "action", "id": "nobody"}), wantFailedUnregister, "")
	// An id registered on another connection is that connection's own.
	wantRPCResult(t, "same id elsewhere", other.call("Monitor.register", map[string]string{"event": "action", "id": "elsewhere"}), `null`)
	wantRPCResult(t, "unregister elsewhere", other.call("Monitor.unregister", map[string]string{"event": "action", "id": "elsewhere"}), `null`)

	f.replica.fail <- errors.New("replica connection lost: EOF")
	want := []actionParams{
		{Callsign: "Replica", Action: "Deactivate", Reason: "replica connection lost: EOF"},
		{Callsign: "Replica", Action: "Activate", Reason: "service is back in operation after: replica connection lost: EOF"},
	}
	for _, w := range want {
		if got := ws.action("ops"); got != w {
			t.Fatalf("notification %+v, want %+v", got, w)
		}
	}
	// The connection that is not registered got nothing: its next message is
	// the reply to its own call, since notifications are queued at once.
	wantRPCResult(t, "unregistered client", other.call("Monitor.1.status@Nope", nil), `[]`)

	// After unregister, ops gets nothing more; a second id on the same
	// connection shows the order.
	wantRPCResult(t, "unregister", ws.call("Monitor.1.unregister", map[string]string{"event": "action", "id": "ops"}), `null`)
	wantRPCError(t, "unregister twice", ws.call("Monitor.1.unregister", map[string]string{"event": "action", "id": "ops"}), wantFailedUnregister, "")
	wantRPCResult(t, "register another id", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "client.Monitor.events"}), `null`)
	f.journal.fail <- errors.New("bbolt: file is locked")
	if got := ws.action("client.Monitor.events"); got.Callsign != "Journal" || got.Action != "Deactivate" || got.Reason != "bbolt: file is locked" {
		t.Fatalf("got %+v", got)
	}
	if got := ws.action("client.Monitor.events"); got.Callsign != "Journal" || got.Action != "Activate" {
		t.Fatalf("got %+v", got)
	}
	wantRPCResult(t, "nothing for ops", ws.call("Monitor.1.status@Nope", nil), `[]`)
}

func TestWebSocketRegistrationsEndWithTheConnection(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "notification")
	wantRPCResult(t, "register", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "gone"}), `null`)
	ws.conn.Close()
	// Notifications to the closed connection must not disturb anyone else.
	live := f.dial(server.JSONRPCPath, "notification")
	wantRPCResult(t, "register", live.call("Monitor.1.register", map[string]string{"event": "action", "id": "live"}), `null`)
	for i := range 3 {
		f.replica.fail <- fmt.Errorf("failure %d", i)
		if got := live.action("live"); got.Action != "Deactivate" || got.Reason != fmt.Sprintf("failure %d", i) {
			t.Fatalf("got %+v", got)
		}
		if got := live.action("live"); got.Action != "Activate" {
			t.Fatalf("got %+v", got)
		}
	}
}

func TestWebSocketGarbageMessages(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "json")
	garbage := [][]byte{
		[]byte("\x00\x01\x02\xff\xfe"),
		[]byte("}{"),
		[]byte(strings.Repeat("[", 1000)),
		[]byte(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status"`),
		{},
	}
	for _, g := range garbage {
		wantRPCError(t, fmt.Sprintf("garbage %q", g), ws.roundTrip(g), wantParseError, "null")
	}
	wantRPCResult(t, "after garbage", ws.call("Monitor.1.status@Nope", nil), `[]`)
}

func TestWebSocketOversizedMessage(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "json")
	request := `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Nope"}`
	atLimit := request + strings.Repeat(" ", server.MaxJSONRPCMessageBytes-len(request))
	wantRPCResult(t, "message of exactly the limit", ws.roundTrip([]byte(atLimit)), `[]`)

	ws.writeRaw([]byte(atLimit + " "))
	err := ws.expectClose()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversized message: connection ended with %v, want close 1009", err)
	}
	// A huge frame is refused from its header, before its payload is read.
	huge := f.dial(server.JSONRPCPath, "json")
	w, err := huge.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 16 {
		if _, err := w.Write(chunk); err != nil {
			break // the server closed the connection mid-message
		}
	}
	w.Close()
	if err := huge.expectClose(); err == nil {
		t.Fatal("16 MiB message: connection still open")
	}
	// The server is healthy.
	wantRPCResult(t, "new connection", f.dial(server.JSONRPCPath, "json").call("Monitor.1.status@Nope", nil), `[]`)
	wantRPCResult(t, "HTTP", f.postRPC(server.JSONRPCPath, []byte(request)), `[]`)
}

// rawUpgrade opens a TCP connection and performs the WebSocket handshake by
// hand, so that the test can then send bytes no WebSocket library would.
func rawUpgrade(t *testing.T, f *rpcFixture) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimPrefix(f.httpURL, "http://")
	conn, err := net.DialTimeout("tcp", addr, rpcWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: notification\r\n\r\n",
		server.JSONRPCPath, addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(rpcWait))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "notification" {
		t.Fatalf("subprotocol %q", got)
	}
	return conn, br
}

func TestWebSocketGarbageFrames(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	for name, frame := range map[string][]byte{
		// Clients must mask their frames.
		"unmasked frame": {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'},
		// Opcode 0x3 is reserved.
		"reserved opcode": {0x83, 0x80, 1, 2, 3, 4},
		// RSV bits without a negotiated extension.
		"reserved bits": {0xF1, 0x80, 1, 2, 3, 4},
		// A control frame may not be fragmented.
		"fragmented ping": {0x09, 0x80, 1, 2, 3, 4},
		// Random bytes.
		"noise": []byte("GET / HTTP/1.1\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
	} {
		conn, br := rawUpgrade(t, f)
		if _, err := conn.Write(frame); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The server answers with a close frame or just hangs up; either
		// way the connection ends.
		conn.SetReadDeadline(time.Now().Add(rpcWait))
		if _, err := io.Copy(io.Discard, br); err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				t.Fatalf("%s: the server kept the connection open", name)
			}
		}
		conn.Close()
	}
	wantRPCResult(t, "after garbage frames", f.dial(server.JSONRPCPath).call("Monitor.1.status@Nope", nil), `[]`)
}

func TestWebSocketClosedWithEndpoint(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	ws := f.dial(server.JSONRPCPath, "notification")
	wantRPCResult(t, "register", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "x"}), `null`)
	done := make(chan struct{})
	go func() { f.endpoint.Close(); close(done) }()
	if err := ws.expectClose(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("connection ended with %v, want close 1001", err)
	}
	select {
	case <-done:
	case <-time.After(rpcWait):
		t.Fatal("Close did not return")
	}
	if _, resp, err := f.dialRaw(server.JSONRPCPath, ""); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Close: %v, want 503", err)
	}
	wantRPCResult(t, "HTTP after Close", f.postRPC(server.JSONRPCPath, []byte(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Nope"}`)), `[]`)
	// Failures after Close reach no closed connection.
	f.replica.fail <- errors.New("after close")
	rpcEventually(t, "Replica back", func() bool { return f.replica.runs.Load() == 2 && f.sup.Operational("Replica") })
}

func TestWebSocketConcurrentClientsGetOnlyTheirOwnNotifications(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	const clients, failures = 100, 10
	type registered struct {
		conn *websocket.Conn
		id   string
	}
	ready := make(chan registered, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, _, err := f.dialRaw(server.JSONRPCPath, "", "notification")
			if err != nil {
				errs <- fmt.Errorf("client %d: dial: %w", i, err)
				return
			}
			id := fmt.Sprintf("client-%d", i)
			conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "Monitor.1.register",
				"params": map[string]string{"event": "action", "id": id}})
			conn.SetReadDeadline(time.Now().Add(rpcWait))
			var reply rpcMessage
			if err := conn.ReadJSON(&reply); err != nil || reply.Error != nil || string(reply.Result) != "null" {
				errs <- fmt.Errorf("client %d: register: %v %+v", i, err, reply)
				conn.Close()
				return
			}
			ready <- registered{conn, id}
		}()
	}
	wg.Wait()
	close(errs)
	close(ready)
	var all []registered
	for c := range ready {
		t.Cleanup(func() { c.conn.Close() })
		all = append(all, c)
	}
	for err := range errs {
		t.Fatal(err)
	}

	// The burst: every failure is a Deactivate and, once restarted, an
	// Activate; sending the next failure waits for the restart.
	if err := f.sup.SetLimits("Replica", supervisor.Limits{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for k := range failures {
			select {
			case f.replica.fail <- fmt.Errorf("burst %d", k):
			case <-time.After(rpcWait):
				return
			}
		}
	}()

	problems := make(chan string, clients)
	var check sync.WaitGroup
	for _, c := range all {
		check.Add(1)
		go func() {
			defer check.Done()
			for k := 0; k < 2*failures; k++ {
				c.conn.SetReadDeadline(time.Now().Add(rpcWait))
				var m rpcMessage
				if err := c.conn.ReadJSON(&m); err != nil {
					problems <- fmt.Sprintf("%s: notification %d: %v", c.id, k, err)
					return
				}
				var p actionParams
				jsonErr := jsonUnmarshalStrict(m.Params, &p)
				wantAction := "Activate"
				if k%2 == 0 {
					wantAction = "Deactivate"
				}
				wantReason := fmt.Sprintf("burst %d", k/2)
				if jsonErr != nil || m.ID != nil || m.Method != c.id+".action" || p.Callsign != "Replica" ||
					p.Action != wantAction || !strings.HasSuffix(p.Reason, wantReason) {
					problems <- fmt.Sprintf("%s: notification %d: method %q params %s (%v), want %s.action %s %q",
						c.id, k, m.Method, m.Params, jsonErr, c.id, wantAction, wantReason)
					return
				}
			}
			// Nothing else is queued for this client: its next message is
			// the reply to its own request.
			c.conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "Monitor.1.status@Nope"})
			c.conn.SetReadDeadline(time.Now().Add(rpcWait))
			var m rpcMessage
			if err := c.conn.ReadJSON(&m); err != nil || string(m.ID) != "2" || string(m.Result) != "[]" {
				problems <- fmt.Sprintf("%s: after its notifications got %+v, %v", c.id, m, err)
			}
		}()
	}
	check.Wait()
	close(problems)
	for p := range problems {
		t.Error(p)
	}
}

// jsonUnmarshalStrict decodes raw into v, refusing unknown fields.
func jsonUnmarshalStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
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

func TestWebSocketSlowClientIsDisconnected(t *testing.T) {
	var log syncBuffer
	f := newRPCFixture(t, rpcFixtureOptions{logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err := f.sup.SetLimits("Replica", supervisor.Limits{}); err != nil {
		t.Fatal(err)
	}
	slow := f.dial(server.JSONRPCPath, "notification")
	wantRPCResult(t, "register", slow.call("Monitor.1.register", map[string]string{"event": "action", "id": "slow"}), `null`)

	// The client stops reading. Large notifications fill the socket buffers
	// and then the server's queue; the supervisor must never wait for the
	// client, so the failures keep coming until the server gives up on it.
	padding := strings.Repeat("x", 32<<10)
	const maxFailures = 5000
	gaveUp := func() bool { return strings.Contains(log.String(), "does not read its notifications") }
	failures := 0
	for ; failures < maxFailures && !gaveUp(); failures++ {
		select {
		case f.replica.fail <- fmt.Errorf("failure %d %s", failures, padding):
		case <-time.After(rpcWait):
			t.Fatalf("the supervisor stalled after %d failures: a slow client blocks it", failures)
		}
	}
	if !gaveUp() {
		t.Fatalf("%d failures and the slow client is still connected", failures)
	}
	// The client finds every notification it was sent, then close 1008.
	var got int
	for {
		slow.conn.SetReadDeadline(time.Now().Add(rpcWait))
		_, raw, err := slow.conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("after %d notifications the connection ended with %v, want close 1008", got, err)
			}
			break
		}
		if m := decodeRPCMessage(t, raw); m.Method != "slow.action" {
			t.Fatalf("unexpected %s", m.Method)
		}
		got++
	}
	t.Logf("%d failures sent, %d notifications received before the server gave up", failures, got)
	wantRPCResult(t, "server healthy", f.dial(server.JSONRPCPath).call("Monitor.1.status@Nope", nil), `[]`)
}
