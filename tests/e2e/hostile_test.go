package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/gorilla/websocket"
)

const hostileToken = "hostile-clients-token-5d1f"

// startBridgeWithToken runs the binary with a token file and waits until an
// authenticated /healthz answers 200 with the follower following.
func startBridgeWithToken(t *testing.T, token string, args ...string) *daemon {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return launch(t, token, append([]string{"-token-file", file}, args...)...)
}

// authGet sends GET path with a bearer token ("" sends none) on a fresh
// connection.
func authGet(d *daemon, path, token string) (*http.Response, []byte, error) {
	p := &bridgetest.Process{Addr: d.addr, Token: token,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	return p.Get(context.Background(), path)
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count the bridge's file descriptors: %v", err)
	}
	return len(entries)
}

// fdSlack allows for the database pools' connections, which come and go.
const fdSlack = 8

// waitFDs waits until the bridge holds at most baseline+fdSlack
// descriptors and returns the count.
func waitFDs(t *testing.T, d *daemon, baseline int, what string) int {
	t.Helper()
	pid := d.proc.Pid()
	var n int
	waitFor(t, what, 2*time.Minute, func() bool {
		n = openFDs(t, pid)
		return n <= baseline+fdSlack
	})
	return n
}

// checkAPI asserts that the API answers while hostile clients hold their
// connections, and lets nobody in without the token.
func checkAPI(t *testing.T, d *daemon, blog uint64) {
	t.Helper()
	now := time.Now().UTC()
	for _, path := range []string{
		"/time",
		"/healthz",
		fmt.Sprintf("/events?blog_id=%d&since=%s&until=%s", blog, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)),
	} {
		resp, body, err := authGet(d, path, hostileToken)
		if err != nil {
			t.Fatalf("GET %s with hostile clients connected: %v", path, err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s with hostile clients connected: %d %s", path, resp.StatusCode, body)
		}
		for _, bad := range []string{"", "wrong-" + hostileToken, hostileToken + "x"} {
			resp, body, err := authGet(d, path, bad)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 401 || !bytes.Contains(body, []byte(`"unauthorized"`)) {
				t.Fatalf("GET %s with token %q: %d %s", path, bad, resp.StatusCode, body)
			}
		}
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Journal"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/jsonrpc", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+hostileToken)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /jsonrpc with hostile clients connected: %v", err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(reply, []byte(`"observable":"Journal"`)) {
		t.Fatalf("POST /jsonrpc: %d %s", resp.StatusCode, reply)
	}
	// A WebSocket without the token is refused before the upgrade.
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	conn, wsResp, err := dialer.Dial("ws://"+d.addr+"/jsonrpc", nil)
	if err == nil {
		conn.Close()
		t.Fatal("a WebSocket without the token was let in")
	}
	if wsResp == nil || wsResp.StatusCode != 401 {
		t.Fatalf("WebSocket without the token: %v %v", wsResp, err)
	}
}

// hostileConn is one misbehaving client connection.
type hostileConn struct {
	kind    string
	conn    net.Conn
	pending []byte // bytes still to trickle
}

// TestHostileClients holds 1,000 idle and slowloris connections open
// against the real binary: the API must keep answering, the server must
// shed each of them by itself, and no file descriptor may leak.
func TestHostileClients(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 9000, 3)
	d := startBridgeWithToken(t, hostileToken, "-dsn", db.DSN(), "-journal", filepath.Join(t.TempDir(), "bridge.journal"))
	pid := d.proc.Pid()
	checkAPI(t, d, sites[0].BlogID) // warm the pools before counting
	// Headers beyond MaxHeaderBytes, and a JSON-RPC body beyond its limit,
	// are refused without being read to the end.
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/time", nil)
	req.Header.Set("Authorization", "Bearer "+hostileToken)
	req.Header.Set("X-Big", strings.Repeat("h", 64<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest(http.MethodPost, "http://"+d.addr+"/jsonrpc", bytes.NewReader(bytes.Repeat([]byte(" "), 100<<10)))
	req.Header.Set("Authorization", "Bearer "+hostileToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 100 KiB JSON-RPC body: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	baseline := openFDs(t, pid)

	var conns []*hostileConn
	dial := func(kind string, first, rest string) {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatalf("dial %s connection %d: %v", kind, len(conns), err)
		}
		if first != "" {
			if _, err := io.WriteString(c, first); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, &hostileConn{kind: kind, conn: c, pending: []byte(rest)})
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.conn.Close()
		}
	})
	request := "GET /time HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + hostileToken + "\r\n" +
		strings.Repeat("X-Slow: trickled one byte at a time\r\n", 40) + "\r\n"
	post := func(auth string) string {
		return "POST /jsonrpc HTTP/1.1\r\nHost: bridge\r\n" + auth + "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"jsonrpc\":\"2.0\","
	}
	for i := 0; i < 300; i++ {
		dial("idle", "", "")
	}
	for i := 0; i < 350; i++ {
		dial("slow-headers", request[:1], request[1:])
	}
	for i := 0; i < 150; i++ {
		dial("unfinished-body", post("Authorization: Bearer "+hostileToken+"\r\n"), `"id":1,"method":"Monitor.1.status"`)
	}
	for i := 0; i < 150; i++ {
		dial("unfinished-body-no-token", post(""), `"id":1`)
	}
	// Keep-alive connections that made one request and went idle.
	for i := 0; i < 50; i++ {
		dial("idle-keepalive", "GET /time HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer "+hostileToken+"\r\n\r\n", "")
	}
	if len(conns) != 1000 {
		t.Fatalf("%d hostile connections", len(conns))
	}

	// Trickle one byte per connection per round until each is spent or
	// the server has dropped it.
	stop := make(chan struct{})
	var trickled sync.WaitGroup
	trickled.Add(1)
	go func() {
		defer trickled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, c := range conns {
				if len(c.pending) == 0 {
					continue
				}
				c.conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.conn.Write(c.pending[:1]); err != nil {
					c.pending = nil
					continue
				}
				c.pending = c.pending[1:]
			}
		}
	}()
	peak := openFDs(t, pid)
	for round := 0; round < 3; round++ {
		checkAPI(t, d, sites[0].BlogID)
		if n := openFDs(t, pid); n > peak {
			peak = n
		}
		time.Sleep(time.Second)
	}
	t.Logf("file descriptors: %d before, %d with 1,000 hostile connections", baseline, peak)
	if peak < baseline+900 {
		t.Errorf("the bridge holds %d descriptors with 1,000 connections open (baseline %d): were they accepted?", peak, baseline)
	}

	// The server sheds every connection that never completes a request by
	// itself (header and read timeouts), however slowly it trickles.
	var shed sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		if c.kind == "idle-keepalive" {
			continue
		}
		shed.Add(1)
		go func(c *hostileConn) {
			defer shed.Done()
			c.conn.SetReadDeadline(time.Now().Add(3 * time.Minute))
			_, err := io.Copy(io.Discard, c.conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("%s connection still open after 3 minutes", c.kind)
			}
		}(c)
	}
	shed.Wait()
	close(stop)
	trickled.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkAPI(t, d, sites[0].BlogID)
	for _, c := range conns {
		c.conn.Close()
	}
	after := waitFDs(t, d, baseline, "the bridge's descriptors to return to the baseline")
	t.Logf("file descriptors: %d after every hostile connection ended", after)
	d.stop()
}

// TestSlowReaderIsCutOff pipelines requests on one connection and never
// reads a byte of the responses: the server's writes block, and the
// per-request write deadline must free the connection while the client
// still holds it open.
func TestSlowReaderIsCutOff(t *testing.T) {
	db := testdb.NewDB(t)
	d := startBridgeWithToken(t, hostileToken, "-dsn", db.DSN(), "-journal", filepath.Join(t.TempDir(), "bridge.journal"), "-read-timeout", "1s")
	pid := d.proc.Pid()
	authGet(d, "/healthz", hostileToken)
	baseline := openFDs(t, pid)

	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return serr
	}}
	conn, err := dialer.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	one := []byte("GET /metrics HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer " + hostileToken + "\r\n\r\n")
	go func() {
		// Far more response bytes than the socket buffers hold; the
		// writes block once the server stops reading, and fail once it
		// has given up on the connection.
		for i := 0; i < 200000; i++ {
			conn.SetWriteDeadline(time.Now().Add(3 * time.Minute))
			if _, err := conn.Write(one); err != nil {
				return
			}
		}
	}()
	// The server's end of the connection, found by its inode.
	var inode string
	waitFor(t, "the slow reader's connection to be accepted", time.Minute, func() bool {
		inode = serverSocketInode(t, d.addr, conn.LocalAddr().String())
		return inode != "" && holdsSocket(pid, inode)
	})
	// Let the server block on its writes, then check the API answers
	// others meanwhile.
	time.Sleep(2 * time.Second)
	if resp, body, err := authGet(d, "/time", hostileToken); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/time beside a slow reader: %v %v %s", err, resp, body)
	}
	if !holdsSocket(pid, inode) {
		t.Fatal("the server let go of the slow reader before its writes could block: the test proves nothing")
	}
	waitFor(t, "the server to give up on the slow reader", 3*time.Minute, func() bool { return !holdsSocket(pid, inode) })
	t.Logf("file descriptors: %d before, %d once the server gave up on the slow reader (the client still holds its end)", baseline, openFDs(t, pid))
	d.stop()
}

// serverSocketInode finds, in /proc/net/tcp, the inode of the socket whose
// local address is server and remote address is client ("" when none).
func serverSocketInode(t *testing.T, server, client string) string {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local, remote := procNetAddr(t, server), procNetAddr(t, client)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[2] == remote {
			return f[9]
		}
	}
	return ""
}

// procNetAddr writes 127.0.0.1:port as /proc/net/tcp does: 0100007F:1F40.
func procNetAddr(t *testing.T, addr string) string {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		t.Fatalf("address %q: %v", addr, err)
	}
	ip := ap.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
}

// holdsSocket reports whether the process has a descriptor on the socket.
func holdsSocket(pid int, inode string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == want {
			return true
		}
	}
	return false
}

// TestWebSocketOversizedFramesRefused sends the real binary a WebSocket
// message over the 64 KiB JSON-RPC limit, and a frame whose header claims
// a terabyte: each connection is closed with 1009 (message too big) without
// the server reading or buffering the payload, and the bridge keeps
// serving others.
func TestWebSocketOversizedFramesRefused(t *testing.T) {
	db := testdb.NewDB(t)
	d := startBridgeWithToken(t, hostileToken, "-dsn", db.DSN(), "-journal", filepath.Join(t.TempDir(), "bridge.journal"))
	dial := func() *websocket.Conn {
		dialer := websocket.Dialer{Subprotocols: []string{"json"}, HandshakeTimeout: 30 * time.Second}
		conn, _, err := dialer.Dial("ws://"+d.addr+"/jsonrpc", http.Header{"Authorization": {"Bearer " + hostileToken}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	wantClose1009 := func(conn *websocket.Conn, what string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		for {
			_, _, err := conn.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Fatalf("%s: connection ended with %v, want close 1009", what, err)
			}
			return
		}
	}

	// One byte over the limit, in one message.
	big := dial()
	msg := append([]byte(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status","params":"`), bytes.Repeat([]byte("x"), 64<<10)...)
	msg = append(msg, `"}`...)
	if err := big.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	wantClose1009(big, "a 64 KiB+ message")

	// A frame header that claims 2^40 bytes; no payload follows.
	liar := dial()
	header := []byte{0x81, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4} // FIN text, masked, 64-bit length 2^40, mask key
	if _, err := liar.UnderlyingConn().Write(header); err != nil {
		t.Fatal(err)
	}
	wantClose1009(liar, "a frame claiming 2^40 bytes")

	// Many small fragments that add up to more than the limit.
	frag := dial()
	w, err := frag.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte(" "), 4<<10)
	for i := 0; i < 20; i++ {
		if _, err := w.Write(chunk); err != nil {
			break // the server may close before all is sent
		}
	}
	w.Close()
	wantClose1009(frag, "fragments adding up to 80 KiB")

	// Others are still served, over WebSocket and HTTP.
	ok := dial()
	if err := ok.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":7,"method":"Monitor.1.status@Journal"}`)); err != nil {
		t.Fatal(err)
	}
	ok.SetReadDeadline(time.Now().Add(time.Minute))
	_, reply, err := ok.ReadMessage()
	if err != nil || !bytes.Contains(reply, []byte(`"id":7`)) || !bytes.Contains(reply, []byte(`"observable":"Journal"`)) {
		t.Fatalf("a well-behaved WebSocket client after the oversized ones: %s %v", reply, err)
	}
	if resp, body, err := authGet(d, "/healthz", hostileToken); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz after oversized frames: %v %v %s", err, resp, body)
	}
	if n := strings.Count(d.log.String(), "WebSocket message too large"); n != 3 {
		t.Errorf("the bridge logged %d oversized messages, want 3:\n%s", n, d.log)
	}
	d.stop()
}
