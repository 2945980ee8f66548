package nats

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestRestoreRebuildsTheJournal publishes a journal with a coverage gap
// and an event Jetmon dated a day ahead (a last_status_change in the
// future), rebuilds a journal from the stream and compares the two: the
// same events, and coverage exactly the source journal's, span by span: no
// restored span vouches for a moment the source never covered (before its
// gap, or up to the future created_at).
func TestRestoreRebuildsTheJournal(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(7)
	src.grow(100)
	first := time.Unix(src.txns[0].events[0].CreatedAt.Unix()-60, 0).UTC()
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: first}}); err != nil {
		t.Fatal(err)
	}
	src.feed(t, j, 0, 100, 8, true)
	// The follower lost its place: coverage starts again an hour later.
	src.at += 3600
	gap := time.Unix(src.at-30, 0).UTC()
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: gap, GapReason: "binlog purged"}}); err != nil {
		t.Fatal(err)
	}
	src.grow(150)
	// Jetmon wrote a last_status_change a day ahead: the event carries it
	// as created_at, the coverage does not move.
	src.txns[180].events[0].CreatedAt = time.Unix(src.at+86400, 0).UTC()
	src.feed(t, j, 100, 250, 11, true)

	r := start(t, j, testConfig(srv.URL()))
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()

	dst := filepath.Join(t.TempDir(), "restored.journal")
	res, err := Restore(context.Background(), testConfig(srv.URL()), dst)
	if err != nil {
		t.Fatal(err)
	}
	got, err := journal.Open(dst, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()

	want, _ := j.EventsAfter(0, int(j.LastID()))
	have, err := got.EventsAfter(0, int(j.LastID())+1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != j.LastID() || len(have) != len(want) {
		t.Fatalf("restored %d events (%d read back), the journal has %d", res.Events, len(have), len(want))
	}
	for i := range want {
		if have[i].Event != want[i].Event || have[i].GTID != want[i].GTID || have[i].Ordinal != want[i].Ordinal {
			t.Errorf("event %d: restored %+v, want %+v", i+1, have[i], want[i])
		}
	}
	if id, _ := j.Identity(); res.Identity != id {
		t.Errorf("restored identity %s, want the publishing journal's %s", res.Identity, id)
	}

	// Coverage: every restored span is exactly one of the source's, the
	// first closed where the source's closed before the gap, the second
	// ending where the source's coverage ends, not at the future event.
	sourceSpans, restored := j.Spans(time.Time{}), got.Spans(time.Time{})
	if len(sourceSpans) != 2 || !sourceSpans[0].End.After(sourceSpans[0].Start) || !sourceSpans[0].End.Before(gap) {
		t.Fatalf("the source journal's spans %+v are not the test's: a span before the gap and one after", sourceSpans)
	}
	if len(restored) != len(sourceSpans) {
		t.Errorf("restored %d spans %+v, the source journal has %d %+v", len(restored), restored, len(sourceSpans), sourceSpans)
	}
	for i, s := range restored {
		if i >= len(sourceSpans) || !s.Start.Equal(sourceSpans[i].Start) || !s.End.Equal(sourceSpans[i].End) {
			t.Errorf("restored span %d is %s..%s; the source journal covers %+v", i, s.Start, s.End, sourceSpans)
		}
	}

	// The checkpoint names the last transaction: the follower resumes
	// right after it.
	cp, ok := got.Checkpoint()
	if !ok || res.Checkpoint == nil || cp.Flavor != "mariadb" {
		t.Fatalf("restored checkpoint %+v (ok %v)", cp, ok)
	}
	set, err := mysql.ParseGTIDSet("mariadb", cp.GTIDSet)
	if err != nil {
		t.Fatal(err)
	}
	lastTxn, _ := mysql.ParseGTIDSet("mariadb", src.txns[249].gtid)
	if !set.Contain(lastTxn) || strings.Contains(cp.GTIDSet, ",") {
		t.Errorf("restored checkpoint %s does not end at %s", cp.GTIDSet, src.txns[249].gtid)
	}

	// A second restore never overwrites.
	if _, err := Restore(context.Background(), testConfig(srv.URL()), dst); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("restore over an existing file: %v", err)
	}
}

// TestRestoredCoverageFromALivePublisher: the publisher follows a journal
// as it grows, through a coverage gap, each message claiming the coverage
// of the moment it was read. The restored journal's coverage is exactly
// the source journal's, span by span.
func TestRestoredCoverageFromALivePublisher(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(8)
	src.grow(300)
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: time.Unix(src.txns[0].at-10, 0).UTC()}}); err != nil {
		t.Fatal(err)
	}
	r := start(t, j, testConfig(srv.URL()))
	for i := 0; i < 150; i += 10 {
		src.feed(t, j, i, i+10, 3, true)
		waitPlaced(t, r, j.LastID())
	}
	gap(t, j, src, 180, "binlog purged")
	for i := 180; i < 300; i += 20 {
		src.feed(t, j, i, i+20, 7, true)
		waitPlaced(t, r, j.LastID())
	}
	r.stop()

	res, got, err := restoreWithin(t, srv.URL(), "T")
	if err != nil {
		t.Fatal(err)
	}
	want, restored := j.Spans(time.Time{}), got.Spans(time.Time{})
	if res.Events != j.LastID() || res.Checkpoint == nil || len(want) != 2 {
		t.Fatalf("restored %+v from a journal of %d events and spans %+v", res, j.LastID(), want)
	}
	if len(restored) != len(want) {
		t.Errorf("restored spans %+v, the source journal's %+v", restored, want)
	}
	for i, s := range restored {
		if i >= len(want) || !s.Start.Equal(want[i].Start) || !s.End.Equal(want[i].End) {
			t.Errorf("restored span %d is %s..%s; the source journal covers %+v", i, s.Start, s.End, want)
		}
	}
}
