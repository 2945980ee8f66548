package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// Blog ids for monitors the bridge creates are allocated downwards from
// MaxCreatedBlogID: Jetmon 1's verifier stores blog_id as a 32-bit int, and
// the top of that range stays clear of real WordPress.com blog ids.
const (
	MaxCreatedBlogID = 1<<31 - 1
	MinCreatedBlogID = 2_000_000_000
)

// CheckWritable refuses a server that is read-only: a write DSN pointing at
// a replica would fail on every POST, or worse, diverge the replica.
func (d *DB) CheckWritable(ctx context.Context) error {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	var readOnly int
	if err := d.sql.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly); err != nil {
		return fmt.Errorf("-write-dsn server %s does not answer: %w", d.cfg.Addr, err)
	}
	if readOnly != 0 {
		return fmt.Errorf("-write-dsn server %s is read-only (@@read_only=1): point -write-dsn at Jetmon's primary, not a replica", d.cfg.Addr)
	}
	return nil
}

// lockName is the GET_LOCK name guarding one URL. Lock names are limited to
// 64 characters, so the URL is hashed.
func lockName(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "jetmon-bridge:url:" + hex.EncodeToString(sum[:16])
}

const blogIDLock = "jetmon-bridge:blog_id"

// Activate makes url an active monitor: it returns the existing active one
// (created false), or reactivates an inactive row, or inserts a new row with
// a fresh blog_id in bucket (created true). Concurrent calls for one URL are
// serialized by a lock on the primary, so they never create two rows.
func (d *DB) Activate(ctx context.Context, url string, bucket uint16) (m bridge.Monitor, created bool, err error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return m, false, fmt.Errorf("connect to primary: %w", err)
	}
	defer conn.Close()
	release, err := getLock(ctx, conn, lockName(url))
	if err != nil {
		return m, false, err
	}
	defer release()

	ms, err := monitorsByURL(ctx, conn, url)
	if err != nil {
		return m, false, fmt.Errorf("look up monitor: %w", err)
	}
	for _, m := range ms {
		if m.Active {
			return m, false, nil
		}
	}
	if len(ms) > 0 {
		m, err = reactivate(ctx, conn, ms[0])
		return m, err == nil, err
	}

	releaseID, err := getLock(ctx, conn, blogIDLock)
	if err != nil {
		return m, false, err
	}
	defer releaseID()
	var lowest uint64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MIN(blog_id), ?) FROM "+bridge.Table+" WHERE blog_id >= ? AND blog_id <= ?",
		MaxCreatedBlogID+1, MinCreatedBlogID, MaxCreatedBlogID).Scan(&lowest); err != nil {
		return m, false, fmt.Errorf("allocate blog_id: %w", err)
	}
	blogID := lowest - 1
	if blogID < MinCreatedBlogID {
		return m, false, fmt.Errorf("allocate blog_id: the range %d..%d for created monitors is used up", MinCreatedBlogID, MaxCreatedBlogID)
	}
	res, err := conn.ExecContext(ctx, "INSERT INTO "+bridge.Table+" (blog_id, bucket_no, monitor_url, monitor_active, site_status) VALUES (?, ?, ?, 1, 1)",
		blogID, bucket, url)
	if err != nil {
		return m, false, fmt.Errorf("create monitor: %w", err)
	}
	id, _ := res.LastInsertId()
	return bridge.Monitor{SiteID: uint64(id), BlogID: blogID, URL: url, Active: true, Status: bridge.StatusRunning}, true, nil
}

// reactivate sets monitor_active=1 on m's row and starts it afresh: a
// status other than running is reset to running (1) with a fresh
// last_status_change, so a monitor reactivated for a new benchmark run
// does not inherit the last run's down or confirmed-down state (Jetmon
// alerts on a transition, and a monitor already down makes none). A
// running monitor keeps its last_status_change: nothing changed. It
// returns the row as it now stands.
func reactivate(ctx context.Context, conn *sql.Conn, m bridge.Monitor) (bridge.Monitor, error) {
	set := "monitor_active = 1"
	if m.Status != bridge.StatusRunning {
		set += ", site_status = 1, last_status_change = CURRENT_TIMESTAMP"
	}
	if _, err := conn.ExecContext(ctx, "UPDATE "+bridge.Table+" SET "+set+" WHERE jetpack_monitor_site_id = ?", m.SiteID); err != nil {
		return m, fmt.Errorf("reactivate monitor: %w", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT "+monitorColumns+" FROM "+bridge.Table+" WHERE jetpack_monitor_site_id = ?", m.SiteID)
	if err != nil {
		return m, fmt.Errorf("read the reactivated monitor: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return m, fmt.Errorf("read the reactivated monitor %d: the row is gone (%v)", m.SiteID, rows.Err())
	}
	if m, err = scanMonitor(rows); err != nil {
		return m, fmt.Errorf("read the reactivated monitor: %w", err)
	}
	return m, rows.Err()
}

// Deactivate sets monitor_active=0 on every row whose URL is exactly url.
// It returns bridge.ErrNotFound when there is none.
func (d *DB) Deactivate(ctx context.Context, url string) error {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to primary: %w", err)
	}
	defer conn.Close()
	release, err := getLock(ctx, conn, lockName(url))
	if err != nil {
		return err
	}
	defer release()
	ms, err := monitorsByURL(ctx, conn, url)
	if err != nil {
		return fmt.Errorf("look up monitor: %w", err)
	}
	if len(ms) == 0 {
		return bridge.ErrNotFound
	}
	for _, m := range ms {
		if !m.Active {
			continue
		}
		if _, err := conn.ExecContext(ctx, "UPDATE "+bridge.Table+" SET monitor_active = 0 WHERE jetpack_monitor_site_id = ?", m.SiteID); err != nil {
			return fmt.Errorf("deactivate monitor: %w", err)
		}
	}
	return nil
}

// getLock takes a named lock on conn, waiting as long as ctx allows, and
// returns its release. The lock lives as long as the connection, so a bridge
// that dies mid-request cannot leave it held.
func getLock(ctx context.Context, conn *sql.Conn, name string) (func(), error) {
	wait := 10
	if dl, ok := ctx.Deadline(); ok {
		wait = max(int(time.Until(dl).Seconds()), 1)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, wait).Scan(&got); err != nil {
		return nil, fmt.Errorf("lock %s on primary: %w", name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("lock %s on primary: timed out waiting for another request", name)
	}
	return func() {
		// Release on a fresh context: the request's may have expired.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.ExecContext(rctx, "DO RELEASE_LOCK(?)", name)
	}, nil
}
