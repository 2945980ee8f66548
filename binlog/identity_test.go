package binlog

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
)

func TestCompareHistory(t *testing.T) {
	const a, b = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	for _, c := range []struct {
		flavor       Flavor
		ours, theirs string
		want         history
	}{
		{FlavorMariaDB, "0-1-100", "0-1-120,0-3-7", historyContains},
		{FlavorMariaDB, "0-1-100", "0-1-100", historyContains},
		{FlavorMariaDB, "0-1-100", "0-1-90", historyBehind},
		{FlavorMariaDB, "0-1-100", "0-9-500", historyUnrelated}, // a standalone server of its own
		{FlavorMariaDB, "0-1-100,1-2-5", "0-1-100,1-2-4", historyBehind},
		{FlavorMariaDB, "0-1-100,1-2-5", "0-1-100", historyUnrelated},
		{FlavorMariaDB, "", "0-1-100", historyUnrelated}, // an empty set proves nothing
		{FlavorMySQL, a + ":1-100", a + ":1-120," + b + ":1-3", historyContains},
		{FlavorMySQL, a + ":1-100", a + ":1-90", historyBehind},
		{FlavorMySQL, a + ":1-100", b + ":1-500", historyUnrelated},
		{FlavorMySQL, "", a + ":1-5", historyUnrelated},
	} {
		got, err := compareHistory(c.flavor, c.ours, c.theirs)
		if err != nil || got != c.want {
			t.Errorf("%s: %q against %q: %v, %v; want %v", c.flavor, c.ours, c.theirs, got, err, c.want)
		}
	}
	for _, c := range [][2]string{{"0-1", "0-1-1"}, {"0-1-1", "x"}} {
		if _, err := compareHistory(FlavorMariaDB, c[0], c[1]); err == nil {
			t.Errorf("%q against %q: no error", c[0], c[1])
		}
	}
	if _, err := compareHistory(FlavorMySQL, "nonsense:1", a+":1"); err == nil {
		t.Error("a malformed MySQL set: no error")
	}
}

// rewriteCheckpoint changes the stopped rig's checkpoint.
func (r *rig) rewriteCheckpoint(change func(*journal.Checkpoint)) {
	r.t.Helper()
	j, err := journal.Open(r.path, journal.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	defer j.Close()
	cp, ok := j.Checkpoint()
	if !ok {
		r.t.Fatal("no checkpoint to rewrite")
	}
	change(&cp)
	if err := j.Commit(&journal.Batch{Checkpoint: &cp}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) checkpoint() journal.Checkpoint {
	r.t.Helper()
	cp, ok := r.journal.Checkpoint()
	if !ok {
		r.t.Fatal("no checkpoint")
	}
	return cp
}

func (r *rig) stats() journal.Stats {
	r.t.Helper()
	st, err := r.journal.Stats()
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// TestSwitchByGTIDContinuesWithoutGap: a checkpoint written following
// another server of the same history (here: one whose identity differs,
// on the same binlog) is continued by GTID set alone, never by its file
// and position, which here point nowhere; the coverage continues in a new
// span on the new server with no gap, and no change is lost or repeated.
func TestSwitchByGTIDContinuesWithoutGap(t *testing.T) {
	db := testdb.NewDB(t)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (41, 0, 'https://a.example')")
	r := newRig(t, db)
	r.start()
	here := r.checkpoint().Server
	if here == nil || here.Addr != db.Server.Addr() {
		t.Fatalf("the checkpoint records server %+v, want %s", here, db.Server.Addr())
	}
	upd := "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=FROM_UNIXTIME(?) WHERE blog_id=41"
	db.MustExec(t, upd, 0, 1_700_000_000)
	r.events(41, 1)
	// A span that ends where it starts would be replaced by the next (its
	// key is its start): let a heartbeat advance it first.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s := r.journal.Spans(time.Time{}); s[0].End.After(s[0].Start) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("coverage never advanced")
		}
	}
	r.stop()
	other := journal.ServerIdentity{Addr: "10.9.9.9:3306", ServerID: here.ServerID, GTIDDomain: here.GTIDDomain}
	r.rewriteCheckpoint(func(cp *journal.Checkpoint) {
		cp.Server, cp.File, cp.Pos = &other, "binlog.999999", 123456
	})
	db.MustExec(t, upd, 2, 1_700_000_060) // while stopped
	r.start()
	db.MustExec(t, upd, 1, 1_700_000_120)
	evs := r.events(41, 3)
	time.Sleep(300 * time.Millisecond) // nothing more may arrive
	if evs = r.events(41, 3); len(evs) != 3 || evs[1].NewStatus != bridge.StatusConfirmedDown || evs[2].NewStatus != bridge.StatusRunning {
		t.Fatalf("blog 41 after the switch: %+v", evs)
	}
	cp := r.checkpoint()
	if cp.Server == nil || !cp.Server.Same(*here) || cp.File == "binlog.999999" || cp.File == "" {
		t.Errorf("checkpoint after the switch: %s", cp)
	}
	st := r.stats()
	if len(st.Spans) != 2 || len(st.Gaps) != 1 || !st.Gaps[0].Start.Equal(st.Gaps[0].End) ||
		!strings.HasPrefix(st.Gaps[0].Reason, ReasonServerChanged) || st.Spans[1].Server != here.String() {
		t.Errorf("spans %+v gaps %+v", st.Spans, st.Gaps)
	}
	r.stop()
	if rep, err := journal.Verify(r.path); err != nil || len(rep.Problems) > 0 {
		t.Errorf("verify after the switch: %v %+v", err, rep)
	}
}

// TestSwitchToUnrelatedServerRecordsGap: a server that did not write the
// checkpoint and does not share its GTID history (a standalone server of
// its own) is never resumed at the checkpoint: the follower records a gap
// "followed server changed" and starts a new span from the new server's
// current position.
func TestSwitchToUnrelatedServerRecordsGap(t *testing.T) {
	dbA := testdb.NewDB(t)
	dbA.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (51, 0, 'https://a.example')")
	r := newRig(t, dbA)
	r.start()
	dbA.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=FROM_UNIXTIME(1700000000) WHERE blog_id=51")
	r.events(51, 1)
	r.stop()

	serverB := testdb.Dedicated(t, testdb.Options{ServerID: 9})
	dbB := testdb.NewDBOn(t, serverB)
	dbB.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (52, 0, 'https://b.example')")
	dbB.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=FROM_UNIXTIME(1700000000)") // before the switch
	rB := newRig(t, dbB)
	rB.path = r.path
	rB.start()
	dbB.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=2, last_status_change=FROM_UNIXTIME(1700000060)")
	if evs := rB.events(52, 1); len(evs) != 1 || evs[0].OldStatus != bridge.StatusDown || evs[0].NewStatus != bridge.StatusConfirmedDown {
		t.Fatalf("blog 52 on the new server: %+v", evs)
	}
	st := rB.stats()
	if len(st.Spans) != 2 || len(st.Gaps) != 1 || st.Gaps[0].Reason != ReasonServerChanged || !st.Gaps[0].End.After(st.Gaps[0].Start) {
		t.Fatalf("spans %+v gaps %+v", st.Spans, st.Gaps)
	}
	if !strings.Contains(st.Spans[1].Server, serverB.Addr()+" server_id 9") || !strings.Contains(st.Spans[0].Server, "server_id 1 ") {
		t.Errorf("span servers: %q then %q", st.Spans[0].Server, st.Spans[1].Server)
	}
	if cp := rB.checkpoint(); cp.Server == nil || cp.Server.ServerID != 9 {
		t.Errorf("checkpoint after the switch: %s", cp)
	}
	if evs := rB.events(51, 1); len(evs) != 1 {
		t.Errorf("blog 51's history from the first server: %+v", evs)
	}
}

// TestCheckpointWithoutServerIsAdopted: a checkpoint written before the
// bridge recorded servers resumes as before, with no new span, and records
// the server at the next commit.
func TestCheckpointWithoutServerIsAdopted(t *testing.T) {
	db := testdb.NewDB(t)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (61, 0, 'https://a.example')")
	r := newRig(t, db)
	r.start()
	r.stop()
	r.rewriteCheckpoint(func(cp *journal.Checkpoint) { cp.Server = nil })
	r.start()
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0 WHERE blog_id=61")
	r.events(61, 1)
	if cp := r.checkpoint(); cp.Server == nil || cp.Server.Addr != db.Server.Addr() {
		t.Errorf("checkpoint after a commit: %s", cp)
	}
	if st := r.stats(); len(st.Spans) != 1 {
		t.Errorf("spans %+v gaps %+v", st.Spans, st.Gaps)
	}
}

func TestReadIdentity(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{ServerID: 77, Args: []string{"--gtid-domain-id=5"}})
	db, err := sql.Open("mysql", server.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := ReadIdentity(context.Background(), db, FlavorMariaDB, server.Addr())
	if err != nil || id != (journal.ServerIdentity{Addr: server.Addr(), ServerID: 77, GTIDDomain: 5}) {
		t.Fatalf("identity %+v, %v", id, err)
	}
}

// FuzzCompareHistory feeds GTID strings as a server might report them:
// compareHistory must classify or refuse, never panic, and a set always
// contains itself.
func FuzzCompareHistory(f *testing.F) {
	f.Add("0-1-100", "0-1-120,0-3-7")
	f.Add("0-1-100,1-2-5", "0-1-100")
	f.Add("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9")
	f.Add("", ",")
	f.Fuzz(func(t *testing.T, ours, theirs string) {
		for _, flavor := range []Flavor{FlavorMariaDB, FlavorMySQL} {
			compareHistory(flavor, ours, theirs)
			if h, err := compareHistory(flavor, ours, ours); err == nil && h != historyContains && len(splitGTIDs(ours)) > 0 {
				t.Fatalf("%s: %q does not contain itself: %v", flavor, ours, h)
			}
		}
	})
}
