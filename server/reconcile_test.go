package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/automattic/jetmon-bridge/server"
)

// TestReconcileOverTheMonitorAndHTTP: the Monitor interface's reconcile
// method and POST /journal/reconcile run the reconcile they are given and
// answer its report; without one (no journal) the method says why, and
// params, which it takes none of, are refused.
func TestReconcileOverTheMonitorAndHTTP(t *testing.T) {
	f := newRPCFixture(t, rpcFixtureOptions{})
	call := func(body string) rpcMessage {
		return f.postRPC(server.JSONRPCPath, []byte(body))
	}
	wantRPCError(t, "reconcile without a journal", call(`{"jsonrpc":"2.0","id":1,"method":"Monitor.1.reconcile"}`), -31002, "1")

	runs := 0
	f.endpoint.ServeReconcile(func(context.Context) any {
		runs++
		return map[string]any{"outcome": "agreed", "rows": runs}
	})
	wantRPCResult(t, "reconcile", call(`{"jsonrpc":"2.0","id":2,"method":"Monitor.1.reconcile"}`), `{"outcome":"agreed","rows":1}`)
	wantRPCResult(t, "reconcile, bare on /jsonrpc/Monitor", f.postRPC(server.MonitorJSONRPCPath, []byte(`{"jsonrpc":"2.0","id":3,"method":"reconcile","params":{}}`)), `{"outcome":"agreed","rows":2}`)
	wantRPCError(t, "reconcile with params", call(`{"jsonrpc":"2.0","id":4,"method":"Monitor.1.reconcile","params":{"callsign":"Journal"}}`), -32602, "4")
	wantRPCError(t, "reconcile@index", call(`{"jsonrpc":"2.0","id":5,"method":"Monitor.1.reconcile@Journal"}`), -32601, "5")
	if runs != 2 {
		t.Fatalf("%d runs, want 2", runs)
	}

	api := server.New(server.Config{})
	server.MountReconcile(api.Router, func(context.Context) any { return map[string]any{"outcome": "diverged", "differences": 3} })
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+server.ReconcilePath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Outcome     string `json:"outcome"`
		Differences int    `json:"differences"`
	}
	json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if resp.StatusCode != 200 || rep.Outcome != "diverged" || rep.Differences != 3 {
		t.Fatalf("POST %s: %d %+v", server.ReconcilePath, resp.StatusCode, rep)
	}
	if resp, err := http.Get(ts.URL + server.ReconcilePath); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET %s: %v %v, want 405", server.ReconcilePath, resp, err)
	}
}
