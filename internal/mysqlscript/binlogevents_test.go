package mysqlscript

import (
	"context"
	"errors"
	"strconv"
	"testing"

	driver "github.com/go-sql-driver/mysql"
)

// TestShowBinlogEvents: SHOW BINLOG EVENTS lists the binlog a test wrote
// as MySQL does, page by page, with a query event's statement and default
// database in Info, and refuses a purged file with error 1220.
func TestShowBinlogEvents(t *testing.T) {
	s := Start(t, Options{})
	s.DDL("ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)")
	first := s.files[0].name
	s.Rotate()
	db := open(t, s)
	type event struct {
		file, typ, info string
		pos, end        uint64
	}
	read := func(q string) ([]event, error) {
		rows, err := db.QueryContext(context.Background(), q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []event
		for rows.Next() {
			var e event
			var server uint64
			if err := rows.Scan(&e.file, &e.pos, &e.typ, &server, &e.end, &e.info); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, rows.Err()
	}
	all, err := read("SHOW BINLOG EVENTS IN '" + first + "'")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range all {
		types = append(types, e.typ)
	}
	if len(all) != 5 || all[0].pos != 4 || all[3].typ != "Query" || all[3].info != "use `"+s.opts.Database+"`; ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)" || all[4].typ != "Rotate" {
		t.Fatalf("events %v: %+v", types, all)
	}
	page, err := read("SHOW BINLOG EVENTS IN '" + first + "' FROM " + strconv.FormatUint(all[1].end, 10) + " LIMIT 2")
	if err != nil || len(page) != 2 || page[0] != all[2] || page[1] != all[3] {
		t.Fatalf("a page from %d: %+v, %v; want %+v", all[1].end, page, err, all[2:4])
	}
	s.Purge(s.files[len(s.files)-1].name)
	var me *driver.MySQLError
	if _, err := read("SHOW BINLOG EVENTS IN '" + first + "' FROM 4 LIMIT 10"); !errors.As(err, &me) || me.Number != 1220 {
		t.Fatalf("a purged file: %v, want error 1220", err)
	}
}
