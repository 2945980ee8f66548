package binlog

import (
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

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
			c.t = t // the chain's helpers fail this subtest
			r := newRig(t, c.onReplica(replica))
			if name == "primary-gtid" {
				r.primaryDSN = c.db.DSN()
			}
			spanStart := c.startInSpan(r)
			var answers []answer
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
			last := c.flips(1, 2, 3)
			if err := replica.Exec("CREATE DATABASE IF NOT EXISTS localdb; CREATE TABLE IF NOT EXISTS localdb.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT); " +
				"INSERT INTO localdb.t (v) VALUES (1); FLUSH PRIVILEGES"); err != nil {
				t.Fatal(err)
			}
			heartbeatsPass(t, c, replica, 4, func() {
				if err := replica.Exec("INSERT INTO localdb.t (v) VALUES (2); ANALYZE TABLE localdb.t"); err != nil {
					t.Fatal(err)
				}
				c.wantUncovered(r.journal, &answers, "sql thread stopped, local writes", spanStart, last.Add(time.Second),
					"the journal vouched for a window holding a transition the replica has not applied, after writes on the replica itself", 1, 2, 3)
			})
			if err := replica.StartSQLThread(); err != nil {
				t.Fatal(err)
			}
			stopped = false
			c.waitCaughtUp()
			for blog := uint64(1); blog <= 3; blog++ {
				c.askUntilCovered(r.journal, &answers, "caught up", blog, spanStart, last.Add(time.Second))
			}
			c.judgeCovered(answers, map[string]int{"caught up": 3})
		})
	}
}
