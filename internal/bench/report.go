package bench

import (
	"fmt"
	"strings"
	"time"
)

// Row is one line of the summary: a measure, its goal and what was found.
type Row struct {
	Part    string `json:"part"`
	Measure string `json:"measure"`
	Goal    string `json:"goal,omitempty"` // one of goals.go's texts, or "" for information
	Result  string `json:"result"`
	Met     string `json:"met,omitempty"` // "yes", "NO", or "" for information
}

// Rows is the summary as data.
func Rows(r *Results) []Row {
	var rows []Row
	if c := r.Catchup; c != nil {
		rows = append(rows, catchupRows("1", "catch-up", c, goalCatchupRatio)...)
		if len(c.MariadbBinlog) > 0 {
			rows = append(rows, Row{"1", "catch-up, mariadb-binlog -v decoding the same files", "",
				fmt.Sprintf("%s /s (bridge = %.0f%% of it)", kfmt(c.MariadbRate()), 100*c.BridgeRate()/c.MariadbRate()), ""})
		}
	}
	if c := r.CatchupSingle; c != nil {
		rows = append(rows, Row{"1", "catch-up, single-row transactions: bridge vs bare", "",
			fmt.Sprintf("%.0f%% (%s vs %s /s)", 100*c.BridgeRate()/c.BareRate(), kfmt(c.BridgeRate()), kfmt(c.BareRate())), ""})
	}
	if c := r.CatchupShared; c != nil {
		rows = append(rows, catchupRows("1", fmt.Sprintf("shared replica catch-up (%d other row changes per transition)", OtherPerTransition), c, goalSharedRatio)...)
		if len(c.BareNoTimeout) > 0 {
			r := rate(c.Transitions, c.BareNoTimeout)
			rows = append(rows, Row{"1", "shared replica catch-up, bare go-mysql without a read timeout (cannot notice a dead connection)", "",
				fmt.Sprintf("%s /s (bridge = %.0f%% of it)", kfmt(r), 100*c.BridgeRate()/r), ""})
		}
		rows = append(rows, Row{"1", "shared replica catch-up, mariadb-binlog -v on the same files", "",
			fmt.Sprintf("%s /s (bridge = %.0f%% of it)", kfmt(c.MariadbRate()), 100*c.BridgeRate()/c.MariadbRate()), ""})
	}
	var peak uint64
	for _, c := range []*CatchupResult{r.Catchup, r.CatchupSingle, r.CatchupShared} {
		if c != nil {
			peak = max(peak, c.BridgeHeapPeak)
		}
	}
	if peak > 0 {
		rows = append(rows, Row{"1", "catch-up, peak live Go heap of the follower (every catch-up part)", goalTextCatchupHeap, mib(peak), yesNo(peak <= goalCatchupHeap)})
	}
	for _, l := range r.Live {
		goal, met := goalTextLive, yesNo(l.Lag.P50 <= goalLiveP50 && l.Lag.P99 <= goalLiveP99)
		if l.Place != "disk" {
			goal, met = "", ""
		}
		rows = append(rows, Row{"2", "live visibility lag at " + fmt.Sprintf("%.0f", l.Achieved) + "/s, journal on " + l.Place, goal,
			fmt.Sprintf("p50 %s, p99 %s (n=%d, lost %d)", msShort(l.Lag.P50), msShort(l.Lag.P99), l.Lag.N, l.Lost), met})
	}
	if e := r.Events; e != nil {
		x := e.JournalMax.Throughput / e.SynthMax.Throughput
		rows = append(rows,
			Row{"3", "/events max req/s, 64 connections: journal vs synthesis", goalTextEventsRatio,
				fmt.Sprintf("%.1fx (%.0f vs %.0f req/s)", x, e.JournalMax.Throughput, e.SynthMax.Throughput), yesNo(x >= goalEventsRatio)},
			Row{"3", "/events CPU per request: synthesis (server + mariadbd) / journal (server)", "",
				fmt.Sprintf("%.1fx (%.0f us vs %.0f us)", float64(e.SynthCPUPerReq)/float64(e.JournalCPUPerReq), us(e.SynthCPUPerReq), us(e.JournalCPUPerReq)), ""},
			Row{"3", fmt.Sprintf("/events journal at %d req/s offered (open loop), from send", FixedRate), goalTextEventsP99,
				fmt.Sprintf("p50 %s, p99 %s", msShort(e.JournalFixed.Service.P50), msShort(e.JournalFixed.Service.P99)), yesNo(e.JournalFixed.Service.P99 <= goalEventsP99 && e.JournalFixed.Errors == 0)},
			Row{"3", "  same, from each request's scheduled time", "",
				fmt.Sprintf("p50 %s, p99 %s (generator lateness p99 %s)", msShort(e.JournalFixed.Latency.P50), msShort(e.JournalFixed.Latency.P99), msShort(e.JournalFixed.Late.P99)), ""},
			Row{"3", fmt.Sprintf("/events synthesis at %d req/s offered, from send", FixedRate), "",
				fmt.Sprintf("p50 %s, p99 %s (from schedule: p99 %s)", msShort(e.SynthFixed.Service.P50), msShort(e.SynthFixed.Service.P99), msShort(e.SynthFixed.Latency.P99)), ""},
			Row{"4", "journal bytes per event, file size / events", goalTextBytes,
				fmt.Sprintf("%.1f (pages in use %.1f; compacted %.1f)", e.Footprint.PerEvent(e.Events), e.Footprint.InUsePerEvent(e.Events),
					float64(e.Footprint.CompactedBytes)/float64(e.Events)), yesNo(e.Footprint.PerEvent(e.Events) <= goalBytesPerEvent)},
			Row{"4", fmt.Sprintf("Go heap of the server after (3), %s-event journal", kfmt(float64(e.Events))), goalTextServerHeap,
				mib(e.ServerMem.HeapInuse) + " in use", yesNo(e.ServerMem.HeapInuse <= goalServerHeap)},
			Row{"4", "RSS of the server after (3)", "",
				fmt.Sprintf("%s (%s anonymous, %s file-backed journal pages)", mib(e.ServerMem.RSS), mib(e.ServerMem.RSSAnon), mib(e.ServerMem.RSSFile)), ""},
		)
	}
	if c := r.Completeness; c != nil {
		rows = append(rows,
			Row{"5", "share of true transitions: journal", goalTextExact, pct(c.Journal.Share(c.Truth)), yesNo(c.Journal.Matched == c.Truth && c.Journal.False == 0)},
			Row{"5", "share: v1 synthesis, one call per failure window", "", pct(c.Synthesis.Share(c.Truth)), ""},
			Row{"5", "share: polling the table every 15 s", "", pct(c.Polling.Share(c.Truth)), ""},
			Row{"5", "replica rows read per hour at 100,000 monitors: polling / journal", "",
				"24,000,000 / 0 (binlog only: " + kfmt(c.BinlogBytesPerTransition()) + " B per transition)", ""},
		)
	}
	if c := r.Chain; c != nil {
		for _, pr := range c.Proofs {
			rows = append(rows, Row{"6", "lagging replica, " + pr.Proof + " proof: answers labelled journal that equal the truth", goalTextExact,
				fmt.Sprintf("%s (%d of %d; %s of %d answers said journal)", pct(pr.ExactShare()), pr.Exact, pr.Journal, pct1(pr.JournalShare()), pr.Answers),
				yesNo(pr.Exact == pr.Journal)})
		}
		for _, pr := range c.Proofs {
			rows = append(rows, Row{"6", "lagging replica, " + pr.Proof + " proof: coverage trails the present by", "",
				fmt.Sprintf("p50 %s, p99 %s, max %s (replication running: p50 %s)", secs(pr.Trail.P50), secs(pr.Trail.P99), secs(pr.Trail.Max), secs(pr.TrailRunning.P50)), ""})
		}
	}
	if p := r.Publish; p != nil {
		rows = append(rows, Row{"7", "live visibility lag added by publishing to NATS, p99 (interleaved rounds)", goalTextPublishAdded,
			fmt.Sprintf("%s (p99 %s with, %s without; p50 %s)", signedMs(p.AddedP99()), msShort(p.LagOn.P99), msShort(p.LagOff.P99), signedMs(p.AddedP50())),
			yesNo(p.AddedP99() < goalPublishAddedP99)})
		if p.Catchup != nil && len(p.Published) > 0 {
			rows = append(rows, Row{"7", fmt.Sprintf("publishing during a bulk catch-up of %s transitions: published/s vs journaled/s", kfmt(float64(p.Catchup.Transitions))), goalTextKeepsUp,
				fmt.Sprintf("%s vs %s /s (%s; a bare JetStream client: %s/s)", kfmt(p.PublishedRate()), kfmt(p.JournaledRate()), pct1(p.PublishedRate()/p.JournaledRate()), kfmt(p.BareRate())),
				yesNo(p.PublishedRate() >= p.JournaledRate())})
		}
	}
	if g := r.Growth; g != nil {
		rows = append(rows, growthRows(g)...)
	}
	return rows
}

// pct1 is a share with one decimal, without the sign.
func pct1(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// secs is a duration in seconds with two decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// signedMs is a difference in milliseconds with its sign.
func signedMs(d time.Duration) string { return fmt.Sprintf("%+.2f ms", float64(d)/1e6) }

// catchupRows are a catch-up part's two goals: the bridge's wall rate at
// least goal times the bare decoder's, and less CPU per transition.
func catchupRows(part, name string, c *CatchupResult, goal float64) []Row {
	ratio := c.BridgeRate() / c.BareRate()
	bridgeCPU, bareCPU := usPer(median(c.BridgeCPU), c.Transitions), usPer(median(c.BareCPU), c.Transitions)
	rows := []Row{
		{part, name + ", bridge vs bare go-mysql decoder (wall rate)", ratioGoal(goal),
			fmt.Sprintf("%.0f%% (%s vs %s /s)", 100*ratio, kfmt(c.BridgeRate()), kfmt(c.BareRate())), yesNo(ratio >= goal)},
		{part, name + ", CPU per transition: bridge vs bare", goalTextBelowBare,
			fmt.Sprintf("%.2f vs %.2f us", bridgeCPU, bareCPU), yesNo(bridgeCPU < bareCPU)},
	}
	if len(c.Headers) > 0 {
		limit := c.BridgeRate() / c.HeadersRate()
		rows = append(rows, Row{part, name + ", bridge vs the header-only reader (the limit: the same stream, event headers parsed, nothing else)", ratioGoal(goalHeadersRatio),
			fmt.Sprintf("%.0f%% (%s vs %s /s)", 100*limit, kfmt(c.BridgeRate()), kfmt(c.HeadersRate())), yesNo(limit >= goalHeadersRatio)})
	}
	return rows
}

// Summary is the one-screen table printed at the end of make bench.
func Summary(r *Results) string {
	rows := Rows(r)
	w := [4]int{1, 7, 4, 6}
	for _, x := range rows {
		w[1] = max(w[1], len(x.Measure))
		w[2] = max(w[2], len(x.Goal))
		w[3] = max(w[3], len(x.Result))
	}
	var b strings.Builder
	line := func(a, m, g, res, met string) {
		fmt.Fprintf(&b, "%-*s  %-*s  %-*s  %-*s  %s\n", w[0], a, w[1], m, w[2], g, w[3], res, met)
	}
	fmt.Fprintf(&b, "\njetmon-bridge benchmarks, %s, %d CPUs (%s), scale %g, load average %s -> %s\n\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.CPUModel, r.Scale, r.Machine.LoadAvg, r.Machine.LoadAvgEnd)
	line("#", "measure", "goal", "result", "met")
	line("-", strings.Repeat("-", w[1]), strings.Repeat("-", w[2]), strings.Repeat("-", w[3]), "---")
	for _, x := range rows {
		line(x.Part, x.Measure, x.Goal, x.Result, x.Met)
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func kfmt(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func usPer(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func msShort(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func pct(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) }

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.3f", d.Seconds()))
	}
	return strings.Join(s, ", ")
}

// Markdown renders BENCHMARKS.md.
func Markdown(r *Results, runErr error) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# jetmon-bridge benchmarks\n\n")
	if len(r.Runs) > 1 {
		p("Generated by `jetmon-bench merge` (`cmd/jetmon-bench`, package `internal/bench/`) from %d runs of its parts on %s; the runs took %s from the first start to the last end.\n",
			len(r.Runs), r.Started.Format("2006-01-02 15:04 UTC"), took(PartRun{Started: r.Started, Finished: r.Finished}))
	} else {
		p("Generated by `make bench` (`cmd/jetmon-bench`, package `internal/bench/`) on %s; the run took %s.\n",
			r.Started.Format("2006-01-02 15:04 UTC"), r.Finished.Sub(r.Started).Round(time.Second))
	}
	if r.Scale != 1 {
		p("**Scale %g** (BENCH_SCALE): sizes and durations are scaled down; the goals are stated for scale 1.\n", r.Scale)
	}
	if runErr != nil {
		p("\n**The run failed:** %v. The figures below are what was measured before it did.\n", runErr)
	}
	m := r.Machine
	p("\n## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPUs (nproc) | %d |\n| CPU model | %s |\n| memory | %s |\n| kernel | %s |\n| Go | %s |\n| MariaDB | %s |\n",
		m.CPUs, m.CPUModel, mib(m.MemoryBytes), m.Kernel, m.GoVersion, m.MariaDB)
	if len(r.Runs) > 1 {
		runsTable(&b, r.Runs)
	} else {
		p("| load average at start / end | %s / %s |\n", m.LoadAvg, m.LoadAvgEnd)
		if d := r.Disk; d != nil {
			p("| fdatasync of a 4 KiB write in the bench directory | p50 %s, p99 %s, max %s (%d samples) |\n", msShort(d.P50), msShort(d.P99), msShort(d.Max), d.Samples)
		}
	}
	p("\nThe machine is shared: other work ran during the suite (see the load average), so wall-clock figures carry noise. " +
		"Every comparison interleaves its sides and takes medians, and the catch-up also reports CPU time, which a busy machine does not inflate.\n")

	p("\n## Summary\n\n%s", SummaryTable(Rows(r)))

	p("\n## Method\n\n")
	p("- One throwaway MariaDB (`testdb.Start`, loopback only, binlog ROW/FULL, `sync_binlog=0`, `innodb_flush_log_at_trx_commit=2`, buffer pool 1 GiB) serves every part; each part uses its own database.\n")
	p("- The bridge's code runs as in production: `binlog.Open` + `Follower.Run` into `journal.Open` files with fsync on (except where a fixture is built), and `server.New` over `server.History` for `/events`. " +
		"The follower runs its own periodic work as in production (every 500 ms: the coverage proof's role check and, on a replica, the replication watch); the daemon's other periodic services are not part of it. " +
		"Part 6 runs the real `jetmon-bridge` binary with its default flags except `-reconcile 0`: the self-check reads the whole table every 5 minutes and takes coverage back on a difference, which is not what the part measures (retention and publishing are off by default).\n")
	p("- Every ratio compares two measurements taken in the same run on the same data. Repeated measurements are interleaved (A, B, C, A, B, C, ...) and the median is reported, with every raw figure.\n")
	p("- `go test ./...` runs none of this: the heavy work lives in `cmd/jetmon-bench`; the micro-benchmarks are `Benchmark*` functions, run only with `-bench`. Nothing is a timed test.\n")
	p("- What the documents quote: `docs/bench-results.json` (the summary and single figures; the README's table and the pages' figures are written from it). Raw results: `bin/bench-out/results.json`; CPU profiles: `bin/bench-out/*.pprof` (`go tool pprof -top FILE`); micro-benchmarks: `bin/bench-out/micro.txt`.\n")

	for _, c := range []*CatchupResult{r.Catchup, r.CatchupSingle, r.CatchupShared} {
		if c != nil {
			catchupSection(&b, c)
		}
	}
	if len(r.Live) > 0 {
		liveSection(&b, r.Live)
	}
	if e := r.Events; e != nil {
		eventsSection(&b, e)
	}
	if c := r.Completeness; c != nil {
		completenessSection(&b, c)
	}
	if c := r.Chain; c != nil {
		chainSection(&b, c)
	}
	if pr := r.Publish; pr != nil {
		publishSection(&b, pr)
	}
	if g := r.Growth; g != nil {
		growthSection(&b, g)
	}
	if r.Micro != "" {
		p("\n## Micro-benchmarks (`go test -run '^$' -bench . -benchmem`)\n\n")
		p("Hot paths in isolation: row decode to event (`binlog`), journal append and index scan (`journal`), JSON encoding (root package). " +
			"`BenchmarkCommit` commits batches of events for random blogs among 100,000 into a journal that already holds 500,000 and reports ns/event, bbolt's two fdatasyncs per commit included (every journal here is opened as the daemon opens it); small batches are the worst case for the blogs bucket (every event rewrites the last run of a different blog), `batch=1` is a live change.\n\n")
		p("```\n%s```\n", strings.TrimLeft(r.Micro, "\n"))
	}
	if len(r.Notes) > 0 {
		p("\n## This run\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	// The notes are docs/bench-notes.md, written into the block by
	// DocBlocks (jetmon-bench writes the report, then every block).
	p("\n<!-- bench: {{include \"bench-notes.md\"}} -->\n<!-- /bench -->\n")
	return b.String()
}

func catchupSection(b *strings.Builder, c *CatchupResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	goal := "goal " + ratioGoal(goalCatchupRatio)
	switch c.Name {
	case "bulk":
		p("\n## 1. Catch-up ingest\n\n")
		p("The binlog is filled with %s transitions over %s monitors: %d multi-row `UPDATE`s of %d consecutive rows, each moving every row one step along Jetmon's cycle 1 -> 0 -> 2 -> 1 "+
			"(every row change is a transition), on four connections, after the rows' inserts. Filled in %s; the stretch is %s of binlog (%.0f bytes per transition).\n\n",
			kfmt(float64(c.Transitions)), kfmt(float64(c.Monitors)), c.Transactions, c.RowsPerTxn, c.Fill.Round(time.Millisecond), mib(uint64(c.BinlogBytes)), float64(c.BinlogBytes)/float64(c.Transitions))
		p("Five readers take the same stretch, from the binlog's first file at position 4 to the end position read after the fill:\n\n")
		p("- **bridge**: `binlog.Open` + `Run` into a fresh journal (fsync on) whose first commit is a checkpoint at `%s:4` and a new coverage span, as `beginSpan` writes it; timed from `Run` until `journal.LastID()` equals the number of transitions (then checked to be exactly that).\n", c.Start.File)
		p("- **bare go-mysql**: `BinlogSyncer` with the follower's settings (`ParseTime`, same flavor), `StartSync` from the same position, a synchronous handler that counts the table's updated rows and stops at the end position: decoding and nothing else, the limit of this stack. Its `ReadTimeout` (30 s; the follower's is three heartbeats) is how a go-mysql reader notices a dead connection.\n")
		p("- **bare go-mysql, no read timeout**: the same without `ReadTimeout`. go-mysql then arms no read deadline, where it otherwise arms one three times per event; it could wait forever on a dead connection, so no follower can run so, but it shows what the deadlines cost the bare decoder. The bridge keeps its timeout and arms its deadlines lazily (catch-up note 8).\n")
		p("- **mariadb-binlog**: `mariadb-binlog --base64-output=decode-rows -v` on the binlog files (local read, rows decoded to pseudo-SQL) to /dev/null.\n")
		p("- **header-only reader** (the limit, `internal/bench/headers.go`): the same stream from the server (`COM_BINLOG_DUMP` from the same position, checksums on, as the follower asks for it), read straight from the socket through a 1 MiB buffer; each event's 19-byte header is parsed and its body skipped (a rotation's file name aside), until the end position. No row decoding, no table map, no channel, no journal, no read deadline: nothing that follows this server can be faster, so the bridge's rate against it is how close the bridge comes to what the server and the network deliver (goal %s). It counts the update-rows events, not the table's rows, so it cannot check a count; it stops only at the end position.\n\n", ratioGoal(goalHeadersRatio))
	case "single-row":
		goal = "no goal"
		if len(c.Headers) > 0 {
			defer p("\nThe header-only reader: the bridge reaches %.0f%% of its rate here (no goal for this part).\n", 100*c.BridgeRate()/c.HeadersRate())
		}
		p("\n### 1b. Catch-up of single-row transactions\n\n")
		p("Jetmon's own shape: %s autocommitted `UPDATE ... WHERE blog_id=? AND monitor_url=?`, one row each, on four connections, after the bulk stretch (%s of binlog, %.0f bytes per transition). "+
			"The bridge's journal starts at the stretch's first position; the bare decoder reads the same stretch.\n\n",
			kfmt(float64(c.Transitions)), mib(uint64(c.BinlogBytes)), float64(c.BinlogBytes)/float64(c.Transitions))
	case "shared":
		goal = "goal " + ratioGoal(goalSharedRatio)
		p("\n### 1c. Catch-up on a shared replica\n\n")
		p("A replica usually carries other applications' writes too. The stretch interleaves %s of Jetmon's autocommitted single-row transitions (as in 1b) with %s row changes of another table, `%s` "+
			"(six columns: ids, a title, a state, a counter, a DATETIME), each transition followed on its connection by one `UPDATE` of %d of its rows, on four connections: %d transactions, %s of binlog (%.0f bytes per transition), filled in %s. "+
			"The same five readers take it: the bare decoder decodes every row of both tables (and counts the monitors' updates); the bridge needs only the monitors' rows; mariadb-binlog prints every row; the header-only reader skips every body.\n\n",
			kfmt(float64(c.Transitions)), kfmt(float64(c.OtherRows)), otherTable, OtherPerTransition, c.Transactions, mib(uint64(c.BinlogBytes)),
			float64(c.BinlogBytes)/float64(c.Transitions), c.Fill.Round(time.Millisecond))
	}
	p("| reader | wall time per round (s) | median | transitions/s | CPU time per round (s) | CPU us per transition |\n|---|---|---|---|---|---|\n")
	p("| bridge | %s | %.3f | %s | %s | %.2f |\n", durs(c.Bridge), median(c.Bridge).Seconds(), kfmt(c.BridgeRate()), durs(c.BridgeCPU), usPer(median(c.BridgeCPU), c.Transitions))
	p("| bare go-mysql | %s | %.3f | %s | %s | %.2f |\n", durs(c.Bare), median(c.Bare).Seconds(), kfmt(c.BareRate()), durs(c.BareCPU), usPer(median(c.BareCPU), c.Transitions))
	if len(c.Headers) > 0 {
		p("| header-only reader (the limit) | %s | %.3f | %s | %s | %.2f |\n", durs(c.Headers), median(c.Headers).Seconds(), kfmt(c.HeadersRate()), durs(c.HeadersCPU), usPer(median(c.HeadersCPU), c.Transitions))
	}
	if len(c.BareNoTimeout) > 0 {
		p("| bare go-mysql, no read timeout | %s | %.3f | %s | %s | %.2f |\n", durs(c.BareNoTimeout), median(c.BareNoTimeout).Seconds(), kfmt(rate(c.Transitions, c.BareNoTimeout)), durs(c.BareNoTimeoutCPU), usPer(median(c.BareNoTimeoutCPU), c.Transitions))
	}
	if len(c.MariadbBinlog) > 0 {
		p("| mariadb-binlog -v | %s | %.3f | %s | %s | %.2f |\n", durs(c.MariadbBinlog), median(c.MariadbBinlog).Seconds(), kfmt(c.MariadbRate()), durs(c.MariadbBinlogCPU), usPer(median(c.MariadbBinlogCPU), c.Transitions))
	}
	p("\nRatios (medians): bridge / bare = **%.0f%%** by wall time (%s), %.0f%% by CPU time", 100*c.BridgeRate()/c.BareRate(), goal, 100*float64(median(c.BareCPU))/float64(median(c.BridgeCPU)))
	if len(c.BareNoTimeout) > 0 {
		p("; bridge / bare without a read timeout = %.0f%% by wall time, %.0f%% by CPU time", 100*c.BridgeRate()/rate(c.Transitions, c.BareNoTimeout), 100*float64(median(c.BareNoTimeoutCPU))/float64(median(c.BridgeCPU)))
	}
	if len(c.MariadbBinlog) > 0 {
		p("; bridge / mariadb-binlog = %.0f%%; bare / mariadb-binlog = %.0f%%", 100*c.BridgeRate()/c.MariadbRate(), 100*c.BareRate()/c.MariadbRate())
	}
	if len(c.Headers) > 0 {
		p("; bridge / header-only reader = **%.0f%%** by wall time (goal %s), the header reader's %d events (%d update-rows events, %s)",
			100*c.BridgeRate()/c.HeadersRate(), ratioGoal(goalHeadersRatio), c.HeaderCount.Events, c.HeaderCount.UpdateRows, mib(uint64(c.HeaderCount.Bytes)))
	}
	p(".\nThe bridge's journal file ends at %s (%.1f bytes per event, including the %s monitor rows and the free pages and file growth increments that large catch-up commits leave; part 4 has the footprint proper), written in %d event-bearing commits (as seen by a waiter); the live Go heap of the bench process (the follower, and nothing else of size) peaked at %s during the bridge runs: "+
		"it holds the events and rows of the batch being filled and of the batch being committed (up to 3x2^17 events of 17 bytes, plus 8 bytes each for the two orders of the one being committed, and up to 2^18 rows at about 45 bytes and the URL; while catching up a batch is committed after a second or at a cap, its rows sized from the last commit so that a commit writes about 4096 pages), bbolt's in-memory copies of the pages a commit rewrites (the committed batch's events and rows are dropped once written into them), and the follower's buffer of up to 256 binlog events (their row images undecoded).\n",
		mib(uint64(c.JournalBytes)), float64(c.JournalBytes)/float64(c.Transitions), kfmt(float64(c.Monitors)), c.Commits, mib(c.BridgeHeapPeak))
	if c.ProfileTop != "" {
		p("\nCPU profile of one more, untimed bridge run (`%s`):\n\n```\n%s```\n", shortPath(c.Profile), c.ProfileTop)
	}
	if c.HeapProfile != "" {
		p("\nHeap profile of that run near its peak: `%s` (`go tool pprof -sample_index=inuse_space -top FILE`).\n", shortPath(c.HeapProfile))
	}
}

func liveSection(b *strings.Builder, ls []*LiveResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	l0 := ls[0]
	p("\n## 2. Live visibility lag\n\n")
	p("`sim.Run` drives 2,000 blogs at a steady %.0f transitions/s (4 workers, 10%% multi-row, 5%% flaps, 5%% non-transition updates) while the bridge follows (a fresh journal: `beginSpan` at the current position, heartbeat 1 s). "+
		"A probe writer on 100 blogs of its own commits Jetmon's `UPDATE` %.0f times a second on its own connection and notes when each `Exec` returns (autocommit: the commit returned). "+
		"A watcher in the same process wakes on every `journal.Changed()` and reads the probe blog with `journal.BlogEvents` (the read `/events` makes); the lag is the time from the commit returning to the event being visible there. "+
		"The HTTP hop is not included (it is measured in part 3). Each run lasts %s; every simulated transition is then checked to be in the journal.\n\n",
		l0.SimRate, l0.ProbeRate, l0.Duration)
	p("| journal on | committed/s | probes | p50 | p90 | p99 | p99.9 | max | lost | simulated transitions journaled |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, l := range ls {
		p("| %s | %.0f | %d | %s | %s | %s | %s | %s | %d | %d / %d |\n", l.Place, l.Achieved, l.Lag.N, msShort(l.Lag.P50), msShort(l.Lag.P90), msShort(l.Lag.P99), msShort(l.Lag.P999), msShort(l.Lag.Max), l.Lost, l.Journaled, l.Truth)
	}
	p("\nOn disk each commit is durable before it is visible: bbolt calls fdatasync twice per commit, and this machine's fdatasync alone has the p99 shown under Machine. " +
		"The tmpfs run (fdatasync returns at once) isolates the bridge's own pipeline from the disk; it is information, not the goal's measurement.\n")
}

func eventsSection(b *strings.Builder, e *EventsResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 3. /events under load\n\n")
	p("A journal of %s events over %s blogs (30 days of history, events in time order for uniformly random blogs, each blog walking Jetmon's status cycle) is built with `journal.Commit` batches of %s (synced, as the daemon commits) in %s. "+
		"The synthesis path reads an equivalent MySQL table: one row per blog, in the state the journal ends in.\n\n",
		kfmt(float64(e.Events)), kfmt(float64(e.Blogs)), kfmt(float64(e.BuildBatch)), e.Build.Round(time.Second))
	p("The server is a separate process, `jetmon-bench serve`, which wires `server.New` over `server.History` exactly as the daemon does, without the follower: "+
		"with `-journal` it is the bridge answering from its journal (every window is inside the journal's span, so no MySQL query is made); with `-journal \"\"` it is the v1 bridge (`History{Synthesizer}` only, one indexed query per request). "+
		"Both answer the same list of 200,000 requests for uniformly random blogs and windows of %s (a tenth of the history: about ten events each from the journal), over loopback. "+
		"The load generator runs in the bench process on the same 2 CPUs, so it takes CPU from the server in both cases.\n\n", e.Window.Round(time.Minute))
	p("- **max throughput**: 64 connections, each sending its next request when the previous answer arrives (closed loop), 2 s warm-up then %s; three rounds, journal and synthesis alternating, both servers running throughout (the idle one costs nothing). The table shows the median round.\n", e.JournalMax.Duration)
	p("- **fixed load**: %d requests/s offered on a fixed schedule whatever the server does (open loop, up to 256 in flight), 2 s warm-up then %s; latency counts from each request's scheduled time, so queueing is charged.\n\n", FixedRate, e.JournalFixed.Duration)
	p("| path | run | latency measured | requests | errors | req/s | p50 | p90 | p99 | p99.9 | max | events/answer | coverage |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(path, run, from string, l *LoadResult, lat Latency) {
		p("| %s | %s | %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %.1f | %s |\n", path, run, from, l.Requests, l.Errors, l.Throughput,
			msShort(lat.P50), msShort(lat.P90), msShort(lat.P99), msShort(lat.P999), msShort(lat.Max), l.EventsPerAnswer(), l.Coverage)
	}
	fixed := fmt.Sprintf("%d/s offered", FixedRate)
	row("journal", "max, 64 conns", "send", e.JournalMax, e.JournalMax.Latency)
	row("synthesis", "max, 64 conns", "send", e.SynthMax, e.SynthMax.Latency)
	row("journal", fixed, "send", e.JournalFixed, e.JournalFixed.Service)
	row("journal", fixed, "schedule", e.JournalFixed, e.JournalFixed.Latency)
	row("synthesis", fixed, "send", e.SynthFixed, e.SynthFixed.Service)
	row("synthesis", fixed, "schedule", e.SynthFixed, e.SynthFixed.Latency)
	rounds := func(rs []*LoadResult) string {
		var out []string
		for _, l := range rs {
			out = append(out, fmt.Sprintf("%.0f", l.Throughput))
		}
		return strings.Join(out, ", ")
	}
	p("\nClosed-loop rounds, req/s: journal %s; synthesis %s.\n", rounds(e.JournalRounds), rounds(e.SynthRounds))
	p("\nGenerator lateness at the fixed load (scheduled time to send; the dispatcher's timer wake-ups on this shared VM, plus any queue when all connections are busy): journal run p50 %s p99 %s, synthesis run p50 %s p99 %s. "+
		"Latency from the schedule includes it; latency from the send does not.\n",
		msShort(e.JournalFixed.Late.P50), msShort(e.JournalFixed.Late.P99), msShort(e.SynthFixed.Late.P50), msShort(e.SynthFixed.Late.P99))
	p("\nRatios: journal / synthesis max throughput (median rounds) = **%.1fx** (goal >= 5x). CPU per answered request over all rounds: journal server %.1f us; synthesis server %.1f us + mariadbd %.1f us = %.1f us, i.e. **%.1fx** the journal's: "+
		"what the paths would reach on CPUs of their own, without the load generator's share. The synthesis path returns at most one (usually no) event per request: it does less work per answer and is still slower.\n",
		e.JournalMax.Throughput/e.SynthMax.Throughput, us(e.JournalCPUPerReq), us(e.SynthCPUPerReq-e.SynthDBCPUPerReq), us(e.SynthDBCPUPerReq), us(e.SynthCPUPerReq),
		float64(e.SynthCPUPerReq)/float64(e.JournalCPUPerReq))
	if e.ProfileTop != "" {
		p("\nCPU profile of the journal server during one more closed-loop run (`%s`):\n\n```\n%s```\n", shortPath(e.Profile), e.ProfileTop)
	}

	f := e.Footprint
	p("\n## 4. Footprint\n\n")
	p("| | |\n|---|---|\n")
	p("| journal file | %s for %s events: **%.1f bytes/event** (goal <= 100) |\n", mib(uint64(f.FileBytes)), kfmt(float64(e.Events)), f.PerEvent(e.Events))
	p("| pages in use (file minus bbolt's free pages) | %s: %.1f bytes/event |\n", mib(uint64(f.InUseBytes)), f.InUsePerEvent(e.Events))
	if f.CompactError != "" {
		p("| after `jetmon-bridge journal compact` | failed: %s |\n", f.CompactError)
	} else {
		p("| after `jetmon-bridge journal compact` (journal.Compact: full pages, no free ones; took %s) | %s: %.1f bytes/event |\n", f.CompactTime.Round(time.Second), mib(uint64(f.CompactedBytes)), float64(f.CompactedBytes)/float64(e.Events))
	}
	p("| events bucket (runs in created, id order) | %s, %.1f bytes/event, leaves %.0f%% full |\n", mib(uint64(f.EventsBytes)), float64(f.EventsBytes)/float64(e.Events), 100*f.EventsFill)
	p("| blogs bucket (runs per blog: the index /events reads) | %s, %.1f bytes/event, leaves %.0f%% full, depth %d |\n", mib(uint64(f.BlogsBytes)), float64(f.BlogsBytes)/float64(e.Events), 100*f.BlogsFill, f.Depth)
	p("| monitors bucket (%s rows, in pages of 64) | %s |\n", kfmt(float64(e.Blogs)), mib(uint64(f.MonitorsBytes)))
	sm := e.ServerMem
	p("| journal server after part 3: Go heap in use / allocated | **%s** / %s (goal <= 64 MiB) |\n", mib(sm.HeapInuse), mib(sm.HeapAlloc))
	p("| journal server: RSS (peak) | %s (%s): %s anonymous + %s file-backed (the mmapped journal pages it touched, page cache the kernel can reclaim) |\n", mib(sm.RSS), mib(sm.HWM), mib(sm.RSSAnon), mib(sm.RSSFile))
	p("| journal server: Go runtime's memory from the OS (Sys) | %s |\n", mib(sm.Sys))
	ss := e.SynthServerMem
	p("| synthesis server after its runs: heap in use / RSS | %s / %s |\n", mib(ss.HeapInuse), mib(ss.RSS))
	p("\nThe heap does not grow with the journal: bbolt reads through its memory map, and a request holds only its answer. The file-backed part of the RSS is the page cache of the journal file, shared and reclaimable.\n")
}

func completenessSection(b *strings.Builder, c *CompletenessResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 5. Completeness against the old approaches\n\n")
	p("One simulated run: %d monitors driven by `sim.Run` at %.1f transitions/s for %s, time compressed %gx: each blog moves every %.0f s of simulated time on average (about one Jetmon round), "+
		"20%% of choices are flaps (1 -> 0 -> 1, a quarter 1 -> 0 -> 2 -> 1, committed back to back: far shorter than 15 s even after compression), 5%% multi-row updates, 5%% non-transition updates (including Jetmon's `UPDATE` with the row's own status, which moves `last_status_change`). "+
		"The poll interval is compressed with the same factor (15 s -> %s), keeping the flap-vs-poll ratio. The simulator's ground truth: **%d transitions** (%d flaps, %d multi-row statements).\n\n",
		c.Blogs, c.Rate, c.Duration, c.Compression, float64(c.Blogs)/c.Rate*c.Compression, c.PollInterval, c.Truth, c.Stats.Flaps, c.Stats.MultiRow)
	p("- **journal**: the bridge follows the run; afterwards each blog's whole history is read through `History.Events` and compared with the truth in order (blog, old, new, created_at), and the adapter's questions (below) are asked of it too.\n")
	p("- **v1 synthesis**: the adapter asks `History{Synthesizer}` (the v1 bridge's `/events`) once per failure window, from the blog leaving status 1 to its return, as soon as the window closes (the most favourable moment for synthesis); windows still open at the end are asked at the end.\n")
	p("- **polling**: every 15 simulated seconds, `SELECT blog_id, site_status, last_status_change` of every active row; a transition is reported wherever the status differs from the previous poll.\n")
	p("- A reported event counts as a true transition when the truth has a transition of that blog to that status at that `created_at` (the old status, which synthesis guesses, is not held against it); each true transition counts once. False reports match no true transition.\n\n")
	p("| approach | events reported | true transitions reported | share of %d | false reports | questions asked |\n|---|---|---|---|---|---|\n", c.Truth)
	p("| journal (whole history, in order) | %d | %d | **%s** | %d | one per blog |\n", c.Journal.Reported, c.Journal.Matched, pct(c.Journal.Share(c.Truth)), c.Journal.False)
	p("| journal (the adapter's windows) | %d | %d | %s | %d | %d windows |\n", c.JournalWindows.Reported, c.JournalWindows.Matched, pct(c.JournalWindows.Share(c.Truth)), c.JournalWindows.False, c.Windows)
	p("| v1 synthesis (the adapter's windows) | %d | %d | %s | %d | %d windows |\n", c.Synthesis.Reported, c.Synthesis.Matched, pct(c.Synthesis.Share(c.Truth)), c.Synthesis.False, c.Windows)
	p("| polling every 15 s | %d | %d | %s | %d | %d polls |\n", c.Polling.Reported, c.Polling.Matched, pct(c.Polling.Share(c.Truth)), c.Polling.False, c.Polls)

	p("\n### Load on the replica\n\n")
	tph := c.TransitionsPerMonitorHour() * 100_000
	bpt := c.BinlogBytesPerTransition()
	p("For N = 100,000 active monitors and a poll interval P = 15 s:\n\n")
	p("- **polling** reads every active row every poll: rows/hour = N x 3600 / P = 100,000 x 240 = **24,000,000 rows/hour** (this run: %d polls read %d rows, %d per poll = the %d monitors).\n", c.Polls, c.PollRowsRead, c.PollRowsRead/max(c.Polls, 1), c.Blogs)
	p("- **v1 synthesis** reads one row (an index lookup on `blog_id`) per `/events` call: rows/hour = the adapter's calls per hour (one per failure window).\n")
	p("- **journal** reads no table rows in steady state: rows/hour = **0**. It reads the binlog stream the replica already writes for its own replicas: bytes/hour = T x b + H, with T transitions per hour, b the binlog bytes per change, H heartbeats "+
		"(3600 / 30 s x ~40 B = ~5 KB/hour). This run measured b = %.0f bytes of binlog per true transition (its non-transition updates included); at this run's rate (%.2f transitions per monitor per simulated hour), T = %s/hour at 100,000 monitors and the stream is ~%s/hour; at one transition per monitor per day, T = 4.2k/hour and ~%s/hour. "+
		"The table is read in full (N rows) only once per coverage span: when a journal starts, or after a binlog gap.\n", bpt, c.TransitionsPerMonitorHour(), kfmt(tph), mib(uint64(tph*bpt)), mib(uint64(100_000.0/24*bpt)))
}

func chainSection(b *strings.Builder, c *ChainResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 6. Completeness on a lagging replica\n\n")
	p("Part 5 on the topology the bridge is deployed on: a throwaway MariaDB primary and a replica of it (`testdb.StartTopology`: GTID replication, `log_slave_updates`, `MASTER_HEARTBEAT_PERIOD` %s). "+
		"`sim.Run` drives %d monitors on the **primary** at %.0f transitions/s for %s (20%% flaps, 5%% multi-row, 5%% non-transition updates): **%d transitions** of ground truth, recorded on the primary. "+
		"The replica's SQL thread is stopped for %s at the start of every %s (%d stops): the replica keeps receiving and falls up to %s behind, then applies what it missed, as a busy replica does.\n\n",
		c.Heartbeat, c.Blogs, c.Rate, c.Duration, c.Truth, c.StopFor, c.StopEvery, c.Stops, c.StopFor)
	p("Two `jetmon-bridge` processes (the release build, no race detector) follow the **replica** side by side, each with a fresh journal and `-read-timeout %s` (how long a window past coverage waits before it answers `mixed`), everything else at its default: "+
		"one with no `-primary-dsn`, so coverage rests on the replica's replication status (the **replica-status** proof), one with `-primary-dsn`, so it rests on the primary's GTID position (the **primary-gtid** proof); each bridge's log confirms the proof it chose. "+
		"From the moment both journals have begun, %d clients per bridge ask `/events` continuously (`bridgetest.Asker`): a random blog, windows from the start to either the last three seconds or any earlier moment. "+
		"Every answer labelled `journal` is held to the invariant by `bridgetest.JudgeJournalAnswers`: it must equal the primary's truth for its window. "+
		"Every %s each bridge's `/healthz` is read for `coverage_trail_seconds` (the present minus the time the journal vouches for), filed by whether the SQL thread was stopped at that moment. "+
		"After the run the replica catches up and every blog's whole history is read from each bridge.\n\n",
		c.ReadTimeout, c.Clients, c.Sample)
	p("| proof | answers | no answer | said journal | journal answers exact | answer time p50 / p99 | afterwards: blogs exact, events |\n|---|---|---|---|---|---|---|\n")
	for _, pr := range c.Proofs {
		p("| %s | %d | %d | %d (%s) | **%d (%s)** | %s / %s | %d of %d, %d of %d |\n", pr.Proof, pr.Answers, pr.Failed, pr.Journal, pct1(pr.JournalShare()),
			pr.Exact, pct(pr.ExactShare()), msShort(pr.Took.P50), msShort(pr.Took.P99), pr.BlogsExact, c.Blogs, pr.EventsAfter, c.Truth)
	}
	p("\nHow far coverage trailed the present (`coverage_trail_seconds`), in seconds; \"running\" samples include the seconds after each restart of the SQL thread, while the replica applies what it missed:\n\n")
	p("| proof | samples | p50 | p90 | p99 | max | replication running: p50 / p99 / max | SQL thread stopped: p50 / p99 / max |\n|---|---|---|---|---|---|---|---|\n")
	for _, pr := range c.Proofs {
		t, tr, ts := pr.Trail, pr.TrailRunning, pr.TrailStopped
		p("| %s | %d | %.2f | %.2f | **%.2f** | %.2f | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f |\n", pr.Proof, t.N, t.P50.Seconds(), t.P90.Seconds(), t.P99.Seconds(), t.Max.Seconds(),
			tr.P50.Seconds(), tr.P99.Seconds(), tr.Max.Seconds(), ts.P50.Seconds(), ts.P99.Seconds(), ts.Max.Seconds())
	}
	for _, pr := range c.Proofs {
		for _, prob := range pr.Problems {
			p("\n**%s: a journal answer differs from the truth** (a negative time: the simulator had reported the transition, so it was committed, before the question was asked):\n\n```\n%s\n```\n", pr.Proof, prob)
		}
	}
	p("\nThe trail is what each proof costs. No proof can vouch for what the replica has not applied, so while the SQL thread is stopped both trails grow with the lag, and they shrink again once the replica has applied its backlog. " +
		"With replication running on this busy primary, the replicated commits' binlog timestamps (whole seconds) advance the replica-status proof (on an idle primary its bound is the heartbeat period plus its 500 ms poll plus 1 s for a heartbeat in transit), and the primary-gtid proof confirms the primary's GTID position every 500 ms. " +
		"A window that ends inside the trail waits for coverage (up to `-read-timeout`), which is why the answer times differ; answers still past coverage when the wait runs out say `mixed`. " +
		"A window ending inside the current second also waits for that second to end: `created_at` is whole seconds, so the window holds its whole last second (docs/guarantees.md, \"Whole seconds\").\n")
}

func publishSection(b *strings.Builder, pr *PublishResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n## 7. Publishing to NATS JetStream\n\n")
	p("A %s (`natstest.StartServer`: JetStream, file storage in the bench directory, loopback) runs on the same two CPUs. The publisher is the product's (`nats.New` + `Run` on the follower's journal, as `-publish` runs it in the daemon, defaults otherwise: 256 messages in flight), each round to a stream of its own.\n\n", pr.NATSVersion)
	if len(pr.Live) > 0 {
		l0 := pr.Live[0]
		p("**Live lag.** Part 2's measurement (journal on disk, %.0f simulated transitions/s plus %.0f probes/s, lag from a probe's commit returning to `journal.BlogEvents` showing it), in %d rounds of %s with a fresh journal each, alternately without and with a publisher, so that the machine's other load falls on both alike. "+
			"In the publishing rounds a NATS subscriber of the stream's subjects also notes when each probe's message arrives: the lag from the commit to a consumer of the stream.\n\n",
			l0.SimRate, l0.ProbeRate, len(pr.Live), l0.Duration)
		p("| round | publisher | committed/s | probes | p50 | p90 | p99 | p99.9 | max | lost | simulated transitions journaled | commit to NATS subscriber p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i, l := range pr.Live {
			pub, streamed := "no", ""
			if l.Publish {
				pub, streamed = "yes", fmt.Sprintf("%s / %s (n=%d)", msShort(l.Streamed.P50), msShort(l.Streamed.P99), l.Streamed.N)
			}
			p("| %d | %s | %.0f | %d | %s | %s | %s | %s | %s | %d | %d / %d | %s |\n", i+1, pub, l.Achieved, l.Lag.N, msShort(l.Lag.P50), msShort(l.Lag.P90), msShort(l.Lag.P99), msShort(l.Lag.P999), msShort(l.Lag.Max), l.Lost, l.Journaled, l.Truth, streamed)
		}
		for _, x := range []struct {
			name string
			l    Latency
		}{{"all rounds without", pr.LagOff}, {"all rounds with", pr.LagOn}} {
			p("| %s | | | %d | %s | %s | **%s** | %s | %s | | | |\n", x.name, x.l.N, msShort(x.l.P50), msShort(x.l.P90), msShort(x.l.P99), msShort(x.l.P999), msShort(x.l.Max))
		}
		offCPU, _ := pr.CPUPerEvent(false)
		onCPU, natsCPU := pr.CPUPerEvent(true)
		p("\nAdded by publishing (pooled rounds, with minus without): p50 %s, p99 **%s** (goal %s). The per-round p99 of the rounds without a publisher alone spread over %s: a difference smaller than that is this machine's noise, not the publisher's. "+
			"CPU time per committed event (median round): the bench process %.1f us without a publisher, %.1f us with one (the publisher and its NATS client: %+.1f us), and nats-server %.1f us with one: "+
			"the CPU that publishing takes from the live path on a machine it shares with NATS. "+
			"Commit to NATS subscriber over the publishing rounds: p50 %s, p99 %s.\n",
			signedMs(pr.AddedP50()), signedMs(pr.AddedP99()), goalTextPublishAdded, msShort(pr.P99Spread()), us(offCPU), us(onCPU), us(onCPU-offCPU), us(natsCPU),
			msShort(pr.Streamed.P50), msShort(pr.Streamed.P99))
	}
	if c := pr.Catchup; c != nil && len(pr.Plain) > 0 {
		p("\n**Catch-up.** Part 1's bulk shape at a size this part can afford: %s transitions over %s monitors (%d `UPDATE`s of %d rows, %s of binlog). A fresh journal catches the stretch up %d times, alternately without and with a publisher started with the follower; "+
			"the journal's time runs from `Run` until it holds every transition, the publisher's until the stream has acknowledged the last one (then the stream is checked to hold exactly that many messages).\n\n",
			kfmt(float64(c.Transitions)), kfmt(float64(c.Monitors)), c.Transactions, c.RowsPerTxn, mib(uint64(c.BinlogBytes)), len(pr.Plain)+len(pr.Journaled))
		p("A bare JetStream client then publishes as many messages of the same shape (a subject per blog, the event's JSON, a message id, the expected last sequence, 256 in flight) to a stream of its own: what the server and the client library reach here.\n\n")
		p("| round | publisher | journal complete after (s) | journaled/s | stream complete after (s) | published/s | acknowledged when the journal was complete | bare JetStream client /s |\n|---|---|---|---|---|---|---|---|\n")
		for i := range len(pr.Plain) + len(pr.Journaled) {
			k := i / 2
			if i%2 == 0 && k < len(pr.Plain) {
				d := pr.Plain[k]
				p("| %d | no | %.3f | %s | | | | |\n", i+1, d.Seconds(), kfmt(float64(c.Transitions)/d.Seconds()))
			} else if i%2 == 1 && k < len(pr.Journaled) && k < len(pr.Published) && k < len(pr.Bare) {
				d, pd := pr.Journaled[k], pr.Published[k]
				p("| %d | yes | %.3f | %s | %.3f | %s | %d | %s |\n", i+1, d.Seconds(), kfmt(float64(c.Transitions)/d.Seconds()), pd.Seconds(), kfmt(float64(c.Transitions)/pd.Seconds()),
					pr.PublishedAtJournal[k], kfmt(float64(c.Transitions)/pr.Bare[k].Seconds()))
			}
		}
		p("\nMedians: the journal catches up at %s/s without a publisher and %s/s with one; the publisher publishes %s/s (%s/s while the journal was still catching up), **%s of the journal's rate**; the bare JetStream client reaches %s/s.\n",
			kfmt(pr.PlainRate()), kfmt(pr.JournaledRate()), kfmt(pr.PublishedRate()), kfmt(pr.PublishedDuringRate()), pct1(pr.PublishedRate()/pr.JournaledRate()), kfmt(pr.BareRate()))
		if pr.ProfileTop != "" {
			p("\nCPU profile of the bench process (follower and publisher) over the last publishing round, until the stream held every transition (`%s`):\n\n```\n%s```\n", shortPath(pr.Profile), pr.ProfileTop)
		}
	}
}

func shortPath(p string) string {
	if i := strings.LastIndex(p, "/bin/bench-out/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
