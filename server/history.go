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
		e, ok := bridge.Synthesize(m, gap.Start, gap.End)
		if !ok {
			continue
		}
		held, err := h.holds(events, m, e)
		if err != nil {
			return nil, "", err
		}
		if !held {
			events = insertSorted(events, e)
		}
	}
	return events, coverage, nil
}

// FollowedRows is the part of the journal that says whether it has itself
// followed a row's last change; *journal.Journal satisfies it. A Journal
// without it is judged by its events alone.
type FollowedRows interface {
	// FollowedRow returns site's row as the binlog last showed it and the
	// instant since which the journal has read every change to the table
	// without a break; ok is false when it cannot say.
	FollowedRow(site uint64) (row bridge.Monitor, since time.Time, ok bool, err error)
}

// holds reports whether the journal already holds the change a synthesized
// event e speaks for. Synthesis speaks for the replica row m's last change:
// status m.Status since m.LastStatusChange. The journal holds it
//   - when it has an event of the blog into that status stamped in the same
//     second (a transition committed just before its span began, or one
//     journaled in the stretch coverage has not yet vouched for);
//   - or when it has followed that change of the row itself: its own copy of
//     the row shows the same state or a later one, and the change lies in
//     the stretch it has read from the binlog without a break. Whatever
//     transition led into the row's status then passed through the journal,
//     which holds its event; and a change that moved last_status_change
//     alone (Jetmon's UPDATE run again with the status the row already has)
//     was no transition at all. The replica's row may be behind the journal
//     (read before the follower committed a later change) or ahead of it
//     (the journal has not yet read the change): behind, it speaks for a
//     change the journal has passed; ahead, the journal's copy is older and
//     the synthesized event stays.
//
// A row the journal took from a snapshot (the start of a span after a gap)
// changed before the span began: the change is not one the journal has
// followed, and the synthesized event stays.
func (h *History) holds(events []bridge.Event, m bridge.Monitor, e bridge.Event) (bool, error) {
	for _, j := range events {
		if j.CreatedAt.Unix() == e.CreatedAt.Unix() && j.NewStatus == e.NewStatus {
			return true, nil
		}
	}
	rows, ok := h.Journal.(FollowedRows)
	if !ok {
		return false, nil
	}
	row, since, ok, err := rows.FollowedRow(m.SiteID)
	if err != nil || !ok {
		return false, err
	}
	changed, seen := m.LastStatusChange.Unix(), row.LastStatusChange.Unix()
	if row.LastStatusChange.IsZero() || m.LastStatusChange.Before(since) {
		return false, nil
	}
	return seen > changed || (seen == changed && row.Status == m.Status), nil
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
