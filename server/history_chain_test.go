package server_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// TestMixedAnswerRepeatsNoJournaledTransitionOnAChain replays, on a real
// primary -> replica chain, how blog 6020 came to be counted twice (issue
// 21): Jetmon's UPDATE moved the blog 1 -> 2 (journaled), and a moment later
// ran again with the status the row already had, which moves only
// last_status_change. The follower journals both commits, so coverage ends
// at the second one; the window after it is a gap, and synthesis from the
// replica's row (status 2 since the second UPDATE) spoke for a transition
// 1 -> 2 that the journal already holds. The mixed answer must equal the
// primary's truth: the one transition.
//
// The replica's heartbeat is an hour, so none comes: coverage then reaches
// exactly as far as the source's commits carry it (binlog/origin.go), and
// the stretch after the last one is a gap that /events fills by synthesis:
// coverage trailing a replica, held still so that the test sees it every
// time.
func TestMixedAnswerRepeatsNoJournaledTransitionOnAChain(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{HeartbeatPeriod: time.Hour})
	primary := tp.NewDB(t)
	primary.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status) VALUES (6020, 0, 'https://6020.example', 1)")
	if err := tp.WaitCaughtUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	replicaDB, err := store.Open("-dsn", tp.Replica().DSN(primary.Name), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replicaDB.Close() })
	j, err := journal.Open(filepath.Join(t.TempDir(), "chain.journal"), journal.Options{WaitLimit: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	f, err := binlog.Open(context.Background(), binlog.Config{Replica: replicaDB, Journal: j, ServerID: 6020, Heartbeat: 200 * time.Millisecond})
	if err != nil || !f.Info().Replica {
		t.Fatalf("open the follower: err=%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	spans := waitFor(t, "the follower's first span", func() ([]bridge.Span, bool) {
		s := j.Spans(time.Time{})
		return s, len(s) > 0
	})
	waitPrimaryClock(t, primary.SQL, spans[0].Start)

	jetmon := "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=6020"
	primary.MustExec(t, jetmon, bridge.StatusConfirmedDown)
	first := lastStatusChange(t, primary.SQL)
	waitPrimaryClock(t, primary.SQL, first.Add(time.Second))
	primary.MustExec(t, jetmon, bridge.StatusConfirmedDown) // the same status: not a transition
	second := lastStatusChange(t, primary.SQL)
	if err := tp.WaitCaughtUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The journal has committed both: coverage reaches the second.
	waitFor(t, "coverage to reach the second UPDATE", func() (struct{}, bool) {
		s := j.Spans(time.Time{})
		return struct{}{}, !s[len(s)-1].End.Before(second)
	})

	h := &server.History{Journal: j, Synthesizer: replicaDB}
	since, until := spans[0].Start, second.Add(time.Hour)
	events, coverage, err := h.Events(context.Background(), 6020, since, until)
	if err != nil {
		t.Fatal(err)
	}
	if coverage != bridge.CoverageMixed {
		t.Fatalf("coverage %s, want mixed: the stretch after the last commit is not vouched for", coverage)
	}
	want := []bridge.Event{{BlogID: 6020, OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusConfirmedDown, CreatedAt: first}}
	if !sameTransitions(events, want) {
		t.Fatalf("mixed answer %v, want the primary's one transition %v: the synthesized event repeats the journaled one", events, want)
	}
}

// waitFor polls cond until it holds (at most a minute).
func waitFor[T any](t *testing.T, what string, cond func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, ok := cond()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPrimaryClock waits until the primary's clock has reached at.
func waitPrimaryClock(t *testing.T, db *sql.DB, at time.Time) {
	t.Helper()
	waitFor(t, "the primary's clock to reach "+at.Format(time.RFC3339), func() (struct{}, bool) {
		var reached bool
		if err := db.QueryRow("SELECT UTC_TIMESTAMP() >= ?", at.UTC().Format(time.DateTime)).Scan(&reached); err != nil {
			t.Fatal(err)
		}
		return struct{}{}, reached
	})
}

// lastStatusChange reads blog 6020's last_status_change on the primary.
func lastStatusChange(t *testing.T, db *sql.DB) time.Time {
	t.Helper()
	var at int64
	if err := db.QueryRow("SELECT UNIX_TIMESTAMP(last_status_change) FROM jetpack_monitor_sites WHERE blog_id=6020").Scan(&at); err != nil {
		t.Fatal(err)
	}
	return time.Unix(at, 0).UTC()
}

// sameTransitions compares histories by content, ids aside.
func sameTransitions(got, want []bridge.Event) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.BlogID != w.BlogID || g.OldStatus != w.OldStatus || g.NewStatus != w.NewStatus || !g.CreatedAt.Equal(w.CreatedAt) {
			return false
		}
	}
	return true
}
