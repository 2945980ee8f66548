package binlog

import (
	"fmt"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/mysqlscript"
)

// TestMySQLXAThroughADump: MySQL's XA shapes through a follower's whole
// path (a dump of the scripted MySQL 8 server, internal/mysqlscript): a
// prepared transaction journals nothing, survives a restart in the
// checkpoint, and joins the journal once at its XA COMMIT with that
// transaction's GTID; XA ROLLBACK journals nothing; XA COMMIT ... ONE PHASE
// at once; and a savepoint inside a transaction splits nothing.
func TestMySQLXAThroughADump(t *testing.T) {
	s := mysqlscript.Start(t, mysqlscript.Options{})
	sites := s.Sites()
	rows := map[uint64]mysqlscript.Row{}
	for blog := uint64(1); blog <= 4; blog++ {
		rows[blog] = siteRow(blog, blog, fmt.Sprintf("https://%d.example", blog), bridge.StatusRunning, time.Time{})
		s.GTID(mysqlSource, int64(blog)).Begin().Insert(sites, rows[blog]).Commit()
	}
	at := time.Unix(1_700_000_000, 0).UTC()
	down := func(blog uint64) (before, after mysqlscript.Row) {
		before = rows[blog]
		after = siteRow(blog, blog, fmt.Sprintf("https://%d.example", blog), bridge.StatusDown, at)
		rows[blog] = after
		return before, after
	}
	r := newMySQLRig(t, s)
	r.start()

	x1, x2, x3 := mysqlscript.XA("x1"), mysqlscript.XA("x2"), mysqlscript.XA("x3")
	b, a := down(1)
	s.GTID(mysqlSource, 10).XAStart(x1).Update(sites, b, a).XAEnd(x1).XAPrepare(x1)
	b, a = down(2)
	s.GTID(mysqlSource, 11).XAStart(x2).Update(sites, b, a).XAEnd(x2).XAPrepare(x2)
	// A transaction with a savepoint, after which a batch must not end.
	b, a = down(3)
	s.GTID(mysqlSource, 12).Begin().Query("SAVEPOINT `s`").Update(sites, b, a).Query("RELEASE SAVEPOINT `s`").Commit()
	if evs := r.events(3, 1); len(evs) != 1 {
		t.Fatalf("blog 3: %+v", evs)
	}
	if cp, _ := r.journal.Checkpoint(); len(cp.Prepared) != 2 {
		t.Fatalf("the checkpoint carries %+v, want x1 and x2", cp.Prepared)
	}
	if evs := r.events(1, 0); len(evs) != 0 {
		t.Fatalf("blog 1: %+v journaled at XA PREPARE", evs)
	}
	r.stop()
	s.GTID(mysqlSource, 13).XACommit(x1)
	s.GTID(mysqlSource, 14).XARollback(x2)
	b, a = down(4)
	s.GTID(mysqlSource, 15).XAStart(x3).Update(sites, b, a).XAEnd(x3).XACommitOnePhase(x3)
	r.start()
	r.events(4, 1)
	sourced, err := r.journal.EventsAfter(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{1: mysqlSource + ":13", 3: mysqlSource + ":12", 4: mysqlSource + ":15"}
	if len(sourced) != len(want) {
		t.Fatalf("journal holds %+v, want blogs 1, 3 and 4 once each", sourced)
	}
	for _, e := range sourced {
		if want[e.BlogID] != e.GTID || !e.CreatedAt.Equal(at) {
			t.Errorf("%+v, want blog %d with GTID %q at %s", e, e.BlogID, want[e.BlogID], at)
		}
	}
	if cp, _ := r.journal.Checkpoint(); len(cp.Prepared) != 0 {
		t.Fatalf("the checkpoint carries %+v, want nothing", cp.Prepared)
	}
}
