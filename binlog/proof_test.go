package binlog

import (
	"context"
	"database/sql"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestProofsOnALaggingReplica follows a real replica whose SQL thread is
// stopped while the primary commits a transition: whichever proof the
// follower rests on, the journal never vouches for a window holding that
// transition until it has it, and vouches again once replication resumes.
func TestProofsOnALaggingReplica(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	replica := tp.Replica()
	primaryDB := tp.NewDB(t)
	primaryDB.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (21, 0, 'https://lag.example')")
	primary, err := sql.Open("mysql", tp.Primary.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()

	proofs := map[string]func(db *sql.DB) func(ServerInfo) Proof{
		"replica-status": func(db *sql.DB) func(ServerInfo) Proof {
			return func(info ServerInfo) Proof {
				w := NewReplicationWatch(db, info.Flavor, 100*time.Millisecond, nil, nil)
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go w.Run(ctx)
				return w
			}
		},
		"primary-gtid": func(*sql.DB) func(ServerInfo) Proof {
			return func(info ServerInfo) Proof {
				return PrimaryProof{DB: primary, Flavor: info.Flavor, Interval: 100 * time.Millisecond}
			}
		},
	}
	status := 1 // the schema's default site_status: running
	for _, name := range []string{"replica-status", "primary-gtid"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, &testdb.DB{Server: replica.Server, Name: primaryDB.Name})
			r.waitLimit = time.Second
			r.proof = proofs[name](r.replica.SQL())
			r.start()
			info, err := Preflight(context.Background(), r.replica.SQL())
			if err != nil || !info.Replica {
				t.Fatalf("preflight: Replica=%v err=%v", info.Replica, err)
			}
			covered := func(until time.Time) ([]bridge.Event, bool) {
				t.Helper()
				evs, spans, err := r.journal.Window(context.Background(), 21, time.Unix(0, 0), until)
				if err != nil {
					t.Fatal(err)
				}
				return evs, len(spans) > 0 && len(bridge.Uncovered(spans, spans[0].Start, until)) == 0
			}
			waitCovered := func(what string, until time.Time) []bridge.Event {
				t.Helper()
				deadline := time.Now().Add(60 * time.Second)
				for {
					evs, ok := covered(until)
					if ok {
						return evs
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the journal never vouched up to %s", what, until)
					}
				}
			}
			// The span starts at the next whole second after the follower
			// began: ask for a window reaching past it.
			waitCovered("healthy replica", time.Now().Add(2*time.Second))

			// A transition before the span's start is outside coverage
			// anyway: make it after.
			spanStart := r.journal.Spans(time.Time{})[0].Start
			for {
				var after bool
				if err := primary.QueryRow("SELECT UTC_TIMESTAMP() >= ?", spanStart.UTC().Format(time.DateTime)).Scan(&after); err != nil {
					t.Fatal(err)
				}
				if after {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := replica.StopSQLThread(); err != nil {
				t.Fatal(err)
			}
			status = 1 - status
			primaryDB.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=21", status)
			var changedAt time.Time
			if err := primaryDB.SQL.QueryRow("SELECT last_status_change FROM jetpack_monitor_sites WHERE blog_id=21").Scan(&changedAt); err != nil {
				t.Fatal(err)
			}
			// The primary's transition is not on the replica: every answer,
			// asked again and again, must leave its window uncovered.
			until := changedAt.Add(time.Second)
			for range 3 {
				if evs, ok := covered(until); ok {
					t.Fatalf("journal vouched for a window holding a transition the replica has not applied (events %v)", evs)
				}
			}
			if err := replica.StartSQLThread(); err != nil {
				t.Fatal(err)
			}
			evs := waitCovered("replication resumed", until)
			if n := len(evs); n == 0 || evs[n-1].NewStatus != bridge.Status(status) || !evs[n-1].CreatedAt.Equal(changedAt.UTC()) {
				t.Fatalf("after resuming: events %v, want the last to be the transition to %d at %s", evs, status, changedAt)
			}
			r.stop()
		})
	}
}
