package binlog

import (
	"context"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestPositionCompare(t *testing.T) {
	a := Position{"binlog.000002", 100}
	for _, c := range []struct {
		b    Position
		want int
	}{
		{Position{"binlog.000002", 100}, 0},
		{Position{"binlog.000002", 99}, 1},
		{Position{"binlog.000002", 4000}, -1},
		{Position{"binlog.000001", 9999}, 1},
		{Position{"binlog.000010", 4}, -1},
	} {
		if got := a.Compare(c.b); got != c.want {
			t.Errorf("%v vs %v = %d, want %d", a, c.b, got, c.want)
		}
	}
}

// MySQL 8.2 renamed SHOW MASTER STATUS; on a server that does not know the
// new statement the follower falls back to the old one. MariaDB is such a
// server, so asking it as if it were MySQL exercises the fallback.
func TestCurrentPositionFallsBackToShowMasterStatus(t *testing.T) {
	db := testdb.NewDB(t)
	ctx := context.Background()
	asMariaDB, err := CurrentPosition(ctx, db.SQL, FlavorMariaDB)
	if err != nil {
		t.Fatal(err)
	}
	asMySQL, err := CurrentPosition(ctx, db.SQL, FlavorMySQL)
	if err != nil {
		t.Fatal(err)
	}
	if asMySQL.Position != asMariaDB.Position || asMySQL.File == "" {
		t.Fatalf("mysql path %v, mariadb path %v", asMySQL, asMariaDB)
	}
	if asMariaDB.GTIDSet == "" {
		t.Error("MariaDB's gtid_binlog_pos was not read")
	}
}

// The checkpoint keeps GTID sets as text: each flavor's text must parse back
// into the set go-mysql resumes from.
func TestGTIDSetsRoundTrip(t *testing.T) {
	for flavor, set := range map[string]string{
		"mysql":   "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,4e11fa47-71ca-11e1-9e33-c80aa9429562:1",
		"mariadb": "0-1-186,1-2-7",
	} {
		g, err := mysql.ParseGTIDSet(flavor, set)
		if err != nil {
			t.Fatalf("%s: %v", flavor, err)
		}
		back, err := mysql.ParseGTIDSet(flavor, g.String())
		if err != nil || !back.Equal(g) {
			t.Errorf("%s: %q round-trips to %q (%v)", flavor, set, g.String(), err)
		}
	}
}

func TestPreflightDetectsMariaDBAndGTIDs(t *testing.T) {
	db := testdb.NewDB(t)
	info, err := Preflight(context.Background(), db.SQL)
	if err != nil {
		t.Fatal(err)
	}
	if info.Flavor != FlavorMariaDB || !info.GTID || info.RowImage != "FULL" {
		t.Errorf("%+v", info)
	}
}
