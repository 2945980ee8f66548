package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/automattic/jetmon-bridge/server"
)

// TestResyncedOverTheMonitorAndHTTP: the Monitor interface's resynced
// method and POST /journal/resynced carry the operator's word to the
// function they are given and answer its report; without one (no journal)
// the method says why, and params, which it takes none of, are refused.
func TestResyncedOverTheMonitorAndHTTP(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	call := func(body string) rpcMessage {
		return f.postRPC(server.JSONRPCPath, []byte(body))
	}
	wantRPCError(t, "resynced without a journal", call(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.resynced"}`), -31002, "1")

	calls := 0
	f.endpoint.ServeResynced(func(context.Context) any {
		calls++
		return map[string]any{"outcome": "released", "calls": calls}
	})
	wantRPCResult(t, "resynced", call(`{"jsonrpc":"2.0","id":2,"method":"Monitor.1.resynced"}`), `{"calls":1,"outcome":"released"}`)
	wantRPCResult(t, "resynced, bare on /jsonrpc/Monitor", f.postRPC(server.MonitorJSONRPCPath, []byte(`{"jsonrpc":"2.0","id":3,"method":"resynced","params":{}}`)), `{"calls":2,"outcome":"released"}`)
	wantRPCError(t, "resynced with params", call(`{"jsonrpc":"2.0","id":4,"method":"Monitor.1.resynced","params":{"force":true}}`), -32602, "4")
	if calls != 2 {
		t.Fatalf("%d calls, want 2", calls)
	}

	api := server.New(server.Config{})
	server.MountResynced(api.Router, func(context.Context) any { return map[string]any{"outcome": "held", "message": "rows differ"} })
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+server.ResyncedPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Outcome string `json:"outcome"`
	}
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if resp.StatusCode != 200 || rep.Outcome != "held" {
		t.Fatalf("POST %s: %d %+v", server.ResyncedPath, resp.StatusCode, rep)
	}
	if resp, err := http.Get(ts.URL + server.ResyncedPath); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET %s: %v %v, want 405", server.ResyncedPath, resp, err)
	}
}
