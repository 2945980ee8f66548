package journal

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

func sec(s int64) time.Time { return time.Unix(s, 0).UTC() }

func openTemp(t *testing.T) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

func ev(blog uint64, old, new bridge.Status, at int64) bridge.Event {
	return bridge.Event{BlogID: blog, OldStatus: old, NewStatus: new, CreatedAt: sec(at)}
}

func TestCommitAssignsIDsAndWindowsHonourBounds(t *testing.T) {
	j, _ := openTemp(t)
	b := &Batch{
		NewSpan:    &SpanStart{Start: sec(100)},
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 400},
		Events:     []bridge.Event{ev(1, 1, 0, 110), ev(2, 1, 0, 110), ev(1, 0, 2, 111), ev(1, 2, 1, 111)},
		CoveredTo:  sec(120),
	}
	if err := j.Commit(b); err != nil {
		t.Fatal(err)
	}
	for i, e := range b.Events {
		if e.ID != uint64(i+1) {
			t.Errorf("event %d got id %d", i, e.ID)
		}
	}
	got, err := j.BlogEvents(1, sec(110), sec(112))
	if err != nil || len(got) != 3 || got[0].ID != 1 || got[1].ID != 3 || got[2].ID != 4 {
		t.Fatalf("blog 1: %+v %v", got, err)
	}
	// since is inclusive, until exclusive, fractions round the right way.
	if got, _ := j.BlogEvents(1, sec(110).Add(time.Millisecond), sec(112)); len(got) != 2 {
		t.Errorf("since 110.001 should drop the event at 110: %+v", got)
	}
	if got, _ := j.BlogEvents(1, sec(100), sec(111)); len(got) != 1 {
		t.Errorf("until 111 is exclusive: %+v", got)
	}
	if got, _ := j.BlogEvents(1, sec(100), sec(111).Add(time.Millisecond)); len(got) != 3 {
		t.Errorf("until 111.001 includes 111: %+v", got)
	}
	if got, _ := j.BlogEvents(3, sec(0), sec(1000)); got == nil || len(got) != 0 {
		t.Errorf("unknown blog: %#v", got)
	}
	spans := j.Spans(time.Time{})
	if len(spans) != 1 || !spans[0].Start.Equal(sec(100)) || !spans[0].End.Equal(sec(120)) {
		t.Errorf("spans %+v", spans)
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	j, path := openTemp(t)
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(150),
		Checkpoint: &Checkpoint{Flavor: "mysql", File: "b.000002", Pos: 77, GTIDSet: "u:1-5", Columns: []string{"a", "b"}},
		Events:     []bridge.Event{ev(9, 1, 0, 120)}})
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(140), GapReason: "purged"}, CoveredTo: sec(200)})
	// The last batch's checkpoint is the one on disk, not an earlier one.
	j.Commit(&Batch{CoveredTo: sec(210), Checkpoint: &Checkpoint{Flavor: "mysql", File: "b.000003", Pos: 4, GTIDSet: "u:1-6", Columns: []string{"a", "b"}}})
	id, _ := j.ServerID(0, func() uint32 { return 4711 })
	j.Close()

	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cp, ok := j.Checkpoint()
	if !ok || cp.File != "b.000003" || cp.Pos != 4 || cp.GTIDSet != "u:1-6" || len(cp.Columns) != 2 {
		t.Errorf("checkpoint after reopening %+v, want the last batch's, b.000003:4 u:1-6", cp)
	}
	if j.LastID() != 1 {
		t.Errorf("seq %d", j.LastID())
	}
	if again, _ := j.ServerID(0, func() uint32 { return 1 }); again != id || id != 4711 {
		t.Errorf("server id %d then %d", id, again)
	}
	spans := j.Spans(time.Time{})
	// The second span may not start inside the first: the gap begins where
	// the first span's coverage ended.
	if len(spans) != 2 || !spans[0].End.Equal(sec(150)) || !spans[1].Start.Equal(sec(150)) || !spans[1].End.Equal(sec(210)) {
		t.Errorf("spans %+v", spans)
	}
}

func TestCoverageReachesForeverOnlyWhenConfirmed(t *testing.T) {
	now := sec(1000)
	j, err := Open(filepath.Join(t.TempDir(), "j"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(900)}, CoveredTo: sec(950)})
	j.Attach(func(context.Context) error { return errors.New("unused") })
	j.Confirm(sec(990).Add(500 * time.Millisecond))
	if s := j.Spans(sec(995)); !s[0].End.Equal(sec(990)) {
		t.Errorf("confirmed before the request: end %s, want 990 (whole seconds)", s[0].End)
	}
	if s := j.Spans(sec(980)); !s[0].End.Equal(forever) {
		t.Errorf("confirmed after the request began: end %s, want forever", s[0].End)
	}
	// A request begun later in the confirmation's own second is not
	// covered by it: what was committed in between is unproven.
	if s := j.Spans(sec(990).Add(700 * time.Millisecond)); !s[0].End.Equal(sec(990)) {
		t.Errorf("confirmed 0.2s before the request began: end %s, want 990", s[0].End)
	}

	j.Detach()
	if s := j.Spans(sec(980)); !s[0].End.Equal(sec(950)) {
		t.Errorf("detached: end %s, want the committed 950", s[0].End)
	}
}

func TestWindowProvesCatchUpOnDemand(t *testing.T) {
	j, err := Open(filepath.Join(t.TempDir(), "j"), Options{WaitLimit: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(110)})
	probes := 0
	j.Attach(func(context.Context) error {
		probes++
		j.Confirm(time.Now())
		return nil
	})
	_, spans, err := j.Window(context.Background(), 1, sec(100), time.Now().Add(time.Hour))
	if err != nil || probes != 1 || len(spans) != 1 || !spans[0].End.Equal(forever) {
		t.Fatalf("probes %d spans %+v err %v", probes, spans, err)
	}
	// A window inside what is already vouched for needs no probe.
	if _, _, err := j.Window(context.Background(), 1, sec(100), sec(105)); err != nil || probes != 1 {
		t.Errorf("probes %d err %v", probes, err)
	}
}

// TestWindowEndingInTheCurrentSecondWaitsForItsEnd: created_at is whole
// seconds, so [since, 1000.2) holds every event stamped 1000, including one
// committed at 1000.7. Asked at 1000.3, the journal may vouch for it only
// with a confirmation from 1001 on; a window reaching past the request is
// vouched for as of the request.
func TestWindowEndingInTheCurrentSecondWaitsForItsEnd(t *testing.T) {
	t0 := time.Now()
	clock := func() time.Time { return sec(1000).Add(300 * time.Millisecond).Add(time.Since(t0)) }
	j, err := Open(filepath.Join(t.TempDir(), "j"), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(900)}, CoveredTo: sec(950)})
	var probes atomic.Int32
	j.Attach(func(context.Context) error { probes.Add(1); j.Confirm(clock()); return nil })
	j.Confirm(clock())

	// Without waiting (WaitLimit 0), the current second is not vouched for.
	until := sec(1000).Add(200 * time.Millisecond)
	if _, spans, _ := j.Window(context.Background(), 1, sec(900), until); len(spans) != 1 || !spans[0].End.Equal(sec(1000)) {
		t.Fatalf("a window ending in the current second, unproved: %+v, want the span to end at 1000", spans)
	}
	// With a wait allowed, the proof comes once the second is over.
	j.opts.WaitLimit = 5 * time.Second
	_, spans, err := j.Window(context.Background(), 1, sec(900), until)
	if err != nil || len(spans) != 1 || !spans[0].End.Equal(forever) || probes.Load() == 0 {
		t.Fatalf("a window ending in the current second, proved: %+v %v after %d probes", spans, err, probes.Load())
	}
	if c := j.Confirmed(); c.Before(sec(1001)) {
		t.Errorf("vouched with a confirmation at %s, from inside the window's last second", c)
	}
}

func TestVouchAsOf(t *testing.T) {
	asOf := sec(1000).Add(300 * time.Millisecond)
	for _, c := range []struct {
		until, want time.Time
	}{
		{asOf.Add(time.Hour), asOf},                        // past the request: as of the request
		{asOf.Add(time.Millisecond), asOf},                 // just past it, too
		{sec(1000).Add(200 * time.Millisecond), sec(1001)}, // inside the request's second: once it is over
		{asOf, sec(1001)},                                  // ending at the request
		{sec(1000), sec(1000)},                             // a whole second: events stamped before it
		{sec(998).Add(time.Millisecond), sec(999)},         // an earlier second: its end, already past
	} {
		if got := vouchAsOf(c.until, asOf); !got.Equal(c.want) {
			t.Errorf("vouchAsOf(%s, %s) = %s, want %s", c.until, asOf, got, c.want)
		}
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("second open took %s", time.Since(start))
	}
}

func TestFailedCommitWritesNothing(t *testing.T) {
	j, _ := openTemp(t)
	bad := &Batch{Events: []bridge.Event{ev(1, 1, 0, 10), ev(1, 0, 2, -5)}, Checkpoint: &Checkpoint{File: "x", Pos: 1}}
	if err := j.Commit(bad); err == nil {
		t.Fatal("an event before 1970 was accepted")
	}
	if j.CommitErr() == nil || j.LastID() != 0 {
		t.Errorf("healthy=%v seq=%d", j.CommitErr(), j.LastID())
	}
	if _, ok := j.Checkpoint(); ok {
		t.Error("checkpoint of a failed batch was kept")
	}
	if err := j.Commit(&Batch{Events: []bridge.Event{ev(1, 1, 0, 10)}}); err != nil || j.CommitErr() != nil || j.LastID() != 1 {
		t.Errorf("after a good commit: err %v healthy %v seq %d", err, j.CommitErr(), j.LastID())
	}
}

// TestFailedCommitAfterItsEventsWritesNothing makes a commit fail inside its
// bbolt transaction after putEvents has written its events into both
// buckets (and so advanced Commit's local copy of the last id): putSources,
// next in the transaction, refuses the batch's transaction list, which
// reaches past its events. This is the only failure the code offers at that
// point short of the disk itself (tests/e2e/TestDiskFullStopsThenResumes):
// the later writes (sequence, monitor pages, checkpoint, spans) have keys of
// 8 bytes and values far below bbolt's 2 GiB limit, and every other refusal
// (an event bbolt cannot order, a bad row) is found by Prepare, before the
// transaction writes anything (TestFailedCommitWritesNothing). The failed
// commit must leave the file and the journal's state as they were, and the
// next commit must number its events right after the last committed one.
func TestFailedCommitAfterItsEventsWritesNothing(t *testing.T) {
	j, path := openTemp(t)
	good := &Batch{
		NewSpan:    &SpanStart{Start: sec(100)},
		Events:     []bridge.Event{ev(1, 1, 0, 110), ev(2, 1, 0, 110), ev(1, 0, 2, 111)},
		Txns:       []SourceTxn{{First: 0, Count: 2, GTID: "0-1-1"}, {First: 2, Count: 1, GTID: "0-1-2"}},
		Monitors:   []bridge.Monitor{{SiteID: 1, BlogID: 1, URL: "https://one.example", Active: true, Status: 2}},
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 400, GTIDSet: "0-1-2"},
		CoveredTo:  sec(120),
	}
	if err := j.Commit(good); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	asOf := sec(2000) // after every event: the window's answer does not depend on when the test runs
	readers := func() (blog1, blog3 []bridge.Event, window []bridge.Event, spans []bridge.Span, after []SourcedEvent) {
		t.Helper()
		var err error
		if blog1, err = j.BlogEvents(1, sec(0), sec(1000)); err != nil {
			t.Fatal(err)
		}
		if blog3, err = j.BlogEvents(3, sec(0), sec(1000)); err != nil {
			t.Fatal(err)
		}
		if window, spans, err = j.WindowAsOf(ctx, 1, sec(0), sec(1000), asOf); err != nil {
			t.Fatal(err)
		}
		if after, err = j.EventsAfter(0, 100); err != nil {
			t.Fatal(err)
		}
		return blog1, blog3, window, spans, after
	}
	before, err := j.Stats()
	if err != nil {
		t.Fatal(err)
	}
	blog1, blog3, window, spans, after := readers()
	if len(after) != 3 || len(blog3) != 0 {
		t.Fatalf("before the failed commit: EventsAfter(0) %+v, blog 3 %+v", after, blog3)
	}

	bad := &Batch{
		Events: []bridge.Event{ev(1, 2, 1, 130), ev(3, 1, 0, 131)},
		// Three events named for a batch of two: putSources refuses it,
		// after putEvents has put both events.
		Txns:       []SourceTxn{{First: 0, Count: 3, GTID: "0-1-3"}},
		Monitors:   []bridge.Monitor{{SiteID: 1, BlogID: 1, URL: "https://one.example", Active: true, Status: 1}, {SiteID: 3, BlogID: 3, URL: "https://three.example", Active: true}},
		Deleted:    []uint64{1},
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 900, GTIDSet: "0-1-3"},
		CoveredTo:  sec(140),
	}
	err = j.Commit(bad)
	if err == nil || !strings.Contains(err.Error(), "outside the batch") || !strings.Contains(err.Error(), path) {
		t.Fatalf("a batch naming events it does not hold: Commit returned %v, want an error naming the journal and the transaction outside the batch", err)
	}
	if j.CommitErr() == nil {
		t.Error("CommitErr is nil after a failed commit")
	}
	if got := j.LastID(); got != 3 {
		t.Errorf("LastID after the failed commit is %d, want 3 (the last committed event)", got)
	}
	for i, e := range bad.Events {
		if e.ID != 0 {
			t.Errorf("the failed batch's event %d kept id %d", i, e.ID)
		}
	}
	if cp, _ := j.Checkpoint(); cp.Pos != 400 {
		t.Errorf("checkpoint after the failed commit: %s, want the good commit's", cp)
	}
	if st, err := j.Stats(); err != nil || !reflect.DeepEqual(st, before) {
		t.Errorf("stats after the failed commit (%v):\n%+v\nwant them unchanged:\n%+v", err, st, before)
	}
	blog1After, blog3After, windowAfter, spansAfter, afterAfter := readers()
	if !reflect.DeepEqual(blog1After, blog1) || len(blog3After) != 0 {
		t.Errorf("BlogEvents after the failed commit: blog 1 %+v (want %+v), blog 3 %+v (want none)", blog1After, blog1, blog3After)
	}
	if !reflect.DeepEqual(windowAfter, window) || !reflect.DeepEqual(spansAfter, spans) {
		t.Errorf("Window after the failed commit: %+v %+v, want %+v %+v", windowAfter, spansAfter, window, spans)
	}
	if !reflect.DeepEqual(afterAfter, after) {
		t.Errorf("EventsAfter(0) after the failed commit: %+v, want %+v", afterAfter, after)
	}

	next := &Batch{
		Events:     []bridge.Event{ev(1, 2, 1, 130), ev(3, 1, 0, 131)},
		Txns:       []SourceTxn{{First: 0, Count: 2, GTID: "0-1-3"}},
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 900, GTIDSet: "0-1-3"},
		CoveredTo:  sec(140),
	}
	if err := j.Commit(next); err != nil || j.CommitErr() != nil {
		t.Fatalf("the next commit: %v (CommitErr %v)", err, j.CommitErr())
	}
	if next.Events[0].ID != 4 || next.Events[1].ID != 5 || j.LastID() != 5 {
		t.Errorf("the next commit's ids are %d, %d (LastID %d), want 4, 5 (5): no gap, no reuse", next.Events[0].ID, next.Events[1].ID, j.LastID())
	}
	got, err := j.EventsAfter(0, 100)
	if err != nil || len(got) != 5 {
		t.Fatalf("EventsAfter(0) after the next commit: %+v, %v", got, err)
	}
	for i, e := range got {
		if e.ID != uint64(i+1) {
			t.Errorf("EventsAfter(0)[%d] has id %d, want %d", i, e.ID, i+1)
		}
	}
	if got[3].GTID != "0-1-3" || got[3].BlogID != 1 || got[4].BlogID != 3 {
		t.Errorf("the next commit's events read back as %+v, %+v", got[3], got[4])
	}
	if st, err := j.Stats(); err != nil || st.Seq != 5 || st.Events != 5 {
		t.Errorf("stats after the next commit: seq %d events %d (%v), want 5 and 5", st.Seq, st.Events, err)
	}
	j.Close()
	r, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("verify after a failed and a good commit: %q", r.Problems)
	}
}
