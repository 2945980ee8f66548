package supervisor

import (
	"fmt"
	"time"
)

// MaxWindowSeconds bounds Limits.Window (about 68 years), so that every
// window converts to a time.Duration without overflow.
const MaxWindowSeconds = 1<<31 - 1

// Limits are a service's restart limits, Thunder's "restart" object.
type Limits struct {
	// Limit is the number of restarts attempted within Window: the failure
	// that would need restart number Limit+1 leaves the service stopped.
	// 0 means unlimited.
	Limit int `json:"limit"`
	// Window is the period, in seconds, within which failures count towards
	// Limit. 0 means failures never expire: every failure since the limits
	// were last set counts.
	Window int `json:"window"`
}

// Validate reports limits that cannot be applied: negative values or a
// window longer than MaxWindowSeconds.
func (l Limits) Validate() error {
	switch {
	case l.Limit < 0:
		return fmt.Errorf("restart limit must be 0 (unlimited) or more, got %d", l.Limit)
	case l.Window < 0:
		return fmt.Errorf("restart window must be 0 (no expiry) or more seconds, got %d", l.Window)
	case l.Window > MaxWindowSeconds:
		return fmt.Errorf("restart window must be at most %d seconds, got %d", MaxWindowSeconds, l.Window)
	}
	return nil
}

// failureHistory is the record of a service's recent failures that its
// Limits are checked against.
type failureHistory struct {
	times []time.Time
}

// record adds a failure at now, forgets failures that fell out of the
// window, and reports whether the failures left exceed the limit, i.e.
// whether the service must be left stopped instead of restarted.
func (h *failureHistory) record(now time.Time, limits Limits) (exceeded bool, count int) {
	if limits.Window > 0 {
		cutoff := now.Add(-time.Duration(limits.Window) * time.Second)
		kept := h.times[:0]
		for _, t := range h.times {
			if t.After(cutoff) {
				kept = append(kept, t)
			}
		}
		h.times = kept
	}
	h.times = append(h.times, now)
	return limits.Limit > 0 && len(h.times) > limits.Limit, len(h.times)
}

// reset forgets every failure.
func (h *failureHistory) reset() { h.times = nil }
