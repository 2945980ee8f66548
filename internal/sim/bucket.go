package sim

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket shared by the workers: tokens accrue at rate per
// second up to capacity, and a caller that takes more than there are reserves
// them (the balance goes negative) and waits until they would have accrued.
// Reserving keeps the long-run rate exact and serves callers in turn.
type bucket struct {
	mu       sync.Mutex
	rate     float64 // tokens per second; > 0
	capacity float64
	tokens   float64
	last     time.Time
	now      func() time.Time
}

func newBucket(rate, capacity float64, now func() time.Time) *bucket {
	return &bucket{rate: rate, capacity: capacity, tokens: capacity, last: now(), now: now}
}

// reserve takes n tokens and returns how long the caller must wait before
// using them.
func (b *bucket) reserve(n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	if elapsed := t.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.capacity, b.tokens+elapsed.Seconds()*b.rate)
		b.last = t
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// take waits until n tokens are the caller's, or ctx ends.
func (b *bucket) take(ctx context.Context, n int) error {
	if b == nil {
		return ctx.Err()
	}
	d := b.reserve(n)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
