package supervisor_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/supervisor"
)

func TestPingServiceReadyOnceThenFailsWithPingError(t *testing.T) {
	dbErr := errors.New("127.0.0.1:3306 does not answer: connection refused")
	var pings, readies atomic.Int64
	svc := supervisor.PingService{
		Interval: time.Millisecond,
		Ping: func(ctx context.Context) error {
			if pings.Add(1) > 3 {
				return dbErr
			}
			return nil
		},
	}
	err := svc.Run(context.Background(), func() { readies.Add(1) })
	if !errors.Is(err, dbErr) || !strings.Contains(err.Error(), "health check failed") {
		t.Fatalf("Run = %v, want the ping error wrapped", err)
	}
	if got := readies.Load(); got != 1 {
		t.Fatalf("ready called %d times, want once", got)
	}
	if got := pings.Load(); got != 4 {
		t.Fatalf("%d pings, want 4", got)
	}
}

func TestPingServiceFailsBeforeReady(t *testing.T) {
	var readies atomic.Int64
	err := supervisor.PingService{Ping: func(context.Context) error { return errors.New("access denied") }}.
		Run(context.Background(), func() { readies.Add(1) })
	if err == nil || !strings.Contains(err.Error(), "access denied") || readies.Load() != 0 {
		t.Fatalf("Run = %v, ready calls %d", err, readies.Load())
	}
}

func TestPingServiceStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var pings atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- supervisor.PingService{Interval: time.Millisecond, Ping: func(context.Context) error {
			pings.Add(1)
			return nil
		}}.Run(ctx, func() {})
	}()
	eventually(t, "a few pings", func() bool { return pings.Load() >= 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestPingServiceBoundsEachPing(t *testing.T) {
	err := supervisor.PingService{Interval: time.Hour, Timeout: time.Millisecond, Ping: func(ctx context.Context) error {
		<-ctx.Done() // a server that never answers
		return ctx.Err()
	}}.Run(context.Background(), func() {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the ping's deadline exceeded", err)
	}
}

func TestPingServiceWithoutPing(t *testing.T) {
	if err := (supervisor.PingService{}).Run(context.Background(), func() {}); err == nil {
		t.Fatal("a PingService without Ping must fail")
	}
}

func TestPingServiceUnderSupervisor(t *testing.T) {
	var down atomic.Bool
	s := supervisor.New(fastOptions())
	s.Add("Replica", supervisor.PingService{Interval: time.Millisecond, Ping: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
		}
		return nil
	}}, supervisor.Limits{})
	rec := record(t, s)
	start(t, s)
	rec.expect(t, "Replica", supervisor.Activate, "in operation")
	down.Store(true)
	rec.expect(t, "Replica", supervisor.Deactivate, "health check failed: dial tcp 127.0.0.1:3306: connect: connection refused")
	down.Store(false)
	// Depending on timing the service may fail again before the flag flips.
	for {
		n := rec.next(t)
		if n.Action == supervisor.Activate {
			break
		}
		if n.Action != supervisor.Deactivate {
			t.Fatalf("unexpected %+v", n)
		}
	}
	if !s.Operational("Replica") {
		t.Fatal("not operational after recovery")
	}
}
