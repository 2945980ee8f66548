package binlog

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// heartbeatTransit is subtracted from a heartbeat-based claim: a heartbeat
// counted after a reading may have left the primary a moment before it.
const heartbeatTransit = time.Second

// ReplicationWatch polls the followed replica's replication status. It is
// the Proof used when the followed server is a replica and no -primary-dsn
// is given, and the source of replication health for /healthz, the Monitor's
// Replica service and /metrics.
//
// It vouches for a time V only when the replica has provably applied every
// change the primary committed before V: both threads running, the applier
// caught up with what the IO thread received, and the IO thread current with
// its source, shown by a heartbeat (which the primary sends only when it has
// nothing left to send). On MariaDB a heartbeat counted between two readings
// proves the first reading's time; on MySQL 8 performance_schema gives the
// last heartbeat's time. A busy primary sends no heartbeats: its replicated
// commits, whose binlog headers carry the primary's timestamps, advance
// coverage instead. The claim trails the present by about the replica's
// MASTER_HEARTBEAT_PERIOD plus the poll interval plus heartbeatTransit.
type ReplicationWatch struct {
	db       *sql.DB
	flavor   Flavor
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	cur     ReplicationStatus
	have    bool
	err     error
	vouched time.Time
	changed chan struct{}
}

// NewReplicationWatch returns a watch polling db every interval; Run starts it.
func NewReplicationWatch(db *sql.DB, flavor Flavor, interval time.Duration, now func() time.Time, log *slog.Logger) *ReplicationWatch {
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &ReplicationWatch{db: db, flavor: flavor, interval: interval, now: clock(now), log: log, changed: make(chan struct{})}
}

func (*ReplicationWatch) Name() string { return "replica-status" }

// Vouch returns the latest proven claim (zero At before the first).
func (w *ReplicationWatch) Vouch(context.Context) (Vouch, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Vouch{At: w.vouched}, nil
}

// Changed is closed at the next reading.
func (w *ReplicationWatch) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Status returns the last reading, whether there is one, and the last
// reading's error.
func (w *ReplicationWatch) Status() (ReplicationStatus, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.have, w.err
}

// Run polls until ctx ends.
func (w *ReplicationWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(w.interval, 5*time.Second))
		st, err := ReadReplicationStatus(rctx, w.db, w.flavor, w.now)
		cancel()
		if ctx.Err() != nil {
			return
		}
		w.observe(st, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe records a reading and advances the claim it proves.
func (w *ReplicationWatch) observe(st ReplicationStatus, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.log.Warn("cannot read the replica's replication status; coverage stops advancing past what the replica has applied", "error", err)
		}
		w.err = err
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
	if v := provenBy(w.cur, w.have, st); v.After(w.vouched) {
		w.vouched = v
	}
	w.cur, w.have, w.err = st, true, nil
	w.notifyLocked()
}

func (w *ReplicationWatch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// provenBy is the primary time before which the replica has provably applied
// everything, given the previous reading (if any) and the current one; zero
// when the current reading proves nothing.
func provenBy(prev ReplicationStatus, havePrev bool, cur ReplicationStatus) time.Time {
	if !cur.Running() || !cur.AppliedAll {
		return time.Time{}
	}
	if !cur.LastHeartbeat.IsZero() {
		return minTime(cur.LastHeartbeat, cur.ReadAt).Add(-heartbeatTransit)
	}
	if havePrev && prev.Running() && cur.Heartbeats > prev.Heartbeats {
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
