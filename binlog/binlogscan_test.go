package binlog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

func TestSplitUse(t *testing.T) {
	for _, c := range []struct{ info, schema, stmt string }{
		{"use `j`; alter table t add column n int", "j", "alter table t add column n int"},
		{"use `we``ird`; DROP TABLE x", "we`ird", "DROP TABLE x"},
		{"ALTER TABLE db.t ADD x INT", "", "ALTER TABLE db.t ADD x INT"},
		{"use `unterminated", "", "use `unterminated"},
		{"use `j`;no space", "", "use `j`;no space"},
	} {
		if schema, stmt := splitUse(c.info); schema != c.schema || stmt != c.stmt {
			t.Errorf("splitUse(%q) = %q, %q; want %q, %q", c.info, schema, stmt, c.schema, c.stmt)
		}
	}
}

// TestScanForBoundaryAcrossFiles: the look-ahead pages through SHOW BINLOG
// EVENTS across rotated binlog files, stops where it is told, finds the
// boundary and where it lies, and says when the binlog it is to read is
// gone.
func TestScanForBoundaryAcrossFiles(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{})
	db := testdb.NewDBOn(t, server)
	ctx := context.Background()
	at := func() Position {
		t.Helper()
		p, err := CurrentPosition(ctx, db.SQL, FlavorMariaDB)
		if err != nil {
			t.Fatal(err)
		}
		return p.Position
	}
	from := at()
	db.MustExec(t, "CREATE TABLE other (id int PRIMARY KEY)")
	db.MustExec(t, "ALTER TABLE other ADD COLUMN jetpack_monitor_sites INT")
	for range 3 {
		db.MustExec(t, "FLUSH BINARY LOGS")
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://a.example')")
	}
	before := at()
	db.MustExec(t, "/* later */ ALTER TABLE jetpack_monitor_sites ADD COLUMN note INT")
	db.MustExec(t, "FLUSH BINARY LOGS")
	end := at()

	defer func(page int) { binlogEventsPage = page }(binlogEventsPage)
	for _, page := range []int{10000, 3, 1} {
		binlogEventsPage = page
		scan, err := scanForBoundary(ctx, db.SQL, from, before, db.Name, bridge.Table)
		if err != nil || scan.found || scan.events < 12 {
			t.Fatalf("pages of %d, up to just before the ALTER: %+v, %v; want no boundary among the dozen events of four files", page, scan, err)
		}
		scan, err = scanForBoundary(ctx, db.SQL, from, end, db.Name, bridge.Table)
		// The ALTER's query event follows its GTID event, which starts at before.
		if err != nil || !scan.found || scan.at.File != before.File || scan.at.Pos <= before.Pos || !strings.Contains(scan.statement, "ADD COLUMN note") {
			t.Fatalf("pages of %d, up to the end: %+v, %v; want the ALTER just after %s", page, scan, err, before)
		}
	}
	var err error
	db.MustExec(t, "PURGE BINARY LOGS TO '"+end.File+"'")
	var gone *binlogGoneError
	for {
		// The server keeps a purged file until its binlog checkpoint
		// passes it.
		_, err = scanForBoundary(ctx, db.SQL, from, end, db.Name, bridge.Table)
		if errors.As(err, &gone) {
			break
		}
		if err != nil {
			t.Fatalf("from a purged binlog: %v, want it reported gone", err)
		}
		time.Sleep(50 * time.Millisecond)
		db.MustExec(t, "PURGE BINARY LOGS TO '"+end.File+"'")
	}
}
