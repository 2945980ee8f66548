package bridge

import "time"

// Coverage says where the events of an /events answer came from; it is sent
// in the X-Bridge-Coverage header.
type Coverage string

const (
	// CoverageJournal: the journal vouches for the whole window.
	CoverageJournal Coverage = "journal"
	// CoverageSynthesized: the journal covers none of the window; the answer
	// is the v1 synthesis alone.
	CoverageSynthesized Coverage = "synthesized"
	// CoverageMixed: journal events where covered, synthesis elsewhere.
	CoverageMixed Coverage = "mixed"
	// CoverageIncomplete: an offline replay of a window the journal does not
	// fully cover; there is nothing to synthesize from.
	CoverageIncomplete Coverage = "incomplete"
)

// CoverageHeader is the response header that carries a Coverage.
const CoverageHeader = "X-Bridge-Coverage"

// Span is an interval [Start, End) of replica time during which every
// committed change to jetpack_monitor_sites is in the journal.
type Span struct {
	Start, End time.Time
}

// Contains reports whether t lies in [Start, End).
func (s Span) Contains(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// Uncovered returns the parts of [since, until) that no span covers, in
// order. Spans must be sorted by Start and must not overlap.
func Uncovered(spans []Span, since, until time.Time) []Span {
	var gaps []Span
	cursor := since
	for _, s := range spans {
		if !s.End.After(cursor) {
			continue
		}
		if !s.Start.Before(until) {
			break
		}
		if s.Start.After(cursor) {
			gaps = append(gaps, Span{Start: cursor, End: s.Start})
		}
		cursor = s.End
		if !cursor.Before(until) {
			return gaps
		}
	}
	if cursor.Before(until) {
		gaps = append(gaps, Span{Start: cursor, End: until})
	}
	return gaps
}

// Synthesize is the v1 bridge's answer for one monitor and window: a single
// event at last_status_change leading into the current status, or none when
// the change lies outside [since, until). Jetmon 1 keeps no previous status,
// so the old status is inferred: a down state was left from running, and a
// recovery most often ends a confirmed down.
func Synthesize(m Monitor, since, until time.Time) (Event, bool) {
	at := m.LastStatusChange
	if at.IsZero() || at.Before(since) || !at.Before(until) {
		return Event{}, false
	}
	old := StatusRunning
	if m.Status == StatusRunning {
		old = StatusConfirmedDown
	}
	return Event{BlogID: m.BlogID, OldStatus: old, NewStatus: m.Status, CreatedAt: at.UTC()}, true
}
