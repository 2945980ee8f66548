package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

var stormOptions = sim.Options{Workers: 4, Seed: 7, MultiRow: 0.2, Flap: 0.3, Noise: 0.1}

func TestStormMatchesGroundTruth(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 1000, 60)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	o := stormOptions
	o.Transitions = 2500
	start := time.Now()
	truth := storm(t, db, sites, o)
	t.Logf("storm of %d transitions took %s", len(truth), time.Since(start))
	start = time.Now()
	n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal")
	t.Logf("compare took %s", time.Since(start))
	if n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	d.stop()
}

// runStormInBackground drives the simulator while the test does other
// things; wait returns its ground truth.
func runStormInBackground(t *testing.T, db *testdb.DB, sites []sim.Site, o sim.Options) (wait func() []sim.Transition) {
	done := make(chan []sim.Transition, 1)
	go func() { done <- storm(t, db, sites, o) }()
	return func() []sim.Transition { return <-done }
}

func TestCrashesLoseAndRepeatNothing(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 2000, 50)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 3000, 1500, 11
	wait := runStormInBackground(t, db, sites, o)
	for i, pause := range []time.Duration{300 * time.Millisecond, 450 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond} {
		time.Sleep(pause)
		d.kill()
		t.Logf("SIGKILL %d after %s", i+1, pause)
		d = startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	}
	truth := wait()
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	d.stop()
}

func TestReplicaRestartResumes(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{ServerID: 3})
	db := testdb.NewDBOn(t, server)
	sites := setupSites(t, db, 3000, 50)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Seed = 1000, 21
	truth := storm(t, db, sites, o)
	server.Stop()
	waitHealth(t, d, 503)
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	// The follower reconnects after a back-off that grew while the server
	// was down: the replica answering is not yet the follower following.
	if err := d.proc.WaitReady(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	o.Seed = 22
	truth = append(truth, storm(t, db, sites, o)...)
	// /healthz answers 200 as soon as the server does, which may be before
	// the follower has re-attached and applied the second storm: wait for
	// what is compared, the journal vouching for the whole run.
	until := time.Now()
	waitCovered(t, d, sites[0].BlogID, since, until)
	if n := compare(t, d, truth, since, until, "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	if !contains(d.log.String(), "replication stream") {
		t.Errorf("the follower never reported the broken stream:\n%s", d.log)
	}
	d.stop()
}

func TestPurgedBinlogRecordsGap(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{ServerID: 4})
	db := testdb.NewDBOn(t, server)
	sites := setupSites(t, db, 4000, 50)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	sinceA := coveredFrom()
	o := stormOptions
	o.Transitions, o.Seed = 600, 31
	truthA := storm(t, db, sites, o)
	untilA := time.Now().Truncate(time.Second).Add(time.Second)
	waitCovered(t, d, sites[0].BlogID, sinceA, untilA)
	d.stop()

	gapStart := coveredFrom()
	o.Seed = 32
	storm(t, db, sites, o) // lost with the purged binlog
	purgeAll(t, server)
	gapEnd := time.Now()

	d = startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	if !contains(d.log.String(), "COVERAGE GAP") {
		t.Fatalf("no gap logged after the purge:\n%s", d.log)
	}
	sinceC := coveredFrom()
	o.Seed = 33
	truthC := storm(t, db, sites, o)

	checkGap(t, d, sites, truthA, sinceA, untilA, gapStart, gapEnd, truthC, sinceC)
	d.stop()
}

// checkGap checks a journal whose coverage has a gap holding [gapStart,
// gapEnd): before it, truthBefore was recorded in [sinceBefore,
// untilBefore), after it truthAfter from sinceAfter on. Each side answers
// "journal" and equals its truth; for the first sites, a window across the
// gap answers "mixed" and one inside it "synthesized".
func checkGap(t *testing.T, d *daemon, sites []sim.Site, truthBefore []sim.Transition, sinceBefore, untilBefore, gapStart, gapEnd time.Time, truthAfter []sim.Transition, sinceAfter time.Time) {
	t.Helper()
	compare(t, d, truthBefore, sinceBefore, untilBefore, "journal")
	compare(t, d, truthAfter, sinceAfter, time.Now().Add(time.Hour), "journal")
	for _, s := range sites[:5] {
		if _, cov := d.events(s.BlogID, sinceBefore, time.Now().Add(time.Hour)); cov != "mixed" {
			t.Errorf("blog %d: window across the gap answered %q, want mixed", s.BlogID, cov)
		}
		if _, cov := d.events(s.BlogID, gapStart, gapEnd); cov != "synthesized" {
			t.Errorf("blog %d: window inside the gap answered %q, want synthesized", s.BlogID, cov)
		}
	}
}

// purgeAll rotates the binlog and purges every older file. MariaDB keeps
// a file until its binlog checkpoint passes it, so this retries until
// SHOW BINARY LOGS lists the current file alone.
func purgeAll(t *testing.T, server *testdb.Server) {
	t.Helper()
	sqlDB := mustDB(t, server.DSN(""))
	if _, err := sqlDB.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var file string
		var pos any
		var rest1, rest2 any
		if err := sqlDB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &rest1, &rest2); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlDB.Exec("PURGE BINARY LOGS TO '" + file + "'"); err != nil {
			t.Fatal(err)
		}
		var n int
		rows, err := sqlDB.Query("SHOW BINARY LOGS")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			n++
		}
		rows.Close()
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("binlogs still listed after purge: %d", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAlterTableMidStream(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 5000, 50)
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Seed = 500, 41
	truth := storm(t, db, sites, o)
	// A column first shifts every other column's position in the row image.
	db.MustExec(t, "ALTER TABLE jetpack_monitor_sites ADD COLUMN first_col INT NOT NULL DEFAULT 7 FIRST")
	o.Seed = 42
	truth = append(truth, storm(t, db, sites, o)...)
	// And across a restart: the follower catches up over a second change.
	d.stop()
	db.MustExec(t, "ALTER TABLE jetpack_monitor_sites ADD COLUMN note VARCHAR(20) NULL AFTER blog_id")
	o.Seed = 43
	truth = append(truth, storm(t, db, sites, o)...)
	d = startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	d.stop()
}
