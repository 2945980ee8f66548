package binlog

import (
	"context"
	"database/sql"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// TestMariaDBHeartbeatsComeFromTheBinlogEnd: MariaDB sends a heartbeat
// only while it waits at the end of its binlog, at the position it waits
// at; a GTID resume that skips the transactions the client has sends none
// on the way. The heartbeat rule (heartbeat.go) relies on it: on MariaDB a
// heartbeat's position is at or past every binlog end read before the dump
// started, so heartbeats go on confirming, as on an idle MySQL.
func TestMariaDBHeartbeatsComeFromTheBinlogEnd(t *testing.T) {
	db := testdb.NewDB(t)
	conn, err := sql.Open("mysql", db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	var from string
	if err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&from); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // what the resumed dump skips
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, 'https://a.example')", 500+i)
	}
	var skipped string
	if err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&skipped); err != nil {
		t.Fatal(err)
	}
	before, err := CurrentPosition(ctx, conn, FlavorMariaDB)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(db.Server.Addr())
	p, _ := strconv.Atoi(port)
	sy := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4243, Flavor: mysql.MariaDBFlavor, Host: host, Port: uint16(p), User: "root", Logger: slog.New(slog.DiscardHandler),
		HeartbeatPeriod: 50 * time.Millisecond, DisableRetrySync: true,
	})
	defer sy.Close()
	set, err := mysql.ParseMariadbGTIDSet(skipped)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sy.StartSyncGTID(set)
	if err != nil {
		t.Fatal(err)
	}
	for beats := 0; beats < 3; {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ev, err := st.GetEvent(rctx)
		cancel()
		if err != nil {
			t.Fatalf("stream resumed from %s (skipping from %s): %v", skipped, from, err)
		}
		if _, ok := ev.Event.(*replication.HeartbeatEvent); !ok {
			continue
		}
		beats++
		at, ok := heartbeatPosition(ev)
		if !ok || at.Compare(before.Position) < 0 {
			t.Fatalf("heartbeat %d at %v (%v), before the binlog end %s read before the dump started", beats, at, ok, before.Position)
		}
		after, err := CurrentPosition(ctx, conn, FlavorMariaDB)
		if err != nil {
			t.Fatal(err)
		}
		if at.Compare(after.Position) > 0 {
			t.Fatalf("heartbeat at %s, past the binlog end %s", at, after.Position)
		}
	}
}
