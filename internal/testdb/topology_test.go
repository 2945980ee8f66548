package testdb

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

func TestTopologyReplicatesWithPrimaryGTIDs(t *testing.T) {
	tp := SharedTopology(t)
	r := tp.Replica()
	if tp.Primary.Port == 3306 || r.Port == 3306 || tp.Primary.Port == r.Port {
		t.Fatalf("ports primary=%d replica=%d: want two distinct throwaway servers", tp.Primary.Port, r.Port)
	}
	db := tp.NewDB(t)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (11, 0, 'https://chain.example')")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	rdb, err := sql.Open("mysql", r.DSN(db.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var url string
	if err := rdb.QueryRow("SELECT monitor_url FROM jetpack_monitor_sites WHERE blog_id = 11").Scan(&url); err != nil || url != "https://chain.example" {
		t.Fatalf("replica row: url=%q err=%v", url, err)
	}
	var logSlaveUpdates, serverID int
	var replicaBinlogPos string
	if err := rdb.QueryRow("SELECT @@log_slave_updates, @@server_id, @@gtid_binlog_pos").Scan(&logSlaveUpdates, &serverID, &replicaBinlogPos); err != nil {
		t.Fatal(err)
	}
	if logSlaveUpdates != 1 || serverID == 1 {
		t.Fatalf("replica log_slave_updates=%d server_id=%d, want 1 and an id other than the primary's", logSlaveUpdates, serverID)
	}
	// log_slave_updates writes the primary's GTIDs into the replica's own
	// binlog: the replica's binlog position is the primary's.
	primaryPos, err := tp.PrimaryPos()
	if err != nil {
		t.Fatal(err)
	}
	if primaryPos == "" || replicaBinlogPos != primaryPos {
		t.Fatalf("replica gtid_binlog_pos=%q, primary gtid_binlog_pos=%q: want equal and non-empty", replicaBinlogPos, primaryPos)
	}
	st, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.IORunning != "Yes" || st.SQLRunning != "Yes" || st.LastSQLErrno != 0 {
		t.Fatalf("status %+v, want both threads running without error", st)
	}
}

// TestTopologyFaults drives every fault the harness offers on one chain and
// checks each against the replica's own view of replication.
func TestTopologyFaults(t *testing.T) {
	tp := DedicatedTopology(t, TopologyOptions{Replicas: 2})
	r, other := tp.Replicas[0], tp.Replicas[1]
	db := tp.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	blog := 0
	write := func() {
		t.Helper()
		blog++
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, 'https://f.example')", blog)
	}
	// behind writes on the primary and checks that r does not apply it:
	// only once the other replica has (so the write had every chance to
	// reach r too), since right after the write any replica is behind.
	behind := func(what string) {
		t.Helper()
		write()
		if err := other.WaitCaughtUp(ctx); err != nil {
			t.Fatalf("%s: the other replica: %v", what, err)
		}
		ok, err := r.CaughtUp()
		if err != nil || ok {
			t.Fatalf("%s: caught up=%v err=%v, want behind", what, ok, err)
		}
	}
	caughtUp := func(what string) {
		t.Helper()
		if err := r.WaitCaughtUp(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var n int
		rdb, _ := sql.Open("mysql", r.DSN(db.Name))
		defer rdb.Close()
		if err := rdb.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n); err != nil || n != blog {
			t.Fatalf("%s: replica has %d rows (err %v), want %d", what, n, err, blog)
		}
	}

	t.Run("sql thread stopped", func(t *testing.T) {
		if err := r.StopSQLThread(); err != nil {
			t.Fatal(err)
		}
		behind("SQL thread stopped")
		if st, _ := r.Status(); st.SQLRunning != "No" || st.IORunning != "Yes" {
			t.Fatalf("status %+v, want SQL No, IO Yes", st)
		}
		if err := r.StartSQLThread(); err != nil {
			t.Fatal(err)
		}
		caughtUp("SQL thread restarted")
	})
	t.Run("io thread stopped", func(t *testing.T) {
		if err := r.StopIOThread(); err != nil {
			t.Fatal(err)
		}
		behind("IO thread stopped")
		if st, _ := r.Status(); st.IORunning != "No" || st.SQLRunning != "Yes" {
			t.Fatalf("status %+v, want IO No, SQL Yes", st)
		}
		if err := r.StartIOThread(); err != nil {
			t.Fatal(err)
		}
		caughtUp("IO thread restarted")
	})
	t.Run("broken with an error", func(t *testing.T) {
		if err := r.Break(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := r.Status()
		if err != nil || st.LastSQLErrno != 1062 || !strings.Contains(st.LastSQLError, "Duplicate") {
			t.Fatalf("status %+v err %v, want SQL error 1062 (duplicate key)", st, err)
		}
		write()
		if err := r.WaitCaughtUp(ctx); err == nil || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("WaitCaughtUp on a broken replica = %v, want a 'broken' error", err)
		}
		// The conflict was planted on r alone: the other replica applies it.
		if err := other.WaitCaughtUp(ctx); err != nil {
			t.Fatalf("second replica: %v", err)
		}
		if err := r.Repair(); err != nil {
			t.Fatal(err)
		}
		caughtUp("repaired")
	})
	t.Run("replica restarted", func(t *testing.T) {
		r.Stop()
		write()
		if err := r.Restart(); err != nil {
			t.Fatal(err)
		}
		caughtUp("replica restarted")
	})
	t.Run("primary restarted", func(t *testing.T) {
		tp.Primary.Stop()
		if err := r.WaitStatus(ctx, "the IO thread to lose its primary", func(st ReplicaStatus) bool { return st.IORunning != "Yes" }); err != nil {
			t.Fatal(err)
		}
		if err := tp.Primary.Restart(); err != nil {
			t.Fatal(err)
		}
		write()
		caughtUp("primary restarted")
		if err := other.WaitCaughtUp(ctx); err != nil {
			t.Fatalf("second replica after primary restart: %v", err)
		}
	})
}
