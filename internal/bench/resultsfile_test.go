package bench

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFiguresOfAWholeRun checks that a whole run gives every figure the
// committed results file holds, so that the next make bench can write
// every block the pages have, and that the report includes the notes by a
// block and shows the summary as the results file does.
func TestFiguresOfAWholeRun(t *testing.T) {
	d := []time.Duration{time.Second}
	r := &Results{
		Started: time.Date(2026, 11, 28, 12, 54, 0, 0, time.UTC),
		Scale:   1,
		Events:  &EventsResult{Events: 10, Footprint: Footprint{FileBytes: 313}},
		Chain: &ChainResult{Heartbeat: time.Second, StopFor: 4 * time.Second, StopEvery: 8 * time.Second, Rate: 50,
			Proofs: []*ProofResult{{Proof: "replica-status"}, {Proof: "primary-gtid"}}},
		Publish: &PublishResult{Live: []*LiveResult{{}}, Catchup: &CatchupResult{Transitions: 40000},
			Plain: d, Journaled: d, Published: d, Bare: d, PublishedAtJournal: []int{0}},
		Growth: &GrowthResult{Steady: &SteadyResult{Deleted: 36_000_000, Writing: time.Hour}},
	}
	committed, err := ReadResultsFile(filepath.Join("..", "..", "docs", "bench-results.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(Figures(r)))
	want := slices.Sorted(maps.Keys(committed.Figures))
	if !slices.Equal(got, want) {
		t.Errorf("a whole run gives the figures %q, the committed results file has %q", got, want)
	}
	for name, want := range map[string]string{
		"events.bytes_per_event":       "31.3",
		"events.gb_a_year_at_1m_a_day": "11",
		"growth.trim_rate":             "10k",
		"growth.trim_100m":             "2.8 hours",
	} {
		if f := Figures(r)[name]; f != want {
			t.Errorf("%s = %q, want %q", name, f, want)
		}
	}

	r.Events, r.Growth = nil, nil // their reports need every measurement of parts 3 and 8
	report := Markdown(r, nil)
	rf := NewResultsFile(r)
	if !strings.Contains(report, SummaryTable(rf.Summary)) {
		t.Error("the report's summary is not the results file's")
	}
	if !strings.Contains(report, "<!-- bench: {{include \"bench-notes.md\"}} -->\n<!-- /bench -->") {
		t.Error("the report does not include docs/bench-notes.md by a block")
	}
	filled, err := DocBlocks(report, rf, filepath.Join("..", "..", "docs"))
	if err != nil || !strings.Contains(filled, "\n## Profiles read, and what was done about them\n") || !strings.Contains(filled, "\n## Left undone\n") {
		t.Errorf("the notes are not written into the report (%v)", err)
	}
}
