package bridge

import "fmt"

// Status is the value of jetpack_monitor_sites.site_status.
type Status uint8

// The statuses Jetmon 1 writes.
const (
	// StatusDown is an unconfirmed down: a worker saw the site fail.
	StatusDown Status = 0
	// StatusRunning is a site that answers.
	StatusRunning Status = 1
	// StatusConfirmedDown is a down confirmed by the verifliers.
	StatusConfirmedDown Status = 2
)

// Valid reports whether s is one of the statuses Jetmon 1 writes.
func (s Status) Valid() bool { return s <= StatusConfirmedDown }

// Source names who caused a transition into s, in the adapter's vocabulary.
func (s Status) Source() string {
	switch s {
	case StatusDown:
		return "worker"
	case StatusConfirmedDown:
		return "veriflier"
	case StatusRunning:
		return "jetmon"
	}
	return "unknown"
}

func (s Status) String() string {
	switch s {
	case StatusDown:
		return "down"
	case StatusRunning:
		return "running"
	case StatusConfirmedDown:
		return "confirmed_down"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}
