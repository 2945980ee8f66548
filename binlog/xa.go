package binlog

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/replication"
)

// XA transactions. A prepared XA transaction is two event groups, each
// with its own GTID, with any number of others between them:
//
//	MariaDB 10.5+  GTID (flagged XA: it stands for XA START), rows, "XA END xid", XA_PREPARE_LOG_EVENT
//	               ... GTID, "XA COMMIT xid" or "XA ROLLBACK xid"
//	MySQL          GTID, "XA START xid", rows, "XA END xid", XA_PREPARE_LOG_EVENT
//	               ... GTID, "XA COMMIT xid" or "XA ROLLBACK xid"
//
// XA COMMIT ... ONE PHASE is one group: MySQL ends it with an
// XA_PREPARE_LOG_EVENT marked one-phase; MariaDB binlogs it as an ordinary
// transaction (BEGIN ... COMMIT).
//
// The prepare group ends in the binlog but commits nothing: the applier
// moves its changes out of the open transaction into the checkpoint
// (journal.PreparedXA), which passes the group, and into the batch only at
// the XA COMMIT, with the commit's time and GTID, as the source applies
// them then. XA ROLLBACK drops them. The checkpoint carries them until
// then, so a follower stopped or killed in between loses nothing. An XA
// COMMIT of a transaction the follower never saw prepared (prepared before
// its coverage began) commits changes nobody can know: the applier stops
// with coverageLost (ReasonUnknownXA), and a fresh span starts from a
// snapshot that holds them. So does a prepare past what the checkpoint
// keeps (ReasonTooManyXA).

// xaStatement applies an XA statement of a query event.
func (a *applier) xaStatement(h *replication.EventHeader, e *replication.QueryEvent, st txnStatement) error {
	switch st.kind {
	case stmtXAStart:
		a.begin(h) // MySQL; on MariaDB the GTID event stands for it
		return nil
	case stmtXAEnd:
		// The group goes on to its XA_PREPARE_LOG_EVENT, which carries no
		// GTID set of its own: it ends with this one's.
		a.xaGSet = e.GSet
		return nil
	case stmtXAPrepare:
		// Both servers write XA PREPARE as its own event; as a statement
		// it would mean the same.
		return a.xaPrepared(h, st.xid, false, e.GSet)
	case stmtXACommit:
		if st.onePhase && a.inTxn {
			return a.commit(h, e.GSet)
		}
		return a.xaCommit(h, st.xid, e.GSet)
	case stmtXARollback:
		if a.inTxn {
			// Rolled back before it was prepared: its changes go with it.
			a.txn, a.savepoints = a.txn[:0], nil
		}
		a.cp.Prepared = withoutXA(a.cp.Prepared, st.xid)
		a.inTxn = true // the group ends here
		return a.commit(h, e.GSet)
	}
	return nil
}

// xaPrepareEvent handles an XA_PREPARE_LOG_EVENT: one byte one-phase, the
// xid's formatID, gtrid length and bqual length as 4-byte little-endian
// numbers, then the gtrid and bqual (the same on both servers).
func (a *applier) xaPrepareEvent(h *replication.EventHeader, data []byte) error {
	if len(data) < 13 {
		return fmt.Errorf("XA PREPARE event at %s is %d bytes, too short", a.pos, len(data))
	}
	format := int64(int32(binary.LittleEndian.Uint32(data[1:])))
	g, b := binary.LittleEndian.Uint32(data[5:]), binary.LittleEndian.Uint32(data[9:])
	if uint64(len(data)-13) < uint64(g)+uint64(b) {
		return fmt.Errorf("XA PREPARE event at %s: an xid of %d+%d bytes in %d", a.pos, g, b, len(data)-13)
	}
	xid := xidKey(format, data[13:13+g], data[13+g:13+g+b])
	gset := a.xaGSet
	a.xaGSet = nil
	return a.xaPrepared(h, xid, data[0] != 0, gset)
}

// xaPrepared ends the group that prepared the open transaction xid: its
// changes wait in the checkpoint for their XA COMMIT. One-phase, it is an
// ordinary commit.
func (a *applier) xaPrepared(h *replication.EventHeader, xid string, onePhase bool, gset interface{ String() string }) error {
	if onePhase {
		return a.commit(h, gset)
	}
	p := journal.PreparedXA{XID: xid}
	for _, c := range a.txn {
		p.Changes = append(p.Changes, preparedChange(c))
	}
	prepared := append(withoutXA(a.cp.Prepared, xid), p)
	if err := journal.CheckPrepared(prepared); err != nil {
		return &coverageLost{reason: ReasonTooManyXA, detail: fmt.Sprintf("XA PREPARE at %s: %v", a.pos, err)}
	}
	a.cp.Prepared = prepared
	a.txn, a.savepoints = a.txn[:0], nil
	a.inTxn = true // the group ends here: the checkpoint passes it
	return a.commit(h, gset)
}

// xaCommit commits the prepared transaction xid: its changes join the
// batch now, with the commit group's time and GTID.
func (a *applier) xaCommit(h *replication.EventHeader, xid string, gset interface{ String() string }) error {
	i := slices.IndexFunc(a.cp.Prepared, func(p journal.PreparedXA) bool { return p.XID == xid })
	if i < 0 {
		return &coverageLost{reason: ReasonUnknownXA, detail: fmt.Sprintf(
			"XA COMMIT of %s at %s: the follower never read its XA PREPARE, so what it changed is unknown", xid, a.pos)}
	}
	p := a.cp.Prepared[i]
	a.cp.Prepared = withoutXA(a.cp.Prepared, xid)
	a.begin(h)
	at := time.Unix(int64(h.Timestamp), 0).UTC()
	for _, pc := range p.Changes {
		a.txn = append(a.txn, committedChange(pc, at))
	}
	return a.commit(h, gset)
}

// withoutXA returns prepared without xid's entry, in a new slice: a
// checkpoint handed to a batch may still share the old one.
func withoutXA(prepared []journal.PreparedXA, xid string) []journal.PreparedXA {
	var out []journal.PreparedXA
	for _, p := range prepared {
		if p.XID != xid {
			out = append(out, p)
		}
	}
	return out
}

// preparedChange is c as the checkpoint keeps it.
func preparedChange(c change) journal.PreparedChange {
	pc := journal.PreparedChange{Row: journal.NewPreparedRow(c.monitor), Deleted: c.deleted}
	if c.hasEvent {
		pc.Event = &journal.PreparedEvent{Blog: c.event.BlogID, Old: uint8(c.event.OldStatus), New: uint8(c.event.NewStatus),
			At: c.event.CreatedAt, AtCommit: c.atEventTime}
	}
	return pc
}

// committedChange is the change pc, committed at at.
func committedChange(pc journal.PreparedChange, at time.Time) change {
	c := change{rowState: rowState{monitor: pc.Row.Monitor(), deleted: pc.Deleted}}
	if e := pc.Event; e != nil {
		c.hasEvent = true
		c.event = bridge.Event{BlogID: e.Blog, OldStatus: bridge.Status(e.Old), NewStatus: bridge.Status(e.New), CreatedAt: e.At}
		if e.AtCommit {
			c.event.CreatedAt = at.Truncate(time.Second)
		}
	}
	return c
}
