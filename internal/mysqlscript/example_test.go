package mysqlscript_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/mysqlscript"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// TestExampleComposeAStream is the package's example: a test composes a
// MySQL 8 binlog with the builder (a GTID transaction updating a row, a
// heartbeat placed in the stream, an XA transaction prepared then
// committed, a pause) and a client (here go-mysql's BinlogSyncer, as the
// follower uses it) reads it as MySQL would send it.
func TestExampleComposeAStream(t *testing.T) {
	const source = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	s := mysqlscript.Start(t, mysqlscript.Options{})
	sites := s.Sites()
	before := mysqlscript.SiteRow(bridge.Monitor{SiteID: 1, BlogID: 11, URL: "https://a.example", Active: true, Status: bridge.StatusRunning})
	after := slices.Clone(before)
	after[5], after[6] = uint8(bridge.StatusDown), time.Unix(1_700_000_000, 0) // site_status, last_status_change

	s.GTID(source, 1).Begin().Update(sites, before, after).Commit()
	s.Heartbeat()
	x := mysqlscript.XA("x1")
	s.XAStart(x).Update(sites, after, before).XAEnd(x).XAPrepare(x)
	s.XACommit(x)
	p := s.Pause()
	s.DDL("ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)")

	host, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	sy := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 99, Flavor: mysql.MySQLFlavor, Host: host, Port: uint16(n), User: "bridge", Password: "secret", Logger: slog.New(slog.DiscardHandler),
	})
	defer sy.Close()
	st, err := sy.StartSync(mysql.Position{Name: "binlog.000001", Pos: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	read := func(k int) {
		for range k {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			ev, err := st.GetEvent(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(ev.Header.EventType.String(), "Event")
			if q, ok := ev.Event.(*replication.QueryEvent); ok {
				name = fmt.Sprintf("Query(%s)", q.Query)
			}
			got = append(got, name)
		}
	}
	read(17)
	<-p.Reached() // the stream stops before the DDL until released
	p.Release()
	read(2)
	want := []string{
		"Rotate", "FormatDescription", "PreviousGTIDs", // what a dump sends before each file's events
		"GTID", "Query(BEGIN)", "TableMap", "UpdateRowsEventV2", "XID",
		"Heartbeat",
		"GTID", "Query(XA START X'7831',X'',1)", "TableMap", "UpdateRowsEventV2", "Query(XA END X'7831',X'',1)", "XAPrepareLog",
		"GTID", "Query(XA COMMIT X'7831',X'',1)",
		"GTID", "Query(ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10))",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stream\n got %q\nwant %q", got, want)
	}
}
