package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
)

// growthRows are part 8's summary rows: each figure at the largest size
// against the smallest (goal: within goalGrowthFactor), the catch-up heap
// at every size (goalCatchupHeap), and the file under retention
// (goalSteadyGrowth).
func growthRows(g *GrowthResult) []Row {
	var rows []Row
	if len(g.Sizes) >= 2 {
		a, z := g.Sizes[0], g.Sizes[len(g.Sizes)-1]
		if z.Catchup > 0 && a.Catchup > 0 {
			sizes := fmt.Sprintf("%s vs %s events", kfmt(float64(z.Events)), kfmt(float64(a.Events)))
			worse := func(measure string, big, small float64, unit func(float64) string) Row {
				f := big / small
				return Row{"8", measure + ", journal of " + sizes, goalTextGrowth,
					fmt.Sprintf("%.2fx (%s vs %s)", f, unit(big), unit(small)), yesNo(f <= goalGrowthFactor)}
			}
			msf := func(v float64) string { return msShort(time.Duration(v)) }
			rows = append(rows,
				worse("catch-up time per transition", z.Catchup.Seconds(), a.Catchup.Seconds(), func(v float64) string { return kfmt(float64(g.Stretch)/v) + " /s" }),
				worse("catch-up commit p99", float64(z.CatchupCommits.P99), float64(a.CatchupCommits.P99), msf),
				worse("live visibility lag p99", float64(z.Live.P99), float64(a.Live.P99), msf),
				worse("live commit p99", float64(z.LiveCommits.P99), float64(a.LiveCommits.P99), msf),
				worse(fmt.Sprintf("/events p99 from send at %d req/s", FixedRate), float64(z.Fixed.Service.P99), float64(a.Fixed.Service.P99), msf),
				worse("follower's live Go heap, peak while live", float64(z.LiveHeap), float64(a.LiveHeap), func(v float64) string { return mib(uint64(v)) }),
				Row{"8", "journal open (bbolt finds the free pages by reading the pages in use), journal of " + sizes, "",
					fmt.Sprintf("%s vs %s", msShort(z.Open), msShort(a.Open)), ""},
				worse("bytes per event in use (file minus free pages; the file adds bbolt's 16 MiB growth step)", float64(z.InUseBytes)/float64(z.Events), float64(a.InUseBytes)/float64(a.Events), func(v float64) string { return fmt.Sprintf("%.1f B", v) }),
			)
		}
	}
	var peak uint64
	for _, s := range g.Sizes {
		peak = max(peak, s.CatchupHeap)
	}
	if peak > 0 {
		rows = append(rows, Row{"8", "catch-up, peak live Go heap of the follower at every journal size", goalTextCatchupHeap, mib(peak), yesNo(peak <= goalCatchupHeap)})
	}
	var former uint64
	for _, s := range g.Sizes {
		if s.Former != nil {
			former = max(former, s.Former.Heap)
		}
	}
	if former > 0 {
		rows = append(rows, Row{"8", "the same without the bound on a commit's pages (as before), run beside it", "", mib(former), ""})
	}
	if s := g.Steady; s != nil {
		middle, last, flat := s.Flat()
		rows = append(rows,
			Row{"8", fmt.Sprintf("steady state under retention (%d cycles): pages in use, last third vs middle third of the cycles", s.Cycles), goalTextSteadyFlat,
				fmt.Sprintf("%s vs %s (file %s throughout: %s)", mib(uint64(last)), mib(uint64(middle)), mib(uint64(s.Sizes[len(s.Sizes)-1])), sizeRange(s.Sizes)), yesNo(flat)},
			Row{"8", fmt.Sprintf("steady state: trim step vs commit (%d events), p99 time; pages written, p99", s.Batch), "",
				fmt.Sprintf("%s vs %s; %d vs %d pages (commits while a trim ran: p99 %s)", msShort(s.Steps.P99), msShort(s.Commits.P99), s.StepPagesP99, s.CommitPagesP99, msShort(s.CommitsDuringTrim.P99)), ""},
		)
	}
	return rows
}

// sizeRange is the smallest and largest of sizes.
func sizeRange(sizes []int64) string {
	lo, hi := sizes[0], sizes[0]
	for _, s := range sizes {
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo == hi {
		return "unchanged"
	}
	return fmt.Sprintf("%s to %s", mib(uint64(lo)), mib(uint64(hi)))
}

func growthSection(b *strings.Builder, g *GrowthResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 8. Growth: the same work against journals of growing size\n\n")
	p("A sidecar runs for years. Every other part uses a fresh journal or one of part 3's size; this part builds journals of ")
	var names []string
	for _, s := range g.Sizes {
		names = append(names, kfmt(float64(s.Events)))
	}
	p("%s events over %s blogs (sites 1..N of this part's own database; the history spans the 30 days before the stretch below, events in time order for uniformly random blogs, "+
		"committed with `journal.Commit`, synced, as the daemon commits, in twenty commits of a twentieth of the size, at least 100,000 events: each commit rewrites the last run of nearly every blog, so smaller commits would make the largest size's build take hours) and runs the same work on each, one size after the other, the file deleted after:\n\n",
		strings.Join(names, ", "), kfmt(float64(g.Blogs)))
	p("- **catch-up**: the product's follower (`binlog.Open` + `Run`, fsync on) resumes from the journal's checkpoint at the start of one binlog stretch of %s transitions "+
		"(part 1's bulk shape: `UPDATE`s of 100 consecutive rows over the same %s monitors, %s of binlog), so each commit rewrites the last runs of blogs deep in a large blogs bucket; "+
		"timed from `Run` until the journal holds the stretch. The commits' durations come from `journal.Options.OnCommit` (the `Commit` call, fsyncs included); the heap is the process's peak live Go heap (the follower, nothing else of size).\n",
		kfmt(float64(g.Stretch)), kfmt(float64(g.Blogs)), mib(uint64(g.StretchBytes)))
	p("- **live**: once the follower has proved itself caught up (with whatever the earlier sizes' live runs left after the stretch), `sim.Run` drives all %s monitors at 1000 transitions/s while part 2's probe writer (100 blogs of their own) and watcher measure the visibility lag; the commits' durations and the heap as above.\n",
		kfmt(float64(g.Blogs)))
	p("- **/events**: with the follower stopped, `jetmon-bench serve` (part 3's server) on the file answers %d requests/s offered (open loop, up to 256 in flight, 2 s warm-up) for uniformly random blogs and windows of the history holding about ten events each, from send to answer.\n", FixedRate)
	p("- **open**: `journal.Open` on the built file, in the page cache, before the catch-up: bbolt keeps no freelist in the file and finds the free pages by reading every page the buckets reach (`journal.Open`'s comment says why).\n")
	p("- **file**: its size and the pages in use (file minus free pages) after the work.\n\n")
	p("Goals: every figure at the largest journal within %gx of its value at the smallest (a rate: its inverse); the catch-up heap %s at every size.\n\n", goalGrowthFactor, goalTextCatchupHeap)
	p("| history | built in | open | catch-up /s | catch-up commits p50 / p99 / max (most pages) | catch-up heap | live committed/s | lag p50 / p99 (lost) | live commits p50 / p99 | live heap | /events p50 / p99 (events/answer, errors) | file (in use), bytes/event |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range g.Sizes {
		fixed := "not measured"
		if f := s.Fixed; f != nil {
			fixed = fmt.Sprintf("%s / %s (%.1f, %d)", msShort(f.Service.P50), msShort(f.Service.P99), f.EventsPerAnswer(), f.Errors)
		}
		p("| %s | %s | %s | %s | %s / %s / %s (%d) | %s | %.0f | %s / %s (%d) | %s / %s | %s | %s | %s (%s), %.1f |\n",
			kfmt(float64(s.Events)), s.Build.Round(time.Second), msShort(s.Open), kfmt(s.CatchupRate(g.Stretch)),
			msShort(s.CatchupCommits.P50), msShort(s.CatchupCommits.P99), msShort(s.CatchupCommits.Max), s.CatchupPages, mib(s.CatchupHeap),
			s.LiveAchieved, msShort(s.Live.P50), msShort(s.Live.P99), s.LiveLost, msShort(s.LiveCommits.P50), msShort(s.LiveCommits.P99), mib(s.LiveHeap),
			fixed, mib(uint64(s.FileBytes)), mib(uint64(s.InUseBytes)), float64(s.FileBytes)/float64(max(s.Events, 1)))
	}
	p("\nEach size's live Go heap near its peak, as a heap profile: `growth-N-live.heap.pprof` in the run's directory (N the size's events; `go tool pprof -sample_index=inuse_space -top FILE`).\n")
	if len(g.Sizes) > 0 && g.Sizes[0].Former != nil {
		p("\nThe catch-up beside the same without the bound on a commit's pages (`binlog.Config.MaxCommitPages` -1: batches capped only at %d rows, as before; "+
			"with the bound, each batch's rows are sized from the last commit's pages per row to write about %d pages): "+
			"the same stretch into a copy of the same journal, run just before the measured one. CPU is the process's (user + system) over the catch-up.\n\n",
			binlog.DefaultMaxBatchRows, binlog.DefaultMaxCommitPages)
		p("| history | commit pages bound | catch-up /s | CPU us per transition | commits | commit p50 / p99 / max | most pages a commit wrote | peak live heap |\n|---|---|---|---|---|---|---|---|\n")
		for _, s := range g.Sizes {
			if f := s.Former; f != nil {
				p("| %s | off | %s | %.2f | %d | %s / %s / %s | %d | %s |\n", kfmt(float64(s.Events)), kfmt(float64(g.Stretch)/f.Catchup.Seconds()),
					usPer(f.CatchupCPU, g.Stretch), f.CommitCount, msShort(f.Commits.P50), msShort(f.Commits.P99), msShort(f.Commits.Max), f.Pages, mib(f.Heap))
			}
			p("| %s | %d pages | %s | %.2f | %d | %s / %s / %s | %d | %s |\n", kfmt(float64(s.Events)), binlog.DefaultMaxCommitPages, kfmt(s.CatchupRate(g.Stretch)),
				usPer(s.CatchupCPU, g.Stretch), s.CatchupCount, msShort(s.CatchupCommits.P50), msShort(s.CatchupCommits.P99), msShort(s.CatchupCommits.Max), s.CatchupPages, mib(s.CatchupHeap))
		}
	}
	if s := g.Steady; s != nil {
		middle, last, flat := s.Flat()
		p("\n### 8b. Steady state under retention\n\n")
		p("A journal of %s events over %s blogs (built as above) keeps the last %s of a synthetic clock (one event per %s: %s events). "+
			"%d cycles each commit %s more events in commits of %d (fsync on, each event for a uniformly random blog, the clock one tick later), as fast as they go, while retention runs as the daemon's Retention service does "+
			"(`journal.Trim` to the clock minus the retention, default step bounds: %d events of %d blogs a step, again %s after each trim); a cycle ends once retention has caught up with it. "+
			"The commits therefore meet trim steps all the time, far more often than a follower's live commits would. After each cycle: the file's size and bbolt's pages in use (its high-water mark, free pages included: the file is that plus bbolt's growth increment).\n\n",
			kfmt(float64(s.Retained)), kfmt(float64(s.Blogs)), s.Retain, steadyTick, kfmt(float64(s.Retained)), s.Cycles, kfmt(float64(s.PerCycle)), s.Batch,
			4096, 64, "200 ms")
		p("| cycle | file | pages in use | events stored |\n|---|---|---|---|\n")
		for i := range s.Sizes {
			p("| %d | %s | %s | %s |\n", i+1, mib(uint64(s.Sizes[i])), mib(uint64(s.InUse[i])), kfmt(float64(s.Stored[i])))
		}
		p("\nPages in use: middle third of the cycles at most %s, last third at most %s: **%s**. %d trims deleted %s events in %d steps; the cycles' commits took %s, the waits for retention to catch up %s (trimming deletes about %s events/s here while commits come in).\n\n",
			mib(uint64(middle)), mib(uint64(last)), map[bool]string{true: "flat", false: "NOT flat"}[flat], s.Trims, kfmt(float64(s.Deleted)), s.Steps.N,
			s.Writing.Round(time.Millisecond), s.Waiting.Round(time.Millisecond), kfmt(s.TrimRate()))
		p("| | n | p50 | p90 | p99 | max | pages written p99 |\n|---|---|---|---|---|---|---|\n")
		p("| commits of %d events | %d | %s | %s | %s | %s | %d |\n", s.Batch, s.Commits.N, msShort(s.Commits.P50), msShort(s.Commits.P90), msShort(s.Commits.P99), msShort(s.Commits.Max), s.CommitPagesP99)
		p("| the same, ended while a trim ran | %d | %s | %s | %s | %s | |\n", s.CommitsDuringTrim.N, msShort(s.CommitsDuringTrim.P50), msShort(s.CommitsDuringTrim.P90), msShort(s.CommitsDuringTrim.P99), msShort(s.CommitsDuringTrim.Max))
		p("| trim steps (at most %d events, %d blogs seen) | %d | %s | %s | %s | %s | %d (max %d) |\n", s.StepEventsMax, s.StepBlogsMax, s.Steps.N, msShort(s.Steps.P50), msShort(s.Steps.P90), msShort(s.Steps.P99), msShort(s.Steps.Max), s.StepPagesP99, s.StepPagesMax)
		p("\nA commit waits for at most the one trim step already running (the journal's writer gate gives commits the right of way: `journal/TestCommitWaitsForOneTrimStepAtMost`), and a step writes no more pages than a commit touching as many blogs (`journal/TestTrimStepsAreBounded`); readers never wait for either (bbolt's snapshots).\n")
	}
}
