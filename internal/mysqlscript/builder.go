package mysqlscript

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The builder: a test writes the server's binlog with these methods, each
// returning the server so that calls chain. A transaction is composed
// first (GTID, Begin or XAStart, rows, Query) and written whole by the call
// that ends it (Commit, XAPrepare, DDL), as MySQL writes a transaction at
// commit: a dump never sees half of one. The builder fails the test on
// misuse, so call it from the test's goroutine.

// XID names an XA transaction.
type XID struct {
	GTRID, BQual string
	FormatID     uint32
}

// XA is the XID 'gtrid' with format 1, as `XA START 'gtrid'` makes it.
func XA(gtrid string) XID { return XID{GTRID: gtrid, FormatID: 1} }

// sql is the XID as MySQL writes it into binlogged XA statements.
func (x XID) sql() string { return fmt.Sprintf("X'%x',X'%x',%d", x.GTRID, x.BQual, x.FormatID) }

func (s *Server) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("mysqlscript: "+format, args...)
}

// At stamps the events written from now on with t (the binlog headers'
// timestamps and the GTID events' commit times); the zero time returns to
// the wall clock.
func (s *Server) At(t time.Time) *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = t
	return s
}

// GTID starts a transaction with the GTID source:gno. Without it, the
// transaction gets the server's own next GTID (server_uuid:N).
func (s *Server) GTID(source string, gno int64) *Server {
	s.t.Helper()
	u, err := uuid.Parse(source)
	if err != nil || gno < 1 {
		s.fail("GTID(%q, %d): not a UUID and a positive number", source, gno)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn != nil {
		s.fail("GTID inside an open transaction")
	}
	s.txn = &pendingTxn{gtid: &gtidRef{u, gno}}
	return s
}

// open returns the transaction being composed, starting one if none is.
func (s *Server) open() *pendingTxn {
	if s.txn == nil {
		s.txn = &pendingTxn{}
	}
	return s.txn
}

func (s *Server) add(typ byte, flags uint16, body []byte) {
	p := s.open()
	p.events = append(p.events, pendingEvent{typ: typ, flags: flags, ts: s.now(), body: body})
}

// Begin opens the transaction with a BEGIN query event.
func (s *Server) Begin() *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.open(); p.begun {
		s.fail("Begin inside an open transaction")
	}
	s.txn.begun = true
	s.add(typeQuery, 0, queryBody("", "BEGIN", false, 0))
	return s
}

// Query writes a statement into the open transaction (SAVEPOINT, ROLLBACK
// TO SAVEPOINT, a statement-logged change), with the Jetmon database as
// its default database.
func (s *Server) Query(sql string) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn == nil || !s.txn.begun {
		s.fail("Query(%q) outside a transaction: use Begin first, or DDL", sql)
	}
	s.add(typeQuery, 0, queryBody(s.opts.Database, sql, false, 0))
	return s
}

// Insert writes one INSERT statement's rows into the open transaction: a
// table map, then a WRITE_ROWS_EVENT (v2).
func (s *Server) Insert(t *Table, rows ...Row) *Server {
	s.t.Helper()
	changes := make([]rowChange, len(rows))
	for i, r := range rows {
		changes[i] = rowChange{table: t, after: r}
	}
	return s.rowsEvent(typeWriteRowsV2, t, rows, changes)
}

// Update writes one UPDATE statement changing one row from before to after.
func (s *Server) Update(t *Table, before, after Row) *Server {
	s.t.Helper()
	return s.UpdateRows(t, [2]Row{before, after})
}

// UpdateRows writes one UPDATE statement changing several rows, each a
// {before, after} pair, in one UPDATE_ROWS_EVENT (v2).
func (s *Server) UpdateRows(t *Table, pairs ...[2]Row) *Server {
	s.t.Helper()
	var rows []Row
	var changes []rowChange
	for _, p := range pairs {
		rows = append(rows, p[0], p[1])
		changes = append(changes, rowChange{table: t, before: p[0], after: p[1]})
	}
	return s.rowsEvent(typeUpdateRowsV2, t, rows, changes)
}

// Delete writes one DELETE statement's rows.
func (s *Server) Delete(t *Table, rows ...Row) *Server {
	s.t.Helper()
	changes := make([]rowChange, len(rows))
	for i, r := range rows {
		changes[i] = rowChange{table: t, before: r}
	}
	return s.rowsEvent(typeDeleteRowsV2, t, rows, changes)
}

func (s *Server) rowsEvent(typ byte, t *Table, rows []Row, changes []rowChange) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn == nil || !s.txn.begun {
		s.fail("rows of %s outside a transaction: use Begin or XAStart first", t.Name)
	}
	if t.ID == 0 {
		s.fail("table %s.%s was not created on the server (CreateTable)", t.Schema, t.Name)
	}
	body, err := t.rowsBody(t.ID, typ == typeUpdateRowsV2, rows)
	if err != nil {
		s.fail("%v", err)
	}
	s.add(typeTableMap, 0, t.tableMapBody(t.ID))
	s.add(typ, 0, body)
	s.txn.changes = append(s.txn.changes, changes...)
	return s
}

// Commit ends the transaction with an XID event and writes it.
func (s *Server) Commit() *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.txn
	if p == nil || !p.begun || p.xa != nil {
		s.fail("Commit without Begin (an XA transaction ends with XAPrepare)")
	}
	s.add(typeXID, 0, xidBody(s.nextXID))
	s.nextXID++
	s.finish(p, false)
	s.applyChanges(p.changes)
	return s
}

// finish writes the composed transaction; s.mu is held.
func (s *Server) finish(p *pendingTxn, ddl bool) {
	s.t.Helper()
	s.txn = nil
	if err := s.writeTxn(p, ddl); err != nil {
		s.fail("%v", err)
	}
}

// DDL writes a statement that commits on its own (CREATE, ALTER, RENAME,
// DROP, TRUNCATE...): its GTID event, then the query event, with the
// Jetmon database as default. It may follow GTID, nothing else.
func (s *Server) DDL(sql string) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.open()
	if p.begun || len(p.events) > 0 {
		s.fail("DDL(%q) inside an open transaction", sql)
	}
	s.add(typeQuery, 0, queryBody(s.opts.Database, sql, true, s.nextXID))
	s.nextXID++
	s.finish(p, true)
	return s
}

// XAStart opens an XA transaction (the binlog's XA START query stands
// where BEGIN would).
func (s *Server) XAStart(x XID) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.open()
	if p.begun {
		s.fail("XAStart inside an open transaction")
	}
	p.begun, p.xa = true, &x
	s.add(typeQuery, 0, queryBody("", "XA START "+x.sql(), false, 0))
	return s
}

// XAEnd writes XA END into the open XA transaction.
func (s *Server) XAEnd(x XID) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn == nil || s.txn.xa == nil || *s.txn.xa != x {
		s.fail("XAEnd(%v) without its XAStart", x)
	}
	s.add(typeQuery, 0, queryBody("", "XA END "+x.sql(), false, 0))
	return s
}

// XAPrepare ends the XA transaction's first part with an
// XA_PREPARE_LOG_EVENT and writes it; its rows take effect at XACommit.
func (s *Server) XAPrepare(x XID) *Server {
	s.t.Helper()
	return s.xaPrepare(x, false)
}

// XACommitOnePhase ends the XA transaction with XA COMMIT ONE PHASE: an
// XA_PREPARE_LOG_EVENT marked one-phase, its rows taking effect at once.
func (s *Server) XACommitOnePhase(x XID) *Server {
	s.t.Helper()
	return s.xaPrepare(x, true)
}

func (s *Server) xaPrepare(x XID, onePhase bool) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.txn
	if p == nil || p.xa == nil || *p.xa != x {
		s.fail("XAPrepare(%v) without its XAStart", x)
	}
	s.add(typeXAPrepare, 0, xaPrepareBody(x, onePhase))
	s.finish(p, false)
	if onePhase {
		s.applyChanges(p.changes)
	} else {
		s.prepared[x.sql()] = p.changes
	}
	return s
}

// XACommit writes XA COMMIT of a prepared transaction: a transaction of
// its own (GTID event, query).
func (s *Server) XACommit(x XID) *Server {
	s.t.Helper()
	return s.xaFinish(x, "XA COMMIT ")
}

// XARollback writes XA ROLLBACK of a prepared transaction.
func (s *Server) XARollback(x XID) *Server {
	s.t.Helper()
	return s.xaFinish(x, "XA ROLLBACK ")
}

func (s *Server) xaFinish(x XID, stmt string) *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.open()
	if p.begun || len(p.events) > 0 {
		s.fail("%s inside an open transaction", stmt)
	}
	s.add(typeQuery, 0, queryBody("", stmt+x.sql(), false, 0))
	s.finish(p, false)
	if stmt == "XA COMMIT " {
		s.applyChanges(s.prepared[x.sql()])
	}
	delete(s.prepared, x.sql())
	return s
}

// Rotate ends the current binlog file with a ROTATE_EVENT and opens the
// next (FLUSH BINARY LOGS).
func (s *Server) Rotate() *Server {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn != nil {
		s.fail("Rotate inside an open transaction")
	}
	f := s.current()
	next := fmt.Sprintf("%s.%06d", s.opts.BinlogBase, len(s.files)+1+s.purgedFiles())
	body := rotateBody(next, 4)
	f.end += s.enc.eventSize(len(body))
	f.entries = append(f.entries, entry{raw: s.enc.event(typeRotate, s.now(), f.end, 0, body), typ: typeRotate, end: f.end})
	f.rotated = true
	s.openFile(time.Time{})
	return s
}

// Purge removes the files before file (PURGE BINARY LOGS TO): their GTIDs
// become gtid_purged, and a dump needing them fails with error 1236.
func (s *Server) Purge(file string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.files {
		if f.name == file {
			s.files = s.files[i:]
			s.purged = f.prev.clone()
			return
		}
	}
	s.fail("Purge(%q): no such binlog file", file)
}

// Heartbeat places a heartbeat in the stream: a dump reaching this point
// sends one, with the position it has reached.
func (s *Server) Heartbeat() *Server {
	s.t.Helper()
	s.marker(entry{heartbeat: true})
	return s
}

// Pause is a point in the stream where a dump stops until released.
type Pause struct {
	reached, released  chan struct{}
	reachOnce, relOnce sync.Once
}

// Reached is closed once a dump has stopped at the pause.
func (p *Pause) Reached() <-chan struct{} { return p.reached }

// Release lets every dump stopped here, and every later one, go on.
func (p *Pause) Release() { p.relOnce.Do(func() { close(p.released) }) }

func (p *Pause) reach() { p.reachOnce.Do(func() { close(p.reached) }) }

// Pause places a pause in the stream. A dump reaching it sends nothing
// until it is released, except, when it is skipping transactions the
// client already has (a GTID dump), a heartbeat every heartbeat period at
// the position it skipped to, as MySQL's dump thread does during a long
// skip.
func (s *Server) Pause() *Pause {
	s.t.Helper()
	p := &Pause{reached: make(chan struct{}), released: make(chan struct{})}
	s.marker(entry{pause: p})
	return p
}

func (s *Server) marker(e entry) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn != nil {
		s.fail("a stream marker inside an open transaction")
	}
	f := s.current()
	e.end = f.end
	f.entries = append(f.entries, e)
	s.grewLocked()
}

// CreateTable makes t known to the server (information_schema, table
// reads) and gives it a table id; rows of it can then be written. The
// Jetmon table (Sites) exists from the start.
func (s *Server) CreateTable(t *Table) *Table {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == 0 {
		s.tableIDs++
		t.ID = s.tableIDs
	}
	key := t.Schema + "." + t.Name
	s.tables[key] = t
	if s.rows[key] == nil {
		s.rows[key] = map[uint64]Row{}
	}
	return t
}

// Sites is the Jetmon table, MonitorSites(Options.Database).
func (s *Server) Sites() *Table {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tables[s.opts.Database+".jetpack_monitor_sites"]
}

// SetRows puts rows into t's model without writing the binlog: rows that
// existed before the binlog begins, which a snapshot reads.
func (s *Server) SetRows(t *Table, rows ...Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changes := make([]rowChange, len(rows))
	for i, r := range rows {
		changes[i] = rowChange{table: t, after: r}
	}
	s.applyChanges(changes)
}
