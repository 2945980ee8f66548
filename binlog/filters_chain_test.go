package binlog

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestReplicationFilterEndsCoverage sets a replication filter on a real
// replica while the bridge follows it (MariaDB allows it between STOP SLAVE
// and START SLAVE), while the primary commits transitions the replica now
// drops and other changes it still applies. Coverage stops at once: the
// span ends with the filter named, no answer covers a dropped transition,
// the follower's replication health names the filter. Once the filter is
// gone coverage stays held until the table is re-synchronized; then a fresh
// span starts from a new snapshot, and transitions after it answer journal
// with the primary's truth; windows across the gap never do.
func TestReplicationFilterEndsCoverage(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 4)
	c.db.MustExec(t, "CREATE TABLE other_table (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
	c.waitCaughtUp()
	replica, r := c.tp.Replica(), c.r
	var answers []answer
	spanStart := c.beforeTheFilter(&answers)

	filter := c.ignoreTable(replica)
	// Dropped transitions, among changes the replica still applies.
	// Transitions the replica drops, then changes it still applies, stamped
	// after them; windows holding the dropped ones are asked for as long
	// as five heartbeats take to arrive.
	dropped := c.flips(1, 2)
	c.waitServerPast(dropped.Add(time.Second))
	heartbeatsPass(t, c, replica, 5, func() {
		c.db.MustExec(t, "INSERT INTO other_table (v) VALUES (1)")
		c.wantUncovered(r.journal, &answers, "filtered", spanStart, dropped.Add(time.Second),
			"the journal vouched for a window holding a transition the replica's filter dropped", 1, 2)
	})
	waitFor(t, "the follower to see the filter", func() bool {
		err := r.follower.ReplicaProblem()
		return err != nil && strings.Contains(err.Error(), "replicate_ignore_table='"+filter+"'") && !journalCovering(r.journal)
	})
	if st, ok, _ := r.follower.Replication(); !ok || st.Filtered == nil {
		t.Errorf("replication health while filtered: ok=%v filtered=%v", ok, st.Filtered)
	}
	if st, err := r.journal.Stats(); err != nil || !strings.Contains(st.Stopped, "replicate_ignore_table") || !strings.Contains(st.Stopped, "STOP SLAVE; SET GLOBAL replicate_ignore_table=''; START SLAVE") {
		t.Errorf("coverage stopped for %q (err %v), want the filter and its fix named", st.Stopped, err)
	}

	c.unignoreTable(replica)
	// The filter dropped changes: coverage stays held, with the fix named,
	// until the replica's table is re-synchronized and the operator says so
	// (TestAHoldLiftsWhenTheOperatorSaysResynced holds the rest of it).
	waitFor(t, "a reading without the filter, coverage held", func() bool {
		st, ok, _ := r.follower.Replication()
		err := r.follower.ReplicaProblem()
		return ok && st.Filtered == nil && st.Running() && err != nil && strings.Contains(err.Error(), "coverage is held") && !journalCovering(r.journal)
	})
	c.resync(1)
	c.resync(2)
	if rep := r.follower.Resynced(context.Background()); rep.Outcome != ResyncReleased {
		t.Fatalf("resynced: %+v", rep)
	}
	waitFor(t, "a fresh span once the filter is gone and the table re-synchronized", func() bool {
		return journalCovering(r.journal) && len(r.journal.Spans(time.Time{})) == 2 && r.follower.ReplicaProblem() == nil
	})
	if st, ok, _ := r.follower.Replication(); !ok || st.Filtered != nil {
		t.Errorf("replication health after the filter: ok=%v filtered=%v", ok, st.Filtered)
	}
	fresh := lastSpanStart(r.journal)
	if !fresh.After(dropped) {
		t.Errorf("the fresh span starts at %s, before the last dropped transition at %s", fresh, dropped)
	}
	// Blogs 3 and 4 had no change dropped: their transitions after the
	// fresh span's start are the journal's to answer.
	c.waitServerPast(fresh)
	last := c.flips(3, 4)
	for blog := uint64(3); blog <= 4; blog++ {
		c.askUntilCovered(r.journal, &answers, "after the filter", blog, fresh, last.Add(time.Second))
	}
	for blog := uint64(1); blog <= 4; blog++ {
		if a := c.ask(r.journal, "across the gap", blog, spanStart, c.serverNow()); a.covered {
			t.Errorf("blog %d: a window across the filter's gap answered journal", blog)
		}
	}
	c.judgeCovered(answers, map[string]int{"after the filter": 2, "before the filter": 1})
}

// TestPreflightRefusesFilters starts the bridge's preflight on real
// servers with a replication filter, and with binlog filters, that leave
// the table out: each is refused with the setting named.
func TestPreflightRefusesFilters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Run("replication filter", func(t *testing.T) {
		c := newChain(t, testdb.TopologyOptions{}, 1)
		replica := c.tp.Replica()
		pool, err := openPool(c.onReplica(replica))
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := Preflight(ctx, pool); err != nil {
			t.Fatalf("no filter: %v", err)
		}
		if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_wild_ignore_table='" + c.db.Name + ".%,mysql.%'; START SLAVE"); err != nil {
			t.Fatal(err)
		}
		_, err = Preflight(ctx, pool)
		var p *FilterProblem
		if !errors.As(err, &p) || !strings.HasPrefix(p.Setting, "replicate_wild_ignore_table=") ||
			!strings.Contains(err.Error(), "SET GLOBAL replicate_wild_ignore_table='mysql.%'") {
			t.Fatalf("preflight with replicate_wild_ignore_table: %v", err)
		}
		if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_wild_ignore_table='mysql.%'; START SLAVE"); err != nil {
			t.Fatal(err)
		}
		if _, err := Preflight(ctx, pool); err != nil {
			t.Fatalf("a filter that keeps the table: %v", err)
		}
	})
	for _, c := range []struct {
		option, setting string
	}{
		{"--binlog-ignore-db=jetmon_filtered", "binlog_ignore_db"},
		{"--binlog-do-db=otherdb", "binlog_do_db"},
	} {
		t.Run(c.setting, func(t *testing.T) {
			s := testdb.Dedicated(t, testdb.Options{Args: []string{c.option}})
			if err := s.Exec("CREATE DATABASE jetmon_filtered"); err != nil {
				t.Fatal(err)
			}
			pool, err := sql.Open("mysql", s.DSN("jetmon_filtered"))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			_, err = Preflight(ctx, pool)
			var p *FilterProblem
			if !errors.As(err, &p) || !strings.HasPrefix(p.Setting, c.setting+"=") {
				t.Fatalf("preflight with %s: %v", c.option, err)
			}
		})
	}
}
