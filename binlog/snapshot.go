package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// snapshotMonitors adds every row of the table to b, page by page.
func snapshotMonitors(ctx context.Context, db *sql.DB, b *journal.Batch) error {
	var after uint64
	for {
		rows, err := db.QueryContext(ctx, "SELECT jetpack_monitor_site_id, blog_id, monitor_url, monitor_active, site_status, "+
			"UNIX_TIMESTAMP(last_status_change) FROM "+bridge.Table+" WHERE jetpack_monitor_site_id > ? ORDER BY jetpack_monitor_site_id LIMIT 10000", after)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", bridge.Table, err)
		}
		n := 0
		for rows.Next() {
			var m bridge.Monitor
			var active, status uint8
			var changed sql.NullInt64
			if err := rows.Scan(&m.SiteID, &m.BlogID, &m.URL, &active, &status, &changed); err != nil {
				rows.Close()
				return fmt.Errorf("snapshot %s: %w", bridge.Table, err)
			}
			m.Active, m.Status = active != 0, bridge.Status(status)
			if changed.Valid && changed.Int64 > 0 {
				m.LastStatusChange = time.Unix(changed.Int64, 0).UTC()
			}
			b.Monitors = append(b.Monitors, m)
			after = m.SiteID
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", bridge.Table, err)
		}
		if n < 10000 {
			return nil
		}
	}
}
