package binlog

import (
	"context"
	"errors"
	"time"
)

// coverageRestart is a request to end the open span and start a fresh one
// from a new snapshot of the table, made from outside the follower's
// goroutine (a reconcile that found the journal diverged).
type coverageRestart struct {
	// span is the start of the span to end; a request for a span that is
	// no longer the open one is dropped.
	span time.Time
	// reason is the gap reason recorded on the span it closes.
	reason string
	// closeAt is where that span ends: what it vouched for after it is
	// taken back (journal.SpanStart.CloseAt).
	closeAt time.Time
}

// restarts is the follower's part of RestartCoverage, under Follower.mu.
type restarts struct {
	// pending is the request not yet carried out; it outlives a failed
	// stream, so a follower that restarts carries it out first.
	pending *coverageRestart
	// interrupt ends the running stream; nil between streams.
	interrupt context.CancelCauseFunc
	// released says a hold on coverage was lifted (hold.go) since the
	// follower last looked: the stream it ended is to be followed by a
	// fresh span, not counted as a failure.
	released bool
}

// errRestartCoverage is the cause a stream is interrupted with.
var errRestartCoverage = errors.New("coverage restarts from a fresh snapshot")

// RestartCoverage ends the open span, which starts at span, at closeAt
// with reason, and starts a fresh one from a new snapshot of the table, as
// a purged binlog does (beginSpan): the running stream commits what it has
// read and stops, and the follower's own goroutine carries the request out
// before it streams again. It returns at once. Of several requests before
// one is carried out, the earliest closeAt wins.
func (f *Follower) RestartCoverage(span time.Time, reason string, closeAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.restarts.pending; p == nil || !f.cfg.Journal.SameSpan(p.span, span) || closeAt.Before(p.closeAt) {
		f.restarts.pending = &coverageRestart{span: span, reason: reason, closeAt: closeAt}
	}
	if f.restarts.interrupt != nil {
		f.restarts.interrupt(errRestartCoverage)
	}
}

// takeRestart returns the pending request and forgets it; a request for a
// span that is no longer the open one (a gap has started another since)
// is forgotten too. With none pending, a span the journal keeps in doubt
// (a divergence found before the bridge stopped, its fresh span not yet
// begun) is restarted now.
func (f *Follower) takeRestart() *coverageRestart {
	f.mu.Lock()
	p := f.restarts.pending
	f.restarts.pending = nil
	f.mu.Unlock()
	if p == nil {
		span, from, ok := f.cfg.Journal.Suspected()
		if !ok {
			return nil
		}
		p = &coverageRestart{span: span, reason: ReasonDiverged, closeAt: from}
	}
	if open, ok := f.cfg.Journal.OpenSpan(); !ok || !f.cfg.Journal.SameSpan(open.Start, p.span) {
		return nil
	}
	return p
}

// streamContext returns the context a stream runs under: ctx, ended also by
// RestartCoverage and by a hold's release (hold.go). done must be called
// when the stream has returned.
func (f *Follower) streamContext(ctx context.Context) (sctx context.Context, done func()) {
	sctx, cancel := context.WithCancelCause(ctx)
	f.mu.Lock()
	f.restarts.interrupt = cancel
	pending, released := f.restarts.pending != nil, f.restarts.released
	f.mu.Unlock()
	switch {
	case pending:
		cancel(errRestartCoverage)
	case released:
		cancel(errHoldReleased) // a hold lifted after follow looked
	}
	return sctx, func() {
		f.mu.Lock()
		f.restarts.interrupt = nil
		f.mu.Unlock()
		cancel(nil)
	}
}

// restartPending reports whether a RestartCoverage, or the fresh span
// after a hold was released, awaits.
func (f *Follower) restartPending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restarts.pending != nil || f.restarts.released
}

// takeReleased forgets that a hold was released: the follower is about to
// decide afresh whether a span is open or held.
func (f *Follower) takeReleased() {
	f.mu.Lock()
	f.restarts.released = false
	f.mu.Unlock()
}
