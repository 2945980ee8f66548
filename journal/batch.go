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

	prep prepared // see Prepare
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
	return len(b.Events) == 0 && len(b.Monitors) == 0 && len(b.Deleted) == 0 &&
		b.Checkpoint == nil && b.CoveredTo.IsZero() && b.NewSpan == nil && !b.ResetMonitors
}

// coverageOnly reports whether b does nothing but advance coverage.
func (b *Batch) coverageOnly() bool {
	return len(b.Events) == 0 && len(b.Monitors) == 0 && len(b.Deleted) == 0 &&
		b.Checkpoint == nil && b.NewSpan == nil && !b.ResetMonitors
}

// Reset empties b for reuse, keeping its allocations.
func (b *Batch) Reset() {
	p := b.prep
	*b = Batch{Events: b.Events[:0], Monitors: b.Monitors[:0], Deleted: b.Deleted[:0], Txns: b.Txns[:0],
		prep: prepared{n: -1, byTime: p.byTime[:0], byBlog: p.byBlog[:0], spare: p.spare[:0]}}
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
		if len(b.Events) > 0 {
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

// prepared is a batch's events in each bucket's order.
type prepared struct {
	n      int     // len(Events) it was computed for; -1 when none
	err    error   // an event that cannot be stored
	byTime []entry // (created, id) order: the events bucket's
	byBlog []entry // (blog, created, id) order: the blogs bucket's
	spare  []entry // sortByBlog's other buffer
}

// Prepare orders the batch's writes for Commit, which otherwise does it
// itself: a caller that commits in the background (the follower) prepares
// the next batch while the previous one is being written. Call it after the
// last change to Events; Commit and Reset forget it.
//
// bbolt inserts into an in-memory node by shifting the keys after the
// insertion point and splits nodes only when the transaction commits, so
// each bucket's puts are made in key order. The entries' ids are
// provisional (1..n in batch order); Commit adds the journal's sequence,
// which keeps both orders.
func (b *Batch) Prepare() {
	p := &b.prep
	n := len(b.Events)
	p.n, p.err = n, nil
	p.byTime = slices.Grow(p.byTime[:0], n)[:n]
	inOrder := true
	for i := range b.Events {
		e := &b.Events[i]
		c, err := boundedCreated(e)
		if err != nil && p.err == nil {
			p.err = err
		}
		p.byTime[i] = entry{created: c, id: uint64(i) + 1, blog: e.BlogID, status: packStatus(e.OldStatus, e.NewStatus)}
		if i > 0 && c < p.byTime[i-1].created {
			inOrder = false
		}
	}
	if !inOrder {
		slices.SortFunc(p.byTime, cmpEntry)
	}
	p.byBlog, p.spare = sortByBlog(p.byTime, p.byBlog, p.spare)
}

// sortByBlog returns es's entries ordered by blog, each blog's in their
// order in es, using a and b as buffers (it returns them as result and
// spare). It is a stable LSD radix sort on the blog id's bytes: a catch-up
// batch holds hundreds of thousands of entries, which a comparison sort
// takes several times longer to order.
func sortByBlog(es, a, b []entry) (sorted, spare []entry) {
	n := len(es)
	a = append(a[:0], es...)
	if n < 256 {
		slices.SortStableFunc(a, func(x, y entry) int { return cmp.Compare(x.blog, y.blog) })
		return a, b
	}
	b = slices.Grow(b[:0], n)[:n]
	var most uint64
	for i := range es {
		most |= es[i].blog
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
	return a, b
}

// putEvents writes the events into both buckets' runs, assigning ids after
// seq, and returns the last id.
func putEvents(tx *bolt.Tx, b *Batch, seq uint64) (uint64, error) {
	evs := b.Events
	if len(evs) == 0 {
		return seq, nil
	}
	if b.prep.n != len(evs) {
		b.Prepare()
	}
	p := &b.prep
	if p.err != nil {
		return 0, p.err
	}
	for i := range evs {
		evs[i].ID = seq + uint64(i) + 1
	}
	for i := range p.byTime {
		p.byTime[i].id += seq
		p.byBlog[i].id += seq
	}
	if err := newRunWriter(tx, eventRuns).mergeAll(p.byTime); err != nil {
		return 0, err
	}
	if err := newRunWriter(tx, blogRuns).mergeAll(p.byBlog); err != nil {
		return 0, err
	}
	return seq + uint64(len(evs)), nil
}

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
