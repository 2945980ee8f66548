package journal

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestRequestsAreJudgedInTheServersClock: the journal judges a request by
// the followed server's clock, as its proofs read it, never the bridge
// host's. With the server's clock ten seconds ahead of the host's, a
// confirmation five seconds old in the server's time does not vouch for
// the present: judged by the host's clock it would, and an answer would
// claim the last five seconds of commits the follower may not have read.
// With the server behind, a confirmation of its present vouches at once.
func TestRequestsAreJudgedInTheServersClock(t *testing.T) {
	host := sec(1000)
	for _, offset := range []time.Duration{10 * time.Second, -10 * time.Second} {
		j, err := Open(filepath.Join(t.TempDir(), "j"), Options{Now: func() time.Time { return host }})
		if err != nil {
			t.Fatal(err)
		}
		j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(900)}, CoveredTo: sec(950)})
		j.Attach(func(context.Context) error { return errors.New("unused") })
		// A reading taken within 100 ms of the host's clock.
		j.ObserveClock(ClockReading{HostBefore: host.Add(-100 * time.Millisecond), Server: host.Add(offset), HostAfter: host})
		serverNow := host.Add(offset)
		if now := j.Now(); now.Before(serverNow) || now.After(serverNow.Add(100*time.Millisecond)) {
			t.Errorf("server %+v: Now() = %s, want the server's clock, %s at most 100 ms later", offset, now, serverNow)
		}
		j.Confirm(serverNow.Add(-5 * time.Second))
		if s := j.Spans(j.Now()); s[0].End.Equal(forever) {
			t.Errorf("server %+v: a confirmation five seconds before the server's present vouches for it", offset)
		}
		j.Confirm(serverNow.Add(100 * time.Millisecond))
		if s := j.Spans(j.Now()); !s[0].End.Equal(forever) {
			t.Errorf("server %+v: a confirmation of the server's present does not vouch for it: end %s", offset, s[0].End)
		}
		j.Close()
	}
}
