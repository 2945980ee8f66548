package binlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	driver "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
)

// No MySQL server installs here, so MySQL's XA shapes are fed to the
// applier as the go-mysql event values its stream would carry: GTID, "XA
// START xid", rows, "XA END xid", XA_PREPARE_LOG_EVENT; then GTID, "XA
// COMMIT xid" or "XA ROLLBACK xid"; one phase, XA_PREPARE_LOG_EVENT marked
// so. The rows events are real wire bytes of Jetmon's table parsed by
// go-mysql as the follower parses them. MariaDB's shapes are tested on a
// real chain (TestXATransactions).

var sourceUUID = uuid.MustParse("3e11fa47-71ca-11e1-9e33-c80aa9429562")

// jetmonLayout is Jetmon 1's table (bridge.Schema) as its table map shows
// it.
var jetmonLayout = genLayout{metadata: 1, cols: []genColumn{
	{name: "jetpack_monitor_site_id", tp: mysql.MYSQL_TYPE_LONGLONG, unsigned: true},
	{name: "blog_id", tp: mysql.MYSQL_TYPE_LONGLONG, unsigned: true},
	{name: "bucket_no", tp: mysql.MYSQL_TYPE_SHORT, unsigned: true},
	{name: "monitor_url", tp: mysql.MYSQL_TYPE_VARCHAR, meta: 1200},
	{name: "monitor_active", tp: mysql.MYSQL_TYPE_TINY, unsigned: true},
	{name: "site_status", tp: mysql.MYSQL_TYPE_TINY, unsigned: true},
	{name: "last_status_change", tp: mysql.MYSQL_TYPE_TIMESTAMP2},
	{name: "check_interval", tp: mysql.MYSQL_TYPE_TINY, unsigned: true},
}}

// mysqlStream builds the events of a MySQL binlog for an applier.
type mysqlStream struct {
	t      *testing.T
	parser *replication.BinlogParser
	pos    uint32
	gno    int64
	at     time.Time
}

func newMySQLStream(t *testing.T) *mysqlStream {
	s := &mysqlStream{t: t, parser: replication.NewBinlogParser(), pos: 4, at: time.Unix(1_700_000_000, 0).UTC()}
	s.parser.SetParseTime(true)
	s.parser.SetFlavor("mysql")
	s.parser.SetRowsEventDecodeFunc(deferRows(genSchema, bridge.Table))
	if _, err := s.parser.Parse(formatDescription()); err != nil {
		t.Fatal(err)
	}
	return s
}

// event wraps e in a header at the stream's next position and time.
func (s *mysqlStream) event(tp replication.EventType, e replication.Event) *replication.BinlogEvent {
	s.pos += 100
	return &replication.BinlogEvent{Header: &replication.EventHeader{Timestamp: uint32(s.at.Unix()), EventType: tp, LogPos: s.pos, EventSize: 100}, Event: e}
}

// gtidSet is the executed set after the stream's last GTID.
func (s *mysqlStream) gtidSet() mysql.GTIDSet {
	set, err := mysql.ParseMysqlGTIDSet(fmt.Sprintf("%s:1-%d", sourceUUID, s.gno))
	if err != nil {
		s.t.Fatal(err)
	}
	return set
}

func (s *mysqlStream) gtid() *replication.BinlogEvent {
	s.gno++
	return s.event(replication.GTID_EVENT, &replication.GTIDEvent{SID: sourceUUID[:], GNO: s.gno})
}

func (s *mysqlStream) query(q string) *replication.BinlogEvent {
	return s.event(replication.QUERY_EVENT, &replication.QueryEvent{Query: []byte(q), Schema: []byte(genSchema), GSet: s.gtidSet()})
}

// update is an UPDATE_ROWS_EVENTv2 of the pairs of images given.
func (s *mysqlStream) update(images ...bridge.Monitor) *replication.BinlogEvent {
	b := []byte{7, 0, 0, 0, 0, 0, 1, 0, 2, 0, 8, 0xFF, 0xFF}
	for _, m := range images {
		b = append(b, 0) // no NULLs
		b = binary.LittleEndian.AppendUint64(b, m.SiteID)
		b = binary.LittleEndian.AppendUint64(b, m.BlogID)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(m.URL)))
		b = append(b, m.URL...)
		b = append(b, map[bool]byte{false: 0, true: 1}[m.Active], byte(m.Status))
		b = binary.BigEndian.AppendUint32(b, uint32(m.LastStatusChange.Unix()))
		b = append(b, 5)
	}
	// A table map precedes every rows event (go-mysql forgets it at the
	// end of a statement).
	if _, err := s.parser.Parse(jetmonLayout.tableMap(bridge.Table)); err != nil {
		s.t.Fatal(err)
	}
	ev, err := s.parser.Parse(header(replication.UPDATE_ROWS_EVENTv2, b))
	if err != nil {
		s.t.Fatal(err)
	}
	s.pos += 100
	ev.Header.LogPos, ev.Header.EventSize, ev.Header.Timestamp = s.pos, 100, uint32(s.at.Unix())
	return ev
}

// xaPrepare is an XA_PREPARE_LOG_EVENT for the xid 'gtrid'.
func (s *mysqlStream) xaPrepare(gtrid string, onePhase bool) *replication.BinlogEvent {
	b := []byte{0}
	if onePhase {
		b[0] = 1
	}
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(gtrid)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, gtrid...)
	return s.event(replication.XA_PREPARE_LOG_EVENT, &replication.GenericEvent{Data: b})
}

// testApplier is an applier for a MySQL source on a journal at path,
// resuming from the journal's checkpoint.
func testApplier(t *testing.T, j *journal.Journal) *applier {
	t.Helper()
	f := &Follower{
		cfg: Config{Journal: j, Info: ServerInfo{Flavor: FlavorMySQL, GTID: true},
			MaxBatch: 20000, MaxBatchEvents: maxBatchEvents, MaxBatchRows: maxBatchRows},
		dsn: &driver.Config{DBName: genSchema}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now,
		moved: make(chan struct{}),
	}
	cp, ok := j.Checkpoint()
	if !ok {
		cp = journal.Checkpoint{Flavor: "mysql", File: "binlog.000001", Pos: 4, Columns: jetmonLayout.names()}
		if err := j.Commit(&journal.Batch{Checkpoint: &cp, NewSpan: &journal.SpanStart{Start: time.Unix(1_600_000_000, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	lay, err := newLayout(cp.Columns)
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(f, cp, lay, true)
	a.ctx = context.Background()
	return a
}

func applyAll(t *testing.T, a *applier, evs ...*replication.BinlogEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := a.apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.sync(); err != nil {
		t.Fatal(err)
	}
}

func TestMySQLXAShapes(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "xa.journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s := newMySQLStream(t)
	row := func(blog uint64, status bridge.Status, changed time.Time) bridge.Monitor {
		return bridge.Monitor{SiteID: blog, BlogID: blog, URL: fmt.Sprintf("https://%d.example", blog), Active: true, Status: status, LastStatusChange: changed}
	}
	t0 := time.Unix(1_700_000_000, 0).UTC()
	t1 := t0.Add(time.Minute)
	events := func() []journal.SourcedEvent {
		evs, err := j.EventsAfter(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}

	// Prepared: nothing joins the journal; the checkpoint carries it.
	a := testApplier(t, j)
	applyAll(t, a, s.gtid(), s.query("XA START X'7831',X'',1"),
		s.update(row(1, 1, t0), row(1, 0, t1), row(2, 1, t0.Add(-time.Minute)), row(2, 2, t0.Add(-time.Minute)), row(3, 1, t0), row(3, 2, t0)),
		s.query("XA END X'7831',X'',1"), s.xaPrepare("x1", false))
	if evs := events(); len(evs) != 0 {
		t.Fatalf("a prepared XA transaction journaled %+v", evs)
	}
	cp, _ := j.Checkpoint()
	if len(cp.Prepared) != 1 || cp.Prepared[0].XID != xidKey(1, []byte("x1"), nil) || len(cp.Prepared[0].Changes) != 3 {
		t.Fatalf("checkpoint after XA PREPARE carries %+v", cp.Prepared)
	}
	if cp.GTIDSet != s.gtidSet().String() {
		t.Fatalf("checkpoint after XA PREPARE at %s, want past the prepare group %s", cp.GTIDSet, s.gtidSet())
	}

	// A new stream (a restart) commits it at its XA COMMIT, with the
	// commit's GTID and time.
	a = testApplier(t, j)
	s.at = t0.Add(time.Hour)
	commit := s.gtid()
	applyAll(t, a, commit, s.query("XA COMMIT 'x1'"))
	evs := events()
	want := fmt.Sprintf("%s:%d", sourceUUID, s.gno)
	if len(evs) != 3 || evs[0].GTID != want || evs[1].GTID != want || evs[2].GTID != want {
		t.Fatalf("after XA COMMIT: %+v, want three transitions of GTID %s", evs, want)
	}
	// Blog 2's update left last_status_change alone (a value older than the
	// statement); blog 3's holds the statement's own second, as Jetmon's
	// NOW() writes it for a second change within one second: the row's
	// value stands.
	if !evs[0].CreatedAt.Equal(t1) || !evs[1].CreatedAt.Equal(s.at) || !evs[2].CreatedAt.Equal(t0) {
		t.Fatalf("after XA COMMIT: times %s, %s and %s, want %s (last_status_change), %s (the commit's) and %s (last_status_change, the statement's second)",
			evs[0].CreatedAt, evs[1].CreatedAt, evs[2].CreatedAt, t1, s.at, t0)
	}
	if cp, _ := j.Checkpoint(); len(cp.Prepared) != 0 {
		t.Fatalf("a committed XA transaction stays in the checkpoint: %+v", cp.Prepared)
	}

	// Rolled back: nothing. One phase: at once.
	applyAll(t, a, s.gtid(), s.query("XA START X'7832',X'',1"), s.update(row(3, 1, t0), row(3, 0, t1)),
		s.query("XA END X'7832',X'',1"), s.xaPrepare("x2", false),
		s.gtid(), s.query("XA ROLLBACK X'7832',X'',1"),
		s.gtid(), s.query("XA START X'7833',X'',1"), s.update(row(4, 1, t0), row(4, 0, t1)),
		s.query("XA END X'7833',X'',1"), s.xaPrepare("x3", true))
	evs = events()
	if len(evs) != 4 || evs[3].BlogID != 4 || evs[3].GTID != fmt.Sprintf("%s:%d", sourceUUID, s.gno) {
		t.Fatalf("after a rollback and a one-phase commit: %+v, want blog 4's transition added alone", evs)
	}
	if cp, _ := j.Checkpoint(); len(cp.Prepared) != 0 {
		t.Fatalf("checkpoint carries %+v, want nothing", cp.Prepared)
	}

	// An XA COMMIT of a transaction never seen prepared: coverage is lost.
	var lost *coverageLost
	err = a.apply(s.gtid())
	if err == nil {
		err = a.apply(s.query("XA COMMIT X'7839',X'',1"))
	}
	if !asCoverageLost(err, &lost) || lost.reason != ReasonUnknownXA {
		t.Fatalf("XA COMMIT of an unknown xid: %v, want coverage lost: %s", err, ReasonUnknownXA)
	}
}

// TestTooManyPreparedXA: past the prepared XA transactions a checkpoint
// keeps, the follower records a gap (and starts afresh) rather than stop at
// a prepare it would meet again at every restart.
func TestTooManyPreparedXA(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "xa.journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s := newMySQLStream(t)
	a := testApplier(t, j)
	for i := range journal.MaxPreparedXA + 1 {
		xid := fmt.Sprintf("x%d", i)
		err = nil
		for _, ev := range []*replication.BinlogEvent{s.gtid(), s.query("XA START '" + xid + "'"), s.query("XA END '" + xid + "'"), s.xaPrepare(xid, false)} {
			if err == nil {
				err = a.apply(ev)
			}
		}
		if i < journal.MaxPreparedXA && err != nil {
			t.Fatalf("prepare %d: %v", i, err)
		}
	}
	var lost *coverageLost
	if !asCoverageLost(err, &lost) || lost.reason != ReasonTooManyXA || !strings.Contains(err.Error(), "XA RECOVER") {
		t.Fatalf("prepare past the bound: %v, want coverage lost (%s) naming the fix", err, ReasonTooManyXA)
	}
}

func asCoverageLost(err error, lost **coverageLost) bool {
	l, ok := err.(*coverageLost)
	*lost = l
	return ok
}
