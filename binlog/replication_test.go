package binlog

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestReadReplicationStatusOnARealReplica reads the status of a real
// MariaDB replica through every state the coverage proof distinguishes.
func TestReadReplicationStatusOnARealReplica(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	r := tp.Replica()
	db := tp.NewDB(t)
	replicaDB, err := sql.Open("mysql", r.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer replicaDB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	read := func() ReplicationStatus {
		t.Helper()
		st, err := ReadReplicationStatus(ctx, replicaDB, FlavorMariaDB, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor := func(what string, ok func(ReplicationStatus) bool) ReplicationStatus {
		t.Helper()
		for {
			st := read()
			if ok(st) {
				return st
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: last %+v", what, st)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	first := waitFor("a caught-up replica", func(st ReplicationStatus) bool { return st.Running() && st.AppliedAll })
	if first.Problem() != "" || !first.LagKnown || first.ReadAt.IsZero() {
		t.Fatalf("healthy replica: %+v, problem %q", first, first.Problem())
	}
	// The harness's 1s heartbeat keeps arriving while the primary is idle.
	waitFor("a heartbeat", func(st ReplicationStatus) bool { return st.Heartbeats > first.Heartbeats })

	t.Run("sql thread stopped", func(t *testing.T) {
		if err := r.StopSQLThread(); err != nil {
			t.Fatal(err)
		}
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://s.example')")
		st := waitFor("the IO thread to receive the write", func(st ReplicationStatus) bool { return !st.AppliedAll })
		if st.SQLThread != "No" || st.LagKnown || !strings.Contains(st.Problem(), "SQL thread is stopped") {
			t.Fatalf("status %+v problem %q", st, st.Problem())
		}
		if err := r.StartSQLThread(); err != nil {
			t.Fatal(err)
		}
		waitFor("the applier to catch up", func(st ReplicationStatus) bool { return st.Running() && st.AppliedAll })
	})
	t.Run("io thread stopped", func(t *testing.T) {
		if err := r.StopIOThread(); err != nil {
			t.Fatal(err)
		}
		st := read()
		if st.IOThread != "No" || !strings.Contains(st.Problem(), "IO thread is No") {
			t.Fatalf("status %+v problem %q", st, st.Problem())
		}
		if err := r.StartIOThread(); err != nil {
			t.Fatal(err)
		}
		waitFor("replication to resume", func(st ReplicationStatus) bool { return st.Running() && st.AppliedAll })
	})
	t.Run("broken", func(t *testing.T) {
		if err := r.Break(ctx); err != nil {
			t.Fatal(err)
		}
		st := read()
		if !strings.HasPrefix(st.SQLError, "1062: ") || !strings.Contains(st.Problem(), "broken") || st.Running() {
			t.Fatalf("status %+v problem %q", st, st.Problem())
		}
		if err := r.Repair(); err != nil {
			t.Fatal(err)
		}
		st = waitFor("the repaired replica to run", func(st ReplicationStatus) bool { return st.Running() && st.AppliedAll })
		if st.SQLError != "" {
			t.Fatalf("repaired replica still reports %q", st.SQLError)
		}
	})
	t.Run("the primary is no replica", func(t *testing.T) {
		_, err := ReadReplicationStatus(ctx, db.SQL, FlavorMariaDB, time.Now)
		if !errors.Is(err, errNotReplica) {
			t.Fatalf("err = %v, want errNotReplica", err)
		}
		info, err := Preflight(ctx, db.SQL)
		if err != nil || info.Replica {
			t.Fatalf("primary preflight: Replica=%v err=%v", info.Replica, err)
		}
		info, err = Preflight(ctx, replicaDB)
		if err != nil || !info.Replica {
			t.Fatalf("replica preflight: Replica=%v err=%v", info.Replica, err)
		}
	})
}

// TestParseReplicationStatusMySQL reads MySQL 8's column names, which the
// test servers (MariaDB) never produce.
func TestParseReplicationStatusMySQL(t *testing.T) {
	row := map[string]string{
		"replica_io_running": "Yes", "replica_sql_running": "Yes",
		"seconds_behind_source": "3",
		"retrieved_gtid_set":    "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10",
		"executed_gtid_set":     "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
		"last_io_errno":         "0", "last_sql_errno": "0",
	}
	st, err := parseReplicationStatus(FlavorMySQL, row)
	if err != nil || !st.Running() || !st.AppliedAll || !st.LagKnown || st.Lag != 3*time.Second || st.Problem() != "" {
		t.Fatalf("caught up: %+v err %v", st, err)
	}
	row["retrieved_gtid_set"] = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-11"
	row["replica_sql_running"], row["seconds_behind_source"] = "No", ""
	row["last_sql_errno"], row["last_sql_error"] = "1062", "Duplicate entry"
	st, err = parseReplicationStatus(FlavorMySQL, row)
	if err != nil || st.AppliedAll || st.LagKnown || st.SQLError != "1062: Duplicate entry" || !strings.Contains(st.Problem(), "broken") {
		t.Fatalf("broken: %+v err %v", st, err)
	}
	// MySQL before 8.0.22 and without GTIDs: Slave_ names and positions.
	old := map[string]string{
		"slave_io_running": "Yes", "slave_sql_running": "Yes", "seconds_behind_master": "0",
		"master_log_file": "bin.000002", "relay_master_log_file": "bin.000002",
		"read_master_log_pos": "900", "exec_master_log_pos": "900",
	}
	if st, err := parseReplicationStatus(FlavorMySQL, old); err != nil || !st.AppliedAll {
		t.Fatalf("positions equal: %+v err %v", st, err)
	}
	old["exec_master_log_pos"] = "700"
	if st, _ := parseReplicationStatus(FlavorMySQL, old); st.AppliedAll {
		t.Fatal("applier behind the IO thread reported as caught up")
	}
	if _, err := parseReplicationStatus(FlavorMySQL, map[string]string{"foo": "bar"}); err == nil {
		t.Fatal("a row without thread columns parsed")
	}
	// The channel's source and filters, as MySQL 8 prints them.
	row = map[string]string{
		"channel_name": "", "replica_io_running": "Yes", "replica_sql_running": "Yes",
		"retrieved_gtid_set":     "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-10",
		"executed_gtid_set":      "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
		"replicate_ignore_table": "jetmon_db.jetpack_monitor_sites", "replicate_rewrite_db": "(a,b)",
	}
	st, err = parseReplicationStatus(FlavorMySQL, row)
	if err != nil || !st.SourceKnown || len(st.SourceUUIDs) != 1 || st.SourceUUIDs[0] != "3e11fa47-71ca-11e1-9e33-c80aa9429562" {
		t.Fatalf("source: %+v err %v", st, err)
	}
	if f := st.Filters[0]; len(f.IgnoreTable) != 1 || len(f.RewriteDB) != 1 || f.RewriteDB[0] != (DBRewrite{"a", "b"}) {
		t.Fatalf("channel filters %+v", f)
	}
	st.JudgeFilters("jetmon_db", "jetpack_monitor_sites", 2, FlavorMySQL)
	if st.Filtered == nil || !strings.Contains(st.Problem(), "CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE = () FOR CHANNEL ''") {
		t.Fatalf("filtered: %v", st.Problem())
	}
}

// TestProvenBy checks what one pair of readings lets the watch vouch for,
// and what the watch vouches for as readings come: never the time of a
// reading itself, and never past a heartbeat counted after a reading less
// one second of transit. Expected instants are written out.
func TestProvenBy(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	running := ReplicationStatus{IOThread: "Yes", SQLThread: "Yes", AppliedAll: true}
	at := func(s ReplicationStatus, readAt time.Time, hb uint64) ReplicationStatus {
		s.ReadAt, s.Heartbeats = readAt, hb
		return s
	}
	with := func(s ReplicationStatus, change func(*ReplicationStatus)) ReplicationStatus {
		change(&s)
		return s
	}
	filtered := &FilterProblem{Setting: "replicate_ignore_table='d.jetpack_monitor_sites'"}
	prev := at(running, t0, 4)
	cases := []struct {
		name string
		cur  ReplicationStatus
		want time.Time
	}{
		{"heartbeat since the previous reading", at(running, t0.Add(time.Second), 5), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"no heartbeat since", at(running, t0.Add(time.Second), 4), time.Time{}},
		{"applier behind", with(at(running, t0.Add(time.Second), 5), func(s *ReplicationStatus) { s.AppliedAll = false }), time.Time{}},
		{"sql thread stopped", with(at(running, t0.Add(time.Second), 5), func(s *ReplicationStatus) { s.SQLThread = "No" }), time.Time{}},
		{"io thread connecting", with(at(running, t0.Add(time.Second), 5), func(s *ReplicationStatus) { s.IOThread = "Connecting" }), time.Time{}},
		{"a filter leaves the table out", with(at(running, t0.Add(time.Second), 5), func(s *ReplicationStatus) { s.Filtered = filtered }), time.Time{}},
	}
	for _, c := range cases {
		if got := provenBy(prev, true, c.cur); !got.Equal(c.want) {
			t.Errorf("%s: provenBy = %v, want %v", c.name, got, c.want)
		}
	}
	if got := provenBy(ReplicationStatus{}, false, at(running, t0, 9)); !got.IsZero() {
		t.Errorf("first reading vouched for %v; a heartbeat count alone proves nothing", got)
	}
	if got := provenBy(with(prev, func(s *ReplicationStatus) { s.Filtered = filtered }), true, at(running, t0.Add(time.Second), 5)); !got.IsZero() {
		t.Errorf("a heartbeat counted since a filtered reading vouched for %v", got)
	}

	// The watch, fed readings as Run would, vouches for what they prove
	// and for nothing more: not for a reading's own time ("now"), not past
	// a filter once one was seen.
	w := newReplicationWatch(nil, FlavorMariaDB, time.Second, nil, slog.New(slog.DiscardHandler), watchTarget{})
	vouched := func() time.Time {
		v, err := w.Claim(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return v.At
	}
	steps := []struct {
		name    string
		reading ReplicationStatus
		want    time.Time
	}{
		{"first reading", at(running, t0, 4), time.Time{}},
		{"a heartbeat since", at(running, t0.Add(time.Second), 5), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"no heartbeat since", at(running, t0.Add(2*time.Second), 5), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"sql thread stopped, a heartbeat since", with(at(running, t0.Add(3*time.Second), 6), func(s *ReplicationStatus) { s.SQLThread = "No" }), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"stopped, heartbeats go on", with(at(running, t0.Add(10*time.Second), 13), func(s *ReplicationStatus) { s.SQLThread = "No"; s.AppliedAll = false }), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"running, behind", with(at(running, t0.Add(11*time.Second), 14), func(s *ReplicationStatus) { s.AppliedAll = false }), time.Date(2026, 1, 2, 3, 4, 4, 0, time.UTC)},
		{"caught up, a heartbeat since", at(running, t0.Add(12*time.Second), 15), time.Date(2026, 1, 2, 3, 4, 15, 0, time.UTC)},
		{"a heartbeat since", at(running, t0.Add(13*time.Second), 16), time.Date(2026, 1, 2, 3, 4, 16, 0, time.UTC)},
		{"a filter appears", with(at(running, t0.Add(14*time.Second), 17), func(s *ReplicationStatus) { s.Filtered = filtered }), time.Date(2026, 1, 2, 3, 4, 16, 0, time.UTC)},
		{"the filter is gone", at(running, t0.Add(15*time.Second), 18), time.Date(2026, 1, 2, 3, 4, 16, 0, time.UTC)},
		{"a heartbeat since", at(running, t0.Add(16*time.Second), 19), time.Date(2026, 1, 2, 3, 4, 16, 0, time.UTC)},
	}
	for _, s := range steps {
		w.observe(s.reading, nil)
		if got := vouched(); !got.Equal(s.want) {
			t.Errorf("watch after %q (read at %s): vouches for %v, want %v", s.name, s.reading.ReadAt.Format(time.TimeOnly), got, s.want)
		}
	}
	if w.Filtered() != filtered {
		t.Errorf("the watch forgot the filter it saw: %v", w.Filtered())
	}
}

func FuzzParseReplicationStatus(f *testing.F) {
	f.Add("Yes", "Yes", "0", "0-1-5", "0-1-5", "bin.000001", "bin.000001", "10", "10", "1062")
	f.Add("Connecting", "No", "NULL", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3", "", "", "x", "-1", "9", "")
	f.Fuzz(func(t *testing.T, io, sqlThread, behind, received, executed, readFile, execFile, readPos, execPos, sqlErrno string) {
		row := map[string]string{
			"slave_io_running": io, "slave_sql_running": sqlThread, "seconds_behind_master": behind,
			"gtid_io_pos": received, "gtid_slave_pos": executed, "retrieved_gtid_set": received, "executed_gtid_set": executed,
			"master_log_file": readFile, "relay_master_log_file": execFile,
			"read_master_log_pos": readPos, "exec_master_log_pos": execPos, "last_sql_errno": sqlErrno,
		}
		for _, flavor := range []Flavor{FlavorMariaDB, FlavorMySQL} {
			st, err := parseReplicationStatus(flavor, row)
			if err != nil {
				if io != "" && sqlThread != "" {
					t.Fatalf("rejected a row with both thread columns: %v", err)
				}
				continue
			}
			if st.Running() && st.Problem() != "" && st.SQLError == "" {
				t.Fatalf("running replica with a problem: %+v", st)
			}
			if st.LagKnown && st.Lag < 0 {
				t.Fatalf("negative lag %v", st.Lag)
			}
		}
	})
}
