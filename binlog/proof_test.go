package binlog

import (
	"context"
	"database/sql"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestProofsOnALaggingReplica follows a real replica that lags while the
// primary commits a transition: first with its SQL thread stopped, then
// with both threads running but the applier held by a row lock taken on
// the replica. Whichever proof the follower rests on, the journal never
// vouches for a window holding that transition until it has it, checked
// again and again over several replication heartbeats, and vouches again
// once replication catches up.
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
	replicaDB, err := sql.Open("mysql", replica.DSN(primaryDB.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer replicaDB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	replicaStatus := func() ReplicationStatus {
		t.Helper()
		st, err := ReadReplicationStatus(ctx, replicaDB, FlavorMariaDB, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// Lags: each makes the replica miss the next transition, and returns
	// what ends the lag.
	lags := []struct {
		name string
		lag  func(t *testing.T) (end func())
		// holding reports whether the lag still holds, as the replica's
		// status shows it.
		holding func(ReplicationStatus) bool
	}{
		{"sql thread stopped", func(t *testing.T) func() {
			if err := replica.StopSQLThread(); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := replica.StartSQLThread(); err != nil {
					t.Fatal(err)
				}
			}
		}, func(st ReplicationStatus) bool { return !st.SQLRunning() }},
		{"applier held by a lock", func(t *testing.T) func() {
			// A transaction on the replica holds the row the primary's
			// UPDATE changes: the SQL thread waits for its lock with both
			// threads running.
			conn, err := replicaDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout=600"); err != nil {
				t.Fatal(err)
			}
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "SELECT * FROM jetpack_monitor_sites WHERE blog_id=21 FOR UPDATE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				tx.Rollback()
				conn.Close()
			}
		}, func(st ReplicationStatus) bool { return st.Running() && !st.AppliedAll }},
	}

	status := 1 // the schema's default site_status: running
	for _, name := range []string{"replica-status", "primary-gtid"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, &testdb.DB{Server: replica.Server, Name: primaryDB.Name})
			r.waitLimit, r.poll = time.Second, 100*time.Millisecond
			if name == "primary-gtid" {
				r.primaryDSN = tp.Primary.DSN(primaryDB.Name)
			}
			r.start()
			if got := r.follower.ProofName(); got != name {
				t.Fatalf("coverage proof %q, want %q", got, name)
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
				for {
					evs, ok := covered(until)
					if ok {
						return evs
					}
					if ctx.Err() != nil {
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
			for _, lag := range lags {
				t.Run(lag.name, func(t *testing.T) {
					end := lag.lag(t)
					ended := false
					defer func() {
						if !ended {
							end()
						}
					}()
					status = 1 - status
					primaryDB.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=21", status)
					var changedAt time.Time
					if err := primaryDB.SQL.QueryRow("SELECT last_status_change FROM jetpack_monitor_sites WHERE blog_id=21").Scan(&changedAt); err != nil {
						t.Fatal(err)
					}
					until := changedAt.Add(time.Second)
					// The replica receives the transition but does not apply
					// it. Every answer, asked again and again while five
					// heartbeats arrive (each a chance for a wrong proof to
					// vouch), must leave its window uncovered.
					first := replicaStatus()
					for first.AppliedAll { // until the IO thread has received it
						if ctx.Err() != nil {
							t.Fatalf("the replica never received the transition: %+v", first)
						}
						time.Sleep(20 * time.Millisecond)
						first = replicaStatus()
					}
					for {
						st := replicaStatus()
						if !lag.holding(st) {
							t.Fatalf("the lag did not hold: %+v", st)
						}
						if st.AppliedAll {
							t.Fatalf("the replica reports the held transition applied: %+v", st)
						}
						if evs, ok := covered(until); ok {
							t.Fatalf("journal vouched for a window holding a transition the replica has not applied (events %v)", evs)
						}
						if st.Heartbeats >= first.Heartbeats+5 {
							break
						}
						if ctx.Err() != nil {
							t.Fatalf("five heartbeats never arrived: %+v", st)
						}
					}
					ended = true
					end()
					evs := waitCovered("replication caught up", until)
					if n := len(evs); n == 0 || evs[n-1].NewStatus != bridge.Status(status) || !evs[n-1].CreatedAt.Equal(changedAt.UTC()) {
						t.Fatalf("after catching up: events %v, want the last to be the transition to %d at %s", evs, status, changedAt)
					}
				})
			}
			r.stop()
		})
	}
}
