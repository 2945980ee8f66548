package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/logbridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	driver "github.com/go-sql-driver/mysql"
)

// Config wires a Follower.
type Config struct {
	// Replica is the replica's pool, for status queries and the table
	// snapshot that starts a span; its DSN's database is the one followed.
	Replica *store.DB
	// Journal receives the changes.
	Journal *journal.Journal
	// Info is what Preflight learned.
	Info ServerInfo
	// ServerID is the replication server id; it must be unique among the
	// replica's replicas.
	ServerID uint32
	// Heartbeat is the replication heartbeat period; a silent connection is
	// declared dead after three.
	Heartbeat time.Duration
	// MaxBatch bounds the transactions grouped into one journal commit.
	MaxBatch int
	// MaxBatchEvents and MaxBatchRows bound the transitions and the rows a
	// commit carries, and so the follower's memory while it catches up;
	// zero means the defaults (maxBatchEvents, maxBatchRows).
	MaxBatchEvents, MaxBatchRows int
	// MaxCommitPages bounds the pages a catch-up commit writes (and bbolt
	// holds in memory until then): each batch's rows cap is sized from the
	// last commit's pages per row (rowsCapFor). Zero means maxCommitPages
	// (4096); negative turns the bound off, leaving MaxBatchRows alone (the
	// benchmarks compare the two).
	MaxCommitPages int
	// MaxBatchAge is how long a batch waits for more transactions while
	// the follower catches up; zero means the default (maxBatchAge). A
	// live change never waits for it.
	MaxBatchAge time.Duration
	// Logger receives state changes; nil means slog.Default().
	Logger *slog.Logger
	// Now is the bridge host's clock; nil means time.Now. Coverage instants
	// are read from the servers (clock.go); the host's clock only bounds
	// those readings and paces waits.
	Now func() time.Time
	// Primary, when set, is a read-only pool on Jetmon's database on its
	// primary (-primary-dsn, or -write-dsn): while the followed server is
	// a replica, the primary's GTID position is the exact coverage proof,
	// and while coverage is held its table is what the replica's is
	// compared with (tablecheck.go). PrimaryFlag names where it came from
	// in messages.
	Primary     *store.DB
	PrimaryFlag string
	// HoldCheckInterval paces the comparisons with the primary while
	// coverage is held (hold.go); zero means 30 s.
	HoldCheckInterval time.Duration
	// PollInterval paces the replication watch, the self proof's role
	// check and the primary proof's background confirmations; zero means
	// 500 ms.
	PollInterval time.Duration
}

// Follower streams the replica's binlog into the journal.
type Follower struct {
	cfg Config
	dsn *driver.Config
	db  *sql.DB
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	server   journal.ServerIdentity // the server streamed from last
	settled  Position               // everything before it is committed to the journal or irrelevant
	gtids    mysql.GTIDSet          // the GTID set committed with settled (nil when unknown); never changed in place
	received Position               // the last event read from the stream
	state    bridge.FollowerState
	lastErr  error
	moved    chan struct{} // closed when settled advances

	restarts                    // RestartCoverage (restart.go)
	conn      *connection       // the current connection's role and proof (role.go); nil between connections
	proofName string            // the last connection's proof
	lastWatch *ReplicationWatch // the last connection's replication watch, nil when it followed the primary
	endReason string            // a span end a failed commit still owes (see endCoverage)
	lastCheck *TableCheck       // the last comparison with the primary (tablecheck.go)

	// checkMu runs one comparison with the primary at a time.
	checkMu sync.Mutex

	// lastProof is the last layout the applier proved, so that a stream
	// restarted inside its stretch proves it again cheaply (layoutproof.go);
	// only the applier's goroutine uses it.
	lastProof *provenLayout
	// committed, when set, is called with each batch's checkpoint once the
	// batch is durable (tests watch where batches end).
	committed func(journal.Checkpoint)
	// batchRows is the rows cap the last commits' pages set (rowsCapFor),
	// kept across streams; 0 before the first commit.
	batchRows atomic.Int64
}

// rowsCap is the rows cap of the batch being filled: what the last
// commit's pages per row allow (rowsCapFor), at most limit.
func (f *Follower) rowsCap(limit int) int {
	if f.cfg.MaxCommitPages < 0 {
		return limit
	}
	if n := int(f.batchRows.Load()); n > 0 {
		return min(n, limit)
	}
	return min(firstBatchRows, limit)
}

// noteCommitPages sizes the next batches from a commit of rows rows that
// wrote pages pages.
func (f *Follower) noteCommitPages(rows, pages int) {
	f.batchRows.Store(int64(rowsCapFor(int(f.batchRows.Load()), rows, pages, f.cfg.MaxBatchRows, f.cfg.MaxCommitPages)))
}

// New returns a follower; Run starts it.
func New(cfg Config) (*Follower, error) {
	if cfg.Replica == nil || cfg.Journal == nil {
		return nil, errors.New("binlog: Config needs Replica and Journal")
	}
	dsn := cfg.Replica.Config()
	if dsn.Net != "tcp" {
		return nil, fmt.Errorf("-dsn must use tcp(host:port): replication over %q is not supported", dsn.Net)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 20000
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = maxBatchEvents
	}
	if cfg.MaxBatchRows <= 0 {
		cfg.MaxBatchRows = maxBatchRows
	}
	if cfg.MaxCommitPages == 0 {
		cfg.MaxCommitPages = maxCommitPages
	}
	if cfg.MaxBatchAge <= 0 {
		cfg.MaxBatchAge = maxBatchAge
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.HoldCheckInterval <= 0 {
		cfg.HoldCheckInterval = defaultHoldCheckInterval
	}
	if cfg.PrimaryFlag == "" {
		cfg.PrimaryFlag = "-primary-dsn"
	}
	f := &Follower{cfg: cfg, dsn: dsn, db: cfg.Replica.SQL(), log: cfg.Logger, now: cfg.Now, state: bridge.FollowerStarting, moved: make(chan struct{})}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f, nil
}

// Info is what the preflight learned about the followed server.
func (f *Follower) Info() ServerInfo { return f.cfg.Info }

// Status is the follower's state for /healthz and the Monitor.
type Status struct {
	State    bridge.FollowerState `json:"state"`
	Position string               `json:"position"`
	// Server is the identity of the server followed (empty before the
	// first connection).
	Server string `json:"server,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Status reports where the follower is.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{State: f.state, Position: f.settled.String()}
	if f.server.Addr != "" {
		s.Server = f.server.String()
	}
	if f.lastErr != nil {
		s.Error = f.lastErr.Error()
	}
	return s
}

func (f *Follower) setState(state bridge.FollowerState, err error) {
	f.mu.Lock()
	f.state, f.lastErr = state, err
	f.mu.Unlock()
}

// settle records that everything before p is durable or irrelevant, and
// gtids (when known) the GTID set committed with it.
func (f *Follower) settle(p Position, gtids mysql.GTIDSet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.File != "" && p.Compare(f.settled) > 0 {
		f.settled = p
		if gtids != nil {
			f.gtids = gtids
		}
		close(f.moved)
		f.moved = make(chan struct{})
	}
}

// serverName is the identity of the server streamed from.
func (f *Follower) serverName() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.server.String()
}

// restartAt sets where a new stream begins, on the server id: positions of
// the server streamed from before are not compared with the new server's.
func (f *Follower) restartAt(id journal.ServerIdentity, p Position, gtids mysql.GTIDSet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.server, f.settled, f.gtids = id, p, gtids
	close(f.moved)
	f.moved = make(chan struct{})
}

// Run follows the binlog from the journal's checkpoint until ctx ends (nil)
// or the stream fails (the error says why). It calls ready once streaming.
// Nothing is lost or repeated across calls: each starts from the checkpoint
// the journal committed last.
func (f *Follower) Run(ctx context.Context, ready func()) error {
	err := f.run(ctx, ready) // every stream attaches the journal (attachJournal)
	f.detachJournal()
	if ctx.Err() != nil {
		f.setState(bridge.FollowerStopped, nil)
		return nil
	}
	f.setState(bridge.FollowerFailed, err)
	return err
}

func (f *Follower) run(ctx context.Context, ready func()) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		// Read at every connection: the address may lead to another
		// server after a failover, within one run of the bridge too, and
		// the server's role decides the proof (role.go).
		id, err := ReadIdentity(ctx, f.db, f.cfg.Info.Flavor, f.dsn.Addr)
		if err != nil {
			return err
		}
		c, err := f.connect(ctx, id)
		if err != nil {
			return err
		}
		err = f.follow(c, ready)
		c.close()
		f.mu.Lock()
		f.conn = nil
		f.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// follow follows the server of one connection: it ends or begins coverage
// as the server's state requires, then streams until the stream fails
// (the error), ctx ends, or the connection is ended for a reason the
// follower answers by connecting again (nil).
func (f *Follower) follow(c *connection, ready func()) error {
	ctx, id := c.ctx, c.id
	if f.endReason != "" {
		if err := f.endCoverage(f.endReason); err != nil {
			return err
		}
	}
	if h, held := f.cfg.Journal.Held(); held {
		if _, open := f.cfg.Journal.OpenSpan(); open {
			// Held before a stop that came before the span ended.
			if err := f.endCoverage(h.Reason); err != nil {
				return err
			}
		}
		if c.self != nil {
			// Promoted: the followed server's table is the truth now.
			if _, err := f.releaseHold(h, "the followed server is the primary now: its own table is the truth"); err != nil {
				return err
			}
		}
	}
	if c.watch != nil {
		if st, have, _ := c.watch.Status(); have && st.Filtered != nil {
			if err := f.filterEnds(st.Filtered); err != nil {
				return err
			}
			f.setState(bridge.FollowerStarting, st.Filtered)
			if err := c.waitUnfiltered(); err != nil {
				return f.ended(c, err)
			}
			if _, held := f.cfg.Journal.Held(); held {
				f.log.Warn("replication filter removed: coverage stays held, as the filter may have left the replica's rows stale; "+f.holdFix(), "server", id.String())
			} else {
				f.log.Info("replication filter removed: coverage starts again from a fresh snapshot", "server", id.String())
			}
		}
	}
	f.takeReleased()
	_, held := f.cfg.Journal.Held()
	cp, ok := f.cfg.Journal.Checkpoint()
	if !ok {
		f.log.Info("fresh journal: following from the replica's current position", "server", id.String())
		return f.beginSpan(c, "", time.Time{})
	}
	if _, open := f.cfg.Journal.OpenSpan(); !open && !held {
		f.log.Info("no coverage span is open: starting one from a fresh snapshot", "server", id.String())
		return f.beginSpan(c, "", time.Time{})
	}
	if r := f.takeRestart(); r != nil {
		f.log.Warn("coverage span ends and a fresh one starts from a new snapshot of the table",
			"reason", r.reason, "span_ends_at", r.closeAt)
		if err := f.beginSpan(c, r.reason, r.closeAt); err != nil {
			f.RestartCoverage(r.span, r.reason, r.closeAt) // carried out at the next attempt
			return err
		}
		return nil
	}
	how, err := f.planResume(ctx, cp, id)
	if err != nil {
		return err
	}
	if how == resumeNewSpan {
		f.log.Error("COVERAGE GAP: the followed server changed and cannot continue the journal's checkpoint "+
			"(no GTIDs, or not the same replication history); recording a gap and following from the new server's current position; "+
			"/events falls back to synthesis inside the gap",
			"checkpoint", cp.String(), "server", id.String())
		return f.beginSpan(c, ReasonServerChanged, time.Time{})
	}
	sctx, streamed := f.streamContext(ctx)
	err = f.stream(sctx, c, cp, how == resumeByGTID, ready)
	streamed()
	if ctx.Err() != nil {
		return f.ended(c, nil)
	}
	if f.restartPending() {
		return nil // carried out at the next connection, before it streams
	}
	var lost *coverageLost
	if errors.As(err, &lost) {
		f.log.Error("COVERAGE GAP: "+lost.reason+": "+lost.detail+"; recording a gap and following from the replica's current position "+
			"with a fresh snapshot of the table; /events falls back to synthesis inside the gap",
			"checkpoint", cp.String(), "reason", lost.reason)
		return f.beginSpan(c, lost.reason, time.Time{})
	}
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		reason := fmt.Sprintf("binlog from %s can no longer be read (%s)", cp, me.Message)
		f.log.Error("COVERAGE GAP: the journal's checkpoint cannot be resumed (binlog purged?); "+
			"recording a gap and following from the replica's current position; /events falls back to synthesis inside the gap",
			"checkpoint", cp.String(), "error", me.Message)
		return f.beginSpan(c, reason, time.Time{})
	}
	return err
}

// ended answers a connection ended by its context: a filter that may have
// dropped changes ends the span; a role change or a coverage restart is
// served by connecting again; the follower's own end is nil too.
func (f *Follower) ended(c *connection, err error) error {
	cause := context.Cause(c.ctx)
	var ci *coverageInterrupted
	switch {
	case errors.As(cause, &ci):
		return f.filterEnds(ci.problem)
	case errors.Is(cause, errRoleChanged), errors.Is(cause, context.Canceled):
		return nil
	}
	return err
}

// endCoverage closes the open span with reason and opens none: a filter
// may have dropped a change to the table, so nothing the span covered
// after its last proof can be vouched for, and coverage starts again only
// from a fresh snapshot (follow, once the filter is gone and no hold
// remains). The span keeps what was proved before: its end is the last
// confirmation, or where a reconcile took it back to. A failed commit is
// retried at the next connection.
func (f *Follower) endCoverage(reason string) error {
	f.endReason = reason
	if _, open := f.cfg.Journal.OpenSpan(); !open {
		f.endReason = ""
		return nil
	}
	f.log.Error("COVERAGE GAP: coverage ends at the last instant proved, and starts again from a fresh snapshot once the cause is gone "+
		"(after a replication filter, once the replica's table is re-synchronized); /events answers mixed past it", "reason", reason, "vouched_to", f.cfg.Journal.Confirmed())
	b := &journal.Batch{CoveredTo: f.cfg.Journal.Confirmed().Truncate(time.Second), EndSpan: reason, EndSpanAt: f.takenBackTo(time.Time{})}
	if err := f.cfg.Journal.Commit(b); err != nil {
		return err
	}
	f.endReason = ""
	return nil
}

// takenBackTo is where a span ended without a fresh one must end: at
// closeAt when set, else where a reconcile took the open span back to
// (Journal.Suspected), else (zero) at its vouched end.
func (f *Follower) takenBackTo(closeAt time.Time) time.Time {
	if !closeAt.IsZero() {
		return closeAt
	}
	if _, from, ok := f.cfg.Journal.Suspected(); ok {
		return from
	}
	return time.Time{}
}

// beginSpan starts coverage at the current position of the connection's
// server with a fresh snapshot of the table's rows, closing the previous
// span with reason (and, when closeAt is set, at closeAt: see
// RestartCoverage). The span starts at the next whole second of the proof's
// clock read after the position: every change logged before the position
// was committed before that instant.
func (f *Follower) beginSpan(c *connection, reason string, closeAt time.Time) error {
	ctx, id := c.ctx, c.id
	f.setState(bridge.FollowerSnapshotting, nil)
	pos, err := CurrentPosition(ctx, f.db, f.cfg.Info.Flavor)
	if err != nil {
		return err
	}
	clock, err := c.proof.Clock(ctx)
	if err != nil {
		return err
	}
	f.cfg.Journal.ObserveClock(clock)
	start := clock.Server.Truncate(time.Second).Add(time.Second)
	// The checkpoint carries no layout: the columns read now may be newer
	// than pos, so the first row that needs one has it proven from there
	// (layoutproof.go). Reading them says whether the table is there.
	if _, err := readColumns(ctx, f.db, f.dsn.DBName); err != nil {
		return err
	}
	b := &journal.Batch{
		ResetMonitors: true,
		Checkpoint: &journal.Checkpoint{
			Flavor: string(f.cfg.Info.Flavor), File: pos.File, Pos: pos.Pos, Server: &id,
		},
		NewSpan: &journal.SpanStart{Start: start, GapReason: reason, Server: id.String(), CloseAt: closeAt},
	}
	if f.cfg.Info.GTID {
		b.Checkpoint.GTIDSet = pos.GTIDSet
	}
	if _, held := f.cfg.Journal.Held(); held {
		// No span while coverage is held: the follower follows on from
		// here with the table's rows as they are, vouching for nothing.
		b.NewSpan = nil
		if _, open := f.cfg.Journal.OpenSpan(); open {
			if reason == "" {
				reason = "coverage held"
			}
			b.EndSpan, b.EndSpanAt = reason, f.takenBackTo(closeAt)
		}
	}
	// Rows changed after pos but read here are replayed from the binlog
	// later; replaying a row image is idempotent.
	err = f.cfg.Replica.AllMonitors(ctx, func(m bridge.Monitor) error {
		b.Monitors = append(b.Monitors, m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", bridge.Table, err)
	}
	if err := f.cfg.Journal.Commit(b); err != nil {
		return err
	}
	if b.NewSpan == nil {
		f.log.Warn("following from a fresh snapshot with coverage held: no span vouches until the hold is released", "position", b.Checkpoint.String(), "monitors", len(b.Monitors))
		return nil
	}
	f.log.Info("coverage span started", "at", start, "position", b.Checkpoint.String(), "monitors", len(b.Monitors))
	return nil
}

// syncerConfig builds go-mysql's configuration from the DSN.
func (f *Follower) syncerConfig(handler replication.EventHandler) (replication.BinlogSyncerConfig, error) {
	host, portStr, err := net.SplitHostPort(f.dsn.Addr)
	if err != nil {
		host, portStr = f.dsn.Addr, "3306"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return replication.BinlogSyncerConfig{}, fmt.Errorf("-dsn port %q: %w", portStr, err)
	}
	return replication.BinlogSyncerConfig{
		ServerID:                f.cfg.ServerID,
		Flavor:                  string(f.cfg.Info.Flavor),
		Host:                    host,
		Port:                    uint16(port),
		User:                    f.dsn.User,
		Password:                f.dsn.Passwd,
		TLSConfig:               f.dsn.TLS,
		ParseTime:               true,
		HeartbeatPeriod:         f.cfg.Heartbeat,
		ReadTimeout:             3 * f.cfg.Heartbeat,
		Dialer:                  lazyDeadlineDialer(deadlineResolution(3 * f.cfg.Heartbeat)),
		DisableRetrySync:        true,
		SynchronousEventHandler: handler,
		RowsEventDecodeFunc:     deferRows(f.dsn.DBName, bridge.Table),
		Logger:                  logbridge.BinlogSyncer(f.log),
		Localhost:               "jetmon-bridge",
	}, nil
}

// deadlineResolution is how late past a read timeout a silent connection
// may be noticed: an eighth of the timeout, at most a second.
func deadlineResolution(timeout time.Duration) time.Duration {
	return min(timeout/8, time.Second)
}

// stream runs one replication connection from cp on the server id until it
// fails. switched says that cp was written following another server, which
// has applied the same GTIDs (planResume): the stream then starts from the
// GTID set alone, and its first commit opens a span on the new server
// where the last one ended.
func (f *Follower) stream(ctx context.Context, c *connection, cp journal.Checkpoint, switched bool, ready func()) error {
	id := c.id
	previous := cp.Server
	cp.Server = &id // every checkpoint from here on records the server
	if switched {
		cp.File, cp.Pos = "", 0 // the other server's coordinates
	}
	// A checkpoint without a layout (or with one that lacks a column the
	// bridge reads) has it proven before the first row needs it
	// (layoutproof.go).
	lay, err := newLayout(cp.Columns)
	known := err == nil
	// A small buffer: one multi-row event can carry thousands of decoded
	// rows, and the buffer only has to cover a commit's pause.
	events := make(chan *replication.BinlogEvent, 256)
	stop := make(chan struct{})
	handler := handlerFunc(func(e *replication.BinlogEvent) error {
		if steppedOver(e) {
			return nil
		}
		select {
		case events <- e:
			return nil
		case <-stop:
			return errStopped
		}
	})
	scfg, err := f.syncerConfig(handler)
	if err != nil {
		return err
	}
	bye := newGoodbye(&scfg, f.log)
	syncer := replication.NewBinlogSyncer(scfg)
	defer func() { close(stop); bye.close(syncer) }()

	var streamer *replication.BinlogStreamer
	if cp.GTIDSet != "" && f.cfg.Info.GTID {
		gset, err := mysql.ParseGTIDSet(string(f.cfg.Info.Flavor), cp.GTIDSet)
		if err != nil {
			return fmt.Errorf("journal checkpoint GTID set %q: %w", cp.GTIDSet, err)
		}
		streamer, err = syncer.StartSyncGTID(gset)
		if err != nil {
			return fmt.Errorf("start replication at GTID %s: %w", cp.GTIDSet, err)
		}
	} else {
		streamer, err = syncer.StartSync(mysql.Position{Name: cp.File, Pos: cp.Pos})
		if err != nil {
			return fmt.Errorf("start replication at %s:%d: %w", cp.File, cp.Pos, err)
		}
	}
	streamErr := make(chan error, 1)
	go func() {
		_, err := streamer.GetEvent(ctx) // with a handler set, only errors come out
		streamErr <- err
	}()

	a := newApplier(f, cp, lay, known)
	a.conn = c
	if _, open := f.cfg.Journal.OpenSpan(); switched && !open {
		// Coverage is held: no span opens, contiguous or not.
		f.log.Warn("FOLLOWED SERVER CHANGED: resuming by GTID set on the new server with coverage held",
			"from", previous.String(), "to", id.String(), "gtid_set", cp.GTIDSet)
	} else if switched {
		f.log.Warn("FOLLOWED SERVER CHANGED: resuming by GTID set on the new server; the old server's binlog positions are not used",
			"from", previous.String(), "to", id.String(), "gtid_set", cp.GTIDSet)
		// Contiguous: the span starts where the last one ended; Start only
		// serves a journal without one.
		start, _ := f.cfg.Journal.ServerNow()
		a.pendingSpan = &journal.SpanStart{Start: start, Contiguous: true, GapReason: reasonSwitchedByGTID, Server: id.String()}
	}
	if end, err := CurrentPosition(ctx, f.db, f.cfg.Info.Flavor); err == nil {
		a.catchUpTo = end.Position
	} else {
		f.log.Warn("could not read the binlog's end; committing as if live", "err", err)
	}
	f.restartAt(id, Position{cp.File, cp.Pos}, parseGTIDs(f.cfg.Info.Flavor, cp.GTIDSet))
	f.attachJournal()
	if c.watch != nil {
		// On a replica, claims grow with the watch's readings (and the
		// primary's position), not with heartbeats: confirm them as they
		// come, and end the connection at the first filter or role change.
		vctx, stopVouching := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() { stopVouching(); wg.Wait() }()
		wg.Go(func() { f.vouchInBackground(vctx, c) })
		wg.Go(func() { c.watchStream(vctx) })
		if _, held := f.cfg.Journal.Held(); held && f.cfg.Primary != nil {
			wg.Go(func() { f.checkHoldInBackground(vctx, c) })
		}
	}
	f.setState(bridge.FollowerFollowing, nil)
	f.log.Info("following the replica's binlog", "from", cp.String(), "server_id", f.cfg.ServerID)
	readySent := false
	return a.loop(ctx, events, streamErr, func() {
		if !readySent {
			readySent = true
			if ready != nil {
				ready()
			}
		}
	})
}

var errStopped = errors.New("follower stopped")

// steppedOver reports the events the applier would only step over: table
// maps, and rows events of other tables (deferRows left them undecoded).
// They are dropped before the channel to the applier, which on a shared
// replica's stream they would mostly fill. Dropping them moves no
// checkpoint: they lie inside a transaction, whose end event follows with
// a later position.
func steppedOver(e *replication.BinlogEvent) bool {
	switch ev := e.Event.(type) {
	case *replication.TableMapEvent:
		return true
	case *replication.RowsEvent:
		_, followed := deferred(ev)
		return !followed
	}
	return false
}

type handlerFunc func(*replication.BinlogEvent) error

func (h handlerFunc) HandleEvent(e *replication.BinlogEvent) error { return h(e) }

// probe proves to the journal that everything the primary had committed
// when it was called is in the journal: it asks the current connection's
// Proof what it vouches for, waits until the follower has committed that
// much, and confirms it, until the claim reaches the probe's start or ctx
// ends. A claim short of the start still advances coverage as far as it
// goes. The start is the earliest the followed server's clock can read at
// the call (Journal.ServerNow), as the journal judges requests by.
func (f *Follower) probe(ctx context.Context) error {
	started, _ := f.cfg.Journal.ServerNow()
	for {
		c := f.current()
		if c == nil {
			return errNoConnection
		}
		changed := c.proof.Changed()
		v, err := f.confirmClaim(ctx, c)
		if err != nil {
			return err
		}
		if !v.At.Before(started) || f.coveredTo().After(started) || !f.cfg.Journal.Confirmed().Before(started) {
			return nil
		}
		f.mu.Lock()
		moved := f.moved
		f.mu.Unlock()
		select {
		case <-changed:
		case <-moved:
		case <-c.ctx.Done():
			return fmt.Errorf("the connection to the followed server ended: %w", context.Cause(c.ctx))
		case <-ctx.Done():
			return fmt.Errorf("%s proof vouches only up to %s, short of %s: %w", c.proof.Name(), v.At.Format(time.RFC3339), started.Format(time.RFC3339), ctx.Err())
		}
	}
}

var errNoConnection = errors.New("the follower is not connected to the followed server")

// current is the connection being followed, nil between connections.
func (f *Follower) current() *connection {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

// confirmClaim confirms the source commits the connection's watch lets it
// claim (origin.go), then takes the proof's current claim, waits until the
// follower has committed it and confirms it. Every claim's clock reading
// goes to the journal.
func (f *Follower) confirmClaim(ctx context.Context, c *connection) (Claim, error) {
	f.confirmCommits(c)
	v, err := c.proof.Claim(ctx)
	if !v.Clock.IsZero() {
		f.cfg.Journal.ObserveClock(v.Clock)
	}
	if err != nil || v.At.IsZero() || !v.At.After(f.cfg.Journal.Confirmed()) {
		return v, err
	}
	if err := f.waitClaimCommitted(ctx, v); err != nil {
		return v, err
	}
	f.cfg.Journal.Confirm(v.At)
	return v, nil
}

// confirmCommits confirms the latest source commit the follower has
// committed at or before the connection's clean binlog bound.
func (f *Follower) confirmCommits(c *connection) {
	bound, ok := c.commitBound()
	if !ok {
		return
	}
	f.mu.Lock()
	settled := f.settled
	f.mu.Unlock()
	if settled.Compare(bound) < 0 {
		bound = settled
	}
	if at := c.commits.claim(bound); !at.IsZero() {
		f.cfg.Journal.Confirm(at)
	}
}

// coveredTo is where committed transactions alone have brought coverage:
// their binlog headers carry the primary's timestamps.
func (f *Follower) coveredTo() time.Time {
	spans := f.cfg.Journal.Spans(time.Time{})
	if len(spans) == 0 {
		return time.Time{}
	}
	return spans[len(spans)-1].End
}

// waitClaimCommitted returns once the follower has committed the claim v:
// its GTID set when v has one, else the followed server's binlog as it
// ends now.
func (f *Follower) waitClaimCommitted(ctx context.Context, v Claim) error {
	var end ServerPosition
	if v.GTIDs == nil {
		var err error
		if end, err = CurrentPosition(ctx, f.db, f.cfg.Info.Flavor); err != nil {
			return err
		}
	}
	for {
		f.mu.Lock()
		reached := f.settled.Compare(end.Position) >= 0
		if v.GTIDs != nil {
			reached = f.gtids != nil && f.gtids.Contain(v.GTIDs)
		}
		moved := f.moved
		f.mu.Unlock()
		if reached {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			if v.GTIDs != nil {
				return fmt.Errorf("follower has not yet committed the primary's GTID set %s: %w", v.GTIDs, ctx.Err())
			}
			return fmt.Errorf("follower still behind %s: %w", end.Position, ctx.Err())
		}
	}
}

// vouchInBackground confirms the proof's claims as they grow, and the
// source commits as the follower commits them, so coverage advances without
// a request asking for it (self-proof followers get the same from
// replication heartbeats).
func (f *Follower) vouchInBackground(ctx context.Context, c *connection) {
	for {
		f.mu.Lock()
		moved := f.moved
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-moved:
			f.confirmCommits(c)
			continue
		case <-c.proof.Changed():
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := f.confirmClaim(cctx, c); err != nil && ctx.Err() == nil {
			f.log.Debug("coverage not advanced", "proof", c.proof.Name(), "error", err)
		}
		cancel()
	}
}

// Settled returns the position before which everything is committed to the
// journal, once the follower has started.
func (f *Follower) Settled() (Position, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settled, f.settled.File != ""
}
