package bridge

import "time"

// Transition turns one UPDATE of a monitor row into an event. Only a change
// of site_status is a transition; created_at is the row's new
// last_status_change when the update changed it, else the time the binlog
// records for the change (Jetmon writes NOW() at second precision, so the
// two rarely differ).
func Transition(before, after Monitor, eventTime time.Time) (Event, bool) {
	if before.Status == after.Status {
		return Event{}, false
	}
	at := eventTime
	if !after.LastStatusChange.IsZero() && !after.LastStatusChange.Equal(before.LastStatusChange) {
		at = after.LastStatusChange
	}
	return Event{
		BlogID:    after.BlogID,
		OldStatus: before.Status,
		NewStatus: after.Status,
		CreatedAt: at.UTC().Truncate(time.Second),
	}, true
}
