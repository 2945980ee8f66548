package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// ResultsFile is docs/bench-results.json: what the documents quote of the
// last make bench, written beside docs/BENCHMARKS.md by the same run. The
// README's table and every figure a page quotes from the benchmarks are
// written from it (DocBlocks), so they change with each run and never by
// hand; the raw results of a run stay in bin/bench-out/results.json.
type ResultsFile struct {
	// Run is when the suite ran, "2006-01-02 15:04 UTC".
	Run string `json:"run"`
	// Machine names the CPUs the suite ran on.
	Machine string  `json:"machine"`
	Scale   float64 `json:"scale"`
	// Summary is the run's summary, goals and results as BENCHMARKS.md
	// shows them.
	Summary []Row `json:"summary"`
	// Figures are single figures the pages quote, by name (Figures).
	Figures map[string]string `json:"figures"`
	// Runs, when the results merge runs of parts (Merge), say which run
	// each part comes from; Run is then the first one's start.
	Runs []ResultsRun `json:"runs,omitempty"`
}

// ResultsRun is one of the runs a merged results file comes from.
type ResultsRun struct {
	Parts   []string `json:"parts"`
	Run     string   `json:"run"`
	Machine string   `json:"machine"`
}

// From says where the summary's rows come from, as the README says it.
func (rf *ResultsFile) From() string {
	if len(rf.Runs) < 2 {
		return "every row from that one run"
	}
	var runs []string
	for _, r := range rf.Runs {
		runs = append(runs, fmt.Sprintf("%s: %s", strings.Join(r.Parts, ", "), r.Run))
	}
	return fmt.Sprintf("each part's rows from one of %d runs of parts (%s)", len(rf.Runs), strings.Join(runs, "; "))
}

// NewResultsFile is what r gives the documents.
func NewResultsFile(r *Results) *ResultsFile {
	rf := &ResultsFile{
		Run:     r.Started.Format("2006-01-02 15:04 UTC"),
		Machine: fmt.Sprintf("%d CPUs, %s", r.Machine.CPUs, r.Machine.CPUModel),
		Scale:   r.Scale,
		Summary: Rows(r),
		Figures: Figures(r),
	}
	if len(r.Runs) > 1 {
		for _, run := range r.Runs {
			rf.Runs = append(rf.Runs, ResultsRun{Parts: run.Parts, Run: run.Started.Format("2006-01-02 15:04 UTC"),
				Machine: fmt.Sprintf("%d CPUs, %s", run.Machine.CPUs, run.Machine.CPUModel)})
		}
	}
	return rf
}

// Figures are the single figures of r that the pages quote: part 4's
// bytes per event (and what they come to in a year of Jetmon's history),
// part 6's proofs, part 7's publisher, part 8b's trimming rate. A part that
// did not run has none.
func Figures(r *Results) map[string]string {
	f := map[string]string{}
	if e := r.Events; e != nil {
		perEvent := e.Footprint.PerEvent(e.Events)
		f["events.bytes_per_event"] = fmt.Sprintf("%.1f", perEvent)
		// A million transitions a day, kept for a year (operations.md,
		// "Retention").
		f["events.gb_a_year_at_1m_a_day"] = fmt.Sprintf("%.0f", perEvent*1e6*365/1e9)
	}
	if c := r.Chain; c != nil {
		f["chain.rate"] = fmt.Sprintf("%.0f", c.Rate)
		f["chain.heartbeat"] = c.Heartbeat.String()
		f["chain.stop_for"] = c.StopFor.String()
		f["chain.stop_every"] = c.StopEvery.String()
		for _, pr := range c.Proofs {
			k := "chain." + pr.Proof + "."
			f[k+"trail_running_p50"] = secs(pr.TrailRunning.P50)
			f[k+"trail_stopped_max"] = secs(pr.TrailStopped.Max)
			f[k+"exact"] = fmt.Sprintf("%d of %d", pr.Exact, pr.Journal)
		}
	}
	if p := r.Publish; p != nil {
		if len(p.Live) > 0 {
			f["publish.added_p99"] = signedMs(p.AddedP99())
			f["publish.streamed_p99"] = msShort(p.Streamed.P99)
		}
		if p.Catchup != nil && len(p.Published) > 0 {
			f["publish.catchup_transitions"] = kfmt(float64(p.Catchup.Transitions))
			f["publish.journaled_rate"] = kfmt(p.JournaledRate())
			f["publish.published_rate"] = kfmt(p.PublishedRate())
			f["publish.bare_rate"] = kfmt(p.BareRate())
		}
	}
	if g := r.Growth; g != nil && g.Steady != nil && g.Steady.Deleted > 0 {
		rate := g.Steady.TrimRate()
		f["growth.trim_rate"] = kfmt(rate)
		// A first trim of a large old journal (operations.md, "Retention").
		f["growth.trim_100m"] = roughDuration(time.Duration(100e6 / rate * float64(time.Second)))
	}
	return f
}

// roughDuration is d as the pages say a long wait: "5.6 hours", "40
// minutes".
func roughDuration(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("%.1f hours", d.Hours())
	}
	return fmt.Sprintf("%.0f minutes", d.Minutes())
}

// ReadResultsFile reads a results file.
func ReadResultsFile(path string) (*ResultsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf ResultsFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rf, nil
}

// Write writes the results file, readable as the documents write it
// (">= 100%", not "\u003e= 100%").
func (rf *ResultsFile) Write(path string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rf); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// Goals is the summary's rows that have a goal: the README's table.
func (rf *ResultsFile) Goals() string {
	var rows []Row
	for _, x := range rf.Summary {
		if x.Goal != "" {
			rows = append(rows, x)
		}
	}
	return SummaryTable(rows)
}

// SummaryTable is the whole summary as BENCHMARKS.md shows it.
func SummaryTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| # | measure | goal | result | met |\n|---|---|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", x.Part, x.Measure, x.Goal, x.Result, x.Met)
	}
	return b.String()
}

// GoalTexts are the goal texts the code states (goals.go), as the summary
// writes them.
func GoalTexts() []string {
	return []string{
		ratioGoal(goalCatchupRatio), ratioGoal(goalSharedRatio), goalTextBelowBare, goalTextCatchupHeap, goalTextLive,
		goalTextEventsRatio, goalTextEventsP99, goalTextBytes, goalTextServerHeap, goalTextExact,
		goalTextPublishAdded, goalTextKeepsUp, ratioGoal(goalHeadersRatio), goalTextGrowth, goalTextSteadyFlat,
	}
}
