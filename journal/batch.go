package journal

import (
	"cmp"
	"encoding/json"
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
	// Deleted are the primary keys of deleted rows.
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
	// Transactions counts the source transactions in the batch.
	Transactions int
	// Txns names the source transactions of the events that have a GTID,
	// in order (see sources.go); events outside them have none.
	Txns []SourceTxn

	added    []pending // see AddEvent
	addedErr error     // the first event AddEvent could not take
	prep     prepared  // see Prepare
}

// AddEvent appends e to the batch's events, after Events and the events
// added before it. Commit writes it as it writes Events, but assigns no id
// back: the batch keeps e only in the journal's compact form, 24 bytes
// against a bridge.Event's 48, which Prepare orders in place. A follower
// catching up holds a batch of hundreds of thousands of events while the
// previous one is committed: Events would take about four times the
// memory (the events, then the journal's own copies in both orders).
func (b *Batch) AddEvent(e bridge.Event) {
	p, err := newPending(&e, len(b.added)+1)
	if err != nil && b.addedErr == nil {
		b.addedErr = err
	}
	b.added = append(b.added, p)
}

// GrowEvents reserves room for n more events added with AddEvent, for a
// caller that knows the batch's size in advance.
func (b *Batch) GrowEvents(n int) {
	b.added = slices.Grow(b.added, n)
}

// EventCount is the number of the batch's events: Events and those added
// with AddEvent. A SourceTxn's First counts in this order.
func (b *Batch) EventCount() int {
	return len(b.Events) + len(b.added)
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
}

// Empty reports whether committing b would change nothing.
func (b *Batch) Empty() bool {
	return b.EventCount() == 0 && len(b.Monitors) == 0 && len(b.Deleted) == 0 &&
		b.Checkpoint == nil && b.CoveredTo.IsZero() && b.NewSpan == nil && !b.ResetMonitors
}

// coverageOnly reports whether b does nothing but advance coverage.
func (b *Batch) coverageOnly() bool {
	return b.EventCount() == 0 && len(b.Monitors) == 0 && len(b.Deleted) == 0 &&
		b.Checkpoint == nil && b.NewSpan == nil && !b.ResetMonitors
}

// Reset empties b for reuse, keeping its allocations.
func (b *Batch) Reset() {
	p := b.prep
	*b = Batch{Events: b.Events[:0], Monitors: b.Monitors[:0], Deleted: b.Deleted[:0], Txns: b.Txns[:0],
		added: b.added[:0], prep: prepared{n: -1, byBlog: p.byBlog[:0]}}
}

// Commit writes b in one bbolt transaction and assigns the events' ids.
// On failure nothing of b is written, and the error is kept for Healthy.
func (j *Journal) Commit(b *Batch) error {
	if b.Empty() {
		return nil
	}
	j.mu.Lock()
	seq := j.seq
	spans := append([]spanRecord(nil), j.spans...)
	var base string
	if j.checkpoint != nil {
		base = j.checkpoint.GTIDSet
	}
	j.mu.Unlock()

	err := j.db.Update(func(tx *bolt.Tx) error {
		first := seq + 1
		var err error
		if seq, err = putEvents(tx, b, seq); err != nil {
			return err
		}
		if err := putSources(tx, b, first, base); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if b.EventCount() > 0 {
			if err := meta.Put(keySeq, u64(seq)); err != nil {
				return err
			}
		}
		if err := writeMonitors(tx, b); err != nil {
			return err
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
		spans, err = writeSpans(tx, spans, b)
		return err
	})

	b.prep.n = -1 // a reused batch is prepared again
	j.mu.Lock()
	defer j.mu.Unlock()
	if changes := !b.coverageOnly(); err != nil || changes || !j.errChanges {
		j.commitErr, j.errChanges = err, err != nil && changes
	}
	if err != nil {
		for i := range b.Events {
			b.Events[i].ID = 0
		}
		return fmt.Errorf("commit to journal %s: %w", j.path, err)
	}
	j.seq = seq
	j.spans = spans
	if !b.coverageOnly() {
		j.commits++
	}
	if b.Checkpoint != nil {
		cp := b.Checkpoint.Clone()
		j.checkpoint = &cp
	}
	j.notifyLocked()
	return nil
}

// pending is one of a batch's events as Commit stores it, before it has
// an id: 24 bytes, where the runs' entry is 32.
type pending struct {
	created int64 // Unix seconds
	blog    uint64
	n       uint32 // its place in the batch, from 1: its id is the journal's sequence + n
	status  byte   // packStatus(old, new)
}

// newPending is e as the n-th event of a batch.
func newPending(e *bridge.Event, n int) (pending, error) {
	c, err := boundedCreated(e)
	return pending{created: c, blog: e.BlogID, n: uint32(n), status: packStatus(e.OldStatus, e.NewStatus)}, err
}

func cmpPending(a, b pending) int {
	if c := cmp.Compare(a.created, b.created); c != 0 {
		return c
	}
	return cmp.Compare(a.n, b.n)
}

// entry is p as the runs store it, with the id it takes after seq.
func (p pending) entry(seq uint64) entry {
	return entry{created: p.created, id: seq + uint64(p.n), blog: p.blog, status: p.status}
}

// maxBatchEvents bounds a batch's events: pending numbers them in 32 bits.
const maxBatchEvents = 1<<32 - 1

// prepared is a batch's events in each bucket's order.
type prepared struct {
	n      int       // EventCount it was computed for; -1 when none
	err    error     // an event that cannot be stored
	byTime []pending // (created, n) order: the events bucket's
	byBlog []uint32  // positions in byTime in (blog, created, n) order: the blogs bucket's
}

// Prepare orders the batch's writes for Commit, which otherwise does it
// itself: a caller that commits in the background (the follower) prepares
// the next batch while the previous one is being written. Call it after the
// last change to the events; Commit and Reset forget it.
//
// bbolt inserts into an in-memory node by shifting the keys after the
// insertion point and splits nodes only when the transaction commits, so
// each bucket's puts are made in key order. The events added with
// AddEvent are ordered in place; Events are converted first (ahead of
// them), into a new buffer.
func (b *Batch) Prepare() {
	p := &b.prep
	p.n, p.err = b.EventCount(), b.addedErr
	p.byTime = b.added
	if len(b.Events) > 0 {
		p.byTime = make([]pending, 0, p.n)
		for i := range b.Events {
			e, err := newPending(&b.Events[i], i+1)
			if err != nil && p.err == nil {
				p.err = err
			}
			p.byTime = append(p.byTime, e)
		}
		for _, e := range b.added {
			e.n += uint32(len(b.Events))
			p.byTime = append(p.byTime, e)
		}
	}
	if p.n > maxBatchEvents && p.err == nil {
		p.err = fmt.Errorf("a batch of %d events is more than the %d one commit takes", p.n, maxBatchEvents)
	}
	if !slices.IsSortedFunc(p.byTime, cmpPending) {
		slices.SortFunc(p.byTime, cmpPending)
	}
	p.byBlog = sortByBlog(p.byTime, p.byBlog)
}

// sortByBlog returns the positions of es's entries ordered by blog, each
// blog's in their order in es, in buf. It is a stable LSD radix sort on the
// blog id's bytes: a catch-up batch holds hundreds of thousands of entries,
// which a comparison sort takes several times longer to order. The blogs
// are sorted along with the positions, so each pass reads memory in order;
// they are dropped at the end (only the positions are kept).
func sortByBlog(es []pending, buf []uint32) []uint32 {
	n := len(es)
	pos := slices.Grow(buf[:0], n)[:n]
	for i := range pos {
		pos[i] = uint32(i)
	}
	if n < 256 {
		slices.SortStableFunc(pos, func(x, y uint32) int { return cmp.Compare(es[x].blog, es[y].blog) })
		return pos
	}
	var most uint64
	for i := range es {
		most |= es[i].blog
	}
	type keyed struct {
		blog uint64
		pos  uint32
	}
	a, b := make([]keyed, n), make([]keyed, n)
	for i := range es {
		a[i] = keyed{es[i].blog, uint32(i)}
	}
	for shift := 0; shift < 64 && most>>shift != 0; shift += 8 {
		var count [256]int
		for i := range a {
			count[byte(a[i].blog>>shift)]++
		}
		at := 0
		for d, c := range count {
			count[d] = at
			at += c
		}
		for i := range a {
			d := byte(a[i].blog >> shift)
			b[count[d]] = a[i]
			count[d]++
		}
		a, b = b, a
	}
	for i := range a {
		pos[i] = a[i].pos
	}
	return pos
}

// putEvents writes the events into both buckets' runs, assigning ids after
// seq, and returns the last id.
func putEvents(tx *bolt.Tx, b *Batch, seq uint64) (uint64, error) {
	n := b.EventCount()
	if n == 0 {
		return seq, nil
	}
	if b.prep.n != n {
		b.Prepare()
	}
	p := &b.prep
	if p.err != nil {
		return 0, p.err
	}
	for i := range b.Events {
		b.Events[i].ID = seq + uint64(i) + 1
	}
	// The runs are merged from entries, built from the compact events a
	// chunk or a blog at a time.
	var es []entry
	events := newRunWriter(tx, eventRuns)
	for chunk := range slices.Chunk(p.byTime, eventChunk) {
		es = es[:0]
		for _, e := range chunk {
			es = append(es, e.entry(seq))
		}
		if err := events.merge(0, es); err != nil {
			return 0, err
		}
	}
	blogs := newRunWriter(tx, blogRuns)
	for order := p.byBlog; len(order) > 0; {
		blog := p.byTime[order[0]].blog
		es = es[:0]
		for len(order) > 0 && p.byTime[order[0]].blog == blog {
			es = append(es, p.byTime[order[0]].entry(seq))
			order = order[1:]
		}
		if err := blogs.merge(blog, es); err != nil {
			return 0, err
		}
	}
	return seq + uint64(n), nil
}

// eventChunk is how many events putEvents merges into the events bucket at
// once: each merge re-reads the bucket's last run (at most 1 KiB), so the
// chunks are large enough for that to be nothing.
const eventChunk = 1 << 14

// writeSpans applies b's span changes to spans and stores what changed.
func writeSpans(tx *bolt.Tx, spans []spanRecord, b *Batch) ([]spanRecord, error) {
	bucket := tx.Bucket(bucketSpans)
	put := func(s spanRecord) error {
		k, v := encodeSpan(s)
		return bucket.Put(k, v)
	}
	if b.NewSpan != nil {
		start := b.NewSpan.Start.UTC()
		if n := len(spans); n > 0 && !spans[n-1].Closed {
			last := &spans[n-1]
			last.Closed, last.Reason = true, b.NewSpan.GapReason
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
	return spans, nil
}
