package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/gorilla/websocket"
)

// thunderClient is a WebSocket client of the bridge's Monitor interface.
type thunderClient struct {
	t      *testing.T
	conn   *websocket.Conn
	nextID int
	notes  chan map[string]any
	result chan json.RawMessage
}

func dialMonitor(t *testing.T, d *daemon) *thunderClient {
	t.Helper()
	dialer := websocket.Dialer{Subprotocols: []string{"notification"}, HandshakeTimeout: 10 * time.Second}
	conn, _, err := dialer.Dial("ws://"+d.addr+"/jsonrpc", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &thunderClient{t: t, conn: conn, notes: make(chan map[string]any, 100), result: make(chan json.RawMessage, 10)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		for {
			var msg map[string]json.RawMessage
			if err := conn.ReadJSON(&msg); err != nil {
				return
			}
			if m, ok := msg["method"]; ok {
				var params map[string]any
				json.Unmarshal(msg["params"], &params)
				params["method"] = strings.Trim(string(m), `"`)
				c.notes <- params
				continue
			}
			if e, ok := msg["error"]; ok {
				c.result <- e
				continue
			}
			c.result <- msg["result"]
		}
	}()
	return c
}

// dialActions connects a Monitor client registered for action
// notifications under the id client.events.
func dialActions(t *testing.T, d *daemon) *thunderClient {
	t.Helper()
	c := dialMonitor(t, d)
	if r := c.call("Monitor.1.register", map[string]any{"event": "action", "id": "client.events"}); string(r) != "null" {
		t.Fatalf("register: %s", r)
	}
	return c
}

func (c *thunderClient) call(method string, params any) json.RawMessage {
	c.t.Helper()
	c.nextID++
	if err := c.conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": c.nextID, "method": method, "params": params}); err != nil {
		c.t.Fatal(err)
	}
	select {
	case r := <-c.result:
		return r
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no answer to %s", method)
		return nil
	}
}

// expect waits until each callsign has sent action, in any order, and
// drops the notifications read on the way.
func (c *thunderClient) expect(action string, callsigns ...string) {
	c.t.Helper()
	missing := map[string]bool{}
	for _, cs := range callsigns {
		missing[cs] = true
	}
	deadline := time.After(60 * time.Second)
	for len(missing) > 0 {
		select {
		case n := <-c.notes:
			if n["method"] != "client.events.action" {
				c.t.Errorf("notification method %v", n["method"])
			}
			if cs, _ := n["callsign"].(string); n["action"] == action && missing[cs] {
				if reason, _ := n["reason"].(string); action == "Deactivate" && reason == "" {
					c.t.Errorf("%s deactivated without a reason", cs)
				}
				delete(missing, cs)
			}
		case <-deadline:
			c.t.Fatalf("no %s notification for %v", action, missing)
		}
	}
}

func TestMonitorSteersTheFollower(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{ServerID: 5})
	db := testdb.NewDBOn(t, server)
	sites := setupSites(t, db, 6000, 10)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal, "-monitor-interval", "200ms")
	since := coveredFrom()
	c := dialActions(t, d)
	o := stormOptions
	o.Transitions, o.Seed = 200, 51
	truth := storm(t, db, sites, o)
	// Coverage through the next whole second, which the file keeps once
	// the follower stops (it records whole seconds).
	waitCovered(t, d, sites[0].BlogID, since, time.Now().Truncate(time.Second).Add(time.Second))

	server.Stop()
	c.expect("Deactivate", "BinlogFollower", "Replica")
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	c.expect("Activate", "BinlogFollower", "Replica")

	// Limits of 2 in 60 s with the server kept down: the follower gives up.
	if r := c.call("Monitor.1.restartlimits", map[string]any{"callsign": "BinlogFollower", "restart": map[string]int{"limit": 2, "window": 60}}); string(r) != "null" {
		t.Fatalf("restartlimits: %s", r)
	}
	server.Stop()
	c.expect("StoppedRestarting", "BinlogFollower")
	// The journal still answers inside its coverage.
	until := since.Add(time.Second)
	if got, cov := d.events(sites[0].BlogID, since, until); cov != "journal" {
		t.Errorf("with the follower stopped, a covered window answered %q (%d events)", cov, len(got))
	}
	var status []map[string]any
	if err := json.Unmarshal(c.call("Monitor.1.status@BinlogFollower", nil), &status); err != nil || len(status) != 1 {
		t.Fatalf("status: %v %v", status, err)
	}
	if m := status[0]["measurements"].(map[string]any); m["operational"] != false {
		t.Errorf("a stopped follower reports operational=%v", m["operational"])
	}

	// Changes committed while the follower is stopped are not lost.
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	o.Seed = 52
	truth = append(truth, storm(t, db, sites, o)...)
	if r := c.call("Monitor.1.restartlimits", map[string]any{"callsign": "BinlogFollower", "restart": map[string]int{"limit": 0, "window": 60}}); string(r) != "null" {
		t.Fatalf("restartlimits: %s", r)
	}
	c.expect("Activate", "BinlogFollower")
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}

	// The same interface over plain HTTP POST.
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "Monitor.1.status"})
	resp, err := http.Post("http://"+d.addr+"/jsonrpc", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var all struct{ Result []map[string]any }
	json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	names := map[string]bool{}
	for _, e := range all.Result {
		names[e["observable"].(string)] = true
	}
	for _, want := range []string{"BinlogFollower", "Journal", "Replica"} {
		if !names[want] {
			t.Errorf("status lacks %s: %v", want, names)
		}
	}
	d.stop()
}
