package mysqlscript

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// binlogFile is one binary log file: its events from position 4 (after
// the magic bytes), starting with the FORMAT_DESCRIPTION_EVENT and the
// PREVIOUS_GTIDS_LOG_EVENT, plus the stream markers (Heartbeat, Pause)
// placed between them.
type binlogFile struct {
	name    string
	prev    gtidSet // GTIDs executed before the file
	entries []entry
	end     uint32 // position after the last event: the file's size
	rotated bool   // a ROTATE_EVENT ends it; the next file follows
}

// entry is an event of a file or a stream marker.
type entry struct {
	raw []byte // the event as written, checksum included; nil for a marker
	typ byte
	end uint32 // the event's log_pos; for a marker, the position it sits at
	// gtid is the transaction a GTID event announces (nil for others and
	// anonymous GTIDs): what a GTID dump skips by.
	gtid      *gtidRef
	heartbeat bool   // marker: send a heartbeat here
	pause     *Pause // marker: stop here until released
}

type gtidRef struct {
	uuid uuid.UUID
	gno  int64
}

// pendingEvent is an event of a transaction not yet written: its position
// is known only when the whole transaction is.
type pendingEvent struct {
	typ   byte
	flags uint16
	ts    time.Time
	body  []byte
}

// rowChange is a rows event's effect on the table model.
type rowChange struct {
	table         *Table
	before, after Row // nil before: insert; nil after: delete
}

// pendingTxn is the transaction a test is composing.
type pendingTxn struct {
	gtid    *gtidRef // set by GTID; otherwise the server's next
	begun   bool     // BEGIN or XA START written
	xa      *XID     // XA START's XID
	events  []pendingEvent
	changes []rowChange
}

// now is the time events are stamped with: At's, else the wall clock.
func (s *Server) now() time.Time {
	if !s.clock.IsZero() {
		return s.clock
	}
	return time.Now()
}

// openFile starts the next binlog file with its format description and
// previous GTIDs; s.mu is held.
func (s *Server) openFile(created time.Time) {
	f := &binlogFile{name: fmt.Sprintf("%s.%06d", s.opts.BinlogBase, len(s.files)+1+s.purgedFiles()), prev: s.executed.clone(), end: 4}
	var secs uint32
	if len(s.files) == 0 {
		secs = uint32(created.Unix())
	}
	ts := s.now()
	fde := formatDescriptionBody(s.opts.Version, secs, s.enc.checksum)
	f.end += s.enc.eventSize(len(fde))
	f.entries = append(f.entries, entry{raw: s.enc.event(typeFormatDesc, ts, f.end, 0, fde), typ: typeFormatDesc, end: f.end})
	prev := previousGTIDsBody(f.prev)
	f.end += s.enc.eventSize(len(prev))
	f.entries = append(f.entries, entry{raw: s.enc.event(typePreviousGTIDs, ts, f.end, 0, prev), typ: typePreviousGTIDs, end: f.end})
	s.files = append(s.files, f)
	s.seq = 0
	s.grewLocked()
}

// purgedFiles counts the files purged before the first kept one, so new
// names keep counting.
func (s *Server) purgedFiles() int {
	if len(s.files) == 0 {
		return 0
	}
	var n int
	fmt.Sscanf(s.files[0].name[len(s.opts.BinlogBase)+1:], "%d", &n)
	return n - 1
}

func (s *Server) current() *binlogFile { return s.files[len(s.files)-1] }

// notifyLocked wakes whoever waits on Changed.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// grewLocked wakes the dumps waiting at the binlog's end, and Changed: a
// dump's heartbeat timer restarts only when the binlog grows, as MySQL's.
func (s *Server) grewLocked() {
	close(s.grown)
	s.grown = make(chan struct{})
	s.notifyLocked()
}

// nextGTID is the server's own next GTID.
func (s *Server) nextGTID() *gtidRef {
	var last int64
	for _, iv := range s.executed[s.uuid] {
		last = max(last, iv.stop-1)
	}
	return &gtidRef{s.uuid, last + 1}
}

// writeTxn writes a transaction's events to the current file at once, as
// MySQL does at commit: a GTID event (anonymous with gtid_mode=OFF)
// announcing its length, then its events. s.mu is held.
func (s *Server) writeTxn(p *pendingTxn, ddl bool) error {
	f := s.current()
	var g *gtidRef
	if !s.opts.GTIDModeOff {
		g = p.gtid
		if g == nil {
			g = s.nextGTID()
		}
		if s.executed.contains(g.uuid, g.gno) {
			return fmt.Errorf("GTID %s:%d is already executed", g.uuid, g.gno)
		}
	}
	var rest uint64
	for _, e := range p.events {
		rest += uint64(s.enc.eventSize(len(e.body)))
	}
	// The GTID event holds the transaction's length, its own included,
	// whose packed form may grow it: settle on a length that fits.
	txnLen := rest
	for range 3 {
		txnLen = rest + uint64(s.enc.eventSize(gtidBodyLen(txnLen)))
	}
	s.seq++
	commit := s.now()
	var u uuid.UUID
	var gno int64
	typ := byte(typeGTID)
	if g != nil {
		u, gno = g.uuid, g.gno
	} else {
		typ = 34 // ANONYMOUS_GTID_LOG_EVENT
	}
	body := gtidBody(u, gno, ddl, s.seq-1, s.seq, commit, txnLen, s.opts.Version)
	f.end += s.enc.eventSize(len(body))
	f.entries = append(f.entries, entry{raw: s.enc.event(typ, commit, f.end, 0, body), typ: typ, end: f.end, gtid: g})
	for _, e := range p.events {
		f.end += s.enc.eventSize(len(e.body))
		f.entries = append(f.entries, entry{raw: s.enc.event(e.typ, e.ts, f.end, e.flags, e.body), typ: e.typ, end: f.end})
	}
	if g != nil {
		s.executed.add(g.uuid, g.gno)
	}
	s.grewLocked()
	return nil
}

// applyChanges brings the table model to a committed transaction's rows.
func (s *Server) applyChanges(changes []rowChange) {
	for _, c := range changes {
		key := c.table.Schema + "." + c.table.Name
		pk := c.table.primaryKey()
		if pk < 0 {
			continue
		}
		rows := s.rows[key]
		if c.before != nil {
			if k, err := integer(c.before[pk]); err == nil {
				delete(rows, k)
			}
		}
		if c.after != nil {
			if k, err := integer(c.after[pk]); err == nil {
				rows[k] = c.after
			}
		}
	}
}

// end is where the binlog ends now: SHOW BINARY LOG STATUS.
func (s *Server) end() (string, uint32) {
	f := s.current()
	return f.name, f.end
}
