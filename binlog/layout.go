package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
)

// layout maps the columns the bridge reads to their positions in a row
// image.
type layout struct {
	names                                    []string
	site, blog, url, active, status, changed int
}

// newLayout indexes column names; it fails when a column the bridge needs
// is missing.
func newLayout(names []string) (layout, error) {
	l := layout{names: names, site: -1, blog: -1, url: -1, active: -1, status: -1, changed: -1}
	for i, n := range names {
		switch strings.ToLower(n) {
		case "jetpack_monitor_site_id":
			l.site = i
		case "blog_id":
			l.blog = i
		case "monitor_url":
			l.url = i
		case "monitor_active":
			l.active = i
		case "site_status":
			l.status = i
		case "last_status_change":
			l.changed = i
		}
	}
	for name, idx := range map[string]int{"jetpack_monitor_site_id": l.site, "blog_id": l.blog, "monitor_url": l.url,
		"monitor_active": l.active, "site_status": l.status, "last_status_change": l.changed} {
		if idx < 0 {
			return l, fmt.Errorf("%s has no column %s (columns: %s)", bridge.Table, name, strings.Join(names, ", "))
		}
	}
	return l, nil
}

// readColumns reads the table's current column order.
func readColumns(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
		schema, bridge.Table)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s.%s: %w", schema, bridge.Table, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("table %s.%s does not exist (or the -dsn user cannot see it): check the database in -dsn", schema, bridge.Table)
	}
	return names, nil
}
