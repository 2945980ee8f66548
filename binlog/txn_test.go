package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
)

// TestSavepointsKeepTransactionsWhole: transactions that set savepoints,
// roll back to them and release them are journaled whole: the rolled-back
// transitions never, every transition with its transaction's GTID, and no
// batch ends inside a transaction (each transaction is a batch of its own
// here, MaxBatch 1, and the follower is stopped and restarted while it
// catches up), so a stop resumes past none of one. One follower reads the
// replica. Another reads the primary, whose binlog also holds what ROLLBACK
// TO undid, as a MyISAM table changed after the savepoint makes it write
// SAVEPOINT, the rows, ROLLBACK TO (the replica, applying the MyISAM change
// as a group of its own, drops the undone rows from its binlog).
func TestSavepointsKeepTransactionsWhole(t *testing.T) {
	const txns = 40
	c := newChain(t, testdb.TopologyOptions{}, 4*txns)
	c.db.MustExec(t, "CREATE TABLE side (id int PRIMARY KEY, n int) ENGINE=MyISAM")
	c.db.MustExec(t, "INSERT INTO side VALUES (1, 0)")
	type follower struct {
		name        string
		server      *testdb.Server
		r           *rig
		mu          sync.Mutex
		checkpoints []journal.Checkpoint
	}
	followers := []*follower{
		{name: "replica", server: c.tp.Replica().Server, r: c.r},
		{name: "primary", server: c.tp.Primary, r: newRig(t, &testdb.DB{Server: c.tp.Primary, Name: c.db.Name})},
	}
	for _, f := range followers {
		f.r.maxBatch = 1
		f.r.committed = func(cp journal.Checkpoint) {
			f.mu.Lock()
			f.checkpoints = append(f.checkpoints, cp)
			f.mu.Unlock()
		}
		c.r = f.r
		c.r.start()
		c.pastSpanStart(c.r.journal)
		c.r.stop()
	}
	for i := range txns {
		b := 4*i + 1
		c.exec("BEGIN",
			transition(b, 0),
			"SAVEPOINT s1",
			"UPDATE side SET n = n + 1",
			transition(b+1, 2), // undone
			"ROLLBACK TO SAVEPOINT s1",
			transition(b+2, 0),
			"SAVEPOINT s2",
			transition(b+3, 2),
			"RELEASE SAVEPOINT s2",
			"SAVEPOINT S1", // moves s1 (names ignore case)
			"COMMIT")
	}
	c.waitCaughtUp()
	if n := len(c.truth()); n != 3*txns {
		t.Fatalf("the primary committed %d transitions, want %d", n, 3*txns)
	}
	for _, f := range followers {
		t.Run(f.name, func(t *testing.T) {
			c.t, c.r = t, f.r
			// Catch up, stopping as soon as the stream has begun, again and
			// again, then to the end.
			target, stops := c.lastGTID(), 0
			for ; stops < 20 && !c.committed(target); stops++ {
				c.r.start()
				c.r.stop()
			}
			t.Logf("stopped %d times while catching up", stops)
			c.r.start()
			c.waitJournaled()
			c.exactly()
			// Every transition carries its transaction's GTID: three per
			// GTID.
			perGTID := map[string]int{}
			for _, e := range c.journaled() {
				if e.GTID == "" {
					t.Errorf("event %+v has no GTID", e.Event)
				}
				perGTID[e.GTID]++
			}
			for g, n := range perGTID {
				if n != 3 {
					t.Errorf("GTID %s names %d transitions, want its transaction's 3", g, n)
				}
			}
			// No batch ended inside a transaction: each checkpoint is where
			// the server's binlog starts a new event group (or ends).
			c.r.stop()
			f.mu.Lock()
			checkpoints := f.checkpoints
			f.mu.Unlock()
			ends := groupEnds(t, f.server)
			for _, cp := range checkpoints {
				if !ends[Position{cp.File, cp.Pos}] {
					t.Errorf("a batch ended at %s:%d, inside a transaction", cp.File, cp.Pos)
				}
			}
		})
	}
}

// groupEnds lists the positions of the server's binlog outside every
// event group: where a GTID event starts, after the events that belong to
// none (format description, GTID list, binlog checkpoint, rotation), and
// where the binlog ends now.
func groupEnds(t *testing.T, server *testdb.Server) map[Position]bool {
	t.Helper()
	db, err := sql.Open("mysql", server.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := binaryLogs(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[Position]bool{}
	for _, f := range files {
		rows, err := db.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s'", f))
		if err != nil {
			t.Fatal(err)
		}
		ends[Position{f, 4}] = true
		for rows.Next() {
			var logName, typ, info string
			var start, server, end uint32
			if err := rows.Scan(&logName, &start, &typ, &server, &end, &info); err != nil {
				t.Fatal(err)
			}
			if typ == "Gtid" {
				ends[Position{f, start}] = true
			}
			ends[Position{f, end}] = ends[Position{f, end}] || typ == "Rotate" || typ == "Gtid_list" || typ == "Binlog_checkpoint" || typ == "Format_desc"
		}
		rows.Close()
	}
	// The end of the last file, where the binlog stands now.
	end, err := CurrentPosition(context.Background(), db, FlavorMariaDB)
	if err != nil {
		t.Fatal(err)
	}
	ends[end.Position] = true
	return ends
}

// xaSession runs statements on a connection of its own to the primary,
// then disconnects: a prepared XA transaction outlives its session.
func (c *chain) xaSession(stmts ...string) {
	c.t.Helper()
	db, err := sql.Open("mysql", c.db.DSN())
	if err != nil {
		c.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			c.t.Fatalf("%s: %v", s, err)
		}
	}
}

// eventsOf is the journal's events of blog.
func (c *chain) eventsOf(blog uint64) []journal.SourcedEvent {
	var out []journal.SourcedEvent
	for _, e := range c.journaled() {
		if e.BlogID == blog {
			out = append(out, e)
		}
	}
	return out
}

// TestXATransactions: on a replica of a MariaDB primary, a prepared XA
// transaction's transitions join the journal only at its XA COMMIT, once,
// with the commit's GTID (and its time, for an update that left
// last_status_change alone), also when the follower was stopped between
// XA PREPARE and XA COMMIT; XA ROLLBACK journals nothing; XA COMMIT ... ONE
// PHASE at once. An XA transaction prepared before coverage began and
// committed after is a gap ("an XA transaction prepared before coverage
// began was committed") and a fresh span, whose snapshot holds its change.
func TestXATransactions(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 6)
	c.xaSession("XA START 'x0'", transition(6, 2), "XA END 'x0'", "XA PREPARE 'x0'")
	c.waitCaughtUp()
	c.r.start()
	c.pastSpanStart(c.r.journal)

	// Prepared, then the follower stops; committed while it is stopped.
	c.xaSession("XA START 'x1'", transition(1, 0), "UPDATE jetpack_monitor_sites SET site_status=2 WHERE blog_id=2", "XA END 'x1'", "XA PREPARE 'x1'")
	c.waitJournaled()
	if evs := append(c.eventsOf(1), c.eventsOf(2)...); len(evs) != 0 {
		t.Fatalf("a prepared XA transaction's transitions were journaled before its commit: %+v", evs)
	}
	if cp, _ := c.r.journal.Checkpoint(); len(cp.Prepared) != 1 || len(cp.Prepared[0].Changes) != 2 {
		t.Fatalf("the checkpoint carries %+v, want x1 with its two changes", cp.Prepared)
	}
	c.r.stop()
	var before, after time.Time
	c.primary.QueryRow("SELECT UTC_TIMESTAMP()").Scan(&before)
	c.xaSession("XA COMMIT 'x1'")
	commitGTID := c.lastGTID()
	c.primary.QueryRow("SELECT UTC_TIMESTAMP()").Scan(&after)
	c.r.start()
	c.waitJournaled()
	for _, blog := range []uint64{1, 2} {
		evs := c.eventsOf(blog)
		if len(evs) != 1 || evs[0].GTID != commitGTID {
			t.Fatalf("blog %d: %+v, want one transition with the XA COMMIT's GTID %s", blog, evs, commitGTID)
		}
	}
	if at := c.eventsOf(2)[0].CreatedAt; at.Before(before.Truncate(time.Second)) || at.After(after) {
		t.Errorf("an XA transition that left last_status_change alone is timed %s, want the XA COMMIT's, within [%s, %s]", at, before, after)
	}

	// Prepared, the follower restarted, rolled back: nothing.
	c.xaSession("XA START 'x2'", transition(3, 0), "XA END 'x2'", "XA PREPARE 'x2'")
	c.waitJournaled()
	c.r.stop()
	c.r.start()
	c.xaSession("XA ROLLBACK 'x2'")
	// One phase: at once.
	c.xaSession("XA START 'x3'", transition(4, 0), "XA END 'x3'", "XA COMMIT 'x3' ONE PHASE")
	c.waitJournaled()
	if evs := c.eventsOf(3); len(evs) != 0 {
		t.Fatalf("a rolled-back XA transaction's transition was journaled: %+v", evs)
	}
	if cp, _ := c.r.journal.Checkpoint(); len(cp.Prepared) != 0 {
		t.Fatalf("the checkpoint carries %+v, want nothing (x0 was prepared before the follower began)", cp.Prepared)
	}
	c.exactly()

	// Prepared before coverage began: its commit's changes are unknown.
	c.xaSession("XA COMMIT 'x0'")
	c.waitCaughtUp()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.running()
		st, err := c.r.journal.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Gaps) == 1 && st.Gaps[0].Reason == ReasonUnknownXA {
			break
		}
		if len(st.Gaps) > 0 || time.Now().After(deadline) {
			t.Fatalf("gaps %+v, want one: %q", st.Gaps, ReasonUnknownXA)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.waitJournaled()
	c.withinSpans()
	if evs := c.eventsOf(6); len(evs) != 0 {
		t.Fatalf("blog 6: %+v, an XA transaction's transition the follower never saw", evs)
	}
	m, ok, err := c.r.journal.BlogMonitor(6)
	if err != nil || !ok || m.Status != bridge.StatusConfirmedDown {
		t.Fatalf("blog 6's row in the fresh span's snapshot: %+v %v %v, want status 2", m, ok, err)
	}
}
