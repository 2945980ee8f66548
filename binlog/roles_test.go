package binlog

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// promote makes a replica a primary: it stops replicating and forgets its
// source, as a failover does.
func promote(t *testing.T, s *testdb.Server) {
	t.Helper()
	if err := s.Exec("STOP SLAVE; RESET SLAVE ALL"); err != nil {
		t.Fatalf("promote %s: %v", s.Addr(), err)
	}
}

// replicateFrom makes s a replica of primary, continuing from the GTIDs s
// already has in its binlog (MASTER_USE_GTID=current_pos: a demoted primary,
// or a replica moved to a promoted sibling).
func replicateFrom(t *testing.T, s, primary *testdb.Server) {
	t.Helper()
	change := fmt.Sprintf("STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1; START SLAVE",
		primary.Port, testdb.ReplicationUser, testdb.ReplicationPassword)
	if err := s.Exec(change); err != nil {
		t.Fatalf("replicate %s from %s: %v", s.Addr(), primary.Addr(), err)
	}
}

// waitApplied waits until s's binlog holds every GTID primary's does.
func waitApplied(t *testing.T, s, primary *testdb.Server) {
	t.Helper()
	pos := func(s *testdb.Server) mysql.GTIDSet {
		t.Helper()
		db, err := sql.Open("mysql", s.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var p string
		if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&p); err != nil {
			t.Fatal(err)
		}
		set, err := mysql.ParseMariadbGTIDSet(p)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	waitFor(t, s.Addr()+" to apply "+primary.Addr()+"'s binlog", func() bool { return pos(s).Contain(pos(primary)) })
}

// TestRolesChangeWhileFollowing changes the followed server's role, and
// -primary-dsn's, under a running follower: the proof follows the roles at
// once, a server that is no longer the primary vouches for nothing its new
// primary commits until it has applied it, and answers reach journal again
// afterwards, every one equal to the truth recorded on the primary of the
// moment.
func TestRolesChangeWhileFollowing(t *testing.T) {
	logSlaveUpdates := []string{"--log-slave-updates"}
	t.Run("a promoted replica gets the self proof", func(t *testing.T) {
		c := newChain(t, testdb.TopologyOptions{}, 2)
		replica, r := c.tp.Replica(), c.r
		spanStart := c.startInSpan(r)
		if got := r.follower.ProofName(); got != "replica-status" {
			t.Fatalf("coverage proof %q on a replica", got)
		}
		var answers []answer
		c.flipAndAsk(r.journal, &answers, "replica", spanStart, 1)

		c.waitCaughtUp()
		promote(t, replica.Server)
		c.writeOn(replica.Server)
		c.flipAndAsk(r.journal, &answers, "promoted", spanStart, 1, 2)
		if got := r.follower.ProofName(); got != "self" {
			t.Errorf("coverage proof %q on the promoted replica, want self", got)
		}
		c.judgeCovered(answers, map[string]int{"promoted": 2})
	})

	t.Run("a demoted primary gets a replica proof", func(t *testing.T) {
		c := newChain(t, testdb.TopologyOptions{PrimaryArgs: logSlaveUpdates}, 2)
		oldPrimary, newPrimary := c.tp.Primary, c.tp.Replica().Server
		r := newRig(t, c.db) // the bridge follows the primary itself
		spanStart := c.startInSpan(r)
		if got := r.follower.ProofName(); got != "self" {
			t.Fatalf("coverage proof %q on the primary", got)
		}
		var answers []answer
		c.flipAndAsk(r.journal, &answers, "primary", spanStart, 1)

		// Failover: the replica becomes the primary, the old primary its
		// replica, which then lags (its SQL thread stopped) while Jetmon
		// writes on the new primary.
		c.waitCaughtUp()
		promote(t, newPrimary)
		replicateFrom(t, oldPrimary, newPrimary)
		waitApplied(t, oldPrimary, newPrimary)
		if err := oldPrimary.Exec("STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
		c.writeOn(newPrimary)
		last := c.flips(1, 2)
		lagging := &testdb.Replica{Server: oldPrimary, Primary: newPrimary}
		heartbeatsPass(t, c, lagging, 4, func() {
			c.wantUncovered(r.journal, &answers, "demoted, lagging", spanStart, last.Add(time.Second),
				"the demoted primary vouched for a transition its new primary committed and it has not applied", 1, 2)
		})
		if got := r.follower.ProofName(); got != "replica-status" {
			t.Errorf("coverage proof %q on the demoted primary, want replica-status", got)
		}
		if err := oldPrimary.Exec("START SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
		for blog := uint64(1); blog <= 2; blog++ {
			c.askUntilCovered(r.journal, &answers, "demoted, caught up", blog, spanStart, last.Add(time.Second))
		}
		c.judgeCovered(answers, map[string]int{"demoted, caught up": 2})
	})

	t.Run("a -primary-dsn that is no longer the primary", func(t *testing.T) {
		c := newChain(t, testdb.TopologyOptions{Replicas: 2, PrimaryArgs: logSlaveUpdates}, 2)
		oldPrimary, followed, newPrimary := c.tp.Primary, c.tp.Replicas[0], c.tp.Replicas[1].Server
		r := c.r                  // on followed, the first replica
		r.primaryDSN = c.db.DSN() // -primary-dsn: the old primary
		spanStart := c.startInSpan(r)
		if got := r.follower.ProofName(); got != "primary-gtid" {
			t.Fatalf("coverage proof %q with -primary-dsn", got)
		}
		var answers []answer
		c.flipAndAsk(r.journal, &answers, "primary-gtid", spanStart, 1)

		// Failover to the other replica; the followed replica and the old
		// primary both replicate from it, and both lag.
		c.waitCaughtUp()
		promote(t, newPrimary)
		replicateFrom(t, followed.Server, newPrimary)
		replicateFrom(t, oldPrimary, newPrimary)
		waitApplied(t, followed.Server, newPrimary)
		waitApplied(t, oldPrimary, newPrimary)
		for _, s := range []*testdb.Server{followed.Server, oldPrimary} {
			if err := s.Exec("STOP SLAVE SQL_THREAD"); err != nil {
				t.Fatal(err)
			}
		}
		c.writeOn(newPrimary)
		last := c.flips(1, 2)
		heartbeatsPass(t, c, &testdb.Replica{Server: followed.Server, Primary: newPrimary}, 4, func() {
			c.wantUncovered(r.journal, &answers, "old -primary-dsn, lagging", spanStart, last.Add(time.Second),
				"vouched for a transition the new primary committed and the followed replica has not applied", 1, 2)
		})
		if p := r.follower.ProofProblem(); !strings.Contains(p, "-primary-dsn server is no longer Jetmon's primary") || r.follower.ProofName() != "replica-status" {
			t.Errorf("proof %q, problem %q: want the replica-status proof and the -primary-dsn named", r.follower.ProofName(), p)
		}
		for _, s := range []*testdb.Server{followed.Server, oldPrimary} {
			if err := s.Exec("START SLAVE SQL_THREAD"); err != nil {
				t.Fatal(err)
			}
		}
		for blog := uint64(1); blog <= 2; blog++ {
			c.askUntilCovered(r.journal, &answers, "old -primary-dsn, caught up", blog, spanStart, last.Add(time.Second))
		}
		c.judgeCovered(answers, map[string]int{"old -primary-dsn, caught up": 2})
	})
}
