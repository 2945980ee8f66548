package binlog

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/mysqlscript"
	"github.com/automattic/jetmon-bridge/store"
)

// scriptedReplica is a MySQL 8 replica's replication state as its status
// queries show it: SHOW REPLICA STATUS, and performance_schema's
// replication_connection_status answering whichever columns are asked for,
// at a clock the test sets.
type scriptedReplica struct {
	mu         sync.Mutex
	clock      time.Time
	file       string // Source_Log_File
	pos        int64  // Read_Source_Log_Pos
	retrieved  string
	executed   string
	relayFile  string
	relayPos   int64
	relaySpace int64
	count      int64 // COUNT_RECEIVED_HEARTBEATS
	lastHB     time.Time
	queueing   string
}

var connectionStatusSelect = regexp.MustCompile(`(?i)^SELECT (.+) FROM performance_schema\.replication_connection_status`)

func (r *scriptedReplica) serve(s *mysqlscript.Server) {
	s.Answer(`TIMESTAMPDIFF\(MICROSECOND`, func(q mysqlscript.Query) (*mysqlscript.Rows, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return mysqlscript.OneRow("now", r.clock.UnixMicro()), nil
	})
	s.Answer(`^SHOW REPLICA STATUS$`, func(mysqlscript.Query) (*mysqlscript.Rows, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return mysqlscript.OneRow(
			"Channel_Name", "", "Replica_IO_Running", "Yes", "Replica_SQL_Running", "Yes", "Seconds_Behind_Source", int64(0),
			"Last_IO_Errno", int64(0), "Last_IO_Error", "", "Last_SQL_Errno", int64(0), "Last_SQL_Error", "",
			"Source_Log_File", r.file, "Read_Source_Log_Pos", r.pos, "Relay_Log_File", r.relayFile, "Relay_Log_Pos", r.relayPos,
			"Relay_Source_Log_File", r.file, "Exec_Source_Log_Pos", r.pos, "Relay_Log_Space", r.relaySpace,
			"Retrieved_Gtid_Set", r.retrieved, "Executed_Gtid_Set", r.executed), nil
	})
	s.Answer(`FROM performance_schema\.replication_connection_status`, func(q mysqlscript.Query) (*mysqlscript.Rows, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		m := connectionStatusSelect.FindStringSubmatch(q.SQL)
		if m == nil {
			return nil, fmt.Errorf("unexpected query %q", q.SQL)
		}
		var cols []any
		for _, c := range strings.Split(m[1], ",") {
			c = strings.TrimSpace(c)
			var v any
			switch strings.ToUpper(c) {
			case "COUNT_RECEIVED_HEARTBEATS":
				v = r.count
			case "LAST_HEARTBEAT_TIMESTAMP":
				v = r.lastHB
			case "QUEUEING_TRANSACTION":
				v = r.queueing
			case "LAST_QUEUED_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP":
				v = r.lastHB
			default:
				return nil, fmt.Errorf("the scripted replica has no column %s", c)
			}
			cols = append(cols, c, v)
		}
		return mysqlscript.OneRow(cols...), nil
	})
}

// set changes the state under the lock.
func (r *scriptedReplica) set(change func(*scriptedReplica)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(r)
}

// TestMySQLHeartbeatsWhileSkippingVouchNothing scripts a MySQL 8 replica
// whose IO thread reconnects to its source with GTID auto-positioning
// while the source has committed transactions the replica has not
// received: the source skips what the replica has, sending heartbeats as
// it skips and one before the first event after the skip, and the
// replica counts each (LAST_HEARTBEAT_TIMESTAMP) while its applier has
// applied all it received. The replica-status proof must vouch for no
// instant after those transactions' commit until they are received and
// applied, whether the readings see the skip, or miss it entirely (the
// skip ending exactly where the old connection stood); and it must vouch
// again, past them, once the replica is idle and current.
func TestMySQLHeartbeatsWhileSkippingVouchNothing(t *testing.T) {
	s := mysqlscript.Start(t, mysqlscript.Options{})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := mysqlSource
	r := &scriptedReplica{clock: t0, file: "binlog.000002", pos: 1000, retrieved: src + ":1-10", executed: src + ":1-10",
		relayFile: "relay.000003", relayPos: 500, relaySpace: 2000}
	r.serve(s)
	db, err := store.Open("-dsn", s.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := newReplicationWatch(db.SQL(), FlavorMySQL, time.Second, nil, slog.New(slog.DiscardHandler), watchTarget{database: "jetmon_db", ownServerID: 2})
	ctx := context.Background()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	vouched := func() time.Time {
		v, _ := w.Claim(ctx)
		return v.At
	}
	// read takes a reading at t0+d, after change; a heartbeat at hb (zero:
	// none since the last reading) is counted first.
	read := func(d time.Duration, hb time.Duration, change func(*scriptedReplica)) {
		t.Helper()
		r.set(func(r *scriptedReplica) {
			r.clock = at(d)
			if change != nil {
				change(r)
			}
			if hb > 0 {
				r.count++
				r.lastHB = at(hb)
			}
		})
		w.read(ctx)
		if _, ok, err := w.Status(); !ok || err != nil {
			t.Fatalf("reading at +%s: %v", d, err)
		}
	}

	// Caught up and idle: heartbeats at the binlog end, one a second.
	read(500*time.Millisecond, 400*time.Millisecond, nil)
	for i := range 6 {
		d := time.Duration(i+1) * time.Second
		read(d, d-100*time.Millisecond, nil)
		read(d+500*time.Millisecond, 0, nil)
	}
	idle := vouched()
	if idle.Before(at(2*time.Second)) || idle.After(at(6*time.Second)) {
		t.Fatalf("an idle, current replica vouches for %v; want its recent heartbeats' time", idle)
	}

	// The source commits 11-15 at +8s; the IO thread's connection has
	// broken and it reconnects at +20s: the dump starts over at the first
	// binlog file and skips 1-10, a heartbeat every second, the relay log
	// rotated for the new connection, nothing received, all applied.
	committed := at(8 * time.Second)
	check := func(phase string) {
		t.Helper()
		if v := vouched(); !v.Before(committed) {
			t.Fatalf("%s: the replica-status proof vouches for %s, past transactions the source committed at %s that the replica has not received",
				phase, v.Format(time.RFC3339Nano), committed.Format(time.RFC3339Nano))
		}
	}
	skip := []struct {
		file string
		pos  int64
	}{{"binlog.000001", 4}, {"binlog.000001", 5000}, {"binlog.000001", 9000}, {"binlog.000002", 300}, {"binlog.000002", 700}}
	for i, p := range skip {
		d := 20*time.Second + time.Duration(i)*time.Second
		read(d+500*time.Millisecond, d+400*time.Millisecond, func(r *scriptedReplica) {
			r.file, r.pos, r.relayFile, r.relayPos, r.relaySpace = p.file, p.pos, "relay.000004", int64(100*i+200), int64(100*i+200)
		})
		check(fmt.Sprintf("skipping at %s:%d", p.file, p.pos))
	}
	// The skip ends where the old connection stood (the relay log's
	// rotation unseen too: the worst case), and the source sends a
	// heartbeat before the first new event; readings land before that
	// event arrives.
	back := func(r *scriptedReplica) {
		r.file, r.pos, r.relayFile, r.relayPos, r.relaySpace = "binlog.000002", 1000, "relay.000003", 500, 2000
	}
	read(26*time.Second, 25900*time.Millisecond, back)
	check("the heartbeat before the first event after the skip, state as before")
	read(27*time.Second, 0, nil)
	check("a reading after it, nothing received yet")

	// The events arrive, the applier applies them, and the replica is idle
	// and current again: the proof vouches past them.
	read(28*time.Second, 0, func(r *scriptedReplica) {
		r.retrieved, r.executed, r.pos, r.relayPos, r.relaySpace = src+":1-15", src+":1-12", 2500, 2000, 3500
	})
	check("received, not yet applied")
	read(28500*time.Millisecond, 0, func(r *scriptedReplica) { r.executed = src + ":1-15" })
	for i := range 4 {
		d := 29*time.Second + time.Duration(i)*time.Second
		read(d, d-100*time.Millisecond, nil)
		read(d+500*time.Millisecond, 0, nil)
	}
	if v := vouched(); !v.After(committed) {
		t.Fatalf("current and idle again, the proof vouches only for %s", v.Format(time.RFC3339Nano))
	}

	// Again, with the readings missing the reconnection altogether: the
	// source commits 16-20 at +40s, the IO thread reconnects, skips back to
	// exactly where it stood, and counts the heartbeat before the first new
	// event; readings before that event arrives show the state unchanged
	// and one more heartbeat.
	committed = at(40 * time.Second)
	read(45*time.Second, 44900*time.Millisecond, nil)
	check("a heartbeat after an unseen reconnection, state unchanged")
	read(45500*time.Millisecond, 0, nil)
	check("a reading after it, nothing received yet")
	read(46*time.Second, 0, func(r *scriptedReplica) {
		r.retrieved, r.executed, r.pos, r.relayPos, r.relaySpace = src+":1-20", src+":1-20", 4000, 2600, 5000
	})
	check("received and applied, no heartbeat since")
}
