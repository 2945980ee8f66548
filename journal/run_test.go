package journal

import (
	"cmp"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// TestRunsMatchAModel commits batches of events, most newer than any
// stored but some far older (merged into runs in the middle of a group, or
// before its first run), and checks every read against a plain list: the
// exports in both orders, windows, StatusAt, and Verify.
func TestRunsMatchAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	dir := t.TempDir()
	path := filepath.Join(dir, "model.journal")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const blogs = 5
	base := t0.Unix()
	var model []bridge.Event // as committed, with ids
	now := base
	check := func() {
		t.Helper()
		want := sorted(model)
		var got []bridge.Event
		if err := j.Export(ExportFilter{}, func(e bridge.Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("export of %d events differs from the model's %d", len(got), len(want))
		}
		for range 20 {
			blog := uint64(1 + rng.IntN(blogs))
			since := time.Unix(base-20000+rng.Int64N(now-base+20000), int64(rng.IntN(2))*5e8).UTC()
			until := since.Add(time.Duration(rng.Int64N(20000)) * time.Second)
			var inWindow []bridge.Event
			for _, e := range want {
				if e.BlogID == blog && !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) {
					inWindow = append(inWindow, e)
				}
			}
			got, err := j.BlogEvents(blog, since, until)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(inWindow) || len(got) > 0 && !reflect.DeepEqual(got, inWindow) {
				t.Fatalf("blog %d [%s, %s): %d events, want %d", blog, since, until, len(got), len(inWindow))
			}
			var exported []bridge.Event
			if err := j.Export(ExportFilter{BlogID: blog, Since: since, Until: until}, func(e bridge.Event) error { exported = append(exported, e); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(exported) != len(inWindow) || len(exported) > 0 && !reflect.DeepEqual(exported, inWindow) {
				t.Fatalf("export of blog %d [%s, %s): %d events, want %d", blog, since, until, len(exported), len(inWindow))
			}
			// StatusAt(since): the last event before it, else the first after.
			var status bridge.Status
			known := false
			for _, e := range want {
				if e.BlogID != blog {
					continue
				}
				if e.CreatedAt.Before(since) {
					status, known = e.NewStatus, true
				} else if !known {
					status, known = e.OldStatus, true
					break
				} else {
					break
				}
			}
			s, ok, err := j.StatusAt(blog, since)
			if err != nil || ok != known || known && s != status {
				t.Fatalf("StatusAt(%d, %s) = %d %v %v, want %d %v", blog, since, s, ok, err, status, known)
			}
		}
	}
	for round := range 60 {
		b := &Batch{}
		var events []bridge.Event
		size := 1 + rng.IntN(150)
		if round == 30 {
			size = 2*eventChunk + 77 // merged into the events bucket in several chunks
		}
		for range size {
			created := now
			switch r := rng.IntN(20); {
			case r == 0:
				created = base - rng.Int64N(20000) // before every stored event
			case r < 3:
				created = base + rng.Int64N(now-base+1) // among stored events
			default:
				now += rng.Int64N(3)
			}
			old := bridge.Status(rng.IntN(3))
			events = append(events, bridge.Event{BlogID: uint64(1 + rng.IntN(blogs)), OldStatus: old, NewStatus: (old + 1) % 3, CreatedAt: time.Unix(created, 0).UTC()})
		}
		// Some in Events, the rest added: the batch's events are both, in
		// that order.
		split := []int{0, len(events), rng.IntN(len(events) + 1)}[round%3]
		b.Events = slices.Clone(events[:split])
		for _, e := range events[split:] {
			b.AddEvent(e)
		}
		if b.EventCount() != len(events) {
			t.Fatalf("a batch of %d events counts %d", len(events), b.EventCount())
		}
		if round == 0 {
			b.Checkpoint, b.NewSpan = &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4}, &SpanStart{Start: t0}
		}
		seq := j.LastID()
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		for i := range events {
			events[i].ID = seq + uint64(i) + 1
		}
		if !slices.Equal(b.Events, events[:split]) {
			t.Fatalf("round %d: Commit gave Events ids other than their places in the batch", round)
		}
		model = append(model, events...)
		if round%15 == 14 {
			check()
		}
	}
	j.Close()
	r, err := Verify(path)
	if err != nil || !r.OK() {
		t.Fatalf("verify: %v %q", err, r.Problems)
	}
	if r.Events != uint64(len(model)) || r.IndexEntries != r.Events || r.EventRuns < 10 || r.BlogRuns < 2*blogs {
		t.Fatalf("verify read %d events in %d runs and %d entries in %d blog runs; the model has %d events, which need more runs than that",
			r.Events, r.EventRuns, r.IndexEntries, r.BlogRuns, len(model))
	}
	if j, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	check()
	if st, err := j.Stats(); err != nil || st.Events != uint64(len(model)) || st.Blogs != blogs ||
		!st.FirstEvent.Equal(slices.MinFunc(model, cmpCreated).CreatedAt) || !st.LastEvent.Equal(slices.MaxFunc(model, cmpCreated).CreatedAt) {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func cmpCreated(a, b bridge.Event) int { return a.CreatedAt.Compare(b.CreatedAt) }

// TestCommitRefusesAnEventStoredTwice: a batch cannot add an event at a
// position (created_at, id) the runs already hold, as a sequence gone back
// would, and such a commit writes nothing.
func TestCommitRefusesAnEventStoredTwice(t *testing.T) {
	j, _ := openTemp(t)
	if err := j.Commit(&Batch{Events: []bridge.Event{ev(1, 1, 0, 100), ev(1, 0, 1, 200)}}); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.lastID = 1 // as if meta's sequence had gone back
	j.mu.Unlock()
	if err := j.Commit(&Batch{Events: []bridge.Event{ev(2, 1, 0, 200)}}); err == nil {
		t.Fatal("a commit reusing id 2 succeeded")
	}
	got, err := j.BlogEvents(2, sec(0), sec(1000))
	if err != nil || len(got) != 0 {
		t.Fatalf("blog 2 after the failed commit: %v %v", got, err)
	}
}

// TestBatchOrdersAreStable checks the radix sorts of a batch's events
// against stable comparison sorts, for small and large batches, created
// times in and out of order and blog ids of every width (both key widths).
func TestBatchOrdersAreStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 255, 256, 5000} {
		for _, width := range []uint{1, 17, 40, 64} {
			for _, spread := range []int64{0, 1000, 1 << 40} {
				var c batchEvents
				for i := range n {
					created := int64(i / 3) // in order
					if spread > 0 {
						created = rng.Int64N(spread)
					}
					c.created = append(c.created, created)
					c.blog = append(c.blog, 1+rng.Uint64()>>(64-width))
					c.status = append(c.status, 0)
				}
				places := make([]uint32, n)
				for i := range places {
					places[i] = uint32(i)
				}
				wantTime := slices.Clone(places)
				slices.SortStableFunc(wantTime, func(x, y uint32) int { return cmp.Compare(c.created[x], c.created[y]) })
				wantBlog := slices.Clone(wantTime)
				slices.SortStableFunc(wantBlog, func(x, y uint32) int { return cmp.Compare(c.blog[x], c.blog[y]) })
				byTime := c.byTime(nil)
				if !slices.Equal(byTime, wantTime) {
					t.Fatalf("n=%d width=%d spread=%d: the order by time differs from a stable sort", n, width, spread)
				}
				if got := c.byBlog(byTime, nil); !slices.Equal(got, wantBlog) {
					t.Fatalf("n=%d width=%d spread=%d: the order by blog differs from a stable sort", n, width, spread)
				}
			}
		}
	}
}

// TestEventPagesAreFilled: the events bucket's keys grow, so its leaves are
// filled before they split (runKind.fill), not left half empty. A page
// holds three runs of 1 KiB: about 77%.
func TestEventPagesAreFilled(t *testing.T) {
	j, _ := openTemp(t)
	rng := rand.New(rand.NewPCG(7, 7))
	created := int64(1_700_000_000)
	for range 2 {
		b := &Batch{}
		for range 50_000 {
			created += rng.Int64N(4) / 3
			b.AddEvent(bridge.Event{BlogID: 1 + rng.Uint64N(10_000), OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: sec(created)})
		}
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	err := j.db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket(bucketEvents).Stats()
		if fill := float64(s.LeafInuse) / float64(s.LeafAlloc); fill < 0.7 {
			t.Errorf("events bucket leaves are %.0f%% full (%d pages)", 100*fill, s.LeafPageN)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
