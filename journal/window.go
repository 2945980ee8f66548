package journal

import (
	"context"
	"errors"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// forever stands for the end of a span whose follower has proved it is
// caught up: everything committed so far is in the journal.
var forever = time.Unix(1<<40, 0).UTC()

// Prober proves on demand that the follower has caught up: it returns once
// everything the server had written when the call began (by the earliest
// instant ServerNow allows for that moment) is committed to the journal
// (and calls Confirm), or fails.
type Prober func(ctx context.Context) error

type probeState struct {
	prober  Prober
	started time.Time
	done    chan struct{}
	err     error
}

// Attach marks the journal as fed by a live follower whose catch-up can be
// proved with p; Detach undoes it. While detached, coverage ends where the
// last commit or confirmation left it.
func (j *Journal) Attach(p Prober) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.following, j.probe.prober = true, p
}

// Detach marks the follower as stopped.
func (j *Journal) Detach() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.following, j.probe.prober, j.confirmed = false, nil, time.Time{}
	j.notifyLocked()
}

// Confirm records that at time at (the followed server's clock, or with
// -primary-dsn the primary's: see ObserveClock) the follower had applied
// everything the primary had committed.
func (j *Journal) Confirm(at time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if at.After(j.confirmed) {
		j.confirmed = at
		j.notifyLocked()
	}
}

// Confirmed returns the time of the last confirmation (zero when none since
// the follower attached).
func (j *Journal) Confirmed() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.confirmed
}

// Spans returns the coverage spans as they stand for a request that began at
// asOf: the open span reaches forever when the follower proved itself caught
// up at or after asOf, and otherwise the last whole second it vouched for.
func (j *Journal) Spans(asOf time.Time) []bridge.Span {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.spansLocked(asOf)
}

func (j *Journal) spansLocked(asOf time.Time) []bridge.Span {
	out := make([]bridge.Span, 0, len(j.spans))
	for _, s := range j.spans {
		out = append(out, s.Span)
	}
	if end, ok := j.suspectedEndLocked(); ok {
		// A reconcile found the span diverged: it vouches for nothing
		// after the last agreement, whatever was confirmed.
		out[len(out)-1].End = end
		return out
	}
	if n := len(out); n > 0 && !j.spans[n-1].Closed && j.following && !j.confirmed.IsZero() {
		if !asOf.IsZero() && !j.confirmed.Before(asOf) {
			out[n-1].End = forever
		} else if c := j.confirmed.Truncate(time.Second); c.After(out[n-1].End) {
			out[n-1].End = c
		}
	}
	return out
}

// vouchAsOf is the instant a confirmation must reach before the journal
// may vouch for [since, until) to a request that began at asOf. A window
// reaching past the request is vouched for as of the request: what is
// committed later is the request's future. A window ending by the request
// holds until's whole second, as created_at is whole seconds (an event
// committed at 05.7 is stamped 05 and belongs to [since, 05.3)), so it needs
// a confirmation from after that second has ended.
func vouchAsOf(until, asOf time.Time) time.Time {
	if until.After(asOf) {
		return asOf
	}
	return time.Unix(ceilSeconds(until), 0).UTC()
}

// Window returns the blog's journaled events in [since, until), ordered by
// (created_at, id), and the coverage spans that meet the window, as they
// stand for a request beginning now. When the window reaches past what the
// follower has vouched for, it first asks the follower to prove it has
// caught up, waiting at most Options.WaitLimit.
func (j *Journal) Window(ctx context.Context, blogID uint64, since, until time.Time) ([]bridge.Event, []bridge.Span, error) {
	return j.WindowAsOf(ctx, blogID, since, until, j.Now())
}

// WindowAsOf is Window for a request that began at asOf, an instant of the
// followed server's clock as Now reads it: a request reading several blogs
// (a timeline) passes one asOf to all, so they share one probe and one
// notion of the present.
func (j *Journal) WindowAsOf(ctx context.Context, blogID uint64, since, until, asOf time.Time) ([]bridge.Event, []bridge.Span, error) {
	need := vouchAsOf(until, asOf)
	spans := j.Spans(need)
	if n := len(spans); n > 0 && spans[n-1].End.Before(until) && !spans[n-1].Start.After(until) && j.opts.WaitLimit > 0 {
		wctx, cancel := context.WithTimeout(ctx, j.opts.WaitLimit)
		// A probe that fails may still have advanced coverage part of the
		// way (a lagging replica vouches for its recent past): read again.
		j.probeAsOf(wctx, need)
		spans = j.Spans(need)
		cancel()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
	}
	if testHookWindowRead != nil {
		testHookWindowRead()
	}
	events, cutoff, err := j.blogEvents(blogID, since, until)
	// The spans were read before the events: retention may have moved the
	// coverage start since; the events were read as of cutoff.
	var meeting []bridge.Span
	for _, s := range spans {
		s, ok := spanWithin(s, cutoff)
		if ok && s.End.After(since) && s.Start.Before(until) {
			meeting = append(meeting, s)
		}
	}
	return events, meeting, err
}

// testHookWindowRead, when set by a test, runs in WindowAsOf between
// reading the spans and reading the events.
var testHookWindowRead func()

// probeAsOf returns once a probe that started at or after asOf has
// finished, starting one when none has (waiting for the server's clock to
// have surely reached asOf first). Concurrent callers share probes, so a
// burst of requests costs the server one status query, not one each.
//
// A probe's start is the earliest the server's clock could read when it
// began (ServerNow's low bound): the prober proves everything the server had
// written by then, and only a caller whose asOf it reaches may rely on it.
func (j *Journal) probeAsOf(ctx context.Context, asOf time.Time) error {
	for {
		if wait := asOf.Sub(j.serverNowLow()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		start := j.serverNowLow()
		j.mu.Lock()
		p := &j.probe
		if p.prober == nil {
			j.mu.Unlock()
			return errNotFollowing
		}
		running := p.done != nil && !isClosed(p.done)
		if !running {
			if p.done != nil && !p.started.Before(asOf) {
				err := p.err
				j.mu.Unlock()
				return err
			}
			p.started, p.done, p.err = start, make(chan struct{}), nil
			go j.runProbe(p.prober, p.done)
		}
		done := p.done
		j.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var errNotFollowing = errors.New("no live follower")

func (j *Journal) runProbe(prober Prober, done chan struct{}) {
	// A probe outlives any one request: it is bounded on its own.
	ctx, cancel := context.WithTimeout(context.Background(), max(j.opts.WaitLimit, time.Second))
	err := prober(ctx)
	cancel()
	j.mu.Lock()
	if j.probe.done == done {
		j.probe.err = err
	}
	j.mu.Unlock()
	close(done)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// BlogEvents returns the blog's events with since <= created_at < until,
// none before the retention cutoff (Trim).
func (j *Journal) BlogEvents(blogID uint64, since, until time.Time) ([]bridge.Event, error) {
	events, _, err := j.blogEvents(blogID, since, until)
	return events, err
}

// blogEvents is BlogEvents, also returning the retention cutoff it
// clipped the window at (zero: none).
func (j *Journal) blogEvents(blogID uint64, since, until time.Time) ([]bridge.Event, time.Time, error) {
	from, to := ceilSeconds(since), ceilSeconds(until)
	// Room for a typical answer at once: growing by appends from empty
	// was most of a query's allocation.
	events := make([]bridge.Event, 0, 16)
	var cutoff int64
	err := j.db.View(func(tx *bolt.Tx) error {
		// Read after the snapshot began (trim.go): events before it may
		// be gone from the snapshot, events after it are all there.
		cutoff = j.cutoff.Load()
		from := max(from, cutoff)
		if from >= to {
			return nil
		}
		return scanRuns(tx, blogRuns, blogID, from, to, func(e entry) error {
			events = append(events, e.event())
			return nil
		})
	})
	var at time.Time
	if cutoff > 0 {
		at = time.Unix(cutoff, 0).UTC()
	}
	return events, at, err
}

// ceilSeconds is the first whole second at or after t: created_at values are
// whole seconds, so created_at >= t exactly when created_at >= ceil(t).
func ceilSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	if s < 0 {
		return 0
	}
	return s
}
