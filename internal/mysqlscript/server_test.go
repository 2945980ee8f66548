package mysqlscript

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	driver "github.com/go-sql-driver/mysql"
)

func open(t *testing.T, s *Server) *sql.DB {
	t.Helper()
	cfg, err := driver.ParseDSN(s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDriverSpeaksToIt: go-sql-driver logs in with either password
// plugin and reads the answers the bridge relies on, by text and by
// prepared statements, with NULLs and times.
func TestDriverSpeaksToIt(t *testing.T) {
	for _, sha2 := range []bool{false, true} {
		s := Start(t, Options{CachingSHA2: sha2})
		db := open(t, s)
		ctx := context.Background()
		var version string
		if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil || version != "8.4.3" {
			t.Fatalf("caching_sha2=%v: VERSION() = %q, %v", sha2, version, err)
		}
		var id uint32
		var u string
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.server_id, @@GLOBAL.server_uuid").Scan(&id, &u); err != nil || id != 1 || u != s.UUID() {
			t.Fatalf("identity %d %q: %v", id, u, err)
		}
		var unknown string
		var me *driver.MySQLError
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&unknown); !errors.As(err, &me) || me.Number != 1193 {
			t.Fatalf("a MariaDB variable: %v, want error 1193", err)
		}
		if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&unknown); !errors.As(err, &me) || me.Number != 1064 {
			t.Fatalf("SHOW MASTER STATUS on 8.4: %v, want a syntax error", err)
		}
		sites := s.Sites()
		at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		s.SetRows(sites, SiteRow(bridge.Monitor{SiteID: 1, BlogID: 10, URL: "https://a.example", Active: true, Status: 1}))
		s.Begin().Insert(sites, SiteRow(bridge.Monitor{SiteID: 2, BlogID: 20, URL: "https://b.example", Status: 2, LastStatusChange: at})).Commit()
		var file, doDB, ignoreDB, executed string
		var pos uint64
		if err := db.QueryRowContext(ctx, "SHOW BINARY LOG STATUS").Scan(&file, &pos, &doDB, &ignoreDB, &executed); err != nil {
			t.Fatal(err)
		}
		if wantFile, wantPos := s.end(); file != wantFile || pos != uint64(wantPos) || executed != s.UUID()+":1" {
			t.Fatalf("binlog status %s:%d %q, want %s:%d", file, pos, executed, wantFile, wantPos)
		}
		rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", "jetmon_db", bridge.Table)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var c string
			rows.Scan(&c)
			cols = append(cols, c)
		}
		rows.Close()
		if len(cols) != 8 || cols[5] != "site_status" {
			t.Fatalf("columns %v", cols)
		}
		rows, err = db.QueryContext(ctx, "SELECT jetpack_monitor_site_id, blog_id, monitor_url, monitor_active, site_status, last_status_change FROM jetpack_monitor_sites WHERE jetpack_monitor_site_id > ? ORDER BY jetpack_monitor_site_id LIMIT 5000", 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []bridge.Monitor
		for rows.Next() {
			var m bridge.Monitor
			var active, status uint8
			var changed sql.NullTime
			if err := rows.Scan(&m.SiteID, &m.BlogID, &m.URL, &active, &status, &changed); err != nil {
				t.Fatal(err)
			}
			m.Active, m.Status, m.LastStatusChange = active != 0, bridge.Status(status), changed.Time
			got = append(got, m)
		}
		rows.Close()
		if len(got) != 2 || got[0].SiteID != 1 || !got[0].Active || !got[0].LastStatusChange.IsZero() ||
			got[1].BlogID != 20 || got[1].Status != 2 || !got[1].LastStatusChange.Equal(at) {
			t.Fatalf("snapshot rows %+v", got)
		}
		s.AnswerRows(`^SHOW REPLICA STATUS$`, OneRow("Replica_IO_Running", "Yes", "Seconds_Behind_Source", int64(0)))
		var io string
		var lag int64
		if err := db.QueryRowContext(ctx, "SHOW REPLICA STATUS").Scan(&io, &lag); err != nil || io != "Yes" {
			t.Fatalf("scripted replica status %q %d: %v", io, lag, err)
		}
	}
}

// syncer is a go-mysql BinlogSyncer on s with a heartbeat period.
func syncer(t *testing.T, s *Server, hb time.Duration) *replication.BinlogSyncer {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	sy := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 99, Flavor: mysql.MySQLFlavor, Host: host, Port: uint16(p), User: "bridge", Password: "secret",
		HeartbeatPeriod: hb, ParseTime: true, DisableRetrySync: true, Logger: slog.New(slog.DiscardHandler),
	})
	t.Cleanup(sy.Close)
	return sy
}

// next reads the next event of a stream, failing after a while.
func next(t *testing.T, st *replication.BinlogStreamer) *replication.BinlogEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := st.GetEvent(ctx)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return ev
}

// TestGTIDDumpSkipsWithHeartbeats is MySQL's dump thread on a GTID resume:
// the transactions the client has are skipped, a pause inside the skip
// sends heartbeats at the skipped-to position, a heartbeat precedes the
// first event sent after the skip, and an idle stream gets a heartbeat
// every period at the binlog's end.
func TestGTIDDumpSkipsWithHeartbeats(t *testing.T) {
	s := Start(t, Options{})
	sites := s.Sites()
	row := SiteRow(bridge.Monitor{SiteID: 1, BlogID: 10, URL: "https://a.example", Active: true, Status: 1})
	s.GTID(testSource, 1).Begin().Insert(sites, row).Commit()
	s.GTID(testSource, 2).Begin().Delete(sites, row).Commit()
	skippedTo := func() uint32 { s.mu.Lock(); defer s.mu.Unlock(); _, p := s.end(); return p }()
	p := s.Pause()
	s.GTID(testSource, 3).Begin().Insert(sites, row).Commit()

	have, _ := mysql.ParseMysqlGTIDSet(testSource + ":1-2")
	st, err := syncer(t, s, 20*time.Millisecond).StartSyncGTID(have)
	if err != nil {
		t.Fatal(err)
	}
	if rot := next(t, st); rot.Header.EventType != replication.ROTATE_EVENT || rot.Header.Flags&flagArtificial == 0 || rot.Header.LogPos != 0 {
		t.Fatalf("first event %v %+v, want the fake rotate", rot.Header.EventType, rot.Header)
	}
	if fde := next(t, st); fde.Header.EventType != replication.FORMAT_DESCRIPTION_EVENT || fde.Event.(*replication.FormatDescriptionEvent).CreateTimestamp != 0 {
		t.Fatalf("then %v, want the format description with its creation time cleared (the file's first transaction is skipped)", fde.Header.EventType)
	}
	if prev := next(t, st); prev.Header.EventType != replication.PREVIOUS_GTIDS_EVENT {
		t.Fatalf("then %v", prev.Header.EventType)
	}
	<-p.Reached()
	for range 3 {
		hb := next(t, st)
		if h, ok := hb.Event.(*replication.HeartbeatEvent); !ok || h.Filename != "binlog.000001" || hb.Header.LogPos != skippedTo {
			t.Fatalf("while paused in a skip: %v %+v, want heartbeats at binlog.000001:%d", hb.Header.EventType, hb.Event, skippedTo)
		}
	}
	p.Release()
	for {
		ev := next(t, st)
		if ev.Header.EventType == replication.HEARTBEAT_EVENT && ev.Header.LogPos == skippedTo {
			continue // more of the pause's, and the one before the first event
		}
		g, ok := ev.Event.(*replication.GTIDEvent)
		if !ok {
			t.Fatalf("after the skip: %v, want the GTID of transaction 3", ev.Header.EventType)
		}
		if n, _ := g.GTIDNext(); n.String() != testSource+":3" {
			t.Fatalf("first transaction sent: %s", n)
		}
		break
	}
	var types []replication.EventType
	for range 4 {
		types = append(types, next(t, st).Header.EventType)
	}
	if want := []replication.EventType{replication.QUERY_EVENT, replication.TABLE_MAP_EVENT, replication.WRITE_ROWS_EVENTv2, replication.XID_EVENT}; !slices.Equal(types, want) {
		t.Fatalf("transaction 3: %v", types)
	}
	file, end := func() (string, uint32) { s.mu.Lock(); defer s.mu.Unlock(); return s.end() }()
	if hb := next(t, st); hb.Header.EventType != replication.HEARTBEAT_EVENT || hb.Header.LogPos != end || hb.Event.(*replication.HeartbeatEvent).Filename != file {
		t.Fatalf("idle: %v %+v, want a heartbeat at %s:%d", hb.Header.EventType, hb.Header, file, end)
	}
	if n := s.Count(`^COM_BINLOG_DUMP_GTID ` + testSource + `:1-2$`); n != 1 {
		t.Fatalf("dump requests logged: %v", s.Statements())
	}
}

// TestPositionDumpAcrossFiles: a dump by position mid-file gets the format
// description with log_pos 0, the events from the position, and follows a
// rotation into the next file; v2 heartbeats when asked for.
func TestPositionDumpAcrossFiles(t *testing.T) {
	s := Start(t, Options{HeartbeatV2: true})
	sites := s.Sites()
	row := SiteRow(bridge.Monitor{SiteID: 1, BlogID: 10, URL: "https://a.example", Active: true, Status: 1})
	s.Begin().Insert(sites, row).Commit()
	from := func() uint32 { s.mu.Lock(); defer s.mu.Unlock(); _, p := s.end(); return p }()
	s.Begin().Delete(sites, row).Commit()
	s.Rotate()
	s.Begin().Insert(sites, row).Commit()
	st, err := syncer(t, s, 20*time.Millisecond).StartSync(mysql.Position{Name: "binlog.000001", Pos: from})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		ev := next(t, st)
		if hb, ok := ev.Event.(*replication.HeartbeatEvent); ok {
			file, end := func() (string, uint32) { s.mu.Lock(); defer s.mu.Unlock(); return s.end() }()
			if hb.Version != 2 || hb.Filename != file || hb.Offset != uint64(end) {
				t.Fatalf("heartbeat %+v, want v2 at %s:%d", hb, file, end)
			}
			break
		}
		if ev.Header.EventType == replication.FORMAT_DESCRIPTION_EVENT && len(seen) == 1 && ev.Header.LogPos != 0 {
			t.Fatalf("format description of a dump started mid-file has log_pos %d", ev.Header.LogPos)
		}
		seen = append(seen, ev.Header.EventType.String())
	}
	want := []string{"RotateEvent", "FormatDescriptionEvent", "GTIDEvent", "QueryEvent", "TableMapEvent", "DeleteRowsEventV2", "XIDEvent", "RotateEvent",
		"RotateEvent", "FormatDescriptionEvent", "PreviousGTIDsEvent", "GTIDEvent", "QueryEvent", "TableMapEvent", "WriteRowsEventV2", "XIDEvent"}
	if !slices.Equal(seen, want) {
		t.Fatalf("stream\n got %v\nwant %v", seen, want)
	}
}

// TestDumpErrorsAre1236: what a source cannot serve ends the dump with
// error 1236, the code the follower turns into a recorded gap.
func TestDumpErrorsAre1236(t *testing.T) {
	s := Start(t, Options{})
	sites := s.Sites()
	row := SiteRow(bridge.Monitor{SiteID: 1, BlogID: 10, URL: "https://a.example", Active: true, Status: 1})
	s.GTID(testSource, 1).Begin().Insert(sites, row).Commit()
	s.Rotate()
	s.GTID(testSource, 2).Begin().Delete(sites, row).Commit()
	s.Purge("binlog.000002")
	for _, c := range []struct {
		name  string
		start func(*replication.BinlogSyncer) (*replication.BinlogStreamer, error)
	}{
		{"purged GTIDs", func(sy *replication.BinlogSyncer) (*replication.BinlogStreamer, error) {
			set, _ := mysql.ParseMysqlGTIDSet("")
			return sy.StartSyncGTID(set)
		}},
		{"purged file", func(sy *replication.BinlogSyncer) (*replication.BinlogStreamer, error) {
			return sy.StartSync(mysql.Position{Name: "binlog.000001", Pos: 4})
		}},
	} {
		st, err := c.start(syncer(t, s, time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err = st.GetEvent(ctx)
			cancel()
		}
		var me *mysql.MyError
		if !errors.As(err, &me) || me.Code != mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
			t.Errorf("%s: %v, want error 1236", c.name, err)
		}
	}
}
