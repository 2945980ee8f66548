package binlog

import "time"

// Which of a MySQL replica's heartbeats prove its IO thread current with
// its source (docs/guarantees.md, "What a heartbeat proves").
//
// MySQL's dump thread sends a heartbeat in three cases, and the replica
// counts each (performance_schema.replication_connection_status:
// COUNT_RECEIVED_HEARTBEATS, LAST_HEARTBEAT_TIMESTAMP, its own clock):
//   - idle at the end of its binlog, every heartbeat period, carrying that
//     end: the position of the last event it sent. Only this one proves
//     the replica had received everything the source had committed when
//     it was sent;
//   - while it skips the transactions a GTID auto-positioned replica
//     already has, after each (re)connection, every heartbeat period,
//     carrying the position skipped to;
//   - just before the first event it sends after such a skip, carrying
//     the end of the skip. The replica has received nothing new when it
//     counts either of the last two, and its applier has applied all it
//     received: a claim on their time would vouch for transactions the
//     source committed and the replica has not yet received.
//
// What tells them apart. Each of the last two carries a position past
// everything the dump thread sent before it on that connection, and the IO
// thread, auto-positioned, moves its source position to it
// (Read_Source_Log_Pos) and writes an ignored rotate event to its relay
// log; an idle heartbeat carries the position the IO thread already has
// and changes nothing. A heartbeat that left the IO thread's state
// (IOState: its source position, received set, relay log position and
// size, and the transaction being queued) as it was is therefore idle, but
// for one case: a reconnection starts the dump over (its first event
// rotates the IO thread back to the start of a binlog file), a skip can
// end exactly where the old connection stood, and the heartbeat before the
// first new event then leaves the state as the readings last saw it. On
// one connection, though, the heartbeat after a non-idle one comes only
// after that event or more skipping, both of which change the state.
// So the rule is:
//
//	a heartbeat vouches for its time (less 1 s of transit, as a claim
//	from the replica's clock) once another heartbeat has been counted
//	after it, with the IO thread's state unchanged from the reading
//	before the first to the reading after the second, with both threads
//	running and the applier caught up.
//
// What remains is a change of connection between the two heartbeats that
// leaves every part of the state as it was: a reconnection whose dump
// skips back to exactly the old source position and breaks after the
// heartbeat that precedes the first new event but before that event, then
// a second reconnection doing the same, between two readings 0.5 s apart,
// the relay log's rotation at each unseen. The readings are ordered to
// keep the counts inside the state's window: the state (SHOW REPLICA
// STATUS) is read before the heartbeat count (performance_schema).

// reset ends the run: a reading failed, and the next one starts afresh.
func (h *idleHeartbeats) reset() { h.running = false }

// idleHeartbeats follows one replica's readings and finds the heartbeats
// that prove its IO thread current. Not safe for concurrent use (the
// watch's lock guards it).
type idleHeartbeats struct {
	// state is the IO thread's state in the current run of readings that
	// all show it unchanged; base is the heartbeat count read at the run's
	// first reading, last the count read at its latest.
	state      string
	base, last uint64
	running    bool
	// seen are heartbeats counted in the run (count > base), in count
	// order, with the time the replica counted each: the last one a
	// reading showed for that count.
	seen []seenHeartbeat
}

type seenHeartbeat struct {
	count uint64
	at    time.Time
}

// observe takes the next reading and returns the time before which it
// proves the replica had applied everything its source committed (zero
// when it proves nothing).
func (h *idleHeartbeats) observe(st ReplicationStatus) time.Time {
	if !h.running || !st.Running() || st.IOState == "" || st.IOState != h.state || st.Heartbeats < h.last || st.LastHeartbeat.IsZero() {
		// A new run: the heartbeats before it prove nothing the run can
		// check.
		h.state, h.base, h.last, h.seen, h.running = st.IOState, st.Heartbeats, st.Heartbeats, h.seen[:0], st.Running() && st.IOState != ""
		return time.Time{}
	}
	// A heartbeat counted by the previous reading's count read, after one
	// the run saw, proves that one idle: both were counted within the
	// run's window of unchanged state.
	var proven time.Time
	keep := h.seen[:0]
	for _, s := range h.seen {
		if s.count < h.last {
			proven = s.at
		} else {
			keep = append(keep, s)
		}
	}
	h.seen = keep
	if st.Heartbeats > h.last {
		h.seen = append(h.seen, seenHeartbeat{count: st.Heartbeats, at: st.LastHeartbeat})
	}
	h.last = st.Heartbeats
	if proven.IsZero() || !st.AppliedAll || st.Filtered != nil {
		return time.Time{}
	}
	return minTime(proven, st.ReadAt).Add(-heartbeatTransit)
}
