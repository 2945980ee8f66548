package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// state is where a watched service is in its life cycle.
type state int

const (
	// stateIdle: not started yet, or stopped because the Supervisor stopped.
	stateIdle state = iota
	// stateStarting: Run was called and has not called ready yet.
	stateStarting
	// stateOperational: Run called ready and has not returned.
	stateOperational
	// stateRestarting: Run failed; waiting out the back-off.
	stateRestarting
	// stateStopped: the restart limits were crossed; left stopped.
	stateStopped
)

// String names the state in logs.
func (st state) String() string {
	switch st {
	case stateIdle:
		return "idle"
	case stateStarting:
		return "starting"
	case stateOperational:
		return "operational"
	case stateRestarting:
		return "restarting"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int(st))
}

// errReturnedEarly is the failure of a Run that returned nil before it was
// asked to stop.
var errReturnedEarly = errors.New("service returned before it was asked to stop")

// watched is one service and the Supervisor's record of it. Every field
// after svc is guarded by Supervisor.mu.
type watched struct {
	callsign string
	svc      Service

	limits           Limits
	state            state
	looping          bool      // a supervise goroutine runs for this service
	attempt          uint64    // counts calls of svc.Run; tells stale ready calls apart
	operationalSince time.Time // when the current attempt called ready
	lastFailure      error     // the failure the service is recovering from, if any
	failures         failureHistory
	backoff          backoffState
	stats            stats
}

// entryLocked reports the service as a Monitor entry.
func (w *watched) entryLocked() Entry {
	return Entry{
		Measurements: w.stats.measurements(w.state == stateOperational),
		Observable:   w.callsign,
		Restart:      w.limits,
	}
}

// startLocked starts a supervise goroutine for w unless one runs already.
// The caller holds s.mu and s.runCtx is set.
func (s *Supervisor) startLocked(w *watched) {
	if w.looping {
		return
	}
	w.looping = true
	w.failures.reset()
	w.backoff.reset()
	s.loops.Add(1)
	go s.supervise(s.runCtx, w)
}

// supervise runs w.svc until ctx ends, restarting it after each failure
// until its restart limits are crossed.
func (s *Supervisor) supervise(ctx context.Context, w *watched) {
	defer s.loops.Done()
	for {
		attempt := s.beginAttempt(w)
		err := w.svc.Run(ctx, func() { s.ready(w, attempt) })
		if ctx.Err() != nil {
			s.endByShutdown(w, err)
			return
		}
		if err == nil {
			err = errReturnedEarly
		}
		delay, stopped := s.failed(w, err)
		if stopped {
			return
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			s.endByShutdown(w, nil)
			return
		case <-timer.C:
		}
	}
}

// beginAttempt records that Run is about to be called and returns the
// attempt's number.
func (s *Supervisor) beginAttempt(w *watched) uint64 {
	s.mu.Lock()
	w.attempt++
	w.state = stateStarting
	attempt, recovering := w.attempt, w.lastFailure
	s.mu.Unlock()
	if recovering != nil {
		s.log.Info("service restarting", "callsign", w.callsign, "attempt", attempt, "after", recovering.Error())
	} else {
		s.log.Info("service starting", "callsign", w.callsign, "attempt", attempt)
	}
	return attempt
}

// ready marks the service operational and notifies Activate, if attempt is
// the current attempt and it had not been ready yet.
func (s *Supervisor) ready(w *watched, attempt uint64) {
	s.notify.deliver.Lock()
	defer s.notify.deliver.Unlock()
	s.mu.Lock()
	if w.attempt != attempt || w.state != stateStarting {
		s.mu.Unlock()
		return
	}
	w.state = stateOperational
	w.operationalSince = time.Now()
	reason := "service is in operation"
	if w.lastFailure != nil {
		reason = "service is back in operation after: " + w.lastFailure.Error()
		w.lastFailure = nil
	}
	s.mu.Unlock()
	s.log.Info("service operational", "callsign", w.callsign, "attempt", attempt)
	s.notify.publish(Notification{Callsign: w.callsign, Action: Activate, Reason: reason})
}

// failed records a failure of Run, notifies Deactivate, and either returns
// the back-off before the next attempt or, when the failure crosses the
// restart limits, leaves the service stopped, notifies StoppedRestarting and
// returns stopped.
func (s *Supervisor) failed(w *watched, err error) (delay time.Duration, stopped bool) {
	s.notify.deliver.Lock()
	defer s.notify.deliver.Unlock()
	now := time.Now()
	s.mu.Lock()
	var healthyFor time.Duration
	if w.state == stateOperational {
		healthyFor = now.Sub(w.operationalSince)
	}
	w.lastFailure = err
	limits := w.limits
	exceeded, recent := w.failures.record(now, limits)
	if exceeded {
		w.state = stateStopped
		w.looping = false
	} else {
		w.state = stateRestarting
		delay = w.backoff.delay(s.backoff, healthyFor)
	}
	s.mu.Unlock()

	if exceeded {
		s.log.Warn("service failed", "callsign", w.callsign, "error", err, "recent_failures", recent)
	} else {
		s.log.Warn("service failed; restarting after back-off", "callsign", w.callsign, "error", err,
			"recent_failures", recent, "backoff", delay)
	}
	s.notify.publish(Notification{Callsign: w.callsign, Action: Deactivate, Reason: err.Error()})
	if !exceeded {
		return delay, false
	}
	reason := fmt.Sprintf("%d failures %s exceed the restart limit of %d; last failure: %v",
		recent, windowPhrase(limits.Window), limits.Limit, err)
	s.log.Error("service left stopped: restart limit crossed; set new restart limits to re-arm it",
		"callsign", w.callsign, "limit", limits.Limit, "window_seconds", limits.Window, "error", err)
	s.notify.publish(Notification{Callsign: w.callsign, Action: StoppedRestarting, Reason: reason})
	return 0, true
}

// windowPhrase describes a restart window in a reason.
func windowPhrase(seconds int) string {
	if seconds == 0 {
		return "since the restart limits were set"
	}
	return fmt.Sprintf("within %d seconds", seconds)
}

// endByShutdown records that the service ended because the Supervisor is
// stopping; err is what its Run returned, if it was running.
func (s *Supervisor) endByShutdown(w *watched, err error) {
	s.mu.Lock()
	w.state = stateIdle
	w.looping = false
	s.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Info("service stopped", "callsign", w.callsign, "error", err)
		return
	}
	s.log.Info("service stopped", "callsign", w.callsign)
}
