package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMergeTakesEachPartFromOneRun: a report merged from runs of parts
// shows each part from the last run that measured it, lists every run it
// takes a part from with its parts, says so in the report and the results
// file, and refuses runs of different scales.
func TestMergeTakesEachPartFromOneRun(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 7, h, 10, 0, 0, time.UTC) }
	small, large, again := &GrowthSize{Events: 1e6}, &GrowthSize{Events: 1e8}, &GrowthSize{Events: 1e6}
	steady := &SteadyResult{Sizes: []int64{1}, InUse: []int64{1}, Stored: []uint64{1}}
	first := &Results{Started: at(16), Finished: at(17), Scale: 1, Machine: Machine{CPUs: 2, CPUModel: "A"},
		Chain: &ChainResult{Rate: 50}, Growth: &GrowthResult{Blogs: 1, Sizes: []*GrowthSize{large}, Steady: steady}}
	second := &Results{Started: at(18), Finished: at(19), Scale: 1, Machine: Machine{CPUs: 2, CPUModel: "A"},
		Growth: &GrowthResult{Blogs: 1, Sizes: []*GrowthSize{small}}, Notes: []string{"a note"}}
	m, err := Merge(first, second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Chain != first.Chain {
		t.Errorf("chain taken from the wrong run: %v", m.Chain)
	}
	// Part 8 size by size: the second run's 1M, the first's 100M and
	// steady state, in order of size.
	if g := m.Growth; g == nil || !slices.Equal(g.Sizes, []*GrowthSize{small, large}) || g.Steady != steady {
		t.Errorf("part 8 not merged size by size: %+v", m.Growth)
	}
	if len(m.Runs) != 2 || !slices.Equal(m.Runs[0].Parts, []string{"chain", "growth"}) || !slices.Equal(m.Runs[1].Parts, []string{"growth"}) {
		t.Errorf("runs listed: %+v", m.Runs)
	}
	third := &Results{Started: at(20), Finished: at(21), Scale: 1, Growth: &GrowthResult{Sizes: []*GrowthSize{again}}}
	if m3, err := Merge(first, second, third); err != nil || !slices.Equal(m3.Growth.Sizes, []*GrowthSize{again, large}) {
		t.Errorf("a size measured again is not taken from the last run: %v %+v", err, m3.Growth)
	}
	if !m.Started.Equal(at(16)) || !m.Finished.Equal(at(19)) {
		t.Errorf("merged run from %s to %s, want the first start and the last end", m.Started, m.Finished)
	}
	if len(m.Notes) != 1 || !strings.Contains(m.Notes[0], "2026-12-07 18:10 UTC") {
		t.Errorf("notes: %q", m.Notes)
	}
	rf := NewResultsFile(m)
	if len(rf.Runs) != 2 || rf.Runs[1].Run != "2026-12-07 18:10 UTC" || !strings.Contains(rf.From(), "growth: 2026-12-07 18:10 UTC") {
		t.Errorf("the results file does not say which run each part comes from: %+v, %q", rf.Runs, rf.From())
	}
	report := Markdown(&Results{Started: m.Started, Finished: m.Finished, Scale: 1, Runs: m.Runs, Chain: m.Chain}, nil)
	if !strings.Contains(report, "on "+rf.Run+";") || !strings.Contains(report, "| growth | 2026-12-07 18:10 UTC |") || !strings.Contains(report, "| chain, growth | 2026-12-07 16:10 UTC |") {
		t.Errorf("the report does not list the runs:\n%s", report[:min(len(report), 1500)])
	}
	if one := NewResultsFile(first); one.Runs != nil || one.From() != "every row from that one run" {
		t.Errorf("a single run's results file lists runs: %+v", one.Runs)
	}
	second.Scale = 0.1
	if _, err := Merge(first, second); err == nil {
		t.Error("runs of different scales were merged")
	}
}
