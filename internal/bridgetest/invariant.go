package bridgetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// Answer is one /events answer, kept to be judged against the ground truth
// once the truth for its window is complete.
type Answer struct {
	Blog         uint64
	Since, Until time.Time
	Coverage     string
	Events       []bridge.Event
	// At is when the answer arrived, Took how long it was waited for (a
	// window past coverage waits up to the bridge's -read-timeout).
	At   time.Time
	Took time.Duration
}

// Asker asks a running bridge for /events again and again while faults
// strike, from a few clients at once, and keeps every answer for
// JudgeJournalAnswers. Windows start at Since and end either in the last
// few seconds (the stretch a lagging replica must not vouch for) or
// anywhere since Since (old windows the journal vouches for throughout).
type Asker struct {
	Proc  *Process
	Blogs []uint64
	Since time.Time

	mu      sync.Mutex
	rng     *rand.Rand
	answers []Answer
	failed  int
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// NewAsker returns an Asker of p about blogs, windows starting at since,
// its choices drawn from seed. It asks when told (Ask) or, once started,
// from its own clients.
func NewAsker(p *Process, blogs []uint64, since time.Time, seed uint64) *Asker {
	return &Asker{Proc: p, Blogs: blogs, Since: since, rng: rand.New(rand.NewPCG(seed, 0x61736b)), stop: make(chan struct{})}
}

// Start starts clients goroutines asking until Stop.
func (a *Asker) Start(clients int) {
	for range clients {
		a.wg.Go(func() {
			for {
				select {
				case <-a.stop:
					return
				default:
				}
				a.Ask()
				select {
				case <-a.stop:
					return
				case <-time.After(20 * time.Millisecond): // paces the questions; asserts nothing
				}
			}
		})
	}
}

// Ask asks once and keeps the answer. A bridge that cannot answer (killed,
// stopped, its replica down) is counted, not kept: the invariant is about
// the answers it gives.
func (a *Asker) Ask() { a.ask(time.Now()) }

// AskCovered asks once for a window ending at or before covered, an instant
// the test saw the journal vouch for: coverage never retreats there, so the
// answer says journal and is judged. Without such questions a fault that
// stops coverage early may leave nothing at all to judge.
func (a *Asker) AskCovered(covered time.Time) { a.ask(covered) }

// ask asks for a window ending in the last few seconds before end or
// anywhere since Since, at random.
func (a *Asker) ask(end time.Time) {
	a.mu.Lock()
	blog := a.Blogs[a.rng.IntN(len(a.Blogs))]
	var until time.Time
	if a.rng.IntN(2) == 0 {
		until = end.Add(-time.Duration(a.rng.Int64N(int64(3 * time.Second))))
	} else {
		until = a.Since.Add(time.Duration(a.rng.Int64N(int64(max(end.Sub(a.Since), time.Second)))))
	}
	if !until.After(a.Since) {
		until = a.Since.Add(time.Second)
	}
	if until.After(end) && end.After(a.Since) {
		until = end
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	asked := time.Now()
	events, coverage, err := a.Proc.Events(ctx, blog, a.Since, until)
	cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed++
		return
	}
	a.answers = append(a.answers, Answer{Blog: blog, Since: a.Since, Until: until, Coverage: coverage, Events: events, At: time.Now(), Took: time.Since(asked)})
}

// Stop stops the clients and returns every answer kept and how many
// requests got none. Its clients ask no more; Ask still may.
func (a *Asker) Stop() ([]Answer, int) {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.answers, a.failed
}

// Vouched is the end of the latest window an answer so far said journal
// for, the zero time before any did. Coverage that vouched never retreats
// without a recorded reason (a reconcile's divergence), so AskCovered of it
// asks windows that must say journal again, wherever a fault left the
// present.
func (a *Asker) Vouched() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v time.Time
	for _, ans := range a.answers {
		if ans.Coverage == string(bridge.CoverageJournal) && ans.Until.After(v) {
			v = ans.Until
		}
	}
	return v
}

// SplitByArrival parts answers by when they arrived, among stretches of time
// that begin at starts, in order: part i holds the answers that arrived at
// or after starts[i] and before starts[i+1] (the last stretch has no end);
// answers before starts[0] are in no part. Judging each part on its own
// holds every fault, or every case of a test, to its own minimum.
func SplitByArrival(answers []Answer, starts []time.Time) [][]Answer {
	parts := make([][]Answer, len(starts))
	for _, a := range answers {
		for i := len(starts) - 1; i >= 0; i-- {
			if !a.At.Before(starts[i]) {
				parts[i] = append(parts[i], a)
				break
			}
		}
	}
	return parts
}

// TruthFor is the transitions of blog in [since, until), in truth's order.
func TruthFor(truth []bridge.Event, blog uint64, since, until time.Time) []bridge.Event {
	out := []bridge.Event{}
	for _, e := range truth {
		if e.BlogID == blog && !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) {
			out = append(out, e)
		}
	}
	return out
}

// SameEvents compares two histories by content, in order (ids aside).
func SameEvents(got, want []bridge.Event) bool {
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

// JournalVerdict is what JudgeJournalAnswers found.
type JournalVerdict struct {
	// Answers were judged; Journal of them said journal.
	Answers, Journal int
	// Problems describe every journal answer that differs from the truth.
	Problems []string
}

// Enough says whether at least min answers said journal and were judged,
// as a sentence naming the shortfall; nil when they were. A check that
// judged nothing proves nothing.
func (v JournalVerdict) Enough(min int) error {
	if v.Journal < min {
		return fmt.Errorf("only %d of %d answers said journal and were judged, want at least %d: ask windows the journal vouched for (Asker.AskCovered)", v.Journal, v.Answers, min)
	}
	return nil
}

// JudgeJournalAnswers holds every answer that says journal to the
// invariant: it equals the ground truth for its window. truth must be
// complete for every window asked (the writer has stopped, or moved past
// them).
func JudgeJournalAnswers(answers []Answer, truth []bridge.Event) JournalVerdict {
	var v JournalVerdict
	for _, a := range answers {
		v.Answers++
		if a.Coverage != string(bridge.CoverageJournal) {
			continue
		}
		v.Journal++
		if want := TruthFor(truth, a.Blog, a.Since, a.Until); !SameEvents(a.Events, want) {
			v.Problems = append(v.Problems, fmt.Sprintf("blog %d [%s, %s) answered journal at %s but differs from the truth\n got: %v\nwant: %v",
				a.Blog, a.Since.Format(time.RFC3339Nano), a.Until.Format(time.RFC3339Nano), a.At.Format(time.RFC3339Nano), a.Events, want))
		}
	}
	return v
}
