package journal

import (
	"context"
	"time"
)

// Service is the Journal as the supervisor watches it: in operation while
// its last commit succeeded. A failing commit (a full disk, an I/O error)
// stops the follower from advancing, never from being exact; this service
// says why, and recovers once a commit succeeds again.
type Service struct {
	Journal *Journal
	// Interval is how often the last commit is looked at.
	Interval time.Duration
}

// Run reports the journal's state every Interval until ctx ends.
func (s Service) Run(ctx context.Context, ready func()) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if err := s.Journal.CommitErr(); err != nil {
			return err
		}
		ready()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
