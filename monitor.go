package bridge

import (
	"errors"
	"time"
)

// ErrNotFound is returned when no monitor matches a lookup, by the store
// (the replica or the primary) and by the journal's copy of the rows alike.
var ErrNotFound = errors.New("no monitor found")

// Monitor is one row of jetpack_monitor_sites, as far as the bridge uses it.
type Monitor struct {
	// SiteID is the row's primary key, jetpack_monitor_site_id.
	SiteID uint64
	BlogID uint64
	URL    string
	Active bool
	Status Status
	// LastStatusChange is last_status_change; zero when the column is NULL.
	LastStatusChange time.Time
}

// MonitorJSON is the wire form of GET /monitors and POST /monitors
// (README.md, "HTTP API").
type MonitorJSON struct {
	BlogID         uint64 `json:"blog_id"`
	MonitorURL     string `json:"monitor_url"`
	SiteStatus     Status `json:"site_status"`
	MonitorActive  bool   `json:"monitor_active"`
	Keyword        string `json:"keyword"`
	RedirectPolicy string `json:"redirect_policy"`
}

// JSON returns m's wire form. Jetmon 1 has neither keywords nor redirect
// policies, so those fields carry the adapter's defaults.
func (m Monitor) JSON() MonitorJSON {
	return MonitorJSON{
		BlogID:         m.BlogID,
		MonitorURL:     m.URL,
		SiteStatus:     m.Status,
		MonitorActive:  m.Active,
		Keyword:        "",
		RedirectPolicy: "follow",
	}
}
