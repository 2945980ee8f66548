package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PingService is a Service that checks a database's health: it pings at
// once and then every Interval, reports itself in operation after the first
// successful ping, and fails with the ping's error as soon as one fails. The
// bridge watches the replica and the primary with it (callsigns Replica and
// Primary).
type PingService struct {
	// Ping checks the database once, e.g. (*store.DB).Ping.
	Ping func(ctx context.Context) error
	// Interval is the time between two pings; zero or less means
	// DefaultInterval.
	Interval time.Duration
	// Timeout bounds each ping; zero or less means Interval.
	Timeout time.Duration
}

// Run pings until ctx ends (returning nil) or a ping fails (returning its
// error).
func (p PingService) Run(ctx context.Context, ready func()) error {
	if p.Ping == nil {
		return errors.New("health check has no Ping function")
	}
	interval := p.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	inOperation := false
	for {
		err := p.pingOnce(ctx, timeout)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("health check failed: %w", err)
		}
		if !inOperation {
			ready()
			inOperation = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// pingOnce runs one ping bounded by timeout.
func (p PingService) pingOnce(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return p.Ping(ctx)
}
