// Package timeline draws blogs' site_status over a window of time as an
// SVG: one row per blog, coloured bands for running, down and confirmed
// down, hatching wherever the journal cannot vouch for the window (its gaps,
// a lagging replica's recent past, and the future), and a time axis. The
// daemon serves it at GET /events/timeline.svg and operators render it from
// a journal file with "jetmon-bridge journal timeline".
package timeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// MaxBlogs bounds the rows of one chart.
const MaxBlogs = 50

// MaxEvents bounds the transitions of one row: beyond it a chart stops
// being readable (and an SVG of it stops being small).
const MaxEvents = 20000

// Source is what a chart is built from: the journal.
type Source interface {
	// WindowAsOf returns the blog's events in [since, until), ordered by
	// (created_at, id), and the coverage spans that meet the window as they
	// stand for a request that began at asOf: the very computation /events
	// answers with (journal.Journal.WindowAsOf).
	WindowAsOf(ctx context.Context, blogID uint64, since, until, asOf time.Time) ([]bridge.Event, []bridge.Span, error)
	// StatusAt returns the blog's status at t, before any event at t; ok is
	// false when nothing is known of the blog.
	StatusAt(blogID uint64, t time.Time) (s bridge.Status, ok bool, err error)
	// BlogMonitor returns the blog's monitor row, for its url.
	BlogMonitor(blogID uint64) (m bridge.Monitor, ok bool, err error)
}

// Chart is everything Render draws.
type Chart struct {
	Since, Until time.Time
	// AsOf is when the chart was drawn: nothing after it is known yet, so
	// no status band reaches past it and the rest of the window is hatched.
	AsOf time.Time
	Rows []Row
}

// bandsEnd is where status bands stop: at Until, or at AsOf when the window
// reaches into the future.
func (c Chart) bandsEnd() time.Time {
	if !c.AsOf.IsZero() && c.AsOf.Before(c.Until) {
		return c.AsOf
	}
	return c.Until
}

// Row is one blog's history in the window.
type Row struct {
	BlogID uint64
	// URL is the blog's monitor_url when the journal keeps its row.
	URL string
	// Initial is the status at Since; Known is false when the journal knows
	// nothing of the blog (the row is drawn as unknown until its first event).
	Initial bridge.Status
	Known   bool
	// Events are the transitions in [Since, Until), in order.
	Events []bridge.Event
	// Uncovered are the parts of the window the journal does not vouch for:
	// gaps, what a lagging replica has not provably applied, and the time
	// after the chart's AsOf.
	Uncovered []bridge.Span
}

// Band is one status interval of a row: [From, To) in Status.
type Band struct {
	From, To time.Time
	Status   bridge.Status
	// Known is false for the interval before the first event of a blog the
	// journal knew nothing of.
	Known bool
}

// Bands returns the row's status intervals: one from since to the first
// event, one from each event to the next (empty when two events share a
// second), and one from the last event to until. An empty window has none.
func (r Row) Bands(since, until time.Time) []Band {
	if !since.Before(until) {
		return nil
	}
	bands := make([]Band, 0, len(r.Events)+1)
	cur := Band{From: since, Status: r.Initial, Known: r.Known}
	for _, e := range r.Events {
		if !e.CreatedAt.Before(until) { // a clock ahead of the drawing's
			break
		}
		cur.To = e.CreatedAt
		bands = append(bands, cur)
		cur = Band{From: e.CreatedAt, Status: e.NewStatus, Known: true}
	}
	cur.To = until
	return append(bands, cur)
}

// Build reads the chart of blogs over [since, until) from src, as the
// journal stood for a request that began at asOf. Coverage is what /events
// would answer with at asOf, less the future: a span the follower has proved
// caught up reaches forever (every transition committed so far is in the
// journal), but a drawing of the time after asOf would claim statuses that
// have not happened yet.
func Build(ctx context.Context, src Source, blogs []uint64, since, until, asOf time.Time) (Chart, error) {
	if err := checkRequest(blogs, since, until); err != nil {
		return Chart{}, err
	}
	c := Chart{Since: since.UTC(), Until: until.UTC(), AsOf: asOf.UTC()}
	for _, blog := range blogs {
		events, spans, err := src.WindowAsOf(ctx, blog, since, until, asOf)
		if err != nil {
			return Chart{}, fmt.Errorf("read blog %d: %w", blog, err)
		}
		if len(events) > MaxEvents {
			return Chart{}, fmt.Errorf("%w: blog %d has %d transitions in the window, more than the %d a chart can show; narrow the window", ErrRequest, blog, len(events), MaxEvents)
		}
		status, known, err := src.StatusAt(blog, since)
		if err != nil {
			return Chart{}, fmt.Errorf("read blog %d: %w", blog, err)
		}
		row := Row{BlogID: blog, Initial: status, Known: known, Events: events, Uncovered: bridge.Uncovered(endAt(spans, asOf), since, until)}
		if m, ok, err := src.BlogMonitor(blog); err == nil && ok {
			row.URL = m.URL
		}
		c.Rows = append(c.Rows, row)
	}
	return c, nil
}

// endAt returns spans cut off at t: the journal vouches for nothing after
// the moment it was asked.
func endAt(spans []bridge.Span, t time.Time) []bridge.Span {
	out := make([]bridge.Span, 0, len(spans))
	for _, s := range spans {
		if !s.Start.Before(t) {
			break
		}
		if s.End.After(t) {
			s.End = t
		}
		out = append(out, s)
	}
	return out
}

// ErrRequest marks a request that cannot be drawn as asked.
var ErrRequest = errors.New("bad timeline request")

func checkRequest(blogs []uint64, since, until time.Time) error {
	switch {
	case len(blogs) == 0:
		return fmt.Errorf("%w: no blog_id given", ErrRequest)
	case len(blogs) > MaxBlogs:
		return fmt.Errorf("%w: %d blogs asked for; a chart shows at most %d", ErrRequest, len(blogs), MaxBlogs)
	case !since.Before(until):
		return fmt.Errorf("%w: since must be before until", ErrRequest)
	}
	return nil
}

// ParseBlogIDs parses a comma-separated list of positive blog ids, such as
// "12,34,56", in the order given, without duplicates.
func ParseBlogIDs(list string) ([]uint64, error) {
	var ids []uint64
	seen := map[uint64]bool{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil || id == 0 || f[0] == '+' {
			return nil, fmt.Errorf("%w: blog id %q is not a positive integer", ErrRequest, clip(f))
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no blog id given (e.g. 12345 or 12345,67890)", ErrRequest)
	}
	return ids, nil
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
