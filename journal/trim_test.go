package journal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// farFuture is a clock for journals whose synthetic history a test trims:
// Trim refuses cutoffs after the journal's present.
func farFuture() time.Time { return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) }

func openTrimmable(t *testing.T, name string) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	j, err := Open(path, Options{Now: farFuture})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

// storedEvents reads both buckets raw, as the file holds them (nothing
// clipped): the events bucket's events in its order, and how many entries
// the blogs bucket holds.
func storedEvents(t *testing.T, j *Journal) (events []entry, indexed int) {
	t.Helper()
	err := j.db.View(func(tx *bolt.Tx) error {
		for _, k := range []runKind{eventRuns, blogRuns} {
			c := tx.Bucket(k.bucket).Cursor()
			for key, v := c.First(); key != nil; key, v = c.Next() {
				es, err := k.decode(nil, key, v)
				if err != nil {
					return err
				}
				if k.perBlog {
					indexed += len(es)
				} else {
					events = append(events, es...)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events, indexed
}

// TestTrimKeepsWhatStraddlesTheCutoff trims inside runs of both buckets:
// a blog whose run holds events on both sides of the cutoff, and events
// sharing the cutoff's second. Events at or after the cutoff stay, with
// their ids; events before it are gone from both buckets, from answers
// and from EventsAfter; coverage starts at the cutoff.
func TestTrimKeepsWhatStraddlesTheCutoff(t *testing.T) {
	j, path := openTrimmable(t, "straddle.journal")
	var all []bridge.Event
	b := &Batch{NewSpan: &SpanStart{Start: sec(1000)}, Checkpoint: &Checkpoint{Flavor: "mariadb", File: "b.000001", Pos: 4}, CoveredTo: sec(2000)}
	status := map[uint64]bridge.Status{}
	for i := range 60 {
		blog := uint64(1 + i%3)
		old := status[blog]
		status[blog] = nextStatus(old)
		b.Events = append(b.Events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: sec(int64(1000 + i*10))})
		// Two events in the cutoff's own second: at 1300.
		if i == 30 {
			old := status[blog+10]
			status[blog+10] = nextStatus(old)
			b.Events = append(b.Events, bridge.Event{BlogID: blog + 10, OldStatus: old, NewStatus: status[blog+10], CreatedAt: sec(1300)})
		}
	}
	for i := range b.Events {
		b.Txns = append(b.Txns, SourceTxn{First: i, Count: 1, GTID: fmt.Sprintf("0-1-%d", i+1)})
	}
	if err := j.Commit(b); err != nil {
		t.Fatal(err)
	}
	all = append(all, b.Events...)

	res, err := j.Trim(context.Background(), sec(1300).Add(700*time.Millisecond), TrimOptions{StepEvents: 4, StepBlogs: 2})
	if err != nil {
		t.Fatal(err)
	}
	var kept []bridge.Event
	for _, e := range all {
		if e.CreatedAt.Unix() >= 1300 {
			kept = append(kept, e)
		}
	}
	if !res.Done || !res.Cutoff.Equal(sec(1300)) || res.Deleted != uint64(len(all)-len(kept)) || res.Steps < 8 {
		t.Fatalf("trim: %+v; want done at 1300 (a cutoff rounds down to its second), %d deleted in steps of at most 4", res, len(all)-len(kept))
	}
	stored, indexed := storedEvents(t, j)
	if len(stored) != len(kept) || indexed != len(kept) || stored[0].id != kept[0].ID || stored[0].created != 1300 {
		t.Fatalf("the buckets hold %d and %d events starting with %+v; want the %d from 1300 on, starting with event %d", len(stored), indexed, stored[0], len(kept), kept[0].ID)
	}
	var exported []bridge.Event
	if err := j.Export(ExportFilter{}, func(e bridge.Event) error { exported = append(exported, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exported, sorted(kept)) {
		t.Fatalf("export after the trim: %d events, want the %d kept", len(exported), len(kept))
	}
	// A window across the cutoff: the events after it, coverage from it.
	events, spans, err := j.Window(context.Background(), 1, sec(1100), sec(1500))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || !spans[0].Start.Equal(sec(1300)) || len(bridge.Uncovered(spans, sec(1100), sec(1500))) != 1 {
		t.Errorf("window across the cutoff meets spans %+v; want one starting at the cutoff, the window before it uncovered", spans)
	}
	for _, e := range events {
		if e.CreatedAt.Before(sec(1300)) {
			t.Errorf("window across the cutoff holds event %d from %s, before it", e.ID, e.CreatedAt)
		}
	}
	if len(events) == 0 {
		t.Error("window across the cutoff lost the events after it")
	}
	// By id: the first kept id on, with its GTID; the trimmed ids passed over.
	got, err := j.EventsAfter(0, 5)
	if err != nil || len(got) != 5 || got[0].ID != kept[0].ID || got[0].GTID != fmt.Sprintf("0-1-%d", kept[0].ID) {
		t.Fatalf("EventsAfter(0) = %+v, %v; want 5 events from %d on", got, err, kept[0].ID)
	}
	st, err := j.Stats()
	if err != nil || st.Events != uint64(len(kept)) || st.Trimmed+st.Events != st.Seq || st.FirstID != kept[0].ID ||
		st.RetainedFrom == nil || !st.RetainedFrom.Equal(sec(1300)) || !st.FirstEvent.Equal(sec(1300)) || st.BeforeCutoff != 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	j.Close()
	if r, err := Verify(path); err != nil || !r.OK() {
		t.Fatalf("verify after the trim: %v %q", err, r.Problems)
	}
}

// TestTrimCutsSpans moves the coverage start through two spans, the gap
// between them, and past the open span's end: the journal vouches for
// nothing before the cutoff, and the open span keeps being extended.
func TestTrimCutsSpans(t *testing.T) {
	j, path := openTrimmable(t, "spans.journal")
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(200), Checkpoint: &Checkpoint{Flavor: "mysql", File: "b.1", Pos: 4}})
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(300), GapReason: "binlog purged"}, CoveredTo: sec(400)})
	trim := func(at int64) {
		t.Helper()
		if _, err := j.Trim(context.Background(), sec(at), TrimOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(spans ...bridge.Span) {
		t.Helper()
		if got := j.Spans(time.Time{}); !reflect.DeepEqual(got, spans) {
			t.Fatalf("spans %v, want %v", got, spans)
		}
	}
	trim(150)
	want(spanOf(sec(150), sec(200)), spanOf(sec(300), sec(400)))
	if st, _ := j.Stats(); len(st.Gaps) != 1 || st.Gaps[0].Reason != "binlog purged" || st.Spans[0].Open {
		t.Fatalf("the gap after a cut span keeps its reason: %+v", st)
	}
	trim(120) // never back
	want(spanOf(sec(150), sec(200)), spanOf(sec(300), sec(400)))
	trim(250)
	want(spanOf(sec(300), sec(400)))
	trim(450) // past the open span's end: it vouches for nothing yet
	want(spanOf(sec(450), sec(450)))
	j.Commit(&Batch{CoveredTo: sec(500)})
	want(spanOf(sec(450), sec(500)))
	// A new span never starts before the cutoff.
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(420), GapReason: "followed server changed"}, CoveredTo: sec(600)})
	want(spanOf(sec(450), sec(500)), spanOf(sec(500), sec(600)))
	j.Close()
	if r, err := Verify(path); err != nil || !r.OK() {
		t.Fatalf("verify: %v %q", err, r.Problems)
	}
	j, err := Open(path, Options{Now: farFuture})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	want(spanOf(sec(450), sec(500)), spanOf(sec(500), sec(600)))
	if r, _ := j.Retention(); !r.Cutoff.Equal(sec(450)) {
		t.Fatalf("the cutoff after reopening: %+v", r)
	}
}

// TestTrimRefusesTheFuture: a cutoff after the journal's clock would
// delete the present.
func TestTrimRefusesTheFuture(t *testing.T) {
	now := sec(5000)
	j, err := Open(filepath.Join(t.TempDir(), "j"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(4000), Events: []bridge.Event{ev(1, 1, 0, 200)}})
	if _, err := j.Trim(context.Background(), sec(5001), TrimOptions{}); !errors.Is(err, ErrTrimFuture) {
		t.Fatalf("a cutoff after now: %v", err)
	}
	if s := j.Spans(time.Time{}); !s[0].Start.Equal(sec(100)) || j.LastID() != 1 {
		t.Fatalf("a refused trim changed the journal: %+v", s)
	}
}

// TestTrimHoldsUnpublishedEvents: events from KeepFrom on stay however
// old, no answer shows them, and a later trim deletes them once released.
func TestTrimHoldsUnpublishedEvents(t *testing.T) {
	j, _ := openTrimmable(t, "hold.journal")
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(0)}, CoveredTo: sec(1000),
		Events: []bridge.Event{ev(1, 1, 0, 100), ev(1, 0, 1, 200), ev(2, 1, 0, 300), ev(2, 0, 1, 900)}})
	res, err := j.Trim(context.Background(), sec(500), TrimOptions{KeepFrom: 2})
	if err != nil || res.Done || res.Deleted != 1 || res.Pending == "" {
		t.Fatalf("a held trim: %+v, %v; want event 1 deleted, 2 and 3 held", res, err)
	}
	if got, _ := j.BlogEvents(1, sec(0), sec(1000)); len(got) != 0 {
		t.Errorf("a held event before the cutoff is answered: %+v", got)
	}
	if got, _ := j.EventsAfter(0, 10); len(got) != 3 || got[0].ID != 2 {
		t.Errorf("the publisher cannot read the held events: %+v", got)
	}
	if st, _ := j.Stats(); st.BeforeCutoff != 2 || st.Trimmed != 1 || st.FirstID != 2 {
		t.Errorf("stats of a held trim: %+v", st)
	}
	res, err = j.Trim(context.Background(), sec(500), TrimOptions{KeepFrom: 5})
	if err != nil || !res.Done || res.Deleted != 2 {
		t.Fatalf("the released trim: %+v, %v", res, err)
	}
	if got, _ := j.EventsAfter(0, 10); len(got) != 1 || got[0].ID != 4 {
		t.Errorf("after the released trim: %+v", got)
	}
}

// TestTrimMatchesAModel commits batches of events (some stamped far out of
// commit order, some before the cutoff after it moved), trims with small
// steps, random cutoffs and holds, and checks every read against a twin
// journal that is never trimmed: the raw buckets hold exactly the model's
// events, answers and exports show exactly the twin's from the cutoff on,
// EventsAfter passes over exactly the trimmed ids, no sources record
// outlives its events, and Verify passes throughout.
func TestTrimMatchesAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	j, path := openTrimmable(t, "model.journal")
	twin, _ := openTrimmable(t, "twin.journal")
	const blogs = 6
	base := t0.Unix()
	now := base
	var cutoff int64
	stored := map[uint64]bridge.Event{} // the model: id -> event
	gtids := map[uint64]string{}
	trimmedIDs := map[uint64]bool{}
	var seq uint64

	check := func(round int) {
		t.Helper()
		// Raw: exactly the model's events, in both buckets.
		raw, indexed := storedEvents(t, j)
		if len(raw) != len(stored) || indexed != len(stored) {
			t.Fatalf("round %d: the buckets hold %d and %d events, the model %d", round, len(raw), indexed, len(stored))
		}
		for _, e := range raw {
			if m, ok := stored[e.id]; !ok || m != e.event() {
				t.Fatalf("round %d: the file holds event %+v, the model %+v (%v)", round, e.event(), m, ok)
			}
		}
		// Answers: the twin's from the cutoff on.
		for range 20 {
			blog := uint64(1 + rng.IntN(blogs))
			since := time.Unix(base-5000+rng.Int64N(now-base+5000), 0).UTC()
			until := since.Add(time.Duration(rng.Int64N(3000)) * time.Second)
			got, spans, err := j.Window(context.Background(), blog, since, until)
			if err != nil {
				t.Fatal(err)
			}
			want, twinSpans, _ := twin.Window(context.Background(), blog, since, until)
			want = slices.DeleteFunc(want, func(e bridge.Event) bool { return e.CreatedAt.Unix() < cutoff })
			if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: blog %d [%s, %s): %d events, the twin from the cutoff %d", round, blog, since, until, len(got), len(want))
			}
			from := since
			if c := time.Unix(cutoff, 0).UTC(); from.Before(c) {
				from = c
			}
			if gaps := bridge.Uncovered(spans, since, until); since.Unix() < cutoff && since.Before(until) && len(gaps) == 0 {
				t.Fatalf("round %d: a window from before the cutoff is covered: %v", round, spans)
			} else if from.Before(until) && !reflect.DeepEqual(bridge.Uncovered(spans, from, until), bridge.Uncovered(twinSpans, from, until)) {
				t.Fatalf("round %d: coverage of [%s, %s) differs from the twin's: %v against %v", round, from, until, spans, twinSpans)
			}
		}
		// By id: the stored events, trimmed ids passed over.
		for range 10 {
			after := rng.Uint64N(seq + 2)
			limit := 1 + rng.IntN(12)
			got, err := j.EventsAfter(after, limit)
			if err != nil {
				t.Fatalf("round %d: EventsAfter(%d, %d): %v", round, after, limit, err)
			}
			from := after
			for trimmedIDs[from+1] {
				from++
			}
			var want []uint64
			for id := from + 1; id <= min(seq, from+uint64(limit)); id++ {
				if !trimmedIDs[id] {
					want = append(want, id)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("round %d: EventsAfter(%d, %d) returned %d events, want ids %v", round, after, limit, len(got), want)
			}
			for i, e := range got {
				if e.ID != want[i] || e.Event != stored[e.ID] || e.GTID != gtids[e.ID] {
					t.Fatalf("round %d: EventsAfter(%d, %d)[%d] = %+v, want event %d %+v %s", round, after, limit, i, e, want[i], stored[want[i]], gtids[want[i]])
				}
			}
		}
		// No sources record outlives all its events.
		j.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketSources).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				r, _, err := decodeSourceHeader(k, v)
				if err != nil {
					t.Fatal(err)
				}
				gone := true
				for id := r.first; id < r.first+r.count; id++ {
					gone = gone && trimmedIDs[id]
				}
				if gone {
					t.Fatalf("round %d: the sources record of events %d..%d outlives them", round, r.first, r.first+r.count-1)
				}
			}
			return nil
		})
		st, err := j.Stats()
		if err != nil || st.Events != uint64(len(stored)) || st.Trimmed != uint64(len(trimmedIDs)) || st.Seq != seq {
			t.Fatalf("round %d: stats %+v %v; the model has %d stored, %d trimmed", round, st, err, len(stored), len(trimmedIDs))
		}
	}

	for round := range 80 {
		b := &Batch{}
		n := 1 + rng.IntN(40)
		for i := range n {
			created := now
			switch r := rng.IntN(25); {
			case r == 0:
				created = base - rng.Int64N(5000) // before everything
			case r < 3:
				created = base + rng.Int64N(now-base+1) // among stored events
			case r == 3:
				created = now + 3000 // far ahead of commit order
			default:
				now += rng.Int64N(4)
			}
			old := bridge.Status(rng.IntN(3))
			b.Events = append(b.Events, bridge.Event{BlogID: uint64(1 + rng.IntN(blogs)), OldStatus: old, NewStatus: (old + 1) % 3, CreatedAt: time.Unix(created, 0).UTC()})
			if rng.IntN(3) > 0 {
				b.Txns = append(b.Txns, SourceTxn{First: i, Count: 1, GTID: fmt.Sprintf("0-1-%d", seq+uint64(i)+1)})
			}
		}
		b.Checkpoint = &Checkpoint{Flavor: "mariadb", File: "b.000001", Pos: uint32(4 + round)}
		b.CoveredTo = time.Unix(now, 0).UTC()
		if round == 0 {
			b.NewSpan = &SpanStart{Start: time.Unix(base-100, 0).UTC()}
		} else if round%23 == 0 {
			b.NewSpan = &SpanStart{Start: time.Unix(now-50, 0).UTC(), GapReason: "binlog purged"}
		}
		tb := *b
		tb.Events = slices.Clone(b.Events)
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		if err := twin.Commit(&tb); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			stored[e.ID] = e
		}
		for _, x := range b.Txns {
			gtids[seq+uint64(x.First)+1] = x.GTID
		}
		seq += uint64(n)

		if round%4 == 3 {
			if c := now - 200 + rng.Int64N(150); c > cutoff {
				cutoff = c
			}
			keep := uint64(0)
			if rng.IntN(3) == 0 {
				keep = 1 + rng.Uint64N(seq+1)
			}
			res, err := j.Trim(context.Background(), time.Unix(cutoff, 0), TrimOptions{KeepFrom: keep, StepEvents: 1 + rng.IntN(9), StepBlogs: 1 + rng.IntN(4)})
			if err != nil {
				t.Fatal(err)
			}
			// The model: the oldest events, in (created_at, id) order,
			// before the cutoff and before the hold.
			order := slices.Collect(func(yield func(bridge.Event) bool) {
				for _, e := range stored {
					if !yield(e) {
						return
					}
				}
			})
			order = sorted(order)
			deleted := uint64(0)
			for _, e := range order {
				if e.CreatedAt.Unix() >= cutoff || keep > 0 && e.ID >= keep {
					break
				}
				delete(stored, e.ID)
				trimmedIDs[e.ID] = true
				deleted++
			}
			if res.Deleted != deleted || res.Done != (len(order) == int(deleted) || order[deleted].CreatedAt.Unix() >= cutoff) {
				t.Fatalf("round %d: trim %+v; the model deleted %d", round, res, deleted)
			}
			check(round)
		}
		if round%20 == 19 {
			j.Close()
			if r, err := Verify(path); err != nil || !r.OK() {
				t.Fatalf("round %d: verify: %v %q", round, err, r.Problems)
			}
			var err error
			if j, err = Open(path, Options{Now: farFuture}); err != nil {
				t.Fatal(err)
			}
			check(round)
		}
	}
	j.Close()
}

// fillForTrim starts a span at t0 in j and commits events for uniformly
// random blogs 1..blogs, each walking Jetmon's cycle, perCommit to a
// commit, step apart, each event a source transaction of its own. It
// returns each blog's last status (indexed by blog) and the time after the
// last event.
func fillForTrim(t *testing.T, j *Journal, blogs, events, perCommit int, step time.Duration, seed uint64) ([]bridge.Status, time.Time) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	status := make([]bridge.Status, blogs+1)
	at := t0
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: t0}, Checkpoint: &Checkpoint{Flavor: "mariadb", File: "b.1", Pos: 4}}); err != nil {
		t.Fatal(err)
	}
	for done := 0; done < events; {
		b := &Batch{}
		for range perCommit {
			blog := uint64(1 + rng.IntN(blogs))
			old := status[blog]
			status[blog] = nextStatus(old)
			b.Events = append(b.Events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: at})
			b.Txns = append(b.Txns, SourceTxn{First: len(b.Events) - 1, Count: 1, GTID: fmt.Sprintf("0-1-%d", done+1)})
			at = at.Add(step)
			done++
		}
		b.CoveredTo = at
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	return status, at
}

// TestTrimStepsAreBounded trims a year of events from a journal of many
// blogs with the default step bounds: every step keeps to them, and
// writes no more pages than an ordinary commit of one event for each of as
// many blogs as a step may touch.
func TestTrimStepsAreBounded(t *testing.T) {
	j, path := openTrimmable(t, "bounded.journal")
	const blogs, events = 2000, 60_000
	status, at := fillForTrim(t, j, blogs, events, 500, 500*time.Millisecond, 1)
	// An ordinary commit touching DefaultTrimStepBlogs blogs, one event each.
	pages := func(commit func()) int {
		before := j.db.Stats().TxStats
		commit()
		after := j.db.Stats().TxStats
		return int(after.GetWrite() - before.GetWrite())
	}
	ordinary := pages(func() {
		b := &Batch{CoveredTo: at}
		for i := range DefaultTrimStepBlogs {
			blog := uint64(1 + i*blogs/DefaultTrimStepBlogs)
			old := status[blog]
			status[blog] = nextStatus(old)
			b.Events = append(b.Events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: at})
		}
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	})
	// The first quarter with a bound on events below what the blogs bound
	// lets a step take (about 65 events among 2000 blogs), so that it is
	// the events bound that stops each step.
	const fewEvents = 50
	most := 0
	res, err := j.Trim(context.Background(), t0.Add(events/4*500*time.Millisecond), TrimOptions{StepEvents: fewEvents, OnStep: func(s TrimStep) { most = max(most, s.Events) }})
	if err != nil || !res.Done || res.Deleted != events/4 {
		t.Fatalf("trim of the first quarter: %+v %v", res, err)
	}
	if most != fewEvents {
		t.Fatalf("the largest step deleted %d events; the bound is %d, and a step reaches it", most, fewEvents)
	}
	var steps []TrimStep
	res, err = j.Trim(context.Background(), t0.Add(events/2*500*time.Millisecond), TrimOptions{OnStep: func(s TrimStep) { steps = append(steps, s) }})
	if err != nil || !res.Done || res.Deleted != events/4 {
		t.Fatalf("trim: %+v %v", res, err)
	}
	for i, s := range steps {
		if s.Events > DefaultTrimStepEvents || s.Blogs > DefaultTrimStepBlogs || s.Pages > ordinary {
			t.Fatalf("step %d of %d deleted %d events of %d blogs, touching %d records and writing %d pages; the bounds are %d events, %d blogs and the %d pages of an ordinary commit to as many blogs",
				i, len(steps), s.Events, s.Blogs, s.Records, s.Pages, DefaultTrimStepEvents, DefaultTrimStepBlogs, ordinary)
		}
	}
	t.Logf("%d steps; an ordinary commit to %d blogs wrote %d pages", len(steps), DefaultTrimStepBlogs, ordinary)
	j.Close()
	if r, err := Verify(path); err != nil || !r.OK() {
		t.Fatalf("verify: %v %q", err, r.Problems)
	}
}

// TestFreedPagesOutliveAReopen trims a journal and reopens it: the file
// records no freelist, and the pages the trim freed are free again after
// the reopen (bbolt finds them from the pages the buckets reach), so later
// commits reuse them rather than grow the file. A freelist written by every
// commit takes contiguous pages in proportion to the free ones, which the
// scattered pages retention frees seldom offer: each commit then took them
// past the high-water mark, and under a steady window the file grew
// (docs/bench-notes.md, part 8b).
func TestFreedPagesOutliveAReopen(t *testing.T) {
	j, path := openTrimmable(t, "freed.journal")
	const blogs, events = 5000, 100_000
	_, at := fillForTrim(t, j, blogs, events, 5000, time.Second, 5)
	if _, err := j.Trim(context.Background(), t0.Add(events*3/4*time.Second), TrimOptions{}); err != nil {
		t.Fatal(err)
	}
	// One more commit releases the pages the trim's last step freed.
	if err := j.Commit(&Batch{CoveredTo: at}); err != nil {
		t.Fatal(err)
	}
	free := j.db.Stats().FreePageN
	if free < 100 {
		t.Fatalf("the trim left %d free pages: too few to tell", free)
	}
	j.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readBoltMeta(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.freelist != noFreelist {
		t.Fatalf("the file records a freelist at page %d: every commit writes it, in contiguous pages that grow with the free ones", m.freelist)
	}
	j, err = Open(path, Options{Now: farFuture})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if again := j.db.Stats().FreePageN; again != free {
		t.Fatalf("%d pages were free before the journal closed, %d after it reopened: the freed pages were lost to the file", free, again)
	}
}

// TestCommitWaitsForOneTrimStepAtMost runs commits while a trim works
// through many steps: no step starts while a commit waits for the gate, so
// a commit waits for the step already running at most, and the trim still
// finishes.
func TestCommitWaitsForOneTrimStepAtMost(t *testing.T) {
	j, _ := openTrimmable(t, "gate.journal")
	j.Commit(&Batch{NewSpan: &SpanStart{Start: t0}})
	for i := range 20 {
		b := &Batch{}
		for k := range 500 {
			b.AddEvent(bridge.Event{BlogID: uint64(1 + k%300), OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: t0.Add(time.Duration(i*500+k) * time.Second)})
		}
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	var started, waited, queuedAt, worst atomic.Int64
	testHookTrimStep = func() { started.Add(1) }
	testHookCommitGate = func(holds bool) {
		if !holds {
			queuedAt.Store(started.Load())
			return
		}
		if n := started.Load() - queuedAt.Load(); n > worst.Load() {
			worst.Store(n)
		}
		if started.Load() > queuedAt.Load() {
			waited.Add(1)
		}
	}
	defer func() { testHookTrimStep, testHookCommitGate = nil, nil }()
	done := make(chan error, 1)
	go func() {
		_, err := j.Trim(context.Background(), t0.Add(9000*time.Second), TrimOptions{StepEvents: 40, StepBlogs: 8})
		done <- err
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			// A step may begin between the commit's arrival and its count
			// (the step that was running), never a second one.
			if worst.Load() > 1 {
				t.Fatalf("a commit waited while %d trim steps started (%d steps, %d commits)", worst.Load(), started.Load(), i)
			}
			if started.Load() < 50 || i < 10 {
				t.Fatalf("%d steps, %d commits: the test did not interleave them", started.Load(), i)
			}
			t.Logf("%d steps, %d commits, %d of which waited for a step", started.Load(), i, waited.Load())
			return
		default:
		}
		if err := j.Commit(&Batch{Events: []bridge.Event{ev(9999, 1, 0, t0.Unix()+20000+int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalAnswersStayExactDuringTrims reads windows while a trim moves
// the coverage start and deletes in many steps: an answer whose spans
// cover its window (X-Bridge-Coverage: journal) always holds every event
// of it.
func TestJournalAnswersStayExactDuringTrims(t *testing.T) {
	j, _ := openTrimmable(t, "race.journal")
	twin, _ := openTrimmable(t, "race-twin.journal")
	for _, jj := range []*Journal{j, twin} {
		jj.Commit(&Batch{NewSpan: &SpanStart{Start: t0}})
		for i := range 10 {
			b := &Batch{CoveredTo: t0.Add(time.Duration(i+1) * 1000 * time.Second)}
			for k := 0; k < 1000; k += 2 {
				b.Events = append(b.Events, bridge.Event{BlogID: uint64(1 + k%5), OldStatus: bridge.Status(k % 3), NewStatus: bridge.Status((k + 1) % 3), CreatedAt: t0.Add(time.Duration(i*1000+k) * time.Second)})
			}
			if err := jj.Commit(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var checked, exact atomic.Int64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				blog := uint64(1 + rng.IntN(5))
				since := t0.Add(time.Duration(rng.IntN(9000)) * time.Second)
				until := since.Add(time.Duration(1+rng.IntN(2000)) * time.Second)
				got, spans, err := j.Window(context.Background(), blog, since, until)
				if err != nil {
					t.Error(err)
					return
				}
				checked.Add(1)
				if len(bridge.Uncovered(spans, since, until)) > 0 {
					continue
				}
				want, _ := twin.BlogEvents(blog, since, until)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("a covered window [%s, %s) of blog %d holds %d events, the twin %d", since, until, blog, len(got), len(want))
					return
				}
				exact.Add(1)
			}
		}()
	}
	for c := 500; c <= 9000; c += 500 {
		if _, err := j.Trim(context.Background(), t0.Add(time.Duration(c)*time.Second), TrimOptions{StepEvents: 40, StepBlogs: 3}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if exact.Load() == 0 || exact.Load() == checked.Load() {
		t.Fatalf("%d windows read, %d of them covered: the test saw no trim", checked.Load(), exact.Load())
	}
}

// TestWindowReadAcrossATrimIsNotCovered trims the whole window between
// WindowAsOf's two reads, the spans and then the events: the answer must
// not vouch for the window with its events gone.
func TestWindowReadAcrossATrimIsNotCovered(t *testing.T) {
	j, _ := openTrimmable(t, "across.journal")
	j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(1000),
		Events: []bridge.Event{ev(1, 1, 0, 200), ev(1, 0, 1, 300), ev(1, 1, 0, 700)}})
	testHookWindowRead = func() {
		testHookWindowRead = nil
		if _, err := j.Trim(context.Background(), sec(500), TrimOptions{}); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookWindowRead = nil }()
	events, spans, err := j.Window(context.Background(), 1, sec(150), sec(800))
	if err != nil {
		t.Fatal(err)
	}
	if len(bridge.Uncovered(spans, sec(150), sec(800))) == 0 || len(events) != 1 || events[0].ID != 3 {
		t.Fatalf("a window read across a trim: spans %v, events %+v; want coverage from the cutoff only and event 3", spans, events)
	}
}

// TestVerifyChecksWhatRetentionRemoved breaks a trimmed journal's records
// through bbolt itself: Verify tells trimmed ids from lost ones, and finds
// coverage from before the cutoff.
func TestVerifyChecksWhatRetentionRemoved(t *testing.T) {
	cases := []struct {
		name, want string
		damage     func(tx *bolt.Tx) error
	}{
		{"a kept event said trimmed", "is stored, but meta trim says", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyTrim, trimmed{cutoff: 300, first: 3, above: []idRange{{5, 5}}}.encode())
		}},
		{"an event lost, not trimmed", "event id 2 is missing", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyTrim, trimmed{cutoff: 300, first: 2}.encode())
		}},
		{"trimmed past the sequence", "beyond the sequence", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyTrim, trimmed{cutoff: 300, first: 3, above: []idRange{{9, 12}}}.encode())
		}},
		{"a span before the cutoff", "before the retention cutoff", func(tx *bolt.Tx) error {
			k, v := encodeSpan(spanRecord{Span: spanOf(sec(100), sec(200)), Closed: true})
			return tx.Bucket(bucketSpans).Put(k, v)
		}},
		{"garbage", "meta trim", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyTrim, []byte{5, 3, 1, 0, 0})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, path := openTrimmable(t, "v.journal")
			// Events 1..6 at 100..600; trimming before 300 deletes 1 and 2.
			b := &Batch{NewSpan: &SpanStart{Start: sec(50)}, CoveredTo: sec(700), Checkpoint: &Checkpoint{Flavor: "mysql", File: "b.1", Pos: 4}}
			for i := range 6 {
				b.Events = append(b.Events, ev(uint64(1+i%2), bridge.Status(i%3), bridge.Status((i+1)%3), int64(100*(i+1))))
			}
			if err := j.Commit(b); err != nil {
				t.Fatal(err)
			}
			if _, err := j.Trim(context.Background(), sec(300), TrimOptions{}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			if r, err := Verify(path); err != nil || !r.OK() {
				t.Fatalf("the trimmed journal before the damage: %v %q", err, r.Problems)
			}
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(c.damage)
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			damaged(t, path, c.want)
		})
	}
}

// TestTrimmedIDs checks the set of trimmed ids against a plain map while
// ids are added in random steps, and its encoding round trip.
func TestTrimmedIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 13))
	var tr trimmed
	model := map[uint64]bool{}
	const n = 1000
	for len(model) < n {
		// Mostly the lowest ids not yet trimmed, some far ahead.
		var ids []uint64
		for id := uint64(1); id <= n && len(ids) < 1+rng.IntN(30); id++ {
			if !model[id] && (rng.IntN(4) > 0 || id > 800) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		next, ok := tr.with(ids)
		if !ok {
			t.Fatal("ranges overflowed")
		}
		tr = next
		for _, id := range ids {
			model[id] = true
		}
		var count uint64
		for id := uint64(1); id <= n+2; id++ {
			if tr.has(id) != model[id] {
				t.Fatalf("has(%d) = %v, the model %v", id, tr.has(id), model[id])
			}
			if model[id] {
				count++
			}
			skip := id - 1
			for model[skip+1] {
				skip++
			}
			if tr.skip(id-1) != skip {
				t.Fatalf("skip(%d) = %d, want %d", id-1, tr.skip(id-1), skip)
			}
		}
		if tr.count() != count || tr.countIn(1, n+2) != count {
			t.Fatalf("count %d, countIn %d, the model %d", tr.count(), tr.countIn(1, n+2), count)
		}
		back, err := decodeTrimmed(tr.encode())
		if err != nil || !reflect.DeepEqual(back.encode(), tr.encode()) || back.count() != count {
			t.Fatalf("encoding round trip: %+v %v, want %+v", back, err, tr)
		}
	}
	if tr.firstID() != n+1 || len(tr.above) != 0 {
		t.Fatalf("all of 1..%d trimmed: %+v", n, tr)
	}
}

// TestTrimKeepsTheReconcilesHoldOnTheOpenSpan: the reconcile self-check
// names the open span by its start; a trim that starts the open span at the
// cutoff must not lapse a divergence it recorded (the span would vouch
// again for what it took back), nor lose its last agreement, nor make it
// look like another span.
func TestTrimKeepsTheReconcilesHoldOnTheOpenSpan(t *testing.T) {
	j, path := openTrimmable(t, "doubt.journal")
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(1000),
		Events: []bridge.Event{ev(1, 1, 0, 200), ev(1, 0, 1, 600)}, Monitors: []bridge.Monitor{mon(1, 1, 1, 600)}}); err != nil {
		t.Fatal(err)
	}
	j.Attach(nil)
	j.Confirm(sec(1100))
	if err := j.MarkAgreed(sec(100), sec(400)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Trim(context.Background(), sec(300), TrimOptions{}); err != nil {
		t.Fatal(err)
	}
	open, ok := j.OpenSpan()
	if !ok || !open.Start.Equal(sec(300)) || !j.SameSpan(sec(100), open.Start) || j.SameSpan(sec(400), open.Start) {
		t.Fatalf("after the trim the open span is %v %v; want it to start at the cutoff and be the span that started at 100", open, ok)
	}
	if at, err := j.Agreed(open.Start); err != nil || !at.Equal(sec(400)) {
		t.Fatalf("the last agreement after the trim: %v %v, want 400", at, err)
	}
	// A reconcile that read the span before the trim finds it diverged.
	if ok, err := j.Suspect(sec(100), sec(400)); !ok || err != nil {
		t.Fatalf("Suspect of the trimmed open span by its old start: %v %v", ok, err)
	}
	check := func(when string) {
		t.Helper()
		if s := j.Spans(sec(1050)); len(s) != 1 || !s[0].End.Equal(sec(400)) {
			t.Fatalf("%s: spans %v; want [300, 400): the divergence takes back what followed 400", when, s)
		}
		if _, _, ok, _ := j.FollowedRow(1); ok {
			t.Fatalf("%s: FollowedRow vouches for a row of a span in doubt", when)
		}
	}
	check("suspected")
	// Another trim moves the span again; the doubt stays, also in the file.
	if _, err := j.Trim(context.Background(), sec(350), TrimOptions{}); err != nil {
		t.Fatal(err)
	}
	check("trimmed again")
	j.Close()
	j, err := Open(path, Options{Now: farFuture})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Attach(nil)
	j.Confirm(sec(1100))
	check("reopened")
	if start, _, ok := j.Suspected(); !ok || !j.SameSpan(start, sec(350)) {
		t.Fatalf("Suspected after reopening: %v %v", start, ok)
	}
}
