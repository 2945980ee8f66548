package journal

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
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

	prep prepared // see Prepare
}

// SpanStart opens a coverage span.
type SpanStart struct {
	// Start is the span's first covered instant.
	Start time.Time
	// GapReason is recorded on the span it closes.
	GapReason string
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
	*b = Batch{Events: b.Events[:0], Monitors: b.Monitors[:0], Deleted: b.Deleted[:0],
		prep: prepared{n: -1, created: p.created[:0], byTime: p.byTime[:0], byBlog: p.byBlog[:0]}}
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
	j.mu.Unlock()

	err := j.db.Update(func(tx *bolt.Tx) error {
		var err error
		if seq, err = putEvents(tx, b, seq); err != nil {
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
	if b.Checkpoint != nil {
		cp := b.Checkpoint.Clone()
		j.checkpoint = &cp
	}
	j.notifyLocked()
	return nil
}

// prepared is a batch's events in each bucket's key order.
type prepared struct {
	n       int          // len(Events) it was computed for; -1 when none
	err     error        // an event that cannot be stored
	created []int64      // each event's created_at in Unix seconds
	byTime  []int32      // event indexes in (created, index) order; nil when Events already are
	byBlog  []indexEntry // (blog, created, index) order
}

// indexEntry is one event's place in the blog index.
type indexEntry struct {
	blog    uint64
	created int64
	idx     int32
	status  byte
}

// Prepare orders the batch's writes for Commit, which otherwise does it
// itself: a caller that commits in the background (the follower) prepares
// the next batch while the previous one is being written. Call it after the
// last change to Events; Commit and Reset forget it.
//
// bbolt inserts into an in-memory node by shifting the keys after the
// insertion point, and splits nodes only when the transaction commits: a
// batch of keys in random order into a small tree (the blog index of a
// journal that is catching up) costs time quadratic in the batch. Each
// bucket's puts are therefore made in key order.
func (b *Batch) Prepare() {
	p := &b.prep
	n := len(b.Events)
	p.n, p.err = n, nil
	p.created = slices.Grow(p.created[:0], n)[:n]
	p.byBlog = slices.Grow(p.byBlog[:0], n)[:n]
	p.byTime = p.byTime[:0]
	inOrder := true
	for i := range b.Events {
		e := &b.Events[i]
		c := e.CreatedAt.Unix()
		if c < 0 && p.err == nil {
			p.err = fmt.Errorf("event for blog %d has created_at %s before 1970", e.BlogID, e.CreatedAt)
		}
		if i > 0 && c < p.created[i-1] {
			inOrder = false
		}
		p.created[i] = c
		p.byBlog[i] = indexEntry{blog: e.BlogID, created: c, idx: int32(i), status: packStatus(e.OldStatus, e.NewStatus)}
	}
	if !inOrder {
		for i := range n {
			p.byTime = append(p.byTime, int32(i))
		}
		slices.SortStableFunc(p.byTime, func(x, y int32) int { return cmp.Compare(p.created[x], p.created[y]) })
	} else {
		p.byTime = p.byTime[:0]
	}
	slices.SortFunc(p.byBlog, func(x, y indexEntry) int {
		if c := cmp.Compare(x.blog, y.blog); c != 0 {
			return c
		}
		if c := cmp.Compare(x.created, y.created); c != 0 {
			return c
		}
		return cmp.Compare(x.idx, y.idx)
	})
}

// putEvents writes the events and their blog index entries, assigning ids
// after seq, and returns the last id. Keys and values come from one
// allocation (bbolt keeps the values until the commit).
func putEvents(tx *bolt.Tx, b *Batch, seq uint64) (uint64, error) {
	evs := b.Events
	if len(evs) == 0 {
		return seq, nil
	}
	if len(evs) > math.MaxInt32 {
		return 0, fmt.Errorf("a batch of %d events is too large", len(evs))
	}
	if b.prep.n != len(evs) {
		b.Prepare()
	}
	p := &b.prep
	if p.err != nil {
		return 0, p.err
	}
	base := seq
	for i := range evs {
		evs[i].ID = base + uint64(i) + 1
	}
	// bbolt copies each key but keeps each value until the commit: keys are
	// built in one buffer, values come from one arena (the blog index's from
	// a constant table).
	var key [24]byte
	arena := make([]byte, 0, len(evs)*4)

	// events: created(8) seq(8) -> uvarint blog | status.
	events := tx.Bucket(bucketEvents)
	// Appends arrive in near time order: fill pages fully.
	events.FillPercent = 0.95
	for k := range evs {
		i := k
		if len(p.byTime) > 0 {
			i = int(p.byTime[k])
		}
		e := &evs[i]
		binary.BigEndian.PutUint64(key[:8], uint64(p.created[i]))
		binary.BigEndian.PutUint64(key[8:16], e.ID)
		start := len(arena)
		arena = binary.AppendUvarint(arena, e.BlogID)
		arena = append(arena, packStatus(e.OldStatus, e.NewStatus))
		if err := events.Put(key[:16], arena[start:len(arena):len(arena)]); err != nil {
			return 0, err
		}
	}

	// blogs: blog(8) created(8) seq(8) -> status.
	blogs := tx.Bucket(bucketBlogs)
	for _, en := range p.byBlog {
		binary.BigEndian.PutUint64(key[:8], en.blog)
		binary.BigEndian.PutUint64(key[8:16], uint64(en.created))
		binary.BigEndian.PutUint64(key[16:24], base+uint64(en.idx)+1)
		if err := blogs.Put(key[:24], byteValues[en.status:en.status+1:en.status+1]); err != nil {
			return 0, err
		}
	}
	return base + uint64(len(evs)), nil
}

// byteValues holds every one-byte value, for puts of a status byte that
// need no allocation of their own.
var byteValues = func() (v [256]byte) {
	for i := range v {
		v[i] = byte(i)
	}
	return v
}()

func writeMonitors(tx *bolt.Tx, b *Batch) error {
	if b.ResetMonitors {
		if err := tx.DeleteBucket(bucketMonitors); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketMonitors); err != nil {
			return err
		}
	}
	monitors := tx.Bucket(bucketMonitors)
	for _, site := range b.Deleted {
		if err := monitors.Delete(u64(site)); err != nil {
			return err
		}
	}
	// In key order, for the reason putEvents gives; the caller's slice is
	// left as it was.
	ms := b.Monitors
	bySite := func(a, b bridge.Monitor) int { return cmp.Compare(a.SiteID, b.SiteID) }
	if !slices.IsSortedFunc(ms, bySite) {
		ms = slices.Clone(ms)
		slices.SortStableFunc(ms, bySite)
	}
	var key [8]byte // bbolt copies keys
	for _, m := range ms {
		binary.BigEndian.PutUint64(key[:], m.SiteID)
		if err := monitors.Put(key[:], encodeMonitor(m)); err != nil {
			return err
		}
	}
	return nil
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
		if n := len(spans); n > 0 && start.Before(spans[n-1].End) {
			// Never overlap the previous span: the gap begins where it ended.
			start = spans[n-1].End
		}
		s := spanRecord{Span: bridge.Span{Start: start, End: start}}
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
