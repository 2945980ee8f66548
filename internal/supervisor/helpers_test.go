package supervisor_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
)

// waitLimit bounds every wait for a condition; the machine may be slow and
// shared, so it is generous: tests never assert on durations.
const waitLimit = 60 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fastOptions restart within milliseconds so tests run quickly.
func fastOptions() supervisor.Options {
	return supervisor.Options{
		Interval: time.Hour, // sampling tests set their own
		Logger:   quietLogger(),
		Backoff:  supervisor.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond},
	}
}

// start runs s until the test ends and returns a function that stops it
// and waits for Run to return.
func start(t *testing.T, s *supervisor.Supervisor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("Run did not return within %s of its context ending", waitLimit)
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually waits for cond, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recorder collects a supervisor's notifications.
type recorder struct {
	ch chan supervisor.Notification
}

func record(t *testing.T, s *supervisor.Supervisor) *recorder {
	r := &recorder{ch: make(chan supervisor.Notification, 10000)}
	cancel := s.Subscribe(func(n supervisor.Notification) {
		select {
		case r.ch <- n:
		default:
			t.Errorf("recorder overflow at %+v", n)
		}
	})
	t.Cleanup(cancel)
	return r
}

// next returns the next notification.
func (r *recorder) next(t *testing.T) supervisor.Notification {
	t.Helper()
	select {
	case n := <-r.ch:
		return n
	case <-time.After(waitLimit):
		t.Fatalf("no notification within %s", waitLimit)
		return supervisor.Notification{}
	}
}

// expect checks that the next notification is action on callsign with a
// reason containing reasonPart, and returns it.
func (r *recorder) expect(t *testing.T, callsign string, action supervisor.Action, reasonPart string) supervisor.Notification {
	t.Helper()
	n := r.next(t)
	if n.Callsign != callsign || n.Action != action || !strings.Contains(n.Reason, reasonPart) {
		t.Fatalf("got notification %+v, want %s on %s with a reason containing %q", n, action, callsign, reasonPart)
	}
	return n
}

// expectNone checks that nothing more was notified. Only meaningful once
// nothing can publish any more, e.g. after Run has returned.
func (r *recorder) expectNone(t *testing.T) {
	t.Helper()
	select {
	case n := <-r.ch:
		t.Fatalf("unexpected notification %+v", n)
	default:
	}
}

// steerableService becomes ready at every start and fails when the test
// sends it an error.
type steerableService struct {
	runs  atomic.Int64
	fail  chan error
	ended chan error // what each Run returned, including at shutdown
}

func newSteerable() *steerableService {
	return &steerableService{fail: make(chan error), ended: make(chan error, 100)}
}

func (s *steerableService) Run(ctx context.Context, ready func()) error {
	s.runs.Add(1)
	ready()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-s.fail:
	}
	s.ended <- err
	return err
}

// failingService fails at once while failing is set, and otherwise behaves
// like a healthy service.
type failingService struct {
	runs    atomic.Int64
	failing atomic.Bool
	err     error
}

func newFailing(err error) *failingService {
	f := &failingService{err: err}
	f.failing.Store(true)
	return f
}

func (f *failingService) Run(ctx context.Context, ready func()) error {
	f.runs.Add(1)
	if f.failing.Load() {
		return f.err
	}
	ready()
	<-ctx.Done()
	return nil
}
