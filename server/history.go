package server

import (
	"context"
	"errors"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// Journal is the part of the journal /events reads.
type Journal interface {
	// Window returns the blog's journaled events in [since, until), ordered
	// by (created_at, id), and the coverage spans that meet the window, sorted.
	// When until lies just past what has been applied, it may wait (bounded by
	// ctx) for the follower to catch up.
	Window(ctx context.Context, blogID uint64, since, until time.Time) ([]bridge.Event, []bridge.Span, error)
}

// Synthesizer reads the replica row that v1 synthesis speaks for.
type Synthesizer interface {
	LatestChange(ctx context.Context, blogID uint64) (bridge.Monitor, error)
}

// History combines the journal with v1 synthesis. With no Journal it is the
// v1 bridge; with no Synthesizer it is an offline replay.
type History struct {
	Journal     Journal
	Synthesizer Synthesizer
}

// Events answers /events for one blog and window.
func (h *History) Events(ctx context.Context, blogID uint64, since, until time.Time) ([]bridge.Event, bridge.Coverage, error) {
	var events []bridge.Event
	var spans []bridge.Span
	if h.Journal != nil {
		var err error
		if events, spans, err = h.Journal.Window(ctx, blogID, since, until); err != nil {
			return nil, "", err
		}
	}
	gaps := bridge.Uncovered(spans, since, until)
	if len(gaps) == 0 {
		return events, bridge.CoverageJournal, nil
	}
	if h.Synthesizer == nil {
		return events, bridge.CoverageIncomplete, nil
	}
	coverage := bridge.CoverageMixed
	if len(spans) == 0 {
		coverage = bridge.CoverageSynthesized
	}
	m, err := h.Synthesizer.LatestChange(ctx, blogID)
	if errors.Is(err, bridge.ErrNotFound) {
		return events, coverage, nil
	}
	if err != nil {
		return nil, "", err
	}
	for _, gap := range gaps {
		if e, ok := bridge.Synthesize(m, gap.Start, gap.End); ok && !journaled(events, e) {
			events = insertSorted(events, e)
		}
	}
	return events, coverage, nil
}

// journaled reports whether the journal already holds the transition a
// synthesized event stands for: one committed just before its span began.
func journaled(events []bridge.Event, e bridge.Event) bool {
	for _, j := range events {
		if j.CreatedAt.Equal(e.CreatedAt) && j.NewStatus == e.NewStatus {
			return true
		}
	}
	return false
}

func insertSorted(events []bridge.Event, e bridge.Event) []bridge.Event {
	i := len(events)
	for i > 0 && e.Before(events[i-1]) {
		i--
	}
	events = append(events, bridge.Event{})
	copy(events[i+1:], events[i:])
	events[i] = e
	return events
}
