package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// TestMixedAnswerRepeatsNoJournaledTransition holds synthesis into a gap to
// the rule that it never speaks again for a change the journal holds, on a
// real journal and a real table: not when Jetmon's UPDATE ran again with the
// row's own status (last_status_change moved, site_status did not), not
// when the journal has already followed the row past the state the replica
// showed. And it still speaks where the journal has not followed the
// change: another monitor of the same blog the follower has not read yet,
// and a row the journal took from the snapshot that started a span after a
// gap.
func TestMixedAnswerRepeatsNoJournaledTransition(t *testing.T) {
	t.Parallel()
	db := testdb.NewDB(t)
	replica, err := store.Open("-dsn", db.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	base := time.Date(2026, 4, 22, 10, 0, 0, 0, time.UTC)
	at := func(minutes, seconds int) time.Time {
		return base.Add(time.Duration(minutes)*time.Minute + time.Duration(seconds)*time.Second)
	}
	// ev is a journaled event (any id but 0), syn a synthesized one (id 0).
	ev := func(blog uint64, old, new bridge.Status, created time.Time) bridge.Event {
		return bridge.Event{ID: 1, BlogID: blog, OldStatus: old, NewStatus: new, CreatedAt: created}
	}
	syn := func(blog uint64, old, new bridge.Status, created time.Time) bridge.Event {
		return bridge.Event{BlogID: blog, OldStatus: old, NewStatus: new, CreatedAt: created}
	}
	row := func(site, blog uint64, st bridge.Status, changed time.Time) bridge.Monitor {
		return bridge.Monitor{SiteID: site, BlogID: blog, URL: "https://" + string(rune('a'+site%26)) + ".example", Active: true, Status: st, LastStatusChange: changed}
	}
	table := func(m bridge.Monitor) {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES (?, ?, 0, ?, ?, FROM_UNIXTIME(?))",
			m.SiteID, m.BlogID, m.URL, uint8(m.Status), m.LastStatusChange.Unix())
	}
	running, down, confirmed := bridge.StatusRunning, bridge.StatusDown, bridge.StatusConfirmedDown

	cases := []struct {
		name string
		// batches build the journal, in order.
		batches []*journal.Batch
		// rows are the table's (the replica's) rows now.
		rows []bridge.Monitor
		blog uint64
		want []bridge.Event
	}{{
		name: "the same status again moved last_status_change",
		batches: []*journal.Batch{
			{NewSpan: &journal.SpanStart{Start: at(0, 0)}, Monitors: []bridge.Monitor{row(1, 6020, running, at(-60, 0))}},
			{Events: []bridge.Event{ev(6020, running, confirmed, at(51, 22))}, Monitors: []bridge.Monitor{row(1, 6020, confirmed, at(51, 22))}, CoveredTo: at(51, 22)},
			{Monitors: []bridge.Monitor{row(1, 6020, confirmed, at(51, 25))}, CoveredTo: at(51, 25)},
		},
		rows: []bridge.Monitor{row(1, 6020, confirmed, at(51, 25))},
		blog: 6020,
		want: []bridge.Event{ev(6020, running, confirmed, at(51, 22))},
	}, {
		name: "the journal followed the row past the replica's",
		batches: []*journal.Batch{
			{NewSpan: &journal.SpanStart{Start: at(0, 0)}, Monitors: []bridge.Monitor{row(2, 6021, running, at(-60, 0))}},
			{Events: []bridge.Event{ev(6021, running, confirmed, at(51, 22))}, Monitors: []bridge.Monitor{row(2, 6021, confirmed, at(51, 22))}, CoveredTo: at(51, 22)},
			{Monitors: []bridge.Monitor{row(2, 6021, confirmed, at(51, 25))}},
			{Events: []bridge.Event{ev(6021, confirmed, running, at(51, 30))}, Monitors: []bridge.Monitor{row(2, 6021, running, at(51, 30))}},
		},
		// Read from the replica before the follower committed the last two.
		rows: []bridge.Monitor{row(2, 6021, confirmed, at(51, 25))},
		blog: 6021,
		want: []bridge.Event{ev(6021, running, confirmed, at(51, 22)), ev(6021, confirmed, running, at(51, 30))},
	}, {
		name: "another monitor of the blog the journal has not read yet",
		batches: []*journal.Batch{
			{NewSpan: &journal.SpanStart{Start: at(0, 0)}, Monitors: []bridge.Monitor{row(3, 6022, running, at(-60, 0)), row(4, 6022, running, at(-60, 0))}},
			{Events: []bridge.Event{ev(6022, running, down, at(51, 22))}, Monitors: []bridge.Monitor{row(3, 6022, down, at(51, 22))}, CoveredTo: at(51, 22)},
		},
		rows: []bridge.Monitor{row(3, 6022, down, at(51, 22)), row(4, 6022, confirmed, at(51, 40))},
		blog: 6022,
		want: []bridge.Event{ev(6022, running, down, at(51, 22)), syn(6022, running, confirmed, at(51, 40))},
	}, {
		name: "a row taken from the snapshot after a gap",
		batches: []*journal.Batch{
			{NewSpan: &journal.SpanStart{Start: at(0, 0)}, Monitors: []bridge.Monitor{row(5, 6023, running, at(-60, 0))}, CoveredTo: at(10, 0)},
			// The binlog was purged: the change at 10:20 fell into the gap,
			// and the new span's snapshot shows its result.
			{NewSpan: &journal.SpanStart{Start: at(30, 0), GapReason: "binlog purged"}, ResetMonitors: true,
				Monitors: []bridge.Monitor{row(5, 6023, confirmed, at(20, 0))}, CoveredTo: at(40, 0)},
		},
		rows: []bridge.Monitor{row(5, 6023, confirmed, at(20, 0))},
		blog: 6023,
		want: []bridge.Event{syn(6023, running, confirmed, at(20, 0))},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, err := journal.Open(filepath.Join(t.TempDir(), "repeat.journal"), journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			for i, b := range c.batches {
				b.Checkpoint = &journal.Checkpoint{Flavor: "mariadb", File: "bin.000001", Pos: uint32(1000 + i)}
				if err := j.Commit(b); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range c.rows {
				table(m)
			}
			h := &server.History{Journal: j, Synthesizer: replica}
			events, coverage, err := h.Events(context.Background(), c.blog, at(-30, 0), at(120, 0))
			if err != nil {
				t.Fatal(err)
			}
			if coverage != bridge.CoverageMixed {
				t.Fatalf("coverage %s, want mixed", coverage)
			}
			if !sameTransitions(events, c.want) {
				t.Fatalf("events %v\nwant %v", events, c.want)
			}
			for i, e := range events {
				if synthesized, want := e.ID == 0, c.want[i].ID == 0; synthesized != want {
					t.Fatalf("event %d %v: synthesized %v, want %v", i, e, synthesized, want)
				}
			}
		})
	}
}

// TestSynthesisRepeatsNoEventTheJournalHolds: a synthesized event speaks
// for the replica row's last change, with an old status it can only infer
// (a recovery from confirmed down). A journaled event into the same status
// in the same second is that change, whatever its old status says (a
// recovery straight from down): the answer holds it once, also from a
// journal that cannot say which rows it followed (a replay's).
func TestSynthesisRepeatsNoEventTheJournalHolds(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 0).UTC() }
	recovered := bridge.Event{ID: 9, BlogID: 7, OldStatus: bridge.StatusDown, NewStatus: bridge.StatusRunning, CreatedAt: at(80)}
	h := server.History{
		// Journaled past the span's proven end (50): the stretch coverage
		// has not yet vouched for.
		Journal:     windowJournal{events: []bridge.Event{recovered}, spans: []bridge.Span{{Start: at(0), End: at(50)}}},
		Synthesizer: rowSynthesizer{bridge.Monitor{SiteID: 1, BlogID: 7, Status: bridge.StatusRunning, LastStatusChange: at(80).Add(400 * time.Millisecond)}},
	}
	events, coverage, err := h.Events(context.Background(), 7, at(0), at(100))
	if err != nil {
		t.Fatal(err)
	}
	if coverage != bridge.CoverageMixed || len(events) != 1 || events[0] != recovered {
		t.Errorf("coverage %q, events %+v: want mixed with the journaled recovery alone", coverage, events)
	}
}
