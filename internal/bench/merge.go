package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// PartRun is one run of the suite that a merged report takes parts from:
// when and where it ran, and which parts it measured.
type PartRun struct {
	Parts             []string
	Started, Finished time.Time
	Machine           Machine
	Disk              *DiskSync
	Scale             float64
}

// Parts names the parts r measured, as -only names them.
func (r *Results) Parts() []string {
	var parts []string
	for _, p := range []struct {
		name string
		ran  bool
	}{
		{"catchup", r.Catchup != nil || r.CatchupSingle != nil}, {"shared", r.CatchupShared != nil},
		{"live", len(r.Live) > 0}, {"events", r.Events != nil}, {"completeness", r.Completeness != nil},
		{"chain", r.Chain != nil}, {"publish", r.Publish != nil}, {"growth", r.Growth != nil},
	} {
		if p.ran {
			parts = append(parts, p.name)
		}
	}
	return parts
}

// ReadResults reads a run's raw results (bin/bench-out/results.json).
func ReadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Merge is one report of runs that each measured some of the suite's parts
// (jetmon-bench -only), for when a whole run does not fit in one sitting.
// A part measured by more than one run is taken from the last that did,
// with its run's notes; every run is listed with when and where it ran and
// which parts it gave (Results.Runs), so that no figure is shown as
// measured in a run it did not come from. The runs must share a scale: a
// ratio between parts of different scales would mean nothing.
func Merge(runs ...*Results) (*Results, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("nothing to merge: give the results.json of at least one run")
	}
	m := &Results{Scale: runs[0].Scale, Machine: runs[0].Machine, Disk: runs[0].Disk, Started: runs[0].Started}
	taken := map[string]int{} // part -> the run it comes from
	for i, r := range runs {
		if r.Scale != m.Scale {
			return nil, fmt.Errorf("run %d has scale %g, run 1 %g: merge only runs of one scale", i+1, r.Scale, m.Scale)
		}
		for _, p := range r.Parts() {
			taken[p] = i
		}
		if g := r.Growth; g != nil {
			// Part 8 is taken size by size (a run of the largest journal
			// can go beside a run of the others), the steady state from the
			// last run that measured it.
			if m.Growth == nil {
				m.Growth = &GrowthResult{Blogs: g.Blogs, Stretch: g.Stretch, StretchBytes: g.StretchBytes}
			}
			for _, s := range g.Sizes {
				m.Growth.Sizes = slices.DeleteFunc(m.Growth.Sizes, func(x *GrowthSize) bool { return x.Events == s.Events })
				m.Growth.Sizes = append(m.Growth.Sizes, s)
			}
			if g.Steady != nil {
				m.Growth.Steady = g.Steady
			}
		}
		if r.Started.Before(m.Started) {
			m.Started = r.Started
		}
		if r.Finished.After(m.Finished) {
			m.Finished = r.Finished
		}
		if r.Micro != "" {
			m.Micro = r.Micro
		}
	}
	for i, r := range runs {
		var parts []string
		for _, p := range r.Parts() {
			if taken[p] == i || p == "growth" && growthFrom(m.Growth, r.Growth) {
				parts = append(parts, p)
			}
		}
		if len(parts) == 0 {
			continue
		}
		m.Runs = append(m.Runs, PartRun{Parts: parts, Started: r.Started, Finished: r.Finished, Machine: r.Machine, Disk: r.Disk, Scale: r.Scale})
		for _, p := range parts {
			switch p {
			case "catchup":
				m.Catchup, m.CatchupSingle = r.Catchup, r.CatchupSingle
			case "shared":
				m.CatchupShared = r.CatchupShared
			case "live":
				m.Live = r.Live
			case "events":
				m.Events = r.Events
			case "completeness":
				m.Completeness = r.Completeness
			case "chain":
				m.Chain = r.Chain
			case "publish":
				m.Publish = r.Publish
			}
		}
		for _, n := range r.Notes {
			m.Notes = append(m.Notes, fmt.Sprintf("%s (run of %s)", n, r.Started.Format("2006-01-02 15:04 UTC")))
		}
	}
	slices.SortFunc(m.Runs, func(a, b PartRun) int { return a.Started.Compare(b.Started) })
	if m.Growth != nil {
		slices.SortFunc(m.Growth.Sizes, func(a, b *GrowthSize) int { return a.Events - b.Events })
	}
	return m, nil
}

// growthFrom reports whether the merged part 8 took a size or the steady
// state from g.
func growthFrom(merged, g *GrowthResult) bool {
	if merged == nil || g == nil {
		return false
	}
	if g.Steady != nil && merged.Steady == g.Steady {
		return true
	}
	for _, s := range g.Sizes {
		if slices.Contains(merged.Sizes, s) {
			return true
		}
	}
	return false
}

// runsTable is the Machine section's list of the runs a merged report
// comes from.
func runsTable(b *strings.Builder, runs []PartRun) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\nThis report merges %d runs of `jetmon-bench -only` (`jetmon-bench merge`) on this machine; each part's figures come from one run, and runs that overlap in time shared the machine "+
		"(a run that stopped early, on a part this report takes from another run, records no end):\n\n", len(runs))
	p("| parts | started | took | CPUs | load average at start / end | fdatasync p50 / p99 |\n|---|---|---|---|---|---|\n")
	for _, r := range runs {
		disk := ""
		if d := r.Disk; d != nil {
			disk = fmt.Sprintf("%s / %s", msShort(d.P50), msShort(d.P99))
		}
		p("| %s | %s | %s | %d, %s | %s / %s | %s |\n", strings.Join(r.Parts, ", "), r.Started.Format("2006-01-02 15:04 UTC"),
			took(r), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.LoadAvg, r.Machine.LoadAvgEnd, disk)
	}
}

// took is how long a run took, or says it stopped early (a run that
// failed records no end).
func took(r PartRun) string {
	if r.Finished.IsZero() {
		return "(stopped early)"
	}
	return r.Finished.Sub(r.Started).Round(time.Second).String()
}
