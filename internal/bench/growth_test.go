package bench

import (
	"strings"
	"testing"
	"time"
)

// TestGrowthVerdicts checks part 8's verdicts: a figure at the largest
// journal within 1.5x of the smallest's passes, beyond fails; the file is
// flat when the last third of the cycles stays within 5% of the middle
// third.
func TestGrowthVerdicts(t *testing.T) {
	size := func(events int, catchup, p99 time.Duration, heap uint64) *GrowthSize {
		l := Latency{N: 10, P50: p99 / 2, P99: p99}
		return &GrowthSize{Events: events, Catchup: catchup, CatchupCommits: l, Live: l, LiveCommits: l, LiveHeap: heap, CatchupHeap: heap,
			Fixed: &LoadResult{Service: l, Requests: 10}, FileBytes: int64(events) * 30}
	}
	g := &GrowthResult{Blogs: 100, Stretch: 1000, Sizes: []*GrowthSize{
		size(1000, time.Second, 10*time.Millisecond, 10<<20),
		size(100_000, 1400*time.Millisecond, 20*time.Millisecond, 70<<20),
	}}
	met := map[string]string{}
	for _, r := range growthRows(g) {
		met[r.Measure] = r.Met
	}
	for measure, want := range map[string]string{
		"catch-up time per transition, journal of 100k vs 1.0k events":      "yes",
		"catch-up commit p99, journal of 100k vs 1.0k events":               "NO",
		"catch-up, peak live Go heap of the follower at every journal size": "NO",
	} {
		if met[measure] != want {
			t.Errorf("%q: met %q, want %q (rows %v)", measure, met[measure], want, met)
		}
	}
	s := &SteadyResult{Cycles: 9, InUse: []int64{10, 50, 90, 100, 100, 100, 104, 105, 100}, Sizes: make([]int64, 9), Stored: make([]uint64, 9)}
	if _, _, flat := s.Flat(); !flat {
		t.Error("within 5% is flat")
	}
	s.InUse[8] = 120
	if _, _, flat := s.Flat(); flat {
		t.Error("20% more is not flat")
	}
	g.Steady = s
	var b strings.Builder
	growthSection(&b, g)
	if md := b.String(); !strings.Contains(md, "## 8. Growth") || !strings.Contains(md, "NOT flat") {
		t.Errorf("section:\n%s", md)
	}
}
