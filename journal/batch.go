package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// Batch is a group of whole binlog transactions committed at once. The
// follower fills it while catching up so that one fsync serves many source
// transactions, and commits it as soon as the stream goes quiet.
type Batch struct {
	// Events are the transitions, in binlog order. Commit assigns their ids.
	// AddEvent adds more after them, more compactly.
	Events []bridge.Event
	// Monitors are rows as they stand after the batch (inserted or updated).
	Monitors []bridge.Monitor
	// Deleted are the primary keys of deleted rows. A row in both Deleted
	// and Monitors is kept. SetMonitor and DeleteMonitor change rows after
	// both.
	Deleted []uint64
	// ResetMonitors drops all stored rows before Monitors are written: the
	// batch carries a complete snapshot of the table.
	ResetMonitors bool
	// Checkpoint is the position after the batch's last transaction.
	Checkpoint *Checkpoint
	// CoveredTo advances the open span's end: every change committed before
	// it is in the journal once the batch is.
	CoveredTo time.Time
	// NewSpan, when set, closes the open span (the binlog could not be
	// resumed) and opens a new one.
	NewSpan *SpanStart
	// EndSpan, when set, closes the open span with this gap reason (after
	// CoveredTo has moved its end) and opens none: coverage stops until a
	// later batch's NewSpan, as when a replication filter may have dropped
	// changes to the table and only a fresh snapshot can start it again.
	EndSpan string
	// EndSpanAt, with EndSpan, ends the span there if it reached further,
	// as SpanStart.CloseAt does: what it vouched for after EndSpanAt is
	// taken back.
	EndSpanAt time.Time
	// Transactions counts the source transactions in the batch.
	Transactions int
	// Txns names the source transactions of the events that have a GTID,
	// in order (see sources.go); events outside them have none.
	Txns []SourceTxn
	// Discard lets Commit drop the events added with AddEvent, their sort
	// orders and Monitors as soon as they are written into the bbolt
	// transaction, before bbolt allocates the pages it writes: a follower
	// catching up commits batches of hundreds of thousands of events, which
	// it would otherwise hold beside those pages. Commit refuses a discarded
	// batch again, even after a failure: its caller rebuilds it from its
	// source, as the follower does from the binlog.
	Discard bool
	// PagesWritten is set by a successful Commit: the pages bbolt wrote,
	// which it held in memory until then. The follower sizes its next
	// catch-up batch by it (binlog/apply.go, rowsCapFor).
	PagesWritten int

	added     batchEvents // see AddEvent
	addedErr  error       // the first event AddEvent could not take
	rows      rowSet      // see SetMonitor
	prep      prepared    // see Prepare
	discarded bool        // Commit dropped what Discard lets it drop
}

// AddEvent appends e to the batch's events, after Events and the events
// added before it. Commit writes it as it writes Events, but assigns no id
// back: the batch keeps e only in the journal's compact form, 17 bytes
// against a bridge.Event's 48 (batchEvents). A follower catching up holds a
// batch of hundreds of thousands of events while the previous one is
// committed.
func (b *Batch) AddEvent(e bridge.Event) {
	if err := b.added.add(&e); err != nil && b.addedErr == nil {
		b.addedErr = err
	}
}

// SetMonitor records m as its row's state after the batch, the last change
// to a row winning. The batch keeps it only in the journal's compact form
// (rowSet: about 45 bytes and the URL a row, where a bridge.Monitor alone
// takes 64 and the URL): a follower catching up records the final state of
// every monitor its batch touches.
func (b *Batch) SetMonitor(m bridge.Monitor) { b.rows.set(m) }

// DeleteMonitor records that site's row is gone after the batch, the last
// change to a row winning.
func (b *Batch) DeleteMonitor(site uint64) { b.rows.delete(site) }

// MonitorCount is the number of rows changed with SetMonitor and
// DeleteMonitor.
func (b *Batch) MonitorCount() int { return b.rows.len() }

// EventCount is the number of the batch's events: Events and those added
// with AddEvent. A SourceTxn's First counts in this order.
func (b *Batch) EventCount() int {
	return len(b.Events) + b.added.len()
}

// SpanStart opens a coverage span.
type SpanStart struct {
	// Start is the span's first covered instant.
	Start time.Time
	// Contiguous starts the span where the open one ends instead, leaving
	// no gap: the follower switched servers without missing a change (it
	// resumed by GTID set). Start serves when there is no span before.
	Contiguous bool
	// GapReason is recorded on the span it closes.
	GapReason string
	// Server is the identity (ServerIdentity.String) of the server the
	// span follows.
	Server string
	// CloseAt, when set, ends the span being closed there if it reached
	// further: the journal takes back what it vouched for after CloseAt (a
	// reconcile found it diverged from the table after its last agreement).
	CloseAt time.Time
}

// Empty reports whether committing b would change nothing.
func (b *Batch) Empty() bool {
	return b.EventCount() == 0 && !b.changesRows() &&
		b.Checkpoint == nil && b.CoveredTo.IsZero() && b.NewSpan == nil && b.EndSpan == "" && !b.ResetMonitors
}

// coverageOnly reports whether b does nothing but advance coverage.
func (b *Batch) coverageOnly() bool {
	return b.EventCount() == 0 && !b.changesRows() &&
		b.Checkpoint == nil && b.NewSpan == nil && b.EndSpan == "" && !b.ResetMonitors
}

// changesRows reports whether b inserts, updates or deletes rows.
func (b *Batch) changesRows() bool {
	return len(b.Monitors) > 0 || len(b.Deleted) > 0 || b.rows.len() > 0
}

// Commit writes b in one bbolt transaction and assigns the events' ids.
// On failure nothing of b is written, and the error is kept for CommitErr.
func (j *Journal) Commit(b *Batch) error {
	if b.discarded {
		return errors.New("journal: a batch committed with Discard set cannot be committed again; rebuild it")
	}
	if b.Empty() {
		return nil
	}
	events, coverageOnly := b.EventCount(), b.coverageOnly()
	started := time.Now()
	pages, committed := 0, false
	j.gate.lockCommit()
	defer j.gate.unlock()
	if j.opts.OnCommit != nil {
		// Deferred before j.mu is taken below: it runs once that is released.
		defer func() {
			if committed {
				j.opts.OnCommit(CommitStats{Events: events, Took: time.Since(started), Pages: pages})
			}
		}()
	}
	j.mu.Lock()
	if b.NewSpan != nil && j.hold != nil {
		j.mu.Unlock()
		return fmt.Errorf("commit to journal %s: coverage is held (%s): no span may open until the hold is released", j.path, j.hold.Reason)
	}
	lastID := j.lastID
	cutoff := j.trim.cutoffTime()
	spans := append([]spanRecord(nil), j.spans...)
	var base string
	if j.checkpoint != nil {
		base = j.checkpoint.GTIDSet
	}
	j.mu.Unlock()

	if !b.prep.current(b) {
		b.Prepare()
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		if b.prep.err != nil {
			return b.prep.err
		}
		first := lastID + 1
		var err error
		if lastID, err = putEvents(tx, b, lastID); err != nil {
			return err
		}
		if err := putSources(tx, b, first, base); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if events > 0 {
			if err := meta.Put(keySeq, u64(lastID)); err != nil {
				return err
			}
		}
		if b.ResetMonitors {
			if err := clearMonitors(tx); err != nil {
				return err
			}
		}
		if err := writeMonitors(tx, &b.prep.rows); err != nil {
			return err
		}
		j.noteRows(b, &b.prep.rows)
		if b.Discard {
			b.discard()
		}
		if b.Checkpoint != nil {
			v, err := json.Marshal(b.Checkpoint)
			if err != nil {
				return err
			}
			if err := meta.Put(keyCheckpoint, v); err != nil {
				return err
			}
		}
		spans, err = writeSpans(tx, spans, b, cutoff)
		tx.OnCommit(func() { st := tx.Stats(); pages = int(st.GetWrite()) })
		return err
	})

	b.prep.n = -1 // a reused batch is prepared again
	j.mu.Lock()
	defer j.mu.Unlock()
	if changes := !coverageOnly; err != nil || changes || !j.errChanges {
		j.commitErr, j.errChanges = err, err != nil && changes
	}
	if err != nil {
		for i := range b.Events {
			b.Events[i].ID = 0
		}
		return fmt.Errorf("commit to journal %s: %w", j.path, err)
	}
	j.lastID = lastID
	j.spans = spans
	if !coverageOnly {
		j.commits++
	}
	if b.Checkpoint != nil {
		cp := b.Checkpoint.Clone()
		j.checkpoint = &cp
	}
	j.notifyLocked()
	committed = true
	b.PagesWritten = pages
	return nil
}

// discard drops what Discard lets Commit drop, once written into the
// transaction.
func (b *Batch) discard() {
	b.added, b.rows, b.prep, b.Monitors, b.discarded = batchEvents{}, rowSet{}, prepared{n: -1}, nil, true
}

// maxBatchEvents bounds a batch's events: their places are 32 bits.
const maxBatchEvents = 1<<32 - 1

// prepared is a batch's writes in each bucket's order.
type prepared struct {
	n       int         // EventCount it was computed for; -1 when none
	err     error       // an event that cannot be stored
	events  batchEvents // Events, then those added: an event's place gives its id
	byTime  []uint32    // places in (created, place) order: the events bucket's
	byBlog  []uint32    // places in (blog, created, place) order: the blogs bucket's
	rows    rowSet      // Deleted, Monitors, then SetMonitor's rows, sorted by site
	changes int         // the rows' changes it was computed for
}

// current reports whether p was prepared for b as b is now.
func (p *prepared) current(b *Batch) bool {
	return p.n == b.EventCount() && p.changes == len(b.Monitors)+len(b.Deleted)+b.rows.len()
}

// Prepare orders the batch's writes for Commit, which otherwise does it
// itself: a caller that commits in the background (the follower) prepares
// the next batch while the previous one is being written. Call it after the
// last change to the events; Commit and Reset forget it.
//
// bbolt inserts into an in-memory node by shifting the keys after the
// insertion point and splits nodes only when the transaction commits, so
// each bucket's puts are made in key order. The events are not moved: the
// orders are permutations of their places. Events are converted first
// (ahead of those added), into new columns; so are Deleted and Monitors
// (ahead of SetMonitor's rows).
func (b *Batch) Prepare() {
	p := &b.prep
	p.n, p.err = b.EventCount(), b.addedErr
	p.rows = b.rows
	if len(b.Monitors) > 0 || len(b.Deleted) > 0 {
		p.rows = rowSet{}
		for _, site := range b.Deleted {
			p.rows.delete(site)
		}
		for _, m := range b.Monitors {
			p.rows.set(m)
		}
		p.rows.replay(&b.rows)
	}
	p.rows.sort()
	b.rows.index = nil // sorted: later changes are appended, and the last wins
	p.changes = len(b.Monitors) + len(b.Deleted) + b.rows.len()
	if p.err == nil {
		p.err = p.rows.err
	}
	p.events = b.added
	if len(b.Events) > 0 {
		p.events = batchEvents{}
		for i := range b.Events {
			if err := p.events.add(&b.Events[i]); err != nil && p.err == nil {
				p.err = err
			}
		}
		p.events.appendAll(&b.added)
	}
	if p.n > maxBatchEvents && p.err == nil {
		p.err = fmt.Errorf("a batch of %d events is more than the %d one commit takes", p.n, maxBatchEvents)
		return
	}
	p.byTime = p.events.byTime(p.byTime)
	p.byBlog = p.events.byBlog(p.byTime, p.byBlog)
}

// putEvents writes the events into both buckets' runs, assigning ids after
// lastID, and returns the last id.
func putEvents(tx *bolt.Tx, b *Batch, lastID uint64) (uint64, error) {
	n := b.EventCount()
	if n == 0 {
		return lastID, nil
	}
	p := &b.prep
	for i := range b.Events {
		b.Events[i].ID = lastID + uint64(i) + 1
	}
	// The runs are merged from entries, built from the compact events a
	// chunk or a blog at a time.
	var es []entry
	events := newRunWriter(tx, eventRuns)
	for chunk := range slices.Chunk(p.byTime, eventChunk) {
		es = es[:0]
		for _, i := range chunk {
			es = append(es, p.events.entry(i, lastID))
		}
		if err := events.merge(0, es); err != nil {
			return 0, err
		}
	}
	blogs := newRunWriter(tx, blogRuns)
	for order := p.byBlog; len(order) > 0; {
		blog := p.events.blog[order[0]]
		es = es[:0]
		for len(order) > 0 && p.events.blog[order[0]] == blog {
			es = append(es, p.events.entry(order[0], lastID))
			order = order[1:]
		}
		if err := blogs.merge(blog, es); err != nil {
			return 0, err
		}
	}
	return lastID + uint64(n), nil
}

// eventChunk is how many events putEvents merges into the events bucket at
// once: each merge re-reads the bucket's last run (at most 1 KiB), so the
// chunks are large enough for that to be nothing.
const eventChunk = 1 << 14

// writeSpans applies b's span changes to spans and stores what changed. A
// new span starts no earlier than the retention cutoff (zero: none), where
// the journal's coverage begins.
func writeSpans(tx *bolt.Tx, spans []spanRecord, b *Batch, cutoff time.Time) ([]spanRecord, error) {
	bucket := tx.Bucket(bucketSpans)
	put := func(s spanRecord) error {
		k, v := encodeSpan(s)
		return bucket.Put(k, v)
	}
	if b.NewSpan != nil {
		start := b.NewSpan.Start.UTC()
		if start.Before(cutoff) {
			start = cutoff
		}
		if n := len(spans); n > 0 && !spans[n-1].Closed {
			last := &spans[n-1]
			last.Closed, last.Reason = true, b.NewSpan.GapReason
			if at := b.NewSpan.CloseAt; !at.IsZero() && at.Before(last.End) {
				last.End = at.UTC()
				if at.Before(last.Start) {
					last.End = last.Start
				}
			}
			if err := put(*last); err != nil {
				return nil, err
			}
		}
		if n := len(spans); n > 0 && (start.Before(spans[n-1].End) || b.NewSpan.Contiguous) {
			// Never overlap the previous span: the gap begins where it ended.
			start = spans[n-1].End
		}
		if n := len(spans); n > 0 && spans[n-1].Start.Equal(start) {
			// The previous span ends where it starts: it vouches for
			// nothing, and two spans cannot share a start (their key).
			// The new one takes its place.
			spans = spans[:n-1]
		}
		s := spanRecord{Span: bridge.Span{Start: start, End: start}, Server: b.NewSpan.Server}
		if err := put(s); err != nil {
			return nil, err
		}
		spans = append(spans, s)
	}
	n := len(spans)
	if n > 0 && !spans[n-1].Closed && b.CoveredTo.After(spans[n-1].End) {
		spans[n-1].End = b.CoveredTo.UTC()
		if err := put(spans[n-1]); err != nil {
			return nil, err
		}
	}
	if n > 0 && !spans[n-1].Closed && b.EndSpan != "" {
		last := &spans[n-1]
		last.Closed, last.Reason = true, b.EndSpan
		if at := b.EndSpanAt; !at.IsZero() && at.Before(last.End) {
			last.End = at.UTC()
			if at.Before(last.Start) {
				last.End = last.Start
			}
		}
		if err := put(spans[n-1]); err != nil {
			return nil, err
		}
	}
	return spans, nil
}
