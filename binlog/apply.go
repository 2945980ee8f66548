package binlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// maxBatchAge (the default of Config.MaxBatchAge) is how long a commit is
// deferred while catching up, unless the previous commit is still running;
// maxBatchEvents and maxBatchRows (the defaults of Config.MaxBatchEvents and
// MaxBatchRows) bound a batch whatever the commits do. A commit's cost is
// mostly the blogs it touches (it rewrites each one's last run), so larger
// batches catch up faster; but while one batch is committed the next fills,
// and the commit holds bbolt's copy of every page it rewrites. A batch holds 17 bytes per event and
// about 45 and its URL per row it changes (journal.Batch.AddEvent,
// SetMonitor).
// Measured with 100,000 monitors (docs/BENCHMARKS.md, catch-up note 8):
// 2^19 events peaked at 59-75 MiB of live heap; 2^18 at 50-52 MiB, but at
// 2.29-2.58 us of CPU per transition against the bare decoder's 2.15-2.26;
// 3*2^17 at 55-57 MiB and 1.96-2.02 us (2.12-2.19).
const (
	maxBatchAge    = time.Second
	maxBatchEvents = 3 << 17
	maxBatchRows   = 1 << 18
)

// The rows a batch changes also bound the blogs its commit touches (each
// transition changes its monitor's row), and so the pages the commit
// rewrites, which bbolt holds in memory until they are written. How many
// pages a blog costs depends on the journal: in a small one the last runs
// of many blogs share a leaf, in a large one each blog's runs fill leaves
// of their own and a commit dirties about one leaf per blog it touches
// (catching up 100,000 blogs into a journal of 5M events wrote about 15,000
// pages; at 100M events it would be about 100,000, 400 MiB). So the rows cap
// is sized from the last commit: rowsCapFor keeps the pages of the next one
// near maxCommitPages, between minBatchRows and Config.MaxBatchRows, starting
// from firstBatchRows before a commit has shown the journal's pages per row
// (docs/bench-notes.md, catch-up note 9).
const (
	maxCommitPages = 4096 // 16 MiB of pages
	minBatchRows   = 1 << 10
	firstBatchRows = 1 << 12
)

// rowsCapFor is the rows cap after a commit of rows rows that wrote pages
// pages: the rows that would write about budget pages at the same pages
// per row, within [minBatchRows, limit]. Commits of fewer than minBatchRows
// rows, whose pages are mostly the commit's fixed cost (branch pages, the
// meta page), keep the cap as it was (prev; firstBatchRows when 0).
func rowsCapFor(prev, rows, pages, limit, budget int) int {
	if prev <= 0 {
		prev = firstBatchRows
	}
	next := prev
	if rows >= minBatchRows && pages > 0 {
		next = int(int64(rows) * int64(budget) / int64(pages))
	}
	return max(min(next, limit), min(minBatchRows, limit))
}

// DefaultMaxBatchRows and DefaultMaxCommitPages are Config.MaxBatchRows's
// and MaxCommitPages's defaults, for the benchmarks that report them.
const (
	DefaultMaxBatchRows   = maxBatchRows
	DefaultMaxCommitPages = maxCommitPages
)

// applier turns a stream of binlog events into journal batches. It keeps
// the transaction being read apart from the batch of finished ones, so a
// stream that breaks mid-transaction loses nothing that was committed and
// commits nothing that was not.
//
// A batch is committed in the background while the next one fills (two
// buffers, at most one commit running), so that a catch-up decodes and
// commits at once; every return from loop waits for that commit first.
type applier struct {
	f       *Follower
	ctx     context.Context // loop's: for the queries the applier makes itself
	conn    *connection     // what the followed server is, and what vouches for it (role.go)
	lay     layout
	decoder rowDecoder
	images  []bridge.Monitor // the rows event being applied, decoded
	schema  []byte
	table   []byte
	// layKnown says lay is proven for the rows that follow; until it is,
	// laySince is where it is to be proven from (layoutproof.go).
	layKnown bool
	laySince Position

	pos     Position // after the last event read
	cp      journal.Checkpoint
	inTxn   bool
	txn     []change
	txnTime time.Time
	gtid    string // the transaction's GTID, when announced (txngtid.go)
	// savepoints are the open transaction's (savepoint.go); xaGSet is the
	// GTID set an XA transaction being prepared ends with (xa.go).
	savepoints []savepoint
	xaGSet     interface{ String() string }

	batch      *journal.Batch
	batchStart time.Time
	batchPos   Position
	dirty      bool // batch holds a checkpoint to commit

	committing chan error // while a commit runs: receives its result

	// gtids is every GTID committed so far, for proofs that compare GTID
	// sets: MariaDB's are tracked from its GTID events (a stream started by
	// position carries no set), MySQL's come with each commit when the
	// stream started by GTID. nil when unknown.
	gtids       mysql.GTIDSet
	pendingGTID *mysql.MariadbGTID

	// pendingSpan, when set, opens a span on a server the follower has
	// switched to; the first commit carries it, once the server streams.
	pendingSpan *journal.SpanStart

	// catchUpTo is the server's binlog end when the stream started; zero
	// once reached, or when it could not be read.
	catchUpTo Position
	ageTimer  *time.Timer // wakes a catch-up batch that reached maxBatchAge
}

// rowState is a row as it stands after a change: its new image, or gone.
type rowState struct {
	monitor bridge.Monitor
	deleted bool
}

// change is one row-level change and the transition it makes, if any. It
// is held by value: a catch-up makes millions of them.
type change struct {
	rowState
	hasEvent bool
	// atEventTime says the event's time is its binlog event's (the update
	// left last_status_change alone): an XA COMMIT gives it its own (xa.go).
	atEventTime bool
	event       bridge.Event
}

// leftAlone says an update that changed the status left last_status_change
// as it was, so that the transition is dated by its event (and an XA COMMIT
// gives it its own time: xa.go). A value equal to the before image's and to
// the statement's own second is no proof of that: Jetmon sets it to NOW()
// with every change, and two changes of a row within one second write the
// same value; then the row's value, the statement's second, stands.
func leftAlone(before, after bridge.Monitor, at time.Time) bool {
	if after.LastStatusChange.IsZero() {
		return true
	}
	return after.LastStatusChange.Equal(before.LastStatusChange) && !after.LastStatusChange.Equal(at.Truncate(time.Second))
}

// newApplier starts applying at cp. known says that lay, the layout cp
// carries, is proven there; otherwise one is proven from where the stream
// starts (noteStreamStart) before a row needs it.
func newApplier(f *Follower, cp journal.Checkpoint, lay layout, known bool) *applier {
	return &applier{
		f: f, lay: lay, cp: cp, layKnown: known,
		schema:   []byte(f.dsn.DBName),
		table:    []byte(bridge.Table),
		pos:      Position{cp.File, cp.Pos},
		batch:    newBatch(),
		ageTimer: stoppedTimer(),
		gtids:    initialGTIDs(f.cfg.Info.Flavor, cp.GTIDSet),
	}
}

// initialGTIDs is the tracked GTID set a stream starts from: the
// checkpoint's on MariaDB (by domain and server id: origin.go's gtidSeqs),
// none on MySQL until a commit brings one.
func initialGTIDs(flavor Flavor, checkpoint string) mysql.GTIDSet {
	if flavor != FlavorMariaDB {
		return nil
	}
	if seqs := newGTIDSeqs(checkpoint); seqs != nil { // "" is the empty set, to add to
		return seqs
	}
	return nil
}

// parseGTIDs parses a GTID set as the journal records it: nil when it is
// empty or not understood.
func parseGTIDs(flavor Flavor, set string) mysql.GTIDSet {
	if set == "" {
		return nil
	}
	if flavor == FlavorMariaDB {
		if seqs := newGTIDSeqs(set); seqs != nil {
			return seqs
		}
		return nil
	}
	g, err := mysql.ParseGTIDSet(string(flavor), set)
	if err != nil {
		return nil
	}
	return g
}

// loop applies events until the stream fails or ctx ends. It commits the
// batch whenever the stream has nothing more buffered, so a live change is
// durable within one fsync of arriving, while a backlog shares commits.
// Until it reaches the end the server's binlog had when the stream started
// (catchUpTo), a pause in the stream is not the end of a backlog but a
// network read: batches are then committed by age or size.
func (a *applier) loop(ctx context.Context, events <-chan *replication.BinlogEvent, streamErr <-chan error, ready func()) error {
	a.ctx = ctx
	err := a.run(ctx, events, streamErr, ready)
	var lost *coverageLost
	if errors.As(err, &lost) {
		// The transactions before the one that lost coverage are whole and
		// were decoded by proven layouts: commit them; the open one goes.
		if serr := a.sync(); serr != nil {
			err = serr
		}
	}
	// Never leave a commit running: the caller commits to the journal next.
	if werr := a.wait(); err == nil {
		err = werr
	}
	return err
}

// runState is where applier.run is between two events (docs/ARCHITECTURE.md,
// "The applier's states"). Each state has a method that waits for what it
// waits for and names the next state; every way out of run passes through
// runStopped with the error to return (nil on a clean stop).
type runState int

const (
	// runIdle: the batch is clean. Wait for an event, the running commit's
	// result, the stream's failure or the stop.
	runIdle runState = iota
	// runFilling: the batch is dirty. Take an event the stream has buffered
	// without waiting; with none buffered the stream has paused.
	runFilling
	// runPaused: the batch is dirty and the stream has nothing buffered.
	// Flush when the pace allows it; else wait for an event, the running
	// commit, the batch's age or the stop.
	runPaused
	// runApplying: an event arrived. Apply it, then flush a batch that is
	// full, or aged with no commit running.
	runApplying
	// runStopped: run returns.
	runStopped
)

// feed is what run reads: the stream's events and its failure, and the
// event taken (for applying).
type feed struct {
	events    <-chan *replication.BinlogEvent
	streamErr <-chan error
	ready     func()
	ev        *replication.BinlogEvent
}

func (a *applier) run(ctx context.Context, events <-chan *replication.BinlogEvent, streamErr <-chan error, ready func()) error {
	in := &feed{events: events, streamErr: streamErr, ready: ready}
	state := a.resting()
	for {
		var err error
		switch state {
		case runIdle:
			state, err = a.idle(ctx, in)
		case runFilling:
			state, err = a.filling(ctx, in)
		case runPaused:
			state, err = a.paused(ctx, in)
		case runApplying:
			state, err = a.applying(in)
		}
		if state == runStopped {
			return err
		}
	}
}

// resting is the state between events: filling while the batch is dirty,
// else idle.
func (a *applier) resting() runState {
	if a.dirty {
		return runFilling
	}
	return runIdle
}

func (a *applier) idle(ctx context.Context, in *feed) (runState, error) {
	select {
	case in.ev = <-in.events:
		return runApplying, nil
	case err := <-a.committing: // never ready while nil
		return a.commitFinished(err)
	case err := <-in.streamErr:
		return a.streamBroke(ctx, in, err)
	case <-ctx.Done():
		return runStopped, a.sync()
	}
}

func (a *applier) filling(ctx context.Context, in *feed) (runState, error) {
	select {
	case in.ev = <-in.events:
		return runApplying, nil
	case <-ctx.Done():
		return runStopped, a.sync()
	default:
		return runPaused, nil
	}
}

func (a *applier) paused(ctx context.Context, in *feed) (runState, error) {
	catchingUp := a.catchingUp() // also notices catchUpTo reached
	if a.committing == nil && (!catchingUp || a.batchAged()) {
		return a.flushed(a.flush())
	}
	// The previous batch is still being committed, or the follower is
	// working through a backlog (whose batches grow until maxBatchAge: a
	// commit's cost is mostly the blogs it touches, so fewer, larger ones go
	// faster): apply what arrives meanwhile.
	var aged <-chan time.Time
	if a.committing == nil {
		a.ageTimer.Reset(a.f.cfg.MaxBatchAge - time.Since(a.batchStart))
		aged = a.ageTimer.C
	}
	select {
	case in.ev = <-in.events:
		a.ageTimer.Stop()
		return runApplying, nil
	case err := <-a.committing:
		return a.commitFinished(err)
	case <-aged:
		return runFilling, nil
	case <-ctx.Done():
		return runStopped, a.sync()
	}
}

func (a *applier) applying(in *feed) (runState, error) {
	in.ready()
	ev := in.ev
	in.ev = nil
	if err := a.apply(ev); err != nil {
		return runStopped, err
	}
	switch {
	case !a.dirty:
		return runIdle, nil
	case a.full():
		return a.flushed(a.flush()) // waits for the running commit
	case a.batchAged():
		if err := a.poll(); err != nil {
			return runStopped, err
		}
		if a.committing == nil {
			return a.flushed(a.flush())
		}
	}
	return runFilling, nil
}

// commitFinished is the transition on the running commit's result: a
// failure stops run, a success leaves the batch as it is.
func (a *applier) commitFinished(err error) (runState, error) {
	a.committing = nil
	if err != nil {
		return runStopped, err
	}
	return a.resting(), nil
}

// flushed is the transition after a flush: idle, or stopped on its error.
func (a *applier) flushed(err error) (runState, error) {
	if err != nil {
		return runStopped, err
	}
	return a.resting(), nil
}

// streamBroke is the transition on the stream's failure: apply what
// arrived before it, commit, and report it (nothing when run was stopped
// meanwhile).
func (a *applier) streamBroke(ctx context.Context, in *feed, err error) (runState, error) {
	for drained := false; !drained; {
		select {
		case ev := <-in.events:
			if aerr := a.apply(ev); aerr != nil {
				return runStopped, aerr
			}
		default:
			drained = true
		}
	}
	if serr := a.sync(); serr != nil {
		return runStopped, serr
	}
	if ctx.Err() != nil {
		return runStopped, nil
	}
	return runStopped, fmt.Errorf("replication stream from %s broke: %w", a.f.dsn.Addr, err)
}

// batchAged says the batch is older than Config.MaxBatchAge.
func (a *applier) batchAged() bool { return time.Since(a.batchStart) > a.f.cfg.MaxBatchAge }

// full reports whether the batch has reached a cap (Config.MaxBatch,
// MaxBatchEvents, and the rows cap the last commit's pages set within
// MaxBatchRows: Follower.rowsCap): it is checked between transactions, so a
// batch goes past a cap by at most the rest of the transaction that
// reached it.
func (a *applier) full() bool {
	cfg := &a.f.cfg
	return a.batch.Transactions >= cfg.MaxBatch || a.batch.EventCount() >= cfg.MaxBatchEvents || a.batch.MonitorCount() >= a.f.rowsCap(cfg.MaxBatchRows)
}

// apply handles one event.
func (a *applier) apply(ev *replication.BinlogEvent) error {
	h := ev.Header
	if _, ok := ev.Event.(*replication.HeartbeatEvent); ok {
		return a.heartbeat(ev) // heartbeat.go
	}
	// Positions only grow within a file. Events the server re-sends when a
	// stream starts (the format description, MariaDB's GTID list) carry
	// their original, earlier positions and must not move the checkpoint
	// back.
	if h.LogPos > a.pos.Pos {
		a.pos.Pos = h.LogPos
	}
	a.noteStreamStart(ev)
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		a.pos = Position{string(e.NextLogName), uint32(e.Position)}
		a.settleIdle()
		return nil
	case *replication.MariadbGTIDEvent:
		a.begin(h)
		gtid := e.GTID
		a.pendingGTID = &gtid
		a.gtid = announcedGTID(e)
		if e.IsStandalone() {
			a.inTxn = false // a DDL or other statement without COMMIT follows
		}
		return nil
	case *replication.GTIDEvent:
		a.gtid = announcedGTID(e)
		return nil // MySQL: BEGIN follows as a query event
	case *replication.QueryEvent:
		return a.query(h, e)
	case *replication.TableMapEvent:
		return nil
	case *replication.RowsEvent:
		return a.rows(h, e)
	case *replication.XIDEvent:
		return a.commit(h, e.GSet)
	case *replication.TransactionPayloadEvent:
		for _, inner := range e.Events {
			if err := a.apply(inner); err != nil {
				return err
			}
		}
		return nil
	case *replication.GenericEvent:
		if h.EventType == replication.XA_PREPARE_LOG_EVENT {
			return a.xaPrepareEvent(h, e.Data)
		}
	}
	a.settleIdle()
	return nil
}

func (a *applier) begin(h *replication.EventHeader) {
	a.inTxn, a.txn, a.txnTime, a.savepoints = true, a.txn[:0], time.Unix(int64(h.Timestamp), 0).UTC(), a.savepoints[:0]
}

// settleIdle advances the checkpoint over an event outside any transaction.
func (a *applier) settleIdle() {
	if a.inTxn || a.pos.Pos == 0 {
		return
	}
	a.cp.File, a.cp.Pos = a.pos.File, a.pos.Pos
	a.markDirty()
}

func (a *applier) markDirty() {
	if !a.dirty {
		a.dirty, a.batchStart = true, time.Now()
	}
	a.batchPos = a.pos
}

// query handles a statement the binlog carries as text. Those that shape
// a transaction (BEGIN, COMMIT, ROLLBACK, savepoints, XA) do so; any other
// is part of the open transaction, or, outside one, commits on its own
// (DDL, or a statement-logged change to a non-transactional table). Any
// statement that may change the table's layout is a layout boundary
// (ddl.go, layoutproof.go).
func (a *applier) query(h *replication.EventHeader, e *replication.QueryEvent) error {
	st := parseTxnStatement(e.Query)
	switch st.kind {
	case stmtBegin:
		a.begin(h)
		return nil
	case stmtCommit:
		return a.commit(h, e.GSet)
	case stmtRollback:
		if !a.inTxn {
			a.settleIdle()
			return nil
		}
		// The group ends, its changes undone.
		a.txn, a.savepoints = a.txn[:0], a.savepoints[:0]
		return a.commit(h, e.GSet)
	case stmtSavepoint, stmtRollbackTo, stmtRelease:
		return a.savepointStatement(st)
	case stmtXAStart, stmtXAEnd, stmtXAPrepare, stmtXACommit, stmtXARollback:
		return a.xaStatement(h, e, st)
	}
	if mayChangeLayout(e.Query, string(e.Schema), a.f.dsn.DBName, bridge.Table) {
		a.layoutBoundary(e.Query)
	}
	if a.inTxn {
		return nil
	}
	a.inTxn = true
	return a.commit(h, e.GSet)
}

func (a *applier) rows(h *replication.EventHeader, e *replication.RowsEvent) error {
	if e.Table == nil || !bytes.Equal(e.Table.Table, a.table) || !bytes.Equal(e.Table.Schema, a.schema) {
		return nil
	}
	kind := e.Type()
	if h.EventType == replication.PARTIAL_UPDATE_ROWS_EVENT {
		kind = replication.EnumRowsEventTypeUpdate
	}
	if kind == replication.EnumRowsEventTypeUnknown {
		// Never skip a change to the followed table silently.
		return fmt.Errorf("rows event of type %s at %s is not understood", h.EventType, a.pos)
	}
	if err := a.layoutFor(e.Table); err != nil {
		return err
	}
	imgs, err := a.decoder.images(e, h.EventType, a.lay, a.images[:0])
	a.images = imgs
	var mismatch *layoutMismatchError
	if errors.As(err, &mismatch) {
		// A proven layout does not fit: never decode by a guess.
		return &coverageLost{reason: ReasonSchemaChanged, detail: fmt.Sprintf("rows of %s at %s: %v", bridge.Table, a.pos, err)}
	}
	if err != nil {
		return fmt.Errorf("decode the rows of %s at %s: %w", bridge.Table, a.pos, err)
	}
	if !a.inTxn {
		a.begin(h)
	}
	at := time.Unix(int64(h.Timestamp), 0).UTC()
	switch kind {
	case replication.EnumRowsEventTypeInsert, replication.EnumRowsEventTypeDelete:
		deleted := kind == replication.EnumRowsEventTypeDelete
		for _, m := range imgs {
			a.txn = append(a.txn, change{rowState: rowState{monitor: m, deleted: deleted}})
		}
	case replication.EnumRowsEventTypeUpdate:
		if len(imgs)%2 != 0 {
			return fmt.Errorf("update at %s has an odd number of row images", a.pos)
		}
		for i := 0; i < len(imgs); i += 2 {
			before, after := imgs[i], imgs[i+1]
			c := change{rowState: rowState{monitor: after}}
			c.event, c.hasEvent = bridge.Transition(before, after, at)
			c.atEventTime = c.hasEvent && leftAlone(before, after, at)
			if before.SiteID != after.SiteID {
				a.txn = append(a.txn, change{rowState: rowState{monitor: before, deleted: true}})
			}
			a.txn = append(a.txn, c)
		}
	}
	return nil
}

// commit ends the current transaction: its changes join the batch with the
// checkpoint after it.
func (a *applier) commit(h *replication.EventHeader, gset interface{ String() string }) error {
	if !a.inTxn {
		a.settleIdle()
		return nil
	}
	a.inTxn = false
	gtid := a.gtid
	first := a.batch.EventCount()
	for i := range a.txn {
		c := &a.txn[i]
		if c.hasEvent {
			a.batch.AddEvent(c.event)
		}
		if c.deleted {
			a.batch.DeleteMonitor(c.monitor.SiteID)
		} else {
			a.batch.SetMonitor(c.monitor)
		}
	}
	a.noteGTID(first)
	a.txn, a.savepoints = a.txn[:0], a.savepoints[:0]
	a.cp.File, a.cp.Pos = a.pos.File, a.pos.Pos
	if gset != nil && a.f.cfg.Info.GTID {
		if s := gset.String(); s != "" {
			a.cp.GTIDSet = s
		}
	}
	a.trackGTID(gset)
	a.coverCommit(h, gtid) // origin.go: on a replica, only the source's commits count
	a.batch.Transactions++
	a.markDirty()
	return nil
}

// trackGTID adds the committed transaction's GTID to a.gtids.
func (a *applier) trackGTID(gset interface{ String() string }) {
	if a.pendingGTID != nil {
		if seqs, ok := a.gtids.(gtidSeqs); ok {
			seqs.add(a.pendingGTID)
		}
		a.pendingGTID = nil
		return
	}
	if g, ok := gset.(mysql.GTIDSet); ok && g != nil && a.f.cfg.Info.Flavor == FlavorMySQL {
		a.gtids = g
	}
}

// flush starts committing the batch, once the previous commit is done, and
// starts the next one.
//
// Each batch is a fresh journal.Batch, so nothing of a committed batch is
// kept for the next. Its events and rows are added with AddEvent and
// SetMonitor, in the journal's compact form (no pointers: the garbage
// collector never scans them).
func (a *applier) flush() error {
	if !a.dirty {
		return nil
	}
	if err := a.wait(); err != nil {
		return err
	}
	b := a.batch
	cp := a.cp.Clone()
	b.Checkpoint = &cp
	b.NewSpan, a.pendingSpan = a.pendingSpan, nil
	// The set keeps growing with the next batch: the follower gets a copy.
	done, pos, gtids := make(chan error, 1), a.batchPos, mysql.GTIDSet(nil)
	if a.gtids != nil {
		gtids = a.gtids.Clone()
	}
	rows := b.MonitorCount() // before Commit discards them
	go func() {
		// The batch's orders are prepared here, off the applier's
		// goroutine, which is the busier one while catching up.
		b.Prepare()
		// On failure nothing was written; the follower fails and resumes
		// from the last checkpoint, so the batch is read again.
		err := a.f.cfg.Journal.Commit(b)
		if err == nil {
			a.f.noteCommitPages(rows, b.PagesWritten)
			a.f.settle(pos, gtids)
			if a.f.committed != nil {
				a.f.committed(cp)
			}
		}
		done <- err
	}()
	a.committing = done
	// The next batch grows as it fills (no room reserved for a backlog's
	// next batch of the same size): while this one is prepared, the two
	// would hold a full batch's events each.
	a.batch = newBatch()
	a.dirty = false
	return nil
}

// newBatch is an empty batch for the applier to fill. A batch is never
// committed twice (after a failed commit the follower reads it again from
// the binlog), so Commit may discard its events and rows once it has
// written them, before bbolt writes its pages.
func newBatch() *journal.Batch { return &journal.Batch{Discard: true} }

// catchingUp reports whether the follower is still short of catchUpTo.
func (a *applier) catchingUp() bool {
	if a.catchUpTo.File != "" && a.pos.Compare(a.catchUpTo) >= 0 {
		a.catchUpTo = Position{}
	}
	return a.catchUpTo.File != ""
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// wait returns once no commit is running, with the last one's error.
func (a *applier) wait() error {
	if a.committing == nil {
		return nil
	}
	err := <-a.committing
	a.committing = nil
	return err
}

// poll notices a finished commit without waiting.
func (a *applier) poll() error {
	select {
	case err := <-a.committing:
		a.committing = nil
		return err
	default:
		return nil
	}
}

// sync commits the batch and waits until it is durable.
func (a *applier) sync() error {
	if err := a.flush(); err != nil {
		return err
	}
	return a.wait()
}
