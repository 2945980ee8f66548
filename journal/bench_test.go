package journal

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// benchStart is the first event time of the benchmark journals.
var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchFeed produces events as the follower would: in time order, for
// random blogs among blogs, each blog walking Jetmon's status cycle.
type benchFeed struct {
	rng    *rand.Rand
	status []bridge.Status
	at     time.Time
}

func newBenchFeed(blogs int) *benchFeed {
	f := &benchFeed{rng: rand.New(rand.NewPCG(1, 2)), status: make([]bridge.Status, blogs), at: benchStart}
	for i := range f.status {
		f.status[i] = bridge.StatusRunning
	}
	return f
}

// next returns a batch of n events, a fresh one as the follower's are.
func (f *benchFeed) next(n int) *Batch {
	b := &Batch{}
	for range n {
		i := f.rng.IntN(len(f.status))
		old := f.status[i]
		next := bridge.StatusRunning
		switch old {
		case bridge.StatusRunning:
			next = bridge.StatusDown
		case bridge.StatusDown:
			next = bridge.StatusConfirmedDown
		}
		f.status[i] = next
		b.Events = append(b.Events, bridge.Event{BlogID: uint64(i + 1), OldStatus: old, NewStatus: next, CreatedAt: f.at})
		f.at = f.at.Add(250 * time.Millisecond)
	}
	b.CoveredTo = f.at.Truncate(time.Second)
	b.Transactions = n
	return b
}

// openBenchJournal opens a journal as the daemon does: every commit synced.
func openBenchJournal(b *testing.B) *Journal {
	b.Helper()
	j, err := Open(filepath.Join(b.TempDir(), "bench.journal"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	if err := j.Commit(&Batch{Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4},
		NewSpan: &SpanStart{Start: benchStart}}); err != nil {
		b.Fatal(err)
	}
	return j
}

// BenchmarkCommit appends batches of events for random blogs among
// 100,000 to a journal that already holds 500,000, the way the follower
// does: batch=1 is a live change, large batches are a catch-up. ns/event is
// the cost of one event, bbolt's two fdatasyncs per commit included, as
// the daemon commits. Small batches are the worst case for the blog index:
// every event rewrites a different leaf page.
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct {
		name   string
		events int
	}{
		{"batch=1", 1},
		{"batch=1000", 1000},
		{"batch=100000", 100_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			j := openBenchJournal(b)
			feed := newBenchFeed(100_000)
			for range 5 {
				if err := j.Commit(feed.next(100_000)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				batch := feed.next(c.events)
				b.StartTimer()
				if err := j.Commit(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.events), "ns/event")
		})
	}
}

// BenchmarkBlogEvents reads one blog's window of about ten events from a
// journal of 1,000,000 events over 10,000 blogs (100 per blog), as /events
// does.
func BenchmarkBlogEvents(b *testing.B) {
	const blogs, perBlog = 10_000, 100
	j := openBenchJournal(b)
	feed := newBenchFeed(blogs)
	for range blogs * perBlog / 100_000 {
		if err := j.Commit(feed.next(100_000)); err != nil {
			b.Fatal(err)
		}
	}
	span := feed.at.Sub(benchStart)
	window := span / 10 // a tenth of each blog's history: about ten events
	rng := rand.New(rand.NewPCG(3, 4))
	var got int
	b.ReportAllocs()
	for b.Loop() {
		blog := uint64(rng.IntN(blogs) + 1)
		since := benchStart.Add(time.Duration(rng.Int64N(int64(span - window))))
		evs, err := j.BlogEvents(blog, since, since.Add(window))
		if err != nil {
			b.Fatal(err)
		}
		got += len(evs)
	}
	b.ReportMetric(float64(got)/float64(b.N), "events/op")
}
