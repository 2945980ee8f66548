package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
)

// journalStats runs "jetmon-bridge journal stats -json" on a journal no
// bridge holds.
func journalStats(t *testing.T, path string) journal.Stats {
	t.Helper()
	code, stdout, stderr := runTool(t, "journal", "stats", "-journal", path, "-json")
	var st journal.Stats
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil {
		t.Fatalf("journal stats: exit %d: %s%s", code, stdout, stderr)
	}
	return st
}

// coverageEnd is the end of the last coverage span /healthz reports.
func coverageEnd(t *testing.T, d *daemon) time.Time {
	t.Helper()
	_, body, err := d.proc.Get(context.Background(), "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Journal struct {
			Coverage struct{ End time.Time }
		}
	}
	json.Unmarshal(body, &h)
	return h.Journal.Coverage.End
}

// TestFailoverToAnotherReplica: the bridge follows replica A of a primary
// while the simulator writes on the primary; it is stopped and started on
// replica B of the same primary with the same journal. B lags (its SQL
// thread is stopped), so it has not applied all the journal holds: the
// bridge waits for it instead of writing anything off. Once B catches up
// it resumes by GTID set, says so loudly, and the history equals the
// primary's truth: nothing lost, nothing repeated, coverage unbroken
// ("journal" for the whole run).
func TestFailoverToAnotherReplica(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{Replicas: 2})
	db := tp.NewDB(t)
	sites := setupSites(t, db, 6000, 40)
	replicaA, replicaB := tp.Replicas[0], tp.Replicas[1]
	ctx := context.Background()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", replicaA.DSN(db.Name), "-journal", path)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 3000, 1000, 61
	wait := runStormInBackground(t, db, sites, o)
	if err := replicaB.StopSQLThread(); err != nil {
		t.Fatal(err)
	}
	// Into the storm, once A's span has advanced: the switch happens while
	// the primary writes.
	waitFor(t, "coverage on replica A to advance", time.Minute, func() bool { return coverageEnd(t, d).After(since) })
	d.stop()

	// Started on B without waiting for it to be ready: it cannot be yet.
	p := &bridgetest.Process{Binary: binary, Addr: freeAddr(t), Output: &bridgetest.LogBuffer{},
		Args: []string{"-heartbeat", "500ms", "-dsn", replicaB.DSN(db.Name), "-journal", path}}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	d = &daemon{t: t, proc: p, addr: p.Addr, log: p.Output}
	waitFor(t, "the bridge to wait for replica B", time.Minute, func() bool {
		return d.log.Count("has not yet applied the journal's GTIDs") > 0
	})
	if err := replicaB.StartSQLThread(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	truth := wait()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// On a replica the journal vouches for the present only after a
	// heartbeat proves it (docs/guarantees.md, "Coverage on a replica"), so
	// a window reaching into the future waits up to -read-timeout per
	// request: compare up to now, once it is covered.
	until := time.Now()
	waitCovered(t, d, sites[0].BlogID, since, until)
	if n := compare(t, d, truth, since, until, "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	if d.log.Count("FOLLOWED SERVER CHANGED", replicaA.Addr(), replicaB.Addr()) != 1 {
		t.Errorf("the switch was not logged once as a warning naming both servers:\n%s", d.log.Tail(4000))
	}
	if d.log.Count("COVERAGE GAP") != 0 {
		t.Errorf("a gap was recorded for a switch by GTID:\n%s", d.log.Tail(4000))
	}
	if h, _, ok := d.health(); !ok || !strings.HasPrefix(h.Follower.Server, replicaB.Addr()+" ") {
		t.Errorf("/healthz names the server %q, want replica B %s", h.Follower.Server, replicaB.Addr())
	}
	d.stop()

	st := journalStats(t, path)
	if len(st.Spans) != 2 || len(st.Gaps) != 1 || !st.Gaps[0].Start.Equal(st.Gaps[0].End) ||
		!strings.HasPrefix(st.Gaps[0].Reason, "followed server changed") {
		_, text, _ := runTool(t, "journal", "stats", "-journal", path)
		t.Fatalf("spans %+v gaps %+v: want two spans, the second starting where the first ended\n%s\n%s", st.Spans, st.Gaps, text, d.log)
	}
	if !strings.HasPrefix(st.Spans[0].Server, replicaA.Addr()+" server_id 2 ") || !strings.HasPrefix(st.Spans[1].Server, replicaB.Addr()+" server_id 3 ") {
		t.Errorf("span servers %q then %q, want replica A then replica B", st.Spans[0].Server, st.Spans[1].Server)
	}
	if st.Checkpoint == nil || st.Checkpoint.Server == nil || st.Checkpoint.Server.Addr != replicaB.Addr() {
		t.Errorf("checkpoint %+v does not name replica B", st.Checkpoint)
	}
	if code, out, _ := runTool(t, "journal", "verify", "-journal", path); code != 0 {
		t.Errorf("journal verify after a failover: exit %d\n%s", code, out)
	}
}

// TestSwitchToAnUnrelatedServerRecordsGap: started with the same journal
// on a server that did not write it and does not share its GTID history,
// the bridge never resumes at the journal's position: it records a gap
// "followed server changed" and starts a new span. A window across the
// gap is answered mixed, one inside it synthesized, and what follows the
// new span's start is exact.
func TestSwitchToAnUnrelatedServerRecordsGap(t *testing.T) {
	dbA := testdb.NewDB(t)
	sitesA := setupSites(t, dbA, 7000, 30)
	path := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", dbA.DSN(), "-journal", path)
	sinceA := coveredFrom()
	o := stormOptions
	o.Transitions, o.Seed = 400, 71
	truthA := storm(t, dbA, sitesA, o)
	untilA := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(untilA) + 1500*time.Millisecond) // a heartbeat records coverage past untilA
	d.stop()

	serverB := testdb.Dedicated(t, testdb.Options{ServerID: 9})
	dbB := testdb.NewDBOn(t, serverB)
	sitesB := setupSites(t, dbB, 7000, 30) // the same blogs on the other server
	gapStart := coveredFrom()
	o.Seed = 72
	storm(t, dbB, sitesB, o) // before the bridge follows B: inside the gap
	gapEnd := time.Now()

	d = startBridge(t, "-dsn", dbB.DSN(), "-journal", path)
	if d.log.Count("COVERAGE GAP", "followed server changed") != 1 {
		t.Fatalf("no gap logged for the change of server:\n%s", d.log.Tail(4000))
	}
	sinceC := coveredFrom()
	o.Seed = 73
	truthC := storm(t, dbB, sitesB, o)
	checkGap(t, d, sitesB, truthA, sinceA, untilA, gapStart, gapEnd, truthC, sinceC)
	d.stop()

	st := journalStats(t, path)
	if len(st.Gaps) != 1 || st.Gaps[0].Reason != "followed server changed" || !st.Gaps[0].End.After(st.Gaps[0].Start) {
		t.Fatalf("gaps %+v", st.Gaps)
	}
	if !strings.HasPrefix(st.Spans[1].Server, serverB.Addr()+" server_id 9 ") {
		t.Errorf("the new span's server is %q, want %s server_id 9", st.Spans[1].Server, serverB.Addr())
	}
	_, text, _ := runTool(t, "journal", "stats", "-journal", path)
	if !strings.Contains(text, "followed server changed") || !strings.Contains(text, "server "+serverB.Addr()) {
		t.Errorf("journal stats does not show the gap and the new server:\n%s", text)
	}
}
