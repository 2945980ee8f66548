package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/openapitest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestResponsesMatchOpenAPI sends every operation of docs/openapi.yaml to
// the real binary following a real MariaDB, in write mode with a token,
// successes and errors alike (400, 401, 403, 404, 405, 413, 414), and to a
// second bridge in read-only mode without a token; each answer must be one
// the document lists for its operation, with the headers and body it
// describes. Requests the document has no operation for must answer 404 or
// 405 with its Error body.
func TestResponsesMatchOpenAPI(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 28000, 3)
	dir := t.TempDir()
	const token = "openapi-token-5f2a"
	tokenFile := filepath.Join(dir, "token")
	writeToken(t, tokenFile, token)
	d := launch(t, token, "-dsn", db.DSN(), "-write", "-write-dsn", db.DSN(), "-token-file", tokenFile,
		"-journal", filepath.Join(dir, "bridge.journal"))
	since := coveredFrom()
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=NOW() WHERE blog_id=?", sites[0].BlogID)
	d.proc.Token = token
	waitFor(t, "the transition to be journaled", time.Minute, func() bool {
		events, coverage := d.events(sites[0].BlogID, since, time.Now().Add(time.Hour))
		return coverage == "journal" && len(events) == 1
	})
	readOnly := launch(t, "", "-dsn", db.DSN(), "-journal", "")

	doc, err := openapitest.Load("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := openapitest.NewValidator(doc, "http://"+d.addr)
	if err != nil {
		t.Fatal(err)
	}
	vReadOnly, err := openapitest.NewValidator(doc, "http://"+readOnly.addr)
	if err != nil {
		t.Fatal(err)
	}

	auth := http.Header{"Authorization": {"Bearer " + token}}
	jsonAuth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	window := url.Values{"since": {since.Format(time.RFC3339)}, "until": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)}}
	events := url.Values{"blog_id": {fmt.Sprint(sites[0].BlogID)}, "since": window["since"], "until": window["until"]}
	timeline := url.Values{"blog_id": {fmt.Sprintf("%d,%d", sites[0].BlogID, sites[1].BlogID)}, "since": window["since"], "until": window["until"]}
	rpc := func(body string) string { return body }
	for _, c := range []struct {
		name   string
		v      *openapitest.Validator
		method string
		target string // path and query
		header http.Header
		body   string
		want   int
	}{
		{"time", v, "GET", "/time", auth, "", 200},
		{"no token", v, "GET", "/time", nil, "", 401},
		{"a wrong token", v, "GET", "/events?" + events.Encode(), http.Header{"Authorization": {"Bearer nope"}}, "", 401},
		{"a monitor", v, "GET", "/monitors?url=" + url.QueryEscape(sites[1].URL), auth, "", 200},
		{"a monitor without url", v, "GET", "/monitors", auth, "", 400},
		{"no such monitor", v, "GET", "/monitors?url=" + url.QueryEscape("https://none.example.com"), auth, "", 404},
		{"create a monitor", v, "POST", "/monitors", jsonAuth, `{"url":"https://openapi.example.com/"}`, 201},
		{"an active monitor", v, "POST", "/monitors", jsonAuth, `{"url":"https://openapi.example.com/"}`, 200},
		{"a body with an unknown field", v, "POST", "/monitors", jsonAuth, `{"url":"https://x.example.com/","x":1}`, 400},
		{"deactivate", v, "DELETE", "/monitors?url=" + url.QueryEscape("https://openapi.example.com/"), auth, "", 204},
		{"deactivate an unknown URL", v, "DELETE", "/monitors?url=" + url.QueryEscape("https://never.example.com/"), auth, "", 404},
		{"events", v, "GET", "/events?" + events.Encode(), auth, "", 200},
		{"events of a quiet blog", v, "GET", "/events?" + withBlog(events, sites[2].BlogID), auth, "", 200},
		{"events with blog_id 0", v, "GET", "/events?" + withBlog(events, 0), auth, "", 400},
		{"events with since after until", v, "GET", "/events?blog_id=1&since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", auth, "", 400},
		{"a timeline", v, "GET", "/events/timeline.svg?" + timeline.Encode(), auth, "", 200},
		{"a timeline without blog_id", v, "GET", "/events/timeline.svg?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z", auth, "", 400},
		{"healthz", v, "GET", "/healthz", auth, "", 200},
		{"health", v, "GET", "/health", auth, "", 200},
		{"metrics", v, "GET", "/metrics", auth, "", 200},
		{"metrics without the token", v, "GET", "/metrics", nil, "", 401},
		{"a snapshot", v, "GET", "/journal/snapshot", auth, "", 200},
		{"a reconcile", v, "POST", "/journal/reconcile", auth, "", 200},
		{"a reconcile without the token", v, "POST", "/journal/reconcile", nil, "", 401},
		{"a reconcile over JSON-RPC", v, "POST", "/jsonrpc", jsonAuth, rpc(`{"jsonrpc":"2.0","id":3,"method":"Monitor.1.reconcile"}`), 200},
		{"a reconcile on a bridge without a journal", vReadOnly, "POST", "/journal/reconcile", nil, "", 404},
		{"a JSON-RPC call", v, "POST", "/jsonrpc", jsonAuth, rpc(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status@BinlogFollower"}`), 200},
		{"a JSON-RPC error", v, "POST", "/jsonrpc", jsonAuth, rpc(`{"jsonrpc":"2.0","id":"x","method":"Monitor.1.nosuch"}`), 200},
		{"a JSON-RPC parse error", v, "POST", "/jsonrpc", jsonAuth, rpc(`{"jsonrpc":`), 200},
		{"a JSON-RPC notification", v, "POST", "/jsonrpc", jsonAuth, rpc(`{"jsonrpc":"2.0","method":"Monitor.1.status"}`), 204},
		{"a bare method on /jsonrpc/Monitor", v, "POST", "/jsonrpc/Monitor?token=" + token, http.Header{"Content-Type": {"application/json"}},
			rpc(`{"jsonrpc":"2.0","id":2,"method":"status","params":{"callsign":"Replica"}}`), 200},
		{"a JSON-RPC call too large", v, "POST", "/jsonrpc", jsonAuth, `{"jsonrpc":"2.0","id":1,"method":"` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"a JSON-RPC query string too long", v, "POST", "/jsonrpc?token=" + strings.Repeat("t", 9<<10), jsonAuth, "{}", 414},
		{"a GET on /jsonrpc that does not upgrade", v, "GET", "/jsonrpc", auth, "", 405},
		{"a WebSocket upgrade", v, "GET", "/jsonrpc?token=" + token, http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"},
			"Sec-WebSocket-Version": {"13"}, "Sec-WebSocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-WebSocket-Protocol": {"notification"}}, "", 101},
		{"a WebSocket upgrade without its key", v, "GET", "/jsonrpc/Monitor?token=" + token, http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"},
			"Sec-WebSocket-Version": {"13"}}, "", 400},
		{"write mode is off", vReadOnly, "POST", "/monitors", http.Header{"Content-Type": {"application/json"}}, `{"url":"https://x.example.com/"}`, 405},
		{"write mode is off (DELETE)", vReadOnly, "DELETE", "/monitors?url=x", nil, "", 405},
		{"a page of another origin", vReadOnly, "GET", "/time", http.Header{"Origin": {"https://elsewhere.example.com"}}, "", 403},
		{"a read-only bridge's health", vReadOnly, "GET", "/healthz", nil, "", 200},
		// No operation: 404 or 405 with the Error body.
		{"no such path", v, "GET", "/nope", auth, "", 404},
		{"no such method", v, "POST", "/time", auth, "", 405},
		{"no such method on /events", v, "DELETE", "/events?" + events.Encode(), auth, "", 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := "http://" + d.addr
			if c.v == vReadOnly {
				base = "http://" + readOnly.addr
			}
			req, err := http.NewRequest(c.method, base+c.target, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range c.header {
				req.Header[k] = vs
			}
			resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if resp.StatusCode != http.StatusSwitchingProtocols { // a WebSocket has no end to read to
				body, _ = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("answered %d, want %d: %s", resp.StatusCode, c.want, clipBody(body))
			}
			check, _ := http.NewRequest(c.method, base+c.target, nil)
			check.Header = req.Header
			if c.v.Undocumented(check) {
				if c.want != 404 && c.want != 405 {
					t.Fatalf("docs/openapi.yaml has no operation for %s %s", c.method, req.URL.Path)
				}
				if err := c.v.CheckError(body); err != nil {
					t.Fatalf("the %d body %s is not the Error schema: %v", c.want, clipBody(body), err)
				}
				return
			}
			if err := c.v.Check(check, resp.StatusCode, resp.Header, body); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func withBlog(q url.Values, blog uint64) string {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	out.Set("blog_id", fmt.Sprint(blog))
	return out.Encode()
}

func clipBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
