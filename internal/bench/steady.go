package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// SteadyResult is retention's steady state (part 8b): a journal that
// holds Retained events keeps receiving commits while retention trims
// what falls out of the window, cycle after cycle.
type SteadyResult struct {
	Blogs, Retained, PerCycle, Cycles, Batch int
	// Retain is the retention on the run's synthetic clock.
	Retain time.Duration
	Build  time.Duration
	Took   time.Duration
	// Writing is the time the cycles' commits took, Waiting the time each
	// cycle then waited for retention to catch up with it.
	Writing, Waiting time.Duration
	// After each cycle: the file's size, the pages bbolt has allocated
	// (its high-water mark, free pages included) and the events stored.
	Sizes, InUse []int64
	Stored       []uint64
	Deleted      uint64
	Trims        int
	// Commit durations: all, and those that ended while a trim ran.
	Commits, CommitsDuringTrim Latency
	CommitPagesP99             int
	// Trim steps: durations, and the most pages and events one wrote.
	Steps                       Latency
	StepPagesP99, StepPagesMax  int
	StepEventsMax, StepBlogsMax int
}

// Flat reports whether the high-water mark of the last third of the
// cycles stays within goalSteadyGrowth (5%) of the middle third's, once the
// freed pages are in steady use (the first third fills the window's free
// pages).
func (s *SteadyResult) Flat() (middle, last int64, ok bool) {
	n := len(s.InUse)
	if n < 6 {
		return 0, 0, false
	}
	middle, last = slices.Max(s.InUse[n/3:2*n/3]), slices.Max(s.InUse[2*n/3:])
	return middle, last, float64(last) <= float64(middle)*(1+goalSteadyGrowth)
}

// TrimRate is the events retention deleted a second over the cycles,
// commits coming in meanwhile.
func (s *SteadyResult) TrimRate() float64 {
	return float64(s.Deleted) / max(s.Writing+s.Waiting, time.Millisecond).Seconds()
}

// steadyTick is the synthetic time between two events.
const steadyTick = 10 * time.Millisecond

// RunSteady builds a journal of the retained size, then commits Cycles
// cycles of PerCycle events in batches of Batch (fsync on), each event one
// steadyTick of the synthetic clock later, as fast as it can, while a
// Retainer-like loop trims to the clock minus the retention with the
// default step bounds; each cycle ends when retention has caught up with
// it. The writes come far faster than a follower's live rate, so the
// trims interleave with commits all the time.
func RunSteady(ctx context.Context, cfg Config) (*SteadyResult, error) {
	s := &SteadyResult{Blogs: cfg.scaled(100_000, 2_000), Retained: cfg.scaled(1_000_000, 50_000), Cycles: 30, Batch: 200}
	s.PerCycle = s.Retained / 10
	s.Retain = time.Duration(s.Retained) * steadyTick
	path := cfg.path("steady.journal")
	os.Remove(path)
	defer os.Remove(path)
	logf(cfg, "steady: building a journal of the %d retained events over %d blogs", s.Retained, s.Blogs)
	t := time.Now()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span, state, err := buildHistory(path, history{events: s.Retained, blogs: s.Blogs, batch: 100_000, start: start, length: s.Retain,
		checkpoint: journal.Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4}})
	if err != nil {
		return nil, err
	}
	s.Build = time.Since(t)

	var clock atomic.Int64 // the synthetic present, Unix ns
	clock.Store(span.End.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	var mu sync.Mutex
	var trimming atomic.Bool
	var commits, duringTrim, steps []time.Duration
	var commitPages, stepPages []int
	j, err := journal.Open(path, journal.Options{Now: now, OnCommit: func(c journal.CommitStats) {
		mu.Lock()
		commits, commitPages = append(commits, c.Took), append(commitPages, c.Pages)
		if trimming.Load() {
			duringTrim = append(duringTrim, c.Took)
		}
		mu.Unlock()
	}})
	if err != nil {
		return nil, err
	}
	defer j.Close()

	// The retention, as the daemon's Retention service runs it, on the
	// synthetic clock. caughtUp is the cutoff of the last trim that left
	// nothing before it; trimmed wakes whoever waits for it.
	done := make(chan struct{})
	trimErr := make(chan error, 1)
	var caughtUp time.Time
	trimmed := make(chan struct{})
	go func() {
		opts := journal.TrimOptions{OnStep: func(st journal.TrimStep) {
			mu.Lock()
			steps, stepPages = append(steps, st.Took), append(stepPages, st.Pages)
			s.StepEventsMax, s.StepBlogsMax = max(s.StepEventsMax, st.Events), max(s.StepBlogsMax, st.Blogs)
			mu.Unlock()
		}}
		for {
			trimming.Store(true)
			res, err := j.Trim(ctx, now().Add(-s.Retain), opts)
			trimming.Store(false)
			if err != nil {
				trimErr <- err
				return
			}
			mu.Lock()
			s.Deleted += res.Deleted
			s.Trims++
			if res.Done {
				caughtUp = res.Cutoff
			}
			close(trimmed)
			trimmed = make(chan struct{})
			mu.Unlock()
			select {
			case <-done:
				trimErr <- nil
				return
			case <-time.After(cfg.scaledDur(200*time.Millisecond, 50*time.Millisecond)):
			}
		}
	}()

	logf(cfg, "steady: %d cycles of %d events in commits of %d", s.Cycles, s.PerCycle, s.Batch)
	rng := rand.New(rand.NewPCG(70, 80))
	t = time.Now()
	for c := range s.Cycles {
		cycle := time.Now()
		for written := 0; written < s.PerCycle; {
			var b journal.Batch
			for n := 0; n < s.Batch && written < s.PerCycle; n, written = n+1, written+1 {
				i := rng.IntN(s.Blogs)
				old := state[i].status
				next := bridge.StatusRunning
				switch old {
				case bridge.StatusRunning:
					next = bridge.StatusDown
				case bridge.StatusDown:
					next = bridge.StatusConfirmedDown
				}
				state[i].status = next
				at := now().Truncate(time.Second)
				b.AddEvent(bridge.Event{BlogID: uint64(i + 1), OldStatus: old, NewStatus: next, CreatedAt: at})
				clock.Add(int64(steadyTick))
			}
			b.CoveredTo = now().Truncate(time.Second)
			if err := j.Commit(&b); err != nil {
				close(done)
				return s, err
			}
			if err := ctx.Err(); err != nil {
				close(done)
				return s, err
			}
		}
		s.Writing += time.Since(cycle)
		// The cycle ends once retention has caught up with it: the
		// window holds the retained events again.
		waited := time.Now()
		target := now().Add(-s.Retain).Truncate(time.Second)
		for {
			mu.Lock()
			ok, wake := !caughtUp.Before(target), trimmed
			mu.Unlock()
			if ok {
				break
			}
			select {
			case <-wake:
			case err := <-trimErr:
				close(done)
				return s, fmt.Errorf("trim: %w", err)
			case <-ctx.Done():
				close(done)
				return s, ctx.Err()
			}
		}
		s.Waiting += time.Since(waited)
		st, err := j.Stats()
		if err != nil {
			close(done)
			return s, err
		}
		s.Sizes, s.InUse, s.Stored = append(s.Sizes, st.FileSize), append(s.InUse, st.UsedBytes), append(s.Stored, st.Events)
		logf(cfg, "steady: cycle %d: file %s, pages %s, %d events stored, %d trimmed", c+1, mib(uint64(st.FileSize)), mib(uint64(st.UsedBytes)), st.Events, st.Trimmed)
	}
	close(done)
	if err := <-trimErr; err != nil {
		return s, fmt.Errorf("trim: %w", err)
	}
	s.Took = time.Since(t)
	mu.Lock()
	defer mu.Unlock()
	s.Commits, s.CommitsDuringTrim, s.Steps = Summarize(commits), Summarize(duringTrim), Summarize(steps)
	s.CommitPagesP99 = percentileInt(commitPages, 99)
	s.StepPagesP99, s.StepPagesMax = percentileInt(stepPages, 99), percentileInt(stepPages, 100)
	middle, last, flat := s.Flat()
	logf(cfg, "steady: %d trims deleted %d events in %d steps (p99 %s, max %s, %d pages at most); commits p99 %s, during trims %s; pages in use %s then %s: flat %v",
		s.Trims, s.Deleted, s.Steps.N, ms(s.Steps.P99), ms(s.Steps.Max), s.StepPagesMax, ms(s.Commits.P99), ms(s.CommitsDuringTrim.P99), mib(uint64(middle)), mib(uint64(last)), flat)
	return s, nil
}

// percentileInt is the nearest-rank p-th percentile of vs (0 for none).
func percentileInt(vs []int, p float64) int {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}
