package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
)

// Snapshot is a read of the table as of one instant: an InnoDB consistent
// snapshot (START TRANSACTION WITH CONSISTENT SNAPSHOT) held open on one
// connection of the pool until Close. Every Monitors call sees the table as
// it stood when the snapshot began, whatever is committed meanwhile.
//
// The reconcile self-check (binlog/reconcile.go) compares it with the
// journal, which needs the binlog position the snapshot corresponds to:
//   - MariaDB (and Percona Server) report it exactly, as the session
//     status binlog_snapshot_file and binlog_snapshot_position: the
//     snapshot holds every transaction before that position and none
//     after. BinlogFile and BinlogPos carry it.
//   - MySQL has no such status. BinlogFile is then empty and the caller
//     brackets the snapshot between two positions it reads itself, before
//     BeginSnapshot and after.
type Snapshot struct {
	conn *sql.Conn
	db   *DB
	// BinlogFile and BinlogPos are the binlog position the snapshot
	// corresponds to exactly; BinlogFile is empty where the server does not
	// say (MySQL).
	BinlogFile string
	BinlogPos  uint64
}

// BeginSnapshot opens a consistent snapshot of the database on a
// connection of its own. The transaction is READ ONLY and REPEATABLE READ
// whatever the server's default (under READ COMMITTED every statement
// would read afresh). Close it promptly: an open snapshot holds back the
// purge of InnoDB's undo history.
func (d *DB) BeginSnapshot(ctx context.Context) (*Snapshot, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open a snapshot of %s: %w", bridge.Table, err)
	}
	s := &Snapshot{conn: conn, db: d}
	for _, q := range []string{
		// Only the next transaction: the connection goes back to the pool.
		"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("open a snapshot of %s (%s): %w", bridge.Table, q, err)
		}
	}
	rows, err := conn.QueryContext(ctx, "SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("read the snapshot's binlog position: %w", err)
	}
	status := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			s.Close()
			return nil, fmt.Errorf("read the snapshot's binlog position: %w", err)
		}
		status[strings.ToLower(name)] = value
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("read the snapshot's binlog position: %w", err)
	}
	if s.BinlogFile, s.BinlogPos, err = SnapshotPosition(status); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SnapshotPosition reads the binlog position out of a consistent
// snapshot's session status (binlog_snapshot_file, binlog_snapshot_position;
// names lower-cased). A server without them (MySQL) yields an empty file and
// no error; one that reports a file without a number is refused.
func SnapshotPosition(status map[string]string) (file string, pos uint64, err error) {
	file = status["binlog_snapshot_file"]
	if file == "" {
		return "", 0, nil
	}
	pos, err = strconv.ParseUint(status["binlog_snapshot_position"], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("the server reports the snapshot's binlog file %q but no position (binlog_snapshot_position %q)", file, status["binlog_snapshot_position"])
	}
	return file, pos, nil
}

// snapshotPage is how many rows one query of Monitors reads.
const snapshotPage = 5000

// Monitors calls fn for every row of the table in the snapshot, in
// primary-key order, a page at a time; an error from fn ends it and is
// returned as it is. Each page is one query
// bounded by the pool's timeout, so memory and query time stay small
// whatever the table's size; the snapshot makes the pages agree.
func (s *Snapshot) Monitors(ctx context.Context, fn func(bridge.Monitor) error) error {
	var after uint64
	for {
		n, last, err := s.page(ctx, after, fn)
		if err != nil {
			return err
		}
		if n < snapshotPage {
			return nil
		}
		after = last
	}
}

func (s *Snapshot) page(ctx context.Context, after uint64, fn func(bridge.Monitor) error) (n int, last uint64, err error) {
	qctx, cancel := s.db.bound(ctx)
	defer cancel()
	rows, err := s.conn.QueryContext(qctx, "SELECT "+monitorColumns+" FROM "+bridge.Table+
		" WHERE jetpack_monitor_site_id > ? ORDER BY jetpack_monitor_site_id LIMIT "+strconv.Itoa(snapshotPage), after)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s in the snapshot: %w", bridge.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMonitor(rows)
		if err != nil {
			return n, last, fmt.Errorf("read %s in the snapshot: %w", bridge.Table, err)
		}
		if err := fn(m); err != nil {
			return n, last, err
		}
		n, last = n+1, m.SiteID
	}
	if err := rows.Err(); err != nil {
		return n, last, fmt.Errorf("read %s in the snapshot: %w", bridge.Table, err)
	}
	return n, last, nil
}

// Close ends the snapshot's transaction and returns its connection.
func (s *Snapshot) Close() error {
	if s.conn == nil {
		return nil
	}
	ctx, cancel := s.db.bound(context.Background())
	defer cancel()
	_, err := s.conn.ExecContext(ctx, "ROLLBACK")
	if cerr := s.conn.Close(); err == nil && !errors.Is(cerr, sql.ErrConnDone) {
		err = cerr
	}
	s.conn = nil
	return err
}
