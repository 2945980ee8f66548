package binlog

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/mysqlscript"
	"github.com/automattic/jetmon-bridge/store"
)

// The MySQL 8 paths of the follower, against the scripted MySQL server
// (internal/mysqlscript): no MySQL server can be installed here.

const mysqlSource = "8a94f357-aab4-11df-86ab-c80aa9429562"

// newMySQLRig is a follower rig on a scripted MySQL 8 server.
func newMySQLRig(t *testing.T, s *mysqlscript.Server) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "test.journal"), hb: 50 * time.Millisecond}
	var err error
	if r.replica, err = store.Open("-dsn", s.DSN(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop(); r.replica.Close() })
	return r
}

// siteRow is a row of jetpack_monitor_sites as the binlog shows it.
func siteRow(site, blog uint64, url string, status bridge.Status, changed time.Time) mysqlscript.Row {
	return mysqlscript.SiteRow(bridge.Monitor{SiteID: site, BlogID: blog, URL: url, Active: true, Status: status, LastStatusChange: changed})
}

// TestMySQLFollowerJournalsTransitions: a follower of a MySQL 8 server
// (GTID events with a source UUID, v2 rows events with CRC32 checksums,
// MINIMAL table maps) journals exactly the transitions of
// jetpack_monitor_sites, each named by its source transaction's GTID, and
// nothing of other tables or of changes that keep site_status.
func TestMySQLFollowerJournalsTransitions(t *testing.T) {
	s := mysqlscript.Start(t, mysqlscript.Options{})
	sites := s.Sites()
	other := s.CreateTable(&mysqlscript.Table{Schema: "jetmon_db", Name: "lookalike", Columns: sites.Columns})
	a0 := siteRow(1, 11, "https://a.example", bridge.StatusRunning, time.Time{})
	b0 := siteRow(2, 12, "https://b.example", bridge.StatusRunning, time.Time{})
	s.GTID(mysqlSource, 1).Begin().Insert(sites, a0, b0).Commit()
	r := newMySQLRig(t, s)
	r.start()

	base := time.Unix(1_700_000_000, 0).UTC()
	with := func(row mysqlscript.Row, status bridge.Status, changed time.Time, interval uint8) mysqlscript.Row {
		row = slices.Clone(row)
		row[5], row[6], row[7] = uint8(status), changed, interval
		return row
	}
	a1 := with(a0, bridge.StatusDown, base, 5)
	a2 := with(a1, bridge.StatusConfirmedDown, base.Add(60*time.Second), 5)
	a3 := with(a2, bridge.StatusRunning, base.Add(120*time.Second), 5)
	s.GTID(mysqlSource, 2).Begin().Update(sites, a0, a1).Commit()
	s.GTID(mysqlSource, 3).Begin().Update(sites, a1, a2).Update(other, a1, a2).Commit()
	s.GTID(mysqlSource, 4).Begin().Update(sites, a2, a3).Commit()
	a4, b4 := with(a3, bridge.StatusRunning, a3[6].(time.Time), 3), with(b0, bridge.StatusRunning, time.Time{}, 3)
	s.GTID(mysqlSource, 5).Begin().UpdateRows(sites, [2]mysqlscript.Row{a3, a4}, [2]mysqlscript.Row{b0, b4}).Commit() // not a transition
	a5, b5 := with(a4, bridge.StatusDown, base.Add(500*time.Second), 3), with(b4, bridge.StatusDown, base.Add(500*time.Second), 3)
	s.GTID(mysqlSource, 6).Begin().UpdateRows(sites, [2]mysqlscript.Row{a4, a5}, [2]mysqlscript.Row{b4, b5}).Commit() // one statement, two rows
	s.GTID(mysqlSource, 7).Begin().Update(other, b4, b5).Commit()

	evs := r.events(11, 4)
	want := []struct {
		old, new bridge.Status
		at       time.Time
	}{{1, 0, base}, {0, 2, base.Add(60 * time.Second)}, {2, 1, base.Add(120 * time.Second)}, {1, 0, base.Add(500 * time.Second)}}
	if len(evs) != len(want) {
		t.Fatalf("blog 11: %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		if e := evs[i]; e.OldStatus != w.old || e.NewStatus != w.new || !e.CreatedAt.Equal(w.at) || e.BlogID != 11 {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if evs := r.events(12, 1); len(evs) != 1 || evs[0].NewStatus != bridge.StatusDown || evs[0].OldStatus != bridge.StatusRunning {
		t.Fatalf("blog 12: %+v", evs)
	}
	sourced, err := r.journal.EventsAfter(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var gtids []string
	for _, e := range sourced {
		gtids = append(gtids, fmt.Sprintf("%s#%d", e.GTID, e.Ordinal))
	}
	wantGTIDs := []string{mysqlSource + ":2#0", mysqlSource + ":3#0", mysqlSource + ":4#0", mysqlSource + ":6#0", mysqlSource + ":6#1"}
	if !slices.Equal(gtids, wantGTIDs) {
		t.Errorf("events' source transactions %v, want %v", gtids, wantGTIDs)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cp, _ := r.journal.Checkpoint()
		if cp.GTIDSet == mysqlSource+":1-7" && cp.Flavor == "mysql" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %+v, want the GTID set %s:1-7", cp, mysqlSource)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m, ok, err := r.journal.BlogMonitor(12); err != nil || !ok || m.Status != bridge.StatusDown {
		t.Errorf("blog 12's row: %+v %v %v", m, ok, err)
	}
}

// TestMySQLHeartbeatsWhileSkippingConfirmNothing: resumed by GTID set,
// MySQL's dump thread skips the transactions the follower already has and
// sends heartbeats while it does (and one before the first event after
// the skip). Those heartbeats say nothing about being caught up: until the
// transaction committed after the follower stopped has arrived, no window
// holding it may be vouched for ("journal"), though heartbeats keep
// coming; once it arrives, the window is the journal's, with it.
func TestMySQLHeartbeatsWhileSkippingConfirmNothing(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			s := mysqlscript.Start(t, mysqlscript.Options{HeartbeatV2: v2})
			sites := s.Sites()
			a0 := siteRow(1, 11, "https://a.example", bridge.StatusRunning, time.Time{})
			s.GTID(mysqlSource, 1).Begin().Insert(sites, a0).Commit()
			for n := int64(2); n <= 5; n++ { // what the resumed dump skips
				b := siteRow(uint64(n), 10*uint64(n), "https://b.example", bridge.StatusRunning, time.Time{})
				s.GTID(mysqlSource, n).Begin().Insert(sites, b).Commit()
			}
			r := newMySQLRig(t, s)
			r.waitLimit = 300 * time.Millisecond
			r.start()
			waitFor(t, "the follower to confirm it caught up", func() bool { return !r.journal.Confirmed().IsZero() })
			since := r.journal.Spans(time.Time{})[0].Start
			confirmed := r.journal.Confirmed()
			r.stop()

			// The transition happens at T1, after everything the follower
			// vouched for, while it is stopped; the window [since, until)
			// holds it and has ended before the follower resumes.
			t1 := maxTime(since, confirmed).Truncate(time.Second).Add(time.Second)
			until := t1.Add(time.Second)
			waitFor(t, "the clock to reach T1", func() bool { return !time.Now().Before(t1) })
			p := s.Pause() // the resumed dump skips 1-5, then stops here
			a1 := siteRow(1, 11, "https://a.example", bridge.StatusDown, t1)
			s.At(t1).GTID(mysqlSource, 6).Begin().Update(sites, a0, a1).Commit().At(time.Time{})
			waitFor(t, "the window to end", func() bool { return time.Now().After(until) })

			reads := `^SHOW (BINARY LOG|MASTER) STATUS$`
			base := s.Count(reads)
			r.start()
			<-p.Reached()
			// The follower reads the binlog's end when the stream starts and
			// at each heartbeat it handles: three reads mean it has held two
			// of the skip's heartbeats against the end, which the skipping
			// dump has not reached.
			deadline := time.Now().Add(30 * time.Second)
			for s.Count(reads) < base+3 {
				if spans := r.journal.Spans(until); len(bridge.Uncovered(spans, since, until)) == 0 {
					t.Fatalf("while the dump still skips, heartbeats vouched for [%s, %s), which lacks the transition at %s: spans %+v",
						since.Format(time.RFC3339), until.Format(time.RFC3339), t1.Format(time.RFC3339), spans)
				}
				if time.Now().After(deadline) {
					t.Fatalf("the follower read the binlog's end %d times after resuming; %d heartbeats sent", s.Count(reads)-base, s.HeartbeatsSent())
				}
				select {
				case <-s.Changed():
				case <-time.After(20 * time.Millisecond):
				}
			}
			evs, spans, err := r.journal.Window(context.Background(), 11, since, until)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 0 || len(bridge.Uncovered(spans, since, until)) == 0 {
				t.Fatalf("held in the skip: events %+v, spans %+v; the window must not be the journal's", evs, spans)
			}

			p.Release()
			waitFor(t, "heartbeats to carry coverage past the window once the transaction has arrived", func() bool {
				spans := r.journal.Spans(time.Time{}) // no probe: confirmations so far
				return !spans[len(spans)-1].End.Before(until)
			})
			waitFor(t, "the transition to be journaled and the window vouched for", func() bool {
				evs, spans, err := r.journal.Window(context.Background(), 11, since, until)
				return err == nil && len(evs) == 1 && evs[0].NewStatus == bridge.StatusDown && evs[0].CreatedAt.Equal(t1) &&
					len(bridge.Uncovered(spans, since, until)) == 0
			})
		})
	}
}

// waitFor polls cond until it holds, failing after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMySQLReplicationStatusIsRead: a MySQL 8 replica's status, scripted
// (SHOW REPLICA STATUS and performance_schema's heartbeat and applied
// times), reads as the replica proofs need it; Preflight sees a replica.
func TestMySQLReplicationStatusIsRead(t *testing.T) {
	s := mysqlscript.Start(t, mysqlscript.Options{})
	set := mysqlSource + ":1-10"
	s.AnswerRows(`^SHOW REPLICA STATUS$`, mysqlscript.OneRow(
		"Replica_IO_Running", "Yes", "Replica_SQL_Running", "Yes", "Seconds_Behind_Source", int64(0),
		"Last_IO_Errno", int64(0), "Last_IO_Error", "", "Last_SQL_Errno", int64(0), "Last_SQL_Error", "",
		"Source_Log_File", "binlog.000004", "Read_Source_Log_Pos", int64(9000), "Relay_Log_File", "relay.000002", "Relay_Log_Pos", int64(400), "Relay_Log_Space", int64(1200),
		"Retrieved_Gtid_Set", set, "Executed_Gtid_Set", set+",\n"+s.UUID()+":1-3"))
	hb := time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)
	applied := hb.Add(-time.Second)
	s.AnswerRows(`FROM performance_schema\.replication_connection_status`, mysqlscript.OneRow(
		"COUNT_RECEIVED_HEARTBEATS", int64(7), "LAST_HEARTBEAT_TIMESTAMP", hb, "QUEUEING_TRANSACTION", ""))
	s.AnswerRows(`FROM performance_schema\.replication_applier_status_by_worker`, mysqlscript.OneRow(
		"MAX(LAST_APPLIED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP)", applied))
	db, err := store.Open("-dsn", s.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	info, err := Preflight(ctx, db.SQL())
	if err != nil || info.Flavor != FlavorMySQL || !info.GTID || !info.Replica {
		t.Fatalf("preflight: %+v, %v", info, err)
	}
	st, err := ReadReplicationStatus(ctx, db.SQL(), FlavorMySQL, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running() || !st.AppliedAll || !st.LagKnown || st.Lag != 0 || !st.LastHeartbeat.Equal(hb) || !st.LastApplied.Equal(applied) || st.Problem() != "" {
		t.Fatalf("status %+v", st)
	}
	if st.Heartbeats != 7 || st.IOState != "binlog.000004|9000|"+set+"|relay.000002|400|1200|" {
		t.Fatalf("heartbeats %d, IO thread's state %q", st.Heartbeats, st.IOState)
	}
}
