package nats

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
)

// trimHeld trims j before cutoff, holding back what p has not published,
// as the daemon's Retention service does.
func trimHeld(t *testing.T, j *journal.Journal, p *Publisher, cutoff time.Time) journal.TrimResult {
	t.Helper()
	res, err := j.Trim(context.Background(), cutoff, journal.TrimOptions{KeepFrom: p.Status().Position + 1, StepEvents: 16, StepBlogs: 8})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestPublishingAndRestoreAcrossTrims: retention never deletes an event
// the publisher has not published; the publisher goes on across trims, so
// the stream holds every event ever journaled, in order; a journal
// restored from the stream holds them all, and trimmed to the same cutoff
// it holds what the trimmed journal holds.
func TestPublishingAndRestoreAcrossTrims(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	twin := openJournal(t) // fed alike, never trimmed: the history
	src := newSource(11)
	src.grow(200)
	src.feed(t, j, 0, 200, 7, true)
	src.feed(t, twin, 0, 200, 7, true)
	cutoff := src.txns[100].events[0].CreatedAt

	// Nothing published yet: nothing may go.
	p, err := New(j, testConfig(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if res := trimHeld(t, j, p, cutoff); res.Deleted != 0 || res.Done || res.Pending == "" {
		t.Fatalf("a trim before anything was published: %+v", res)
	}
	r := run(t, p)
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	res := trimHeld(t, j, p, cutoff)
	if res.Deleted == 0 || !res.Done {
		t.Fatalf("a trim once everything was published: %+v", res)
	}

	// The journal grows, the publisher publishes, retention trims.
	src.grow(150)
	for from := 200; from < 350; from += 30 {
		src.feed(t, j, from, from+30, 4, true)
		src.feed(t, twin, from, from+30, 4, true)
		trimHeld(t, j, p, src.txns[from-20].events[0].CreatedAt)
	}
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()
	if st := p.Status(); st.Errors != 0 || st.Position != j.LastID() {
		t.Fatalf("the publisher across trims: %+v", st)
	}
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), twin, DefaultSubject)
	last := trimHeld(t, j, p, src.txns[330].events[0].CreatedAt)
	kept, err := j.EventsAfter(0, int(j.LastID()))
	if err != nil || len(kept) == 0 || kept[0].ID < 100 {
		t.Fatalf("the trimmed journal holds %d events from %d on (%v)", len(kept), kept[0].ID, err)
	}

	// Restored: every event; trimmed to the same cutoff, the same events.
	dst := filepath.Join(t.TempDir(), "restored.journal")
	rr, err := Restore(context.Background(), testConfig(srv.URL()), dst)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Events != twin.LastID() {
		t.Fatalf("restored %d events, the history has %d", rr.Events, twin.LastID())
	}
	restored, err := journal.Open(dst, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if _, err := restored.Trim(context.Background(), last.Cutoff, journal.TrimOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := restored.EventsAfter(0, int(restored.LastID()))
	if err != nil || len(got) != len(kept) {
		t.Fatalf("the restored journal trimmed to %s holds %d events, the trimmed journal %d (%v)", last.Cutoff, len(got), len(kept), err)
	}
	for i := range kept {
		if got[i].Event != kept[i].Event || got[i].GTID != kept[i].GTID {
			t.Fatalf("restored and trimmed, event %d is %+v; the trimmed journal has %+v", i, got[i], kept[i])
		}
	}
	restored.Close()
	if rep, err := journal.Verify(dst); err != nil || !rep.OK() {
		t.Fatalf("verify the restored, trimmed journal: %v %q", err, rep.Problems)
	}
}

// TestTrimOfUnpublishedEvents states what happens when a trim without the
// publisher's hold (journal trim, offline) deletes events the stream never
// received: the publisher cannot place the stream's end in its journal any
// more and holds, naming -publish-accept-gap; told to accept the gap, it
// still skips nothing and says to publish to a new stream; a new stream
// begins with the first event the journal kept.
func TestTrimOfUnpublishedEvents(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(12)
	src.grow(200)
	src.feed(t, j, 0, 100, 5, true)
	r := start(t, j, testConfig(srv.URL()))
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()
	published := j.LastID()
	last := src.txns[99].gtid

	src.feed(t, j, 100, 200, 5, true)
	res, err := j.Trim(context.Background(), src.txns[150].events[0].CreatedAt, journal.TrimOptions{})
	if err != nil || res.Deleted <= published {
		t.Fatalf("trim: %+v %v; want more than the %d published events deleted", res, err, published)
	}
	kept, err := j.EventsAfter(0, int(j.LastID()))
	if err != nil {
		t.Fatal(err)
	}

	r = start(t, j, testConfig(srv.URL()))
	waitState(t, r, StateHeld)
	r.stop()
	if st := r.p.Status(); st.Published != 0 || !strings.Contains(st.Error, "-publish-accept-gap "+last) {
		t.Fatalf("the publisher after the trim: %+v; want it held, naming -publish-accept-gap %s", st, last)
	}
	cfg := testConfig(srv.URL())
	cfg.AcceptGapAfter = last
	r = start(t, j, cfg)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(r.p.Status().Error, "publish to a new stream"); {
		if time.Now().After(deadline) {
			t.Fatalf("told to accept the gap, the publisher: %+v; want it to refuse to skip the deleted events", r.p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	if n := len(natstest.Messages(t, srv.URL(), "T")); n != int(published) {
		t.Fatalf("the stream holds %d messages, want the %d published before the trim", n, published)
	}

	// A new stream: the journal from its first event kept.
	cfg = testConfig(srv.URL())
	cfg.Stream, cfg.Subject = "T2", "t2"
	r = start(t, j, cfg)
	waitStream(t, srv.URL(), "T2", len(kept), r)
	waitState(t, r, StatePublishing)
	r.stop()
	msgs := natstest.Messages(t, srv.URL(), "T2")
	if st := r.p.Status(); st.Position != j.LastID() || len(msgs) != len(kept) {
		t.Fatalf("a new stream after the trim: %+v, %d messages; want the %d kept", st, len(msgs), len(kept))
	}
	for i, e := range kept {
		if m := msgs[i]; m.Header.Get(HeaderEventID) != strconv.FormatUint(e.ID, 10) {
			t.Fatalf("message %d is event %s, want %d", m.Sequence, m.Header.Get(HeaderEventID), e.ID)
		}
	}
}
