package server_test

import (
	"context"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/server"
)

// windowJournal answers every window with the same events and spans.
type windowJournal struct {
	events []bridge.Event
	spans  []bridge.Span
}

func (j windowJournal) Window(context.Context, uint64, time.Time, time.Time) ([]bridge.Event, []bridge.Span, error) {
	return j.events, j.spans, nil
}

// rowSynthesizer answers every blog with one replica row.
type rowSynthesizer struct{ row bridge.Monitor }

func (s rowSynthesizer) LatestChange(context.Context, uint64) (bridge.Monitor, error) {
	return s.row, nil
}

// TestCoverageHeaderSaysWhereTheAnswerCameFrom: X-Bridge-Coverage is
// journal when the spans cover the whole window, synthesized when none
// meets it, and mixed when they cover part of it, whether or not the
// journal holds an event in the part it covers (an answer of synthesized
// events alone may still be mixed: the covered part vouches that nothing
// happened there); incomplete where nothing can be synthesized.
func TestCoverageHeaderSaysWhereTheAnswerCameFrom(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 0).UTC() }
	since, until := at(0), at(100)
	// The replica's row changed at 80, in the window's uncovered part.
	synth := rowSynthesizer{bridge.Monitor{SiteID: 1, BlogID: 7, Status: bridge.StatusDown, LastStatusChange: at(80)}}
	journaled := bridge.Event{ID: 1, BlogID: 7, OldStatus: bridge.StatusDown, NewStatus: bridge.StatusRunning, CreatedAt: at(10)}
	for _, c := range []struct {
		name    string
		journal server.Journal
		synth   server.Synthesizer
		want    bridge.Coverage
		events  int
	}{
		{"covered", windowJournal{spans: []bridge.Span{{Start: at(-10), End: at(200)}}}, synth, bridge.CoverageJournal, 0},
		{"no span", windowJournal{}, synth, bridge.CoverageSynthesized, 1},
		{"no journal", nil, synth, bridge.CoverageSynthesized, 1},
		{"partly covered, an event journaled", windowJournal{events: []bridge.Event{journaled}, spans: []bridge.Span{{Start: at(0), End: at(50)}}}, synth, bridge.CoverageMixed, 2},
		{"partly covered, no event journaled", windowJournal{spans: []bridge.Span{{Start: at(0), End: at(50)}}}, synth, bridge.CoverageMixed, 1},
		{"partly covered, offline", windowJournal{spans: []bridge.Span{{Start: at(0), End: at(50)}}}, nil, bridge.CoverageIncomplete, 0},
	} {
		h := server.History{Journal: c.journal, Synthesizer: c.synth}
		events, coverage, err := h.Events(context.Background(), 7, since, until)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if coverage != c.want || len(events) != c.events {
			t.Errorf("%s: coverage %q with %d events %+v, want %q with %d", c.name, coverage, len(events), events, c.want, c.events)
		}
	}
}
