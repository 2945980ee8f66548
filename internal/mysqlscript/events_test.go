package mysqlscript

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
)

const testSource = "3e11fa47-71ca-11e1-9e33-c80aa9429562"

// parsed decodes every event of the server's binlog with go-mysql's parser
// (checksums verified), as a replica reading the files would.
func parsed(t *testing.T, s *Server) []*replication.BinlogEvent {
	t.Helper()
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(true)
	p.SetParseTime(true)
	p.SetFlavor(mysql.MySQLFlavor)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*replication.BinlogEvent
	for _, f := range s.files {
		pos := uint32(4)
		for _, e := range f.entries {
			if e.raw == nil {
				continue
			}
			ev, err := p.Parse(e.raw)
			if err != nil {
				t.Fatalf("%s: go-mysql cannot parse the %d-byte event of type %d at %d: %v", f.name, len(e.raw), e.typ, pos, err)
			}
			if ev.Header.LogPos != pos+ev.Header.EventSize || ev.Header.LogPos != e.end {
				t.Fatalf("%s: event %s at %d has log_pos %d and size %d", f.name, ev.Header.EventType, pos, ev.Header.LogPos, ev.Header.EventSize)
			}
			pos = ev.Header.LogPos
			out = append(out, ev)
		}
	}
	return out
}

// TestEventsDecodeAsMySQL8: every event the builder writes decodes with
// go-mysql's parser to what it was given: format description, previous
// GTIDs, GTID (with the transaction's length), BEGIN, table map (MINIMAL
// and FULL metadata), v2 rows of every kind with NULLs and timestamps,
// XID, DDL, XA prepare and commit, rotate.
func TestEventsDecodeAsMySQL8(t *testing.T) {
	for _, checksum := range []bool{true, false} {
		s := Start(t, Options{NoChecksum: !checksum, Purged: testSource + ":1-4"})
		sites := s.Sites()
		at := time.Unix(1_700_000_000, 0).UTC()
		a := SiteRow(bridge.Monitor{SiteID: 7, BlogID: 70, URL: "https://a.example", Active: true, Status: bridge.StatusRunning})
		b := slices.Clone(a)
		b[5], b[6] = uint8(bridge.StatusDown), at
		s.At(at).GTID(testSource, 5).Begin().Insert(sites, a).Update(sites, a, b).Commit()
		s.GTID(testSource, 6).Begin().Delete(sites, b).Commit()
		s.DDL("ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)")
		x := XA("x1")
		full := &Table{Schema: "jetmon_db", Name: "other", FullMetadata: true, Columns: []Column{
			{Name: "id", Type: Long, PrimaryKey: true},
			{Name: "at", Type: Datetime2, Length: 6, Nullable: true},
			{Name: "ts", Type: Timestamp2, Length: 3},
		}}
		s.CreateTable(full)
		frac := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
		s.XAStart(x).Insert(full, Row{int32(-5), frac, frac}, Row{int32(6), nil, frac}).XAEnd(x).XAPrepare(x)
		s.XACommit(x)
		s.Rotate()

		evs := parsed(t, s)
		var types []replication.EventType
		for _, ev := range evs {
			types = append(types, ev.Header.EventType)
		}
		want := []replication.EventType{
			replication.FORMAT_DESCRIPTION_EVENT, replication.PREVIOUS_GTIDS_EVENT,
			replication.GTID_EVENT, replication.QUERY_EVENT, replication.TABLE_MAP_EVENT, replication.WRITE_ROWS_EVENTv2,
			replication.TABLE_MAP_EVENT, replication.UPDATE_ROWS_EVENTv2, replication.XID_EVENT,
			replication.GTID_EVENT, replication.QUERY_EVENT, replication.TABLE_MAP_EVENT, replication.DELETE_ROWS_EVENTv2, replication.XID_EVENT,
			replication.GTID_EVENT, replication.QUERY_EVENT,
			replication.GTID_EVENT, replication.QUERY_EVENT, replication.TABLE_MAP_EVENT, replication.WRITE_ROWS_EVENTv2, replication.QUERY_EVENT, replication.XA_PREPARE_LOG_EVENT,
			replication.GTID_EVENT, replication.QUERY_EVENT,
			replication.ROTATE_EVENT,
			replication.FORMAT_DESCRIPTION_EVENT, replication.PREVIOUS_GTIDS_EVENT,
		}
		if !slices.Equal(types, want) {
			t.Fatalf("event types\n got %v\nwant %v", types, want)
		}

		fde := evs[0].Event.(*replication.FormatDescriptionEvent)
		wantAlg := replication.BINLOG_CHECKSUM_ALG_OFF
		if checksum {
			wantAlg = replication.BINLOG_CHECKSUM_ALG_CRC32
		}
		if fde.Version != 4 || fde.ServerVersion != "8.4.3" || fde.ChecksumAlgorithm != wantAlg || len(fde.EventTypeHeaderLengths) != 42 ||
			fde.EventTypeHeaderLengths[replication.TABLE_MAP_EVENT-1] != 8 || fde.EventTypeHeaderLengths[replication.GTID_EVENT-1] != 42 {
			t.Errorf("format description: %+v", fde)
		}
		if prev := evs[1].Event.(*replication.PreviousGTIDsEvent); prev.GTIDSets != testSource+":1-4" {
			t.Errorf("previous GTIDs %q", prev.GTIDSets)
		}
		g := evs[2].Event.(*replication.GTIDEvent)
		next, _ := g.GTIDNext()
		txnLen := uint64(0)
		for _, ev := range evs[2:9] {
			txnLen += uint64(ev.Header.EventSize)
		}
		if next.String() != testSource+":5" || g.TransactionLength != txnLen || g.LastCommitted != 0 || g.SequenceNumber != 1 ||
			!g.OriginalCommitTime().Equal(at) || g.ImmediateServerVersion != 80403 || evs[2].Header.Timestamp != uint32(at.Unix()) {
			t.Errorf("GTID event: %+v (next %s, transaction length %d)", g, next, txnLen)
		}
		if q := evs[3].Event.(*replication.QueryEvent); string(q.Query) != "BEGIN" {
			t.Errorf("BEGIN: %+v", q)
		}
		tm := evs[4].Event.(*replication.TableMapEvent)
		if string(tm.Schema) != "jetmon_db" || string(tm.Table) != bridge.Table || tm.TableID != sites.ID || tm.ColumnCount != 8 ||
			!bytes.Equal(tm.ColumnType, []byte{8, 8, 2, 15, 1, 1, 17, 1}) || !slices.Equal(tm.ColumnMeta, []uint16{0, 0, 0, 1200, 0, 0, 0, 0}) ||
			!bytes.Equal(tm.NullBitmap, []byte{0x40}) || tm.ColumnName != nil {
			t.Errorf("table map: %+v", tm)
		}
		if u := tm.UnsignedMap(); !u[0] || !u[1] || !u[2] || !u[4] || !u[5] || !u[7] {
			t.Errorf("table map signedness: %v", u)
		}
		ins := evs[5].Event.(*replication.RowsEvent)
		if ins.Flags != 1 || len(ins.Rows) != 1 || ins.Rows[0][0] != int64(7) && ins.Rows[0][0] != uint64(7) {
			t.Errorf("insert: %+v", ins)
		}
		wantRow := func(r []any, status int8, changed any) {
			t.Helper()
			if r[3] != "https://a.example" || r[5] != status && r[5] != uint8(status) {
				t.Errorf("row %v", r)
			}
			switch c := changed.(type) {
			case nil:
				if r[6] != nil {
					t.Errorf("last_status_change %v, want NULL", r[6])
				}
			case time.Time:
				if tt, ok := r[6].(time.Time); !ok || !tt.Equal(c) {
					t.Errorf("last_status_change %v, want %v", r[6], c)
				}
			}
		}
		wantRow(ins.Rows[0], 1, nil)
		upd := evs[7].Event.(*replication.RowsEvent)
		if len(upd.Rows) != 2 {
			t.Fatalf("update rows: %v", upd.Rows)
		}
		wantRow(upd.Rows[0], 1, nil)
		wantRow(upd.Rows[1], 0, at)
		if x := evs[8].Event.(*replication.XIDEvent); x.XID == 0 {
			t.Errorf("xid: %+v", x)
		}
		if del := evs[12].Event.(*replication.RowsEvent); len(del.Rows) != 1 {
			t.Errorf("delete: %+v", del)
		} else {
			wantRow(del.Rows[0], 0, at)
		}
		ddlG := evs[14].Event.(*replication.GTIDEvent)
		ddl := evs[15].Event.(*replication.QueryEvent)
		if ddlG.CommitFlag != 1 || string(ddl.Schema) != "jetmon_db" || string(ddl.Query) != "ALTER TABLE jetpack_monitor_sites ADD COLUMN note varchar(10)" {
			t.Errorf("DDL: %+v %+v", ddlG, ddl)
		}
		if next, _ := ddlG.GTIDNext(); next.String() != s.UUID()+":1" {
			t.Errorf("DDL GTID %s, want the server's own first", next)
		}
		if q := evs[17].Event.(*replication.QueryEvent); string(q.Query) != "XA START X'7831',X'',1" {
			t.Errorf("XA START: %q", q.Query)
		}
		ftm := evs[18].Event.(*replication.TableMapEvent)
		if !slices.Equal(ftm.ColumnNameString(), []string{"id", "at", "ts"}) || !slices.Equal(ftm.PrimaryKey, []uint64{0}) {
			t.Errorf("FULL table map: names %v, primary key %v", ftm.ColumnNameString(), ftm.PrimaryKey)
		}
		xaRows := evs[19].Event.(*replication.RowsEvent)
		if len(xaRows.Rows) != 2 || xaRows.Rows[0][0] != int32(-5) || xaRows.Rows[1][1] != nil {
			t.Errorf("XA rows: %v", xaRows.Rows)
		} else {
			for i, want := range []time.Time{frac, frac.Truncate(time.Millisecond)} { // DATETIME(6), TIMESTAMP(3)
				if tt, ok := xaRows.Rows[0][1+i].(time.Time); !ok || !tt.Equal(want) {
					t.Errorf("fractional time %v, want %v", xaRows.Rows[0][1+i], want)
				}
			}
		}
		// go-mysql keeps XA_PREPARE_LOG_EVENT undecoded: one phase (1),
		// format id, gtrid and bqual lengths (4 each), gtrid, bqual.
		prep := evs[21].Event.(*replication.GenericEvent)
		if want := []byte{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'x', '1'}; !bytes.Equal(prep.Data, want) {
			t.Errorf("XA prepare body %v, want %v", prep.Data, want)
		}
		if q := evs[23].Event.(*replication.QueryEvent); string(q.Query) != "XA COMMIT X'7831',X'',1" {
			t.Errorf("XA COMMIT: %q", q.Query)
		}
		rot := evs[24].Event.(*replication.RotateEvent)
		if string(rot.NextLogName) != "binlog.000002" || rot.Position != 4 {
			t.Errorf("rotate: %+v", rot)
		}
		wantSet := testSource + ":1-6," + s.UUID() + ":1-3"
		if got, _ := mysql.ParseMysqlGTIDSet(evs[26].Event.(*replication.PreviousGTIDsEvent).GTIDSets); got.String() != mustSet(t, wantSet) {
			t.Errorf("second file's previous GTIDs %s, want %s", got, wantSet)
		}
	}
}

func mustSet(t *testing.T, s string) string {
	t.Helper()
	g, err := mysql.ParseMysqlGTIDSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return g.String()
}

// TestHeartbeatsDecode: heartbeats v1 (file in the body, position in the
// header) and v2 (both in the body) decode with go-mysql.
func TestHeartbeatsDecode(t *testing.T) {
	p := replication.NewBinlogParser()
	p.SetVerifyChecksum(true)
	enc := encoder{serverID: 1, checksum: true}
	fde := formatDescriptionBody("8.4.3", 0, true)
	if _, err := p.Parse(enc.event(typeFormatDesc, time.Now(), 4+enc.eventSize(len(fde)), 0, fde)); err != nil {
		t.Fatal(err)
	}
	v1, err := p.Parse(frame(typeHeartbeat, 1, time.Time{}, 1234, 0, []byte("binlog.000007"), true))
	if err != nil {
		t.Fatal(err)
	}
	if hb := v1.Event.(*replication.HeartbeatEvent); hb.Version != 1 || hb.Filename != "binlog.000007" || v1.Header.LogPos != 1234 {
		t.Errorf("v1: %+v %+v", hb, v1.Header)
	}
	for _, pos := range []uint64{1234, 70000, 5 << 30} {
		v2, err := p.Parse(frame(typeHeartbeatV2, 1, time.Time{}, 0, 0, heartbeatV2Body("binlog.000007", pos), true))
		if err != nil {
			t.Fatal(err)
		}
		if hb := v2.Event.(*replication.HeartbeatEvent); hb.Version != 2 || hb.Filename != "binlog.000007" || hb.Offset != pos {
			t.Errorf("v2 at %d: %+v", pos, hb)
		}
	}
}

// TestFormatDescriptionByVersion: MySQL 8.0 writes 41 post-header lengths
// (v1 rows events still 8), 8.4 writes 42; an 8.0 binlog's first event
// ends at 126, as mysqlbinlog shows it.
func TestFormatDescriptionByVersion(t *testing.T) {
	v80 := postHeaderLengths("8.0.36")
	v84 := postHeaderLengths("8.4.3")
	if len(v80) != 41 || len(v84) != 42 || v80[replication.WRITE_ROWS_EVENTv1-1] != 8 || v84[replication.WRITE_ROWS_EVENTv1-1] != 0 ||
		v80[replication.FORMAT_DESCRIPTION_EVENT-1] != 98 || v84[replication.FORMAT_DESCRIPTION_EVENT-1] != 99 {
		t.Fatalf("8.0: %v\n8.4: %v", v80, v84)
	}
	if n := 4 + (encoder{checksum: true}).eventSize(len(formatDescriptionBody("8.0.36", 0, true))); n != 126 {
		t.Errorf("8.0's format description ends at %d, want 126", n)
	}
}

func TestGTIDSetEncoding(t *testing.T) {
	set, err := parseGTIDSet(testSource + ":1-5:7," + testSource + ":6, 4e11fa47-71ca-11e1-9e33-c80aa9429562:3")
	if err != nil {
		t.Fatal(err)
	}
	if set.String() != testSource+":1-7,4e11fa47-71ca-11e1-9e33-c80aa9429562:3" {
		t.Fatalf("parsed %s", set)
	}
	g, err := mysql.DecodeMysqlGTIDSet(previousGTIDsBody(set))
	if err != nil || g.String() != set.String() {
		t.Fatalf("go-mysql decodes %v (%v), want %s", g, err, set)
	}
	back, err := decodeGTIDSet(g.Encode())
	if err != nil || back.String() != set.String() {
		t.Fatalf("decoded %v (%v)", back, err)
	}
	u := uuid.MustParse(testSource)
	if !set.contains(u, 7) || set.contains(u, 8) || !set.containsSet(back) || back.minus(set).String() != "" {
		t.Fatal("set operations")
	}
	if n := binary.LittleEndian.Uint64(previousGTIDsBody(gtidSet{})); n != 0 {
		t.Fatal("empty set")
	}
}
