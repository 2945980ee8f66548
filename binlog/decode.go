package binlog

import (
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// decodeRow reads one row image into a Monitor.
func (l *layout) decodeRow(row []any) (bridge.Monitor, error) {
	var m bridge.Monitor
	if len(row) != len(l.names) {
		return m, fmt.Errorf("row has %d columns, expected %d", len(row), len(l.names))
	}
	var err error
	if m.SiteID, err = toUint(row[l.site]); err != nil {
		return m, fmt.Errorf("jetpack_monitor_site_id: %w", err)
	}
	if m.BlogID, err = toUint(row[l.blog]); err != nil {
		return m, fmt.Errorf("blog_id: %w", err)
	}
	status, err := toUint(row[l.status])
	if err != nil {
		return m, fmt.Errorf("site_status: %w", err)
	}
	m.Status = bridge.Status(status)
	if status > 255 || !m.Status.Valid() {
		return m, fmt.Errorf("site_status %d is not a Jetmon status", status)
	}
	active, err := toUint(row[l.active])
	if err != nil {
		return m, fmt.Errorf("monitor_active: %w", err)
	}
	m.Active = active != 0
	switch u := row[l.url].(type) {
	case string:
		m.URL = u
	case []byte:
		m.URL = string(u)
	default:
		return m, fmt.Errorf("monitor_url: unexpected %T", u)
	}
	switch t := row[l.changed].(type) {
	case time.Time:
		m.LastStatusChange = t.UTC()
	case nil, string: // NULL, or the zero timestamp "0000-00-00 00:00:00"
	default:
		return m, fmt.Errorf("last_status_change: unexpected %T", t)
	}
	return m, nil
}

// toUint reads an integer column. go-mysql returns signed Go types unless
// the table map carries signedness, so unsigned values arrive either way.
func toUint(v any) (uint64, error) {
	switch n := v.(type) {
	case int8:
		return uint64(uint8(n)), nil
	case int16:
		return uint64(uint16(n)), nil
	case int32:
		return uint64(uint32(n)), nil
	case int64:
		return uint64(n), nil
	case uint8:
		return uint64(n), nil
	case uint16:
		return uint64(n), nil
	case uint32:
		return uint64(n), nil
	case uint64:
		return n, nil
	case int:
		return uint64(n), nil
	case nil:
		return 0, fmt.Errorf("NULL")
	}
	return 0, fmt.Errorf("unexpected %T", v)
}
