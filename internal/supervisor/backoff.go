package supervisor

import "time"

// Default back-off between a failure and the restart that follows it.
const (
	DefaultBackoffInitial    = 250 * time.Millisecond
	DefaultBackoffMax        = 10 * time.Second
	DefaultBackoffResetAfter = time.Minute
)

// Backoff shapes the delay before a failed service is restarted: Initial
// after the first failure, doubling with every further failure up to Max.
// A service that was in operation for at least ResetAfter before it failed
// starts over at Initial. Zero fields take the Default values.
//
// A Supervisor never waits longer than its Interval (the daemon's
// -monitor-interval), whatever Max says: a restarted health check runs
// again within one interval, so a failure, even one that begins while the
// service waits out its back-off, is reported within two intervals.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// withDefaults fills the zero fields and keeps Max at least Initial.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoffMax
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultBackoffResetAfter
	}
	return b
}

// within caps the delays at interval, the longest a failure may go
// unreported before the next attempt; Initial never exceeds Max.
func (b Backoff) within(interval time.Duration) Backoff {
	b.Max = min(b.Max, interval)
	b.Initial = min(b.Initial, b.Max)
	return b
}

// backoffState is one service's position in its back-off sequence.
type backoffState struct {
	next time.Duration // the delay the next failure waits; 0 means Initial
}

// delay returns how long to wait before restarting after a failure, given
// how long the service had been in operation (0 if it never got there), and
// advances the sequence.
func (s *backoffState) delay(b Backoff, healthyFor time.Duration) time.Duration {
	if s.next <= 0 || healthyFor >= b.ResetAfter {
		s.next = b.Initial
	}
	d := s.next
	s.next = min(2*d, b.Max)
	return d
}

// reset starts the sequence over at Initial.
func (s *backoffState) reset() { s.next = 0 }
