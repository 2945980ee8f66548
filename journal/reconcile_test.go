package journal

import (
	"errors"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

func mon(site, blog uint64, st bridge.Status, changed int64) bridge.Monitor {
	return bridge.Monitor{SiteID: site, BlogID: blog, URL: "https://x.example", Active: true, Status: st, LastStatusChange: sec(changed)}
}

// TestDivergenceTakesBackTheOpenSpan: a span a reconcile puts in doubt
// vouches for nothing after its last agreement at once, confirmations
// notwithstanding; the follower's fresh span then closes it in the file at
// that instant (CloseAt), and the new span is vouched for as usual.
func TestDivergenceTakesBackTheOpenSpan(t *testing.T) {
	j, path := openTemp(t)
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(200)}); err != nil {
		t.Fatal(err)
	}
	j.Attach(nil)
	j.Confirm(sec(300))
	if s := j.Spans(sec(250)); s[0].End != forever {
		t.Fatalf("before: %v, want the span to reach forever", s)
	}
	if at, err := j.Agreed(sec(100)); err != nil || !at.Equal(sec(100)) {
		t.Fatalf("Agreed with no reconcile yet = %v, %v; want the span's start", at, err)
	}
	if err := j.MarkAgreed(sec(100), sec(150)); err != nil {
		t.Fatal(err)
	}
	if at, err := j.Agreed(sec(100)); err != nil || !at.Equal(sec(150)) {
		t.Fatalf("Agreed = %v, %v; want 150", at, err)
	}
	if at, _ := j.Agreed(sec(99)); !at.Equal(sec(99)) {
		t.Fatalf("an agreement on another span counts for this one: %v", at)
	}
	if ok, err := j.Suspect(sec(99), sec(150)); ok || err != nil {
		t.Fatalf("Suspect took a span that is not the open one: %v %v", ok, err)
	}
	if ok, err := j.Suspect(sec(100), sec(150)); !ok || err != nil {
		t.Fatalf("Suspect refused the open span: %v", err)
	}
	if start, from, ok := j.Suspected(); !ok || !start.Equal(sec(100)) || !from.Equal(sec(150)) {
		t.Fatalf("Suspected = %v %v %v", start, from, ok)
	}
	for _, asOf := range []time.Time{{}, sec(250), sec(400)} {
		if s := j.Spans(asOf); len(s) != 1 || !s[0].End.Equal(sec(150)) {
			t.Fatalf("suspect, as of %v: %v, want [100, 150)", asOf, s)
		}
	}
	if _, _, ok, _ := j.FollowedRow(1); ok {
		t.Fatal("FollowedRow vouches for a row of a span in doubt")
	}
	// Kept in the file: a bridge stopped now still doubts the span.
	j.Close()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if s := j.Spans(time.Time{}); len(s) != 1 || !s[0].End.Equal(sec(150)) {
		t.Fatalf("reopened, suspect: %v, want [100, 150)", s)
	}
	if _, _, ok := j.Suspected(); !ok {
		t.Fatal("the suspicion did not outlive a reopen")
	}
	j.Attach(nil)
	// The follower's restart: the span closes at 150 in the file.
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(310), GapReason: "journal diverged from the table", CloseAt: sec(150)},
		ResetMonitors: true, Monitors: []bridge.Monitor{mon(1, 7, 2, 120)}}); err != nil {
		t.Fatal(err)
	}
	j.Confirm(sec(320))
	want := []bridge.Span{{Start: sec(100), End: sec(150)}, {Start: sec(310), End: forever}}
	if s := j.Spans(sec(315)); len(s) != 2 || s[0] != want[0] || s[1] != want[1] {
		t.Fatalf("after the fresh span: %v, want %v", s, want)
	}
	if _, since, ok, _ := j.FollowedRow(1); !ok || !since.Equal(sec(310)) {
		t.Fatalf("FollowedRow after the fresh span: since %v ok %v", since, ok)
	}
	if _, _, ok := j.Suspected(); ok {
		t.Fatal("the suspicion outlived the fresh span")
	}
	j.Close()
	j2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	s := j2.spansLocked(time.Time{})
	if len(s) != 2 || !s[0].End.Equal(sec(150)) || j2.spans[0].Reason != "journal diverged from the table" {
		t.Fatalf("reopened: %v %+v", s, j2.spans)
	}
}

// TestCloseAtNeverMovesAnEndForward: CloseAt only takes back; past the
// span's end, or before its start, it is held to the span.
func TestCloseAtNeverMovesAnEndForward(t *testing.T) {
	for _, c := range []struct{ closeAt, want int64 }{{500, 200}, {50, 100}, {180, 180}} {
		j, _ := openTemp(t)
		if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(200)}); err != nil {
			t.Fatal(err)
		}
		if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(300), CloseAt: sec(c.closeAt)}}); err != nil {
			t.Fatal(err)
		}
		if s := j.Spans(time.Time{}); !s[0].End.Equal(sec(c.want)) {
			t.Errorf("CloseAt %d: first span %v, want it to end at %d", c.closeAt, s[0], c.want)
		}
	}
}

// TestRowWatchSeesEveryCommittedRow: a watch records exactly the rows
// commits changed while it was open, says when it can no longer tell
// (a snapshot, too many rows), and only one is open at a time.
func TestRowWatchSeesEveryCommittedRow(t *testing.T) {
	j, _ := openTemp(t)
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, Monitors: []bridge.Monitor{mon(1, 1, 1, 90), mon(2, 2, 1, 90)}}); err != nil {
		t.Fatal(err)
	}
	w, err := j.WatchRows(3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.WatchRows(3); !errors.Is(err, ErrWatchBusy) {
		t.Fatalf("second watch: %v, want ErrWatchBusy", err)
	}
	b := &Batch{Deleted: []uint64{2}}
	b.SetMonitor(mon(70, 9, 0, 110))
	if err := j.Commit(b); err != nil {
		t.Fatal(err)
	}
	if !w.Changed(2) || !w.Changed(70) || w.Changed(1) || w.Changes() != 2 || w.Disturbed() != nil {
		t.Fatalf("changed 1 %v 2 %v 70 %v, %d changes, disturbed %v", w.Changed(1), w.Changed(2), w.Changed(70), w.Changes(), w.Disturbed())
	}
	if err := j.Commit(&Batch{Monitors: []bridge.Monitor{mon(3, 3, 1, 1), mon(4, 4, 1, 1)}}); err != nil {
		t.Fatal(err)
	}
	if w.Disturbed() == nil {
		t.Fatal("four rows changed under a limit of three, and the watch still vouches")
	}
	w.Close()
	w, err = j.WatchRows(100)
	if err != nil {
		t.Fatalf("a closed watch still blocks: %v", err)
	}
	defer w.Close()
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(200)}, ResetMonitors: true}); err != nil {
		t.Fatal(err)
	}
	if w.Disturbed() == nil {
		t.Fatal("a fresh snapshot replaced every row and the watch still vouches")
	}
}

// TestMonitorsAfterReadsInKeyOrder across page boundaries, a limited
// number at a time.
func TestMonitorsAfterReadsInKeyOrder(t *testing.T) {
	j, _ := openTemp(t)
	var rows []bridge.Monitor
	for _, site := range []uint64{1, 5, 63, 64, 65, 127, 128, 1000, 1 << 40} {
		rows = append(rows, mon(site, site, 1, 10))
	}
	if err := j.Commit(&Batch{Monitors: rows}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 100, []uint64{1, 5, 63, 64, 65, 127, 128, 1000, 1 << 40}},
		{5, 4, []uint64{63, 64, 65, 127}},
		{63, 1, []uint64{64}},
		{128, 1, []uint64{1000}},
		{1 << 40, 10, nil},
		{^uint64(0), 10, nil},
		{0, 0, nil},
	} {
		got, err := j.MonitorsAfter(c.after, c.limit, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("after %d limit %d: %v, want %v", c.after, c.limit, got, c.want)
		}
		for i := range got {
			if got[i].SiteID != c.want[i] || got[i].BlogID != c.want[i] {
				t.Fatalf("after %d limit %d: %v, want %v", c.after, c.limit, got, c.want)
			}
		}
	}
}
