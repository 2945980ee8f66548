package binlog

import (
	"context"
	"math"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/replication"
)

// A replication heartbeat is sent when the server's dump thread has
// nothing to send, but "nothing to send" is not "caught up" on every
// flavor (docs/guarantees.md, "What a heartbeat proves"):
//
//   - MariaDB sends heartbeats only while it waits at the end of its
//     binlog (sql_repl.cc, wait_new_events), with the position it waits at.
//   - MySQL also sends them while it skips the transactions a GTID resume
//     already has: one every heartbeat period of a long skip, and one just
//     before the first event after a skip (rpl_binlog_sender.cc,
//     send_events), each with the position it has skipped to, which may lie
//     far before the binlog's end.
//
// So a heartbeat proves only what its position shows. The follower reads
// the binlog's end (CurrentPosition) when it handles a heartbeat, at time
// T: if the heartbeat's position is at or past that end, the dump thread
// had, when it sent the heartbeat, passed everything the server had
// written by T (the binlog only grows, so nothing was written in between).
// Every event before that end was then either sent ahead of the heartbeat,
// hence received, applied and (after sync) committed, or skipped because
// the follower's GTID set already held it: everything the server committed
// before T is in the journal, and T is confirmed. A heartbeat short of the
// end (a skip, or a write since it was sent) confirms nothing; the next one
// tries again. On an idle server every heartbeat is at the end, so coverage
// keeps up with the present as heartbeats come.
//
// A v1 heartbeat carries its position in the header's log_pos (32 bits, as
// Position), a HEARTBEAT_LOG_EVENT_V2 in its body (MySQL sends v2 to a dump
// that asks for it).

// heartbeat handles a heartbeat: it commits what the batch holds, then,
// under the self proof, confirms the present if the heartbeat shows the
// dump thread at the binlog's end. The present is the followed server's
// clock (Journal.ServerNow, at its earliest), and no later than the self
// proof's last check that the server is still the primary. On a replica a
// heartbeat proves nothing of the primary: it only makes the last
// confirmation durable (origin.go).
func (a *applier) heartbeat(ev *replication.BinlogEvent) error {
	if err := a.sync(); err != nil {
		return err
	}
	if a.inTxn || a.pendingSpan != nil {
		// Mid-transaction, or nothing yet from a server switched to: its
		// coverage must not extend the previous server's span.
		return nil
	}
	if a.conn == nil || a.conn.self == nil {
		return a.coverReplicaHeartbeat()
	}
	dumped, ok := heartbeatPosition(ev)
	if !ok {
		return nil
	}
	// Bounded: the applier waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), min(max(a.f.cfg.Heartbeat, time.Second), 10*time.Second))
	defer cancel()
	at, _ := a.f.cfg.Journal.ServerNow()
	at = minTime(at, a.conn.self.Verified())
	end, err := CurrentPosition(ctx, a.f.db, a.f.cfg.Info.Flavor)
	if err != nil {
		a.f.log.Debug("heartbeat confirms nothing: could not read the binlog's end", "error", err)
		return nil
	}
	if dumped.Compare(end.Position) < 0 || at.IsZero() {
		return nil // the dump thread is still short of the end
	}
	a.f.cfg.Journal.Confirm(at)
	return a.f.cfg.Journal.Commit(&journal.Batch{CoveredTo: at.Truncate(time.Second)})
}

// heartbeatPosition is where the dump thread was when it sent the
// heartbeat; ok is false when the heartbeat does not say (no file name, or
// a v2 offset beyond the 32 bits a Position holds).
func heartbeatPosition(ev *replication.BinlogEvent) (Position, bool) {
	hb, isHeartbeat := ev.Event.(*replication.HeartbeatEvent)
	if !isHeartbeat || hb.Filename == "" {
		return Position{}, false
	}
	if hb.Version == 2 {
		if hb.Offset > math.MaxUint32 {
			return Position{}, false
		}
		return Position{hb.Filename, uint32(hb.Offset)}, true
	}
	return Position{hb.Filename, ev.Header.LogPos}, true
}
