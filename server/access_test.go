package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/server"
	"github.com/gorilla/websocket"
)

// statusRequest is a JSON-RPC request every test below sends.
const statusRequest = `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@Replica"}`

// do sends one request to the fixture's server with the given headers.
func (f *rpcFixture) do(method, target string, header http.Header, body string) rpcHTTPResult {
	f.t.Helper()
	req, err := http.NewRequest(method, f.httpURL+target, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return rpcHTTPResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// dialWith opens a WebSocket on target (path and query) with exactly the
// given headers, as a browser or ThunderJS would.
func (f *rpcFixture) dialWith(target string, header http.Header) (*websocket.Conn, rpcHTTPResult, error) {
	f.t.Helper()
	dialer := websocket.Dialer{Subprotocols: []string{"notification"}, HandshakeTimeout: rpcWait}
	conn, resp, err := dialer.Dial(f.wsURL+target, header)
	var r rpcHTTPResult
	if resp != nil {
		r.status, r.header = resp.StatusCode, resp.Header
		r.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if conn != nil {
		f.t.Cleanup(func() { conn.Close() })
	}
	return conn, r, err
}

// wantRefusal checks a JSON error answer with status whose message holds
// every one of want.
func wantRefusal(t *testing.T, what string, r rpcHTTPResult, status int, want ...string) {
	t.Helper()
	var body struct{ Error string }
	if r.status != status || json.Unmarshal(r.body, &body) != nil || body.Error == "" {
		t.Fatalf("%s: HTTP %d %s, want %d with a JSON error", what, r.status, r.body, status)
	}
	for _, w := range want {
		if !strings.Contains(body.Error, w) {
			t.Fatalf("%s: error %q does not say %q", what, body.Error, w)
		}
	}
}

// wantStatusReply checks a 200 JSON-RPC reply with a result.
func wantStatusReply(t *testing.T, what string, r rpcHTTPResult) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s, want 200", what, r.status, r.body)
	}
	wantRPCResult(t, what, decodeRPCMessage(t, r.body), "")
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// TestTokenInQuery: on the JSON-RPC paths the token may come as ?token=,
// sent unencoded as ThunderJS does or encoded; the read API takes only the
// header; a token given twice must agree with itself.
func TestTokenInQuery(t *testing.T) {
	const token = "Tok+en/with=odd%chars"
	f := newRPCFixture(t, rpcFixtureOptions{token: token})
	encoded := url.QueryEscape(token)

	for _, target := range []string{
		"/jsonrpc?token=" + token,
		"/jsonrpc?token=" + encoded,
		"/jsonrpc?other=1&token=" + token,
		"/jsonrpc/Monitor?token=" + token,
	} {
		wantStatusReply(t, "POST "+target, f.do("POST", target, nil, statusRequest))
	}
	wantStatusReply(t, "header and query agree",
		f.do("POST", "/jsonrpc?token="+token, bearerHeader(token), statusRequest))

	refused := []struct {
		what, target string
		header       http.Header
		status       int
		says         string
	}{
		{"no token", "/jsonrpc", nil, 401, "unauthorized"},
		{"wrong query token", "/jsonrpc?token=wrong", nil, 401, "unauthorized"},
		{"query token cut short", "/jsonrpc?token=" + token[:len(token)-1], nil, 401, "unauthorized"},
		{"empty query token", "/jsonrpc?token=", nil, 401, "?token= is empty"},
		{"empty query token beside the header", "/jsonrpc?token=", bearerHeader(token), 401, "?token= is empty"},
		{"query token twice", "/jsonrpc?token=" + token + "&token=" + token, nil, 401, "more than once"},
		{"header right, query wrong", "/jsonrpc?token=wrong", bearerHeader(token), 401, "different tokens"},
		{"header wrong, query right", "/jsonrpc?token=" + token, bearerHeader("wrong"), 401, "different tokens"},
		{"both wrong", "/jsonrpc?token=wrong", bearerHeader("wrong"), 401, "unauthorized"},
		{"read API takes the header only", "/time?token=" + token, nil, 401, "unauthorized"},
		{"huge query", "/jsonrpc?pad=" + strings.Repeat("x", server.MaxJSONRPCQueryBytes) + "&token=" + token, nil, 414, "exceeds"},
	}
	for _, c := range refused {
		r := f.do("POST", c.target, c.header, statusRequest)
		wantRefusal(t, c.what, r, c.status, c.says)
		if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: 401 without WWW-Authenticate", c.what)
		}
		if bytes.Contains(r.body, []byte(token)) || bytes.Contains(r.body, []byte(encoded)) {
			t.Fatalf("%s: the answer repeats the token: %s", c.what, r.body)
		}
	}
	if r := f.do("GET", "/time", bearerHeader(token), ""); r.status != 200 {
		t.Fatalf("GET /time with the header: HTTP %d %s", r.status, r.body)
	}

	// WebSocket upgrades, with no header at all, as ThunderJS opens them.
	conn, r, err := f.dialWith("/jsonrpc?token="+token, nil)
	if err != nil {
		t.Fatalf("WebSocket with ?token=: %v (HTTP %d %s)", err, r.status, r.body)
	}
	ws := &rpcClient{t: t, conn: conn}
	wantRPCResult(t, "status over a ?token= WebSocket", ws.call("Monitor.1.status@Replica", nil), "")
	for _, c := range []struct {
		what, target string
		header       http.Header
	}{
		{"wrong query token", "/jsonrpc?token=wrong", nil},
		{"no token", "/jsonrpc", nil},
		{"empty query token", "/jsonrpc?token=", nil},
		{"header and query disagree", "/jsonrpc?token=" + token, bearerHeader("wrong")},
	} {
		if _, r, err := f.dialWith(c.target, c.header); err == nil || r.status != http.StatusUnauthorized {
			t.Fatalf("WebSocket with %s: HTTP %d %v, want 401", c.what, r.status, err)
		}
	}
}

// TestOriginPolicy: without a token, browsers may call from the bridge's
// own origin and the -allow-origin ones only; with a token, from anywhere.
func TestOriginPolicy(t *testing.T) {
	allowed, err := server.ParseAllowedOrigins(" http://Dash.Example:8080 ,null")
	if err != nil {
		t.Fatal(err)
	}
	f := newRPCFixture(t, rpcFixtureOptions{allowOrigins: allowed})
	own := f.httpURL

	for _, origin := range []string{own, "http://dash.example:8080", "HTTP://DASH.EXAMPLE:8080", "null"} {
		h := http.Header{"Origin": {origin}}
		r := f.do("POST", "/jsonrpc", h, statusRequest)
		wantStatusReply(t, "POST from "+origin, r)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Fatalf("POST from %s: Access-Control-Allow-Origin %q", origin, got)
		}
		if _, r, err := f.dialWith("/jsonrpc", h); err != nil {
			t.Fatalf("WebSocket from %s: %v (HTTP %d %s)", origin, err, r.status, r.body)
		}
	}
	if r := f.do("POST", "/jsonrpc", nil, statusRequest); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("a request without Origin got CORS headers")
	}
	for _, origin := range []string{"http://evil.example", "http://dash.example:8081", "https://dash.example:8080"} {
		h := http.Header{"Origin": {origin}}
		wantRefusal(t, "POST from "+origin, f.do("POST", "/jsonrpc", h, statusRequest), 403, server.AllowOriginFlag, origin)
		wantRefusal(t, "GET /time from "+origin, f.do("GET", "/time", h, ""), 403, server.AllowOriginFlag)
		_, r, err := f.dialWith("/jsonrpc", h)
		if err == nil {
			t.Fatalf("WebSocket from %s was accepted", origin)
		}
		wantRefusal(t, "WebSocket from "+origin, r, 403, server.AllowOriginFlag)
	}

	anyOrigin := newRPCFixture(t, rpcFixtureOptions{allowOrigins: []string{"*"}})
	wantStatusReply(t, "-allow-origin *", anyOrigin.do("POST", "/jsonrpc", http.Header{"Origin": {"http://evil.example"}}, statusRequest))

	// With a token, the token is the credential: any origin, with it.
	const token = "origin-token"
	withToken := newRPCFixture(t, rpcFixtureOptions{token: token})
	h := http.Header{"Origin": {"http://elsewhere.example"}}
	r := withToken.do("POST", "/jsonrpc", h, statusRequest)
	wantRefusal(t, "cross-origin without the token", r, 401, "unauthorized")
	if r.header.Get("Access-Control-Allow-Origin") != "http://elsewhere.example" {
		t.Fatal("a 401 to another origin lacks Access-Control-Allow-Origin: the page cannot read why it failed")
	}
	wantStatusReply(t, "cross-origin with ?token=", withToken.do("POST", "/jsonrpc?token="+token, h, statusRequest))
	if _, r, err := withToken.dialWith("/jsonrpc?token="+token, h); err != nil {
		t.Fatalf("cross-origin WebSocket with ?token=: %v (HTTP %d %s)", err, r.status, r.body)
	}
}

// TestCORSPreflight: preflights are answered without the token, for the
// JSON-RPC path and the read API, under the origin rule.
func TestCORSPreflight(t *testing.T) {
	preflight := func(origin string) http.Header {
		return http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"authorization,content-type"},
		}
	}
	withToken := newRPCFixture(t, rpcFixtureOptions{token: "preflight-token"})
	noToken := newRPCFixture(t, rpcFixtureOptions{allowOrigins: []string{"http://dash.example"}})
	for _, c := range []struct {
		f      *rpcFixture
		origin string
	}{{withToken, "http://anywhere.example"}, {noToken, "http://dash.example"}} {
		for _, path := range []string{"/jsonrpc", "/events", "/time", "/jsonrpc/Monitor"} {
			r := c.f.do("OPTIONS", path, preflight(c.origin), "")
			if r.status != http.StatusNoContent {
				t.Fatalf("preflight of %s from %s: HTTP %d %s", path, c.origin, r.status, r.body)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  c.origin,
				"Access-Control-Allow-Headers": "Authorization, Content-Type",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Fatalf("preflight of %s: %s %q, want %q", path, k, got, v)
				}
			}
			for _, m := range []string{"GET", "POST"} {
				if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), m) {
					t.Fatalf("preflight of %s: Access-Control-Allow-Methods %q lacks %s", path, r.header.Get("Access-Control-Allow-Methods"), m)
				}
			}
		}
	}
	wantRefusal(t, "preflight from an origin not allowed",
		noToken.do("OPTIONS", "/jsonrpc", preflight("http://evil.example"), ""), 403, server.AllowOriginFlag)
	// Without Origin an OPTIONS is no preflight: the route answers it.
	if r := noToken.do("OPTIONS", "/time", nil, ""); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("OPTIONS without Origin: HTTP %d", r.status)
	}
}

// rawExchange sends request as it is over a new connection and returns the
// answer: a client library would refuse to send some of the bytes tests
// need.
func rawExchange(t *testing.T, httpURL, request string) (int, []byte) {
	t.Helper()
	u, err := url.Parse(httpURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", request, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestAccessBadInput: tokens that disagree, an empty ?token=, a huge query
// string and Origin headers with odd bytes are each refused with a clear
// answer, and nothing the bridge logs, debug level included, holds the
// token.
func TestAccessBadInput(t *testing.T) {
	const token = "never-log-me-4f9c"
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newRPCFixture(t, rpcFixtureOptions{token: token, logger: logger})

	wantRefusal(t, "header and query disagree",
		f.do("POST", "/jsonrpc?token=other", bearerHeader(token), statusRequest), 401, "different tokens")
	wantRefusal(t, "empty ?token=", f.do("POST", "/jsonrpc?token=", nil, statusRequest), 401, "empty")
	huge := "/jsonrpc?token=" + token + "&pad=" + strings.Repeat("%ff", 40<<10)
	wantRefusal(t, "huge query", f.do("POST", huge, nil, statusRequest), 414, "exceeds")
	if _, r, err := f.dialWith(huge, nil); err == nil || r.status != http.StatusRequestURITooLong {
		t.Fatalf("WebSocket with a huge query: HTTP %d %v, want 414", r.status, err)
	}

	// Odd bytes in Origin, sent raw. Control bytes may be refused by
	// net/http itself (400); whatever reaches the bridge gets a JSON 403.
	odd := []string{
		"http://a\x01.example",
		"http://\xc3\xa9t\xc3\xa9.example",
		"http://a.example\x7f",
		"http://a.example/path",
		"http://user@a.example",
		"javascript:alert(1)",
		"http://a.example:port",
		"",
		strings.Repeat("h", 3000),
	}
	for _, origin := range odd {
		for _, target := range []string{"/jsonrpc?token=" + token, "/time"} {
			req := "POST " + target + " HTTP/1.1\r\nHost: x\r\nOrigin: " + origin + "\r\nAuthorization: Bearer " + token +
				"\r\nContent-Length: " + fmt.Sprint(len(statusRequest)) + "\r\nConnection: close\r\n\r\n" + statusRequest
			status, body := rawExchange(t, f.httpURL, req)
			switch status {
			case http.StatusForbidden:
				wantRefusal(t, fmt.Sprintf("Origin %q", origin), rpcHTTPResult{status: status, body: body}, 403, "not an origin")
			case http.StatusBadRequest: // net/http refuses control bytes in header values itself
			default:
				t.Fatalf("Origin %q on %s: HTTP %d %s, want 403", origin, target, status, body)
			}
		}
	}
	twoOrigins := "GET /time HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\nOrigin: http://b.example\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n"
	if status, body := rawExchange(t, f.httpURL, twoOrigins); status != http.StatusForbidden || !bytes.Contains(body, []byte("one Origin")) {
		t.Fatalf("two Origin headers: HTTP %d %s", status, body)
	}

	// A session that succeeds logs its connection (debug level): by path.
	conn, r, err := f.dialWith("/jsonrpc?token="+token, nil)
	if err != nil {
		t.Fatalf("dial: %v (HTTP %d %s)", err, r.status, r.body)
	}
	ws := &rpcClient{t: t, conn: conn}
	wantRPCResult(t, "register", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "client.Monitor.events"}), "null")
	conn.Close()
	rpcEventually(t, "the session's end logged", func() bool { return strings.Contains(logs.String(), "WebSocket finished") })

	out := logs.String()
	if !strings.Contains(out, "WebSocket connected") {
		t.Fatalf("the debug log did not record the session, so it proves nothing:\n%s", out)
	}
	if strings.Contains(out, token) || strings.Contains(out, "token=") {
		t.Fatalf("the log holds the token:\n%s", out)
	}
}
