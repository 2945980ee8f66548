package binlog

import (
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestColumnTypesAndRowFormats follows a jetpack_monitor_sites of unusual
// but possible column types, among columns of other types, through two
// ALTER TABLEs (a column added FIRST, last_status_change changing type), on
// servers logging row metadata FULL with binlog_row_image=NOBLOB (a BLOB
// column left out of the images) and MINIMAL with compressed row events:
// every transition is journaled at the time the row says.
func TestColumnTypesAndRowFormats(t *testing.T) {
	for _, tc := range []struct {
		name, urlType string
		args          []string
	}{
		{"full metadata, noblob images", "VARCHAR(300)", []string{"--binlog-row-metadata=FULL", "--binlog-row-image=NOBLOB"}},
		{"minimal metadata, compressed events", "TEXT", []string{"--binlog-row-metadata=MINIMAL", "--log-bin-compress=ON", "--log-bin-compress-min-len=10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testdb.NewDBOn(t, testdb.Dedicated(t, testdb.Options{Args: tc.args}))
			db.SQL.SetMaxOpenConns(1) // the session time zone below holds for every statement
			db.MustExec(t, "SET time_zone='+00:00'")
			db.MustExec(t, "DROP TABLE jetpack_monitor_sites")
			db.MustExec(t, "CREATE TABLE jetpack_monitor_sites (\n"+
				"  jetpack_monitor_site_id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"+
				"  notes BLOB NULL,\n"+
				"  price DECIMAL(10,2) NOT NULL DEFAULT 1.50,\n"+
				"  blog_id BIGINT NOT NULL,\n"+
				"  flags BIT(5) NOT NULL DEFAULT b'101',\n"+
				"  monitor_url "+tc.urlType+" NOT NULL,\n"+
				"  kind ENUM('a','b') NOT NULL DEFAULT 'b',\n"+
				"  monitor_active BOOL NOT NULL DEFAULT 1,\n"+
				"  site_status SMALLINT UNSIGNED NOT NULL DEFAULT 1,\n"+
				"  born DATE NULL,\n"+
				"  last_status_change TIMESTAMP(3) NULL DEFAULT NULL,\n"+
				"  doc JSON NULL,\n"+
				"  checked DATETIME(6) NULL\n"+
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
			db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, monitor_url, notes, born, doc) VALUES "+
				"(41, 'https://a.example', 'x', '2020-02-02', '{\"a\":1}'), (42, 'https://b.example', NULL, NULL, NULL)")
			r := newRig(t, db)
			r.start()

			upd := "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=?, checked=NOW(6) WHERE blog_id=?"
			db.MustExec(t, upd, 0, "2023-11-14 22:13:20.250", 41)
			db.MustExec(t, "UPDATE jetpack_monitor_sites SET notes=REPEAT('n', 5000) WHERE blog_id=41") // not a transition
			db.MustExec(t, "ALTER TABLE jetpack_monitor_sites ADD COLUMN first_col INT NOT NULL DEFAULT 7 FIRST")
			db.MustExec(t, upd, 2, "2023-11-14 22:14:20.999", 41)
			db.MustExec(t, "ALTER TABLE jetpack_monitor_sites MODIFY last_status_change DATETIME NULL")
			db.MustExec(t, upd, 1, "2023-11-14 22:15:20", 41)
			db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=NULL WHERE blog_id=42")

			evs := r.events(41, 3)
			want := []struct {
				old, new uint8
				at       int64
			}{{1, 0, 1700000000}, {0, 2, 1700000060}, {2, 1, 1700000120}}
			if len(evs) != len(want) {
				t.Fatalf("blog 41: %d events, want %d: %+v", len(evs), len(want), evs)
			}
			for i, w := range want {
				e := evs[i]
				if uint8(e.OldStatus) != w.old || uint8(e.NewStatus) != w.new || e.CreatedAt.Unix() != w.at {
					t.Errorf("blog 41 event %d = %+v, want %d -> %d at %s", i, e, w.old, w.new, time.Unix(w.at, 0).UTC())
				}
			}
			// A NULL last_status_change: the event takes the binlog's time.
			if evs := r.events(42, 1); len(evs) != 1 || evs[0].NewStatus != 0 || time.Since(evs[0].CreatedAt) > time.Hour {
				t.Fatalf("blog 42: %+v", evs)
			}
		})
	}
}
