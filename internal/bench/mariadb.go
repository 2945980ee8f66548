package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// createDatabase creates a database holding Jetmon 1's table and returns a
// root pool on it.
func createDatabase(srv *testdb.Server, name string) (*sql.DB, error) {
	if err := srv.Exec("CREATE DATABASE " + name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	db, err := sql.Open("mysql", srv.DSN(name))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(64)
	if _, err := db.Exec(bridge.Schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create %s: %w", bridge.Table, err)
	}
	return db, nil
}

// siteURL is the monitor_url of the suite's bulk-created rows.
func siteURL(blog uint64) string { return fmt.Sprintf("https://site-%d.example.com", blog) }

// insertMonitors adds one active, running row per blog first..first+n-1,
// in primary-key order.
func insertMonitors(ctx context.Context, db *sql.DB, first uint64, n int, changedAt func(blog uint64) (status uint8, unix int64)) error {
	const chunk = 1000
	for done := 0; done < n; done += chunk {
		k := min(chunk, n-done)
		var q strings.Builder
		q.WriteString("INSERT INTO " + bridge.Table + " (blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES ")
		args := make([]any, 0, 5*k)
		for i := range k {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,FROM_UNIXTIME(?))")
			blog := first + uint64(done+i)
			status, at := uint8(1), int64(1_700_000_000)
			if changedAt != nil {
				status, at = changedAt(blog)
			}
			args = append(args, blog, blog%512, siteURL(blog), status, at)
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert monitors: %w", err)
		}
	}
	return nil
}

// serverEnd is where the server's binlog ends now.
func serverEnd(ctx context.Context, db *sql.DB) (binlog.Position, error) {
	sp, err := binlog.CurrentPosition(ctx, db, binlog.FlavorMariaDB)
	if err != nil {
		return binlog.Position{}, err
	}
	return sp.Position, nil
}

// binlogFiles lists the server's binlog files and their sizes.
func binlogFiles(ctx context.Context, db *sql.DB) ([]string, []int64, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var names []string
	var sizes []int64
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		var size int64
		fmt.Sscan(string(vals[1]), &size)
		names = append(names, string(vals[0]))
		sizes = append(sizes, size)
	}
	return names, sizes, rows.Err()
}
