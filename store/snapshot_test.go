package store

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// TestSnapshotIsOnePointOfTheBinlog: on a real MariaDB the snapshot names
// the binlog position it corresponds to, holds every row committed before
// it across all its pages, and none committed after, whose binlog lies past
// that position.
func TestSnapshotIsOnePointOfTheBinlog(t *testing.T) {
	d, tdb := open(t, nil, 5*time.Second)
	n := snapshotPage + 7 // more than one page
	var values []string
	for i := range n {
		values = append(values, fmt.Sprintf("(%d, 0, 'https://s%d.example', 1)", 100+i, i))
	}
	tdb.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status) VALUES "+strings.Join(values, ","))
	endBefore := binlogEnd(t, d)

	snap, err := d.BeginSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	at := binlogPos{snap.BinlogFile, snap.BinlogPos}
	if at.file == "" || at.before(endBefore) {
		t.Fatalf("snapshot at %v, before the binlog's end when it began, %v", at, endBefore)
	}
	// Committed after the snapshot: a change of every row and one more row.
	tdb.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status = 2")
	tdb.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://late.example')")
	if endAfter := binlogEnd(t, d); !at.before(endAfter) {
		t.Fatalf("the writes after the snapshot lie at or before its position %v: the binlog ends at %v", at, endAfter)
	}
	var rows int
	var last uint64
	err = snap.Monitors(ctx, func(m bridge.Monitor) error {
		if m.SiteID <= last {
			return fmt.Errorf("site %d after %d: not in primary-key order", m.SiteID, last)
		}
		last = m.SiteID
		if m.Status != bridge.StatusRunning || m.BlogID == 1 {
			return fmt.Errorf("the snapshot sees a change committed after it: %+v", m)
		}
		rows++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Fatalf("the snapshot read %d rows, want %d", rows, n)
	}
}

// binlogPos is a binlog coordinate; files of one server sort as strings.
type binlogPos struct {
	file string
	pos  uint64
}

func (p binlogPos) before(o binlogPos) bool {
	return p.file < o.file || (p.file == o.file && p.pos < o.pos)
}

func binlogEnd(t *testing.T, d *DB) binlogPos {
	t.Helper()
	rows, err := d.SQL().Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("no binlog")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	pos, err := strconv.ParseUint(string(vals[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return binlogPos{string(vals[0]), pos}
}

// TestSnapshotPosition reads the session status a consistent snapshot
// leaves: MariaDB's (and Percona Server's) names the position; MySQL 8,
// which cannot be installed here, reports none, and the reconcile then
// brackets the snapshot with SHOW BINARY LOG STATUS instead.
func TestSnapshotPosition(t *testing.T) {
	for _, c := range []struct {
		status map[string]string
		file   string
		pos    uint64
		err    bool
	}{
		{map[string]string{"binlog_snapshot_file": "mysql-bin.000042", "binlog_snapshot_position": "12345"}, "mysql-bin.000042", 12345, false},
		{map[string]string{"binlog_snapshot_file": "binlog.000001", "binlog_snapshot_position": strconv.FormatUint(1<<32+5, 10)}, "binlog.000001", 1<<32 + 5, false},
		{map[string]string{}, "", 0, false}, // MySQL 8: no such status
		{map[string]string{"binlog_snapshot_file": "", "binlog_snapshot_position": "0"}, "", 0, false},
		{map[string]string{"binlog_snapshot_file": "binlog.000001"}, "", 0, true},
		{map[string]string{"binlog_snapshot_file": "binlog.000001", "binlog_snapshot_position": "x"}, "", 0, true},
	} {
		file, pos, err := SnapshotPosition(c.status)
		if file != c.file || pos != c.pos || (err != nil) != c.err {
			t.Errorf("%v: %q %d %v, want %q %d error %v", c.status, file, pos, err, c.file, c.pos, c.err)
		}
	}
}
