package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is the sampling interval when Options.Interval is not set
// (the default of the daemon's -monitor-interval flag).
const DefaultInterval = 10 * time.Second

// ErrUnknownCallsign is returned for a callsign no service was added under.
var ErrUnknownCallsign = errors.New("no service is watched under this callsign")

// ErrInvalidLimits is returned for restart limits that cannot be applied.
var ErrInvalidLimits = errors.New("invalid restart limits")

// Options configure a Supervisor. The zero value is usable.
type Options struct {
	// Interval is the time between two samples of the process's figures;
	// zero or less means DefaultInterval.
	Interval time.Duration
	// Logger receives every state change of every service; nil means
	// slog.Default().
	Logger *slog.Logger
	// Backoff shapes the delay before a failed service is restarted.
	Backoff Backoff
	// Sample reads the process's figures; nil means ReadProcessSample.
	// Tests and platforms without /proc replace it.
	Sample func() (ProcessSample, error)
}

// Supervisor runs services, restarts those that fail within their restart
// limits, samples the process's figures for each, and notifies subscribers of
// what it does. Its methods are safe for concurrent use.
type Supervisor struct {
	interval time.Duration
	log      *slog.Logger
	backoff  Backoff
	sample   func() (ProcessSample, error)

	notify subscribers

	mu         sync.Mutex
	services   []*watched          // in the order they were added
	byCallsign map[string]*watched // the same services by callsign
	runCtx     context.Context     // non-nil while Run runs
	loops      sync.WaitGroup      // one per running supervise goroutine
}

// New returns a Supervisor with no services.
func New(opts Options) *Supervisor {
	s := &Supervisor{
		interval:   opts.Interval,
		log:        opts.Logger,
		backoff:    opts.Backoff.withDefaults(),
		sample:     opts.Sample,
		byCallsign: make(map[string]*watched),
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	s.backoff = s.backoff.within(s.interval)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.sample == nil {
		s.sample = ReadProcessSample
	}
	return s
}

// Add watches svc under callsign with the given restart limits. When Run is
// running, svc starts at once; otherwise it starts with Run.
//
// Add panics on an empty callsign, one that holds '@' (the index separator
// of the status property) or is already taken, a nil svc, or invalid limits:
// all are programming errors.
func (s *Supervisor) Add(callsign string, svc Service, limits Limits) {
	switch {
	case callsign == "" || strings.Contains(callsign, "@"):
		panic(fmt.Sprintf("supervisor: invalid callsign %q: it must be non-empty and free of '@'", callsign))
	case svc == nil:
		panic(fmt.Sprintf("supervisor: nil service for callsign %q", callsign))
	}
	if err := limits.Validate(); err != nil {
		panic(fmt.Sprintf("supervisor: callsign %q: %v", callsign, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.byCallsign[callsign]; taken {
		panic(fmt.Sprintf("supervisor: callsign %q is already watched", callsign))
	}
	w := &watched{callsign: callsign, svc: svc, limits: limits}
	s.services = append(s.services, w)
	s.byCallsign[callsign] = w
	if s.runCtx != nil {
		s.startLocked(w)
	}
}

// Run starts every service, samples the process's figures at once and then
// every interval, and keeps services in operation until ctx ends. Then it
// stops every service, waits for their Run to return, and returns nil. It
// returns an error at once when another Run is already running.
func (s *Supervisor) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return errors.New("supervisor: Run is already running")
	}
	s.runCtx = runCtx
	for _, w := range s.services {
		s.startLocked(w)
	}
	count := len(s.services)
	s.mu.Unlock()
	s.log.Info("supervisor started", "services", count, "interval", s.interval)

	sampler := newSampler(s)
	sampler.sampleAll()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		select {
		case <-runCtx.Done():
			s.mu.Lock()
			s.runCtx = nil // from here on nothing starts a supervise goroutine
			s.mu.Unlock()
			cancel()
			s.loops.Wait()
			s.log.Info("supervisor stopped")
			return nil
		case <-ticker.C:
			sampler.sampleAll()
		}
	}
}

// Operational reports whether the service is in operation: its Run called
// ready and has not returned since. Unknown callsigns are not operational.
func (s *Supervisor) Operational(callsign string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.byCallsign[callsign]
	return w != nil && w.state == stateOperational
}

// RestartLimitCrossed reports whether the service was left stopped because
// its failures crossed its restart limits (it stays so until SetLimits, the
// Monitor's restartlimits, re-arms it). Unknown callsigns report false.
func (s *Supervisor) RestartLimitCrossed(callsign string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.byCallsign[callsign]
	return w != nil && w.state == stateStopped
}

// Status returns the entry of the service watched under callsign, or of
// every service (in the order they were added) when callsign is empty. An
// unknown callsign yields an empty, non-nil slice.
func (s *Supervisor) Status(callsign string) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := []Entry{}
	for _, w := range s.services {
		if callsign == "" || w.callsign == callsign {
			entries = append(entries, w.entryLocked())
		}
	}
	return entries
}

// ResetStats clears the service's samples and returns its entry as it was
// before. ok is false for an unknown callsign.
func (s *Supervisor) ResetStats(callsign string) (before Entry, ok bool) {
	s.mu.Lock()
	w := s.byCallsign[callsign]
	if w == nil {
		s.mu.Unlock()
		return Entry{}, false
	}
	before = w.entryLocked()
	w.stats = stats{}
	s.mu.Unlock()
	s.log.Info("service statistics reset", "callsign", callsign, "samples", before.Measurements.Count)
	return before, true
}

// SetLimits replaces the service's restart limits and forgets its past
// failures, so the new limits count from now. A service left stopped by its
// old limits is re-armed: started again at once when Run is running,
// otherwise with the next Run. Errors wrap ErrUnknownCallsign or
// ErrInvalidLimits.
func (s *Supervisor) SetLimits(callsign string, limits Limits) error {
	if err := limits.Validate(); err != nil {
		return fmt.Errorf("%w for %q: %v", ErrInvalidLimits, callsign, err)
	}
	s.mu.Lock()
	w := s.byCallsign[callsign]
	if w == nil {
		s.mu.Unlock()
		return fmt.Errorf("set restart limits of %q: %w", callsign, ErrUnknownCallsign)
	}
	old := w.limits
	w.limits = limits
	w.failures.reset()
	rearmed := w.state == stateStopped
	if rearmed {
		w.backoff.reset()
		w.state = stateIdle
		if s.runCtx != nil {
			s.startLocked(w)
		}
	}
	s.mu.Unlock()
	s.log.Info("service restart limits set", "callsign", callsign,
		"limit", limits.Limit, "window_seconds", limits.Window,
		"old_limit", old.Limit, "old_window_seconds", old.Window, "rearmed", rearmed)
	return nil
}

// Subscribe calls fn with every notification from now on, until cancel is
// called; cancel waits for a running call of fn to finish, after which fn is
// never called again. Notifications arrive one at a time, in the order the
// state changes happened. fn runs on the goroutine that made the change, so
// it must return quickly and must not call Subscribe, a cancel function, or
// a service's ready function.
func (s *Supervisor) Subscribe(fn func(Notification)) (cancel func()) {
	return s.notify.add(fn)
}
