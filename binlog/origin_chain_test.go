package binlog

import (
	"context"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// heartbeatsPass waits until n replication heartbeats have reached the
// replica since it was called, calling each at the start and after every
// heartbeat: the chances a wrong proof has to vouch. (A primary sends a
// heartbeat only after a period with nothing to send, so each is paced by
// the heartbeats.)
func heartbeatsPass(t *testing.T, c *chain, r *testdb.Replica, n uint64, each func()) {
	t.Helper()
	db := c.onReplica(r)
	pool, err := openPool(db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	read := func() ReplicationStatus {
		t.Helper()
		st, err := ReadReplicationStatus(ctx, pool, FlavorMariaDB, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := read()
	seen := first.Heartbeats
	each()
	for {
		st := read()
		if st.Heartbeats >= first.Heartbeats+n {
			return
		}
		if st.Heartbeats > seen {
			seen = st.Heartbeats
			each()
		}
		if ctx.Err() != nil {
			t.Fatalf("%d heartbeats never arrived: %+v", n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLocalWritesOnAReplicaMoveNoCoverage: while the replica's SQL thread
// is stopped and the primary commits transitions, writes made on the
// replica itself (a database, a table, rows, FLUSH PRIVILEGES: they get the
// replica's own server_id) must not move coverage over the transitions it
// has not applied, under either replica proof. Every answer is judged
// against the truth the primary recorded; once replication resumes,
// answers reach journal again.
func TestLocalWritesOnAReplicaMoveNoCoverage(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 3)
	replica := c.tp.Replica()
	for _, name := range []string{"replica-status", "primary-gtid"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, c.onReplica(replica))
			r.waitLimit, r.poll = time.Second, 100*time.Millisecond
			if name == "primary-gtid" {
				r.primaryDSN = c.db.DSN()
			}
			r.start()
			defer r.stop()
			var answers []answer
			spanStart := r.journal.Spans(time.Time{})[0].Start
			c.waitServerPast(spanStart)
			c.askUntilCovered(r.journal, &answers, "healthy", 1, spanStart, c.serverNow())
			if err := replica.StopSQLThread(); err != nil {
				t.Fatal(err)
			}
			stopped := true
			defer func() {
				if stopped {
					replica.StartSQLThread()
				}
			}()
			var last time.Time
			for blog := 1; blog <= 3; blog++ {
				last = c.flip(blog)
			}
			if err := replica.Exec("CREATE DATABASE IF NOT EXISTS localdb; CREATE TABLE IF NOT EXISTS localdb.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); " +
				"INSERT INTO localdb.t (v) VALUES (1); FLUSH PRIVILEGES"); err != nil {
				t.Fatal(err)
			}
			heartbeatsPass(t, c, replica, 4, func() {
				if err := replica.Exec("INSERT INTO localdb.t (v) VALUES (2); ANALYZE TABLE localdb.t"); err != nil {
					t.Fatal(err)
				}
				for blog := uint64(1); blog <= 3; blog++ {
					a := c.ask(r.journal, "sql thread stopped, local writes", blog, spanStart, last.Add(time.Second))
					if a.covered {
						t.Fatalf("blog %d: the journal vouched for a window holding a transition the replica has not applied, after writes on the replica itself (events %v; spans %s)",
							blog, a.events, spanReasons(r.journal))
					}
					answers = append(answers, a)
				}
			})
			if err := replica.StartSQLThread(); err != nil {
				t.Fatal(err)
			}
			stopped = false
			c.waitCaughtUp()
			for blog := uint64(1); blog <= 3; blog++ {
				c.askUntilCovered(r.journal, &answers, "caught up", blog, spanStart, last.Add(time.Second))
			}
			if n := c.judge(answers); n["caught up"] != 3 {
				t.Errorf("covered answers per phase %v", n)
			}
		})
	}
}
