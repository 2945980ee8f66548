package binlog

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// heartbeatTransit is subtracted from a heartbeat-based claim: a heartbeat
// counted after a reading may have left the primary a moment before it.
const heartbeatTransit = time.Second

// ReplicationWatch polls the followed replica's replication status. It is
// the Proof used when the followed server is a replica and no -primary-dsn
// is given, the source of the replica's source rule, clean binlog bound and
// filter problems the follower rests commit-based coverage on (origin.go),
// and the source of replication health for /healthz, the Monitor's Replica
// service and /metrics. The follower runs one per connection to a replica.
//
// It claims a time V only when the replica has provably applied every
// change the primary committed before V, without a filter that may have
// left one out: both threads running, the applier caught up with what the
// IO thread received, and the IO thread current with its source, shown by a
// heartbeat sent when the source had nothing left to send. On MariaDB,
// whose source sends heartbeats only then, a heartbeat counted between two
// readings proves the first reading's time; on MySQL 8, whose source also
// sends them while it skips what a reconnecting replica has, a heartbeat's
// time (performance_schema) proves it only once another has followed it
// with nothing received between (idleheartbeat.go). A busy primary sends no heartbeats: its replicated commits, whose
// binlog headers carry the primary's timestamps, advance coverage instead
// (origin.go). Every time is the replica's clock.
type ReplicationWatch struct {
	db       *sql.DB
	flavor   Flavor
	interval time.Duration
	host     func() time.Time
	log      *slog.Logger
	target   watchTarget

	mu       sync.Mutex
	cur      ReplicationStatus
	have     bool
	err      error
	vouched  time.Time
	clock    journal.ClockReading // the reading vouched sits on
	filtered *FilterProblem       // the first filter seen in the watch's life
	idle     idleHeartbeats       // MySQL's heartbeats that prove the replica current
	changed  chan struct{}
}

// watchTarget is what the watch judges filters and origins for: the -dsn
// database's table, and the followed server's own server_id.
type watchTarget struct {
	database    string
	ownServerID uint32
}

// newReplicationWatch returns a watch polling db every interval; Run starts
// it. host is the bridge host's clock (nil: time.Now), used only to bound
// clock readings and to pace polls. target names the -dsn database whose
// jetpack_monitor_sites the filters are judged for (none when empty) and
// the replica's own server_id.
func newReplicationWatch(db *sql.DB, flavor Flavor, interval time.Duration, host func() time.Time, log *slog.Logger, target watchTarget) *ReplicationWatch {
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &ReplicationWatch{db: db, flavor: flavor, interval: interval, host: hostClock(host), log: log, target: target, changed: make(chan struct{})}
}

func (*ReplicationWatch) Name() string { return "replica-status" }

// Claim returns the latest proven claim (zero At before the first).
func (w *ReplicationWatch) Claim(context.Context) (Claim, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Claim{At: w.vouched, Clock: w.clock}, nil
}

// Changed is closed at the next reading.
func (w *ReplicationWatch) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Clock reads the replica's clock: the replica-status proof's claims are
// in it (a replica's clock is taken to agree with its primary's).
func (w *ReplicationWatch) Clock(ctx context.Context) (journal.ClockReading, error) {
	return readServerClock(ctx, w.db, w.host)
}

// Status returns the last reading, whether there is one, and the last
// reading's error.
func (w *ReplicationWatch) Status() (ReplicationStatus, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.have, w.err
}

// Filtered returns the first filter problem any reading of this watch
// showed, nil when none did: once a filter may have dropped a change, the
// span that was open then can never be vouched for again (the follower ends
// it and starts a fresh one once the filter is gone).
func (w *ReplicationWatch) Filtered() *FilterProblem {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.filtered
}

// Run polls until ctx ends.
func (w *ReplicationWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		w.read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read takes one reading and records it.
func (w *ReplicationWatch) read(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, max(w.interval, 5*time.Second))
	st, err := ReadReplicationStatus(rctx, w.db, w.flavor, w.host)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil && w.target.database != "" {
		st.JudgeFilters(w.target.database, bridge.Table, w.target.ownServerID, w.flavor)
	}
	w.observe(st, err)
}

// observe records a reading and advances the claim it proves.
func (w *ReplicationWatch) observe(st ReplicationStatus, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil && !errors.Is(err, errNotReplica) {
			w.log.Warn("cannot read the replica's replication status; coverage stops advancing past what the replica has applied", "error", err)
		}
		w.err = err
		w.idle.reset()
		w.notifyLocked()
		return
	}
	if was, is := w.cur.Problem(), st.Problem(); w.have && was != is || !w.have && is != "" {
		if is != "" {
			w.log.Error("REPLICATION NOT CURRENT: coverage ends at the last primary time the replica applied; /events answers mixed past it", "problem", is)
		} else {
			w.log.Info("replication running again", "io_thread", st.IOThread, "sql_thread", st.SQLThread)
		}
	}
	if st.Filtered != nil && w.filtered == nil {
		w.filtered = st.Filtered
	}
	var v time.Time
	if w.flavor == FlavorMySQL {
		v = w.idle.observe(st)
	} else {
		v = provenBy(w.cur, w.have, st)
	}
	if v.After(w.vouched) && w.filtered == nil {
		w.vouched, w.clock = v, st.Clock
	}
	w.cur, w.have, w.err = st, true, nil
	w.notifyLocked()
}

func (w *ReplicationWatch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// provenBy is, on MariaDB, the primary time before which the replica has
// provably applied everything, given the previous reading (if any) and the
// current one; zero when the current reading proves nothing. MariaDB's dump
// thread sends heartbeats only at its binlog end, so a heartbeat counted
// between two readings proves the first reading's time. A reading with a
// filter that may leave the table out proves nothing, nor does a heartbeat
// counted since one. (MySQL's heartbeats need more: idleheartbeat.go.)
func provenBy(prev ReplicationStatus, havePrev bool, cur ReplicationStatus) time.Time {
	if !cur.Running() || !cur.AppliedAll || cur.Filtered != nil {
		return time.Time{}
	}
	if havePrev && prev.Running() && prev.Filtered == nil && cur.Heartbeats > prev.Heartbeats {
		return prev.ReadAt.Add(-heartbeatTransit)
	}
	return time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
