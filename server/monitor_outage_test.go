package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// TestMonitorReportsDatabaseOutage follows a real MariaDB through an outage
// as a Thunder client on a WebSocket sees it: the Replica health check fails
// (Deactivate, naming the error), recovers (Activate), crosses its restart
// limits (StoppedRestarting) and is re-armed by restartlimits (Activate).
func TestMonitorReportsDatabaseOutage(t *testing.T) {
	dbServer := testdb.Dedicated(t, testdb.Options{})
	db := testdb.NewDBOn(t, dbServer)
	replica, err := store.Open("-dsn", db.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })

	backoff := supervisor.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	// runs counts the supervisor's attempts, so a restart is seen even if
	// it failed again at once.
	var runs atomic.Int64
	ping := supervisor.PingService{Ping: replica.Ping, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second}
	f := newRPCFixture(t, rpcFixtureOptions{
		backoff: backoff,
		services: func(s *supervisor.Supervisor) {
			s.Add("Replica", supervisor.ServiceFunc(func(ctx context.Context, ready func()) error {
				runs.Add(1)
				return ping.Run(ctx, ready)
			}), supervisor.Limits{})
		},
	})
	ws := f.dial(server.JSONRPCPath, "notification")
	rpcEventually(t, "Replica in operation", func() bool { return f.sup.Operational("Replica") })
	wantRPCResult(t, "register", ws.call("Monitor.1.register", map[string]string{"event": "action", "id": "ops"}), `null`)
	if e := decodeEntries(t, ws.call("Monitor.1.status@Replica", nil).Result); !e[0].Measurements.Operational {
		t.Fatalf("Replica not operational: %+v", e)
	}

	// The server goes away: Deactivate, with the database error as reason.
	dbServer.Stop()
	n := ws.action("ops")
	if n.Callsign != "Replica" || n.Action != "Deactivate" ||
		!strings.Contains(n.Reason, dbServer.Addr()+" does not answer") {
		t.Fatalf("after Stop: %+v, want Deactivate naming %s", n, dbServer.Addr())
	}
	t.Logf("Deactivate reason: %s", n.Reason)

	// It comes back: after any further failed attempts, Activate.
	if err := dbServer.Restart(); err != nil {
		t.Fatal(err)
	}
	for {
		n = ws.action("ops")
		if n.Action == "Activate" {
			break
		}
		if n.Callsign != "Replica" || n.Action != "Deactivate" {
			t.Fatalf("while the server restarts: %+v", n)
		}
	}
	if n.Callsign != "Replica" || !strings.Contains(n.Reason, "back in operation") {
		t.Fatalf("after Restart: %+v", n)
	}

	// With restart limits {2, 60}, an outage that lasts is given up on:
	// three failures, the last of which is not restarted.
	limits := map[string]any{"callsign": "Replica", "restart": map[string]int{"limit": 2, "window": 60}}
	wantRPCResult(t, "restartlimits", ws.call("Monitor.1.restartlimits", limits), `null`)
	dbServer.Stop()
	for i := range 3 {
		if n = ws.action("ops"); n.Callsign != "Replica" || n.Action != "Deactivate" || !strings.Contains(n.Reason, dbServer.Addr()) {
			t.Fatalf("failure %d of the lasting outage: %+v", i+1, n)
		}
	}
	n = ws.action("ops")
	if n.Callsign != "Replica" || n.Action != "StoppedRestarting" || !strings.Contains(n.Reason, "restart limit of 2") {
		t.Fatalf("after the third failure: %+v, want StoppedRestarting", n)
	}
	entry := decodeEntries(t, ws.call("Monitor.1.status@Replica", nil).Result)[0]
	if entry.Measurements.Operational || entry.Restart != (supervisor.Limits{Limit: 2, Window: 60}) {
		t.Fatalf("stopped Replica: %+v", entry)
	}

	// The server is back, but a stopped service stays stopped until its
	// limits are set again. Proving that nothing happens takes a wait: once
	// the database answers again, several of the longest back-offs pass,
	// within which any restart would have come.
	stoppedAt := runs.Load()
	if err := dbServer.Restart(); err != nil {
		t.Fatal(err)
	}
	rpcEventually(t, "the database to answer again", func() bool { return replica.Ping(context.Background()) == nil })
	time.Sleep(5 * backoff.Max)
	if n := runs.Load(); n != stoppedAt || f.sup.Operational("Replica") {
		t.Fatalf("a stopped service restarted by itself: %d attempts, %d when it stopped", n, stoppedAt)
	}
	wantRPCResult(t, "restartlimits re-arms", ws.callKeepingNotes("Monitor.1.restartlimits", limits), `null`)
	if n = ws.action("ops"); n.Callsign != "Replica" || n.Action != "Activate" {
		t.Fatalf("after re-arming: %+v, want Activate", n)
	}
	if e := decodeEntries(t, ws.call("Monitor.1.status@Replica", nil).Result); !e[0].Measurements.Operational {
		t.Fatalf("Replica not operational after re-arming: %+v", e)
	}
}
