package journal

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"sort"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// Events are stored twice, in two orders, and both times packed into runs:
// one bbolt record holds a stretch of consecutive events of one group (the
// whole events bucket, or one blog in the blogs bucket), keyed by the run's
// first event:
//
//	events  created(8) id(8)          -> run: blog, status, then per event Δcreated Δid blog status
//	blogs   blog(8) created(8) id(8)  -> run: status, then per event Δcreated Δid status
//
// Within a group, runs hold disjoint stretches in (created_at, id) order:
// every event of a run sorts before the next run's key. A run's first event
// is all in the key; each following one is a uvarint Δcreated and a varint
// Δid from the event before it (Δid is negative when an event with a later
// created_at has a smaller id), then, in the events bucket, a uvarint blog,
// and the status byte (old<<4 | new).
//
// A record per event cost 16 bytes of bbolt element header plus a 16- or
// 24-byte key for every event in each bucket, and a bbolt put per event and
// bucket, most of them into random places of the blog index. Runs cost a
// few bytes per event and one put per run touched: a commit rewrites the
// last run of each blog it touches and appends whole runs to the events
// bucket.
type runKind struct {
	bucket []byte
	// perBlog is set for the blogs bucket: its keys start with the blog,
	// and its events do not repeat it.
	perBlog bool
	// maxBytes bounds a run's value when it is written; a run takes as many
	// events as fit. Small enough that rewriting a blog's last run on each
	// of its events stays cheap and a window query decodes little beyond its
	// window; large enough that keys and bbolt's element headers are a small
	// share of the file.
	maxBytes int
	// fill is the share of a page bbolt fills before splitting a node, when
	// not its default (half, which suits keys inserted anywhere). The events
	// bucket's keys only grow, apart from a late event now and then, so its
	// pages are filled: at half they held two runs of 1 KiB where three fit,
	// which left the bucket half empty and gave a catch-up's commit half as
	// many pages again to hold and write.
	fill float64
}

var (
	eventRuns = runKind{bucket: bucketEvents, maxBytes: 1024, fill: 1}
	blogRuns  = runKind{bucket: bucketBlogs, perBlog: true, maxBytes: 192}
)

// entry is one event as the runs store it.
type entry struct {
	created int64 // Unix seconds
	id      uint64
	blog    uint64
	status  byte // packStatus(old, new)
}

func cmpEntry(a, b entry) int {
	if c := cmp.Compare(a.created, b.created); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func (e entry) event() bridge.Event {
	return bridge.Event{
		ID:        e.id,
		BlogID:    e.blog,
		OldStatus: bridge.Status(e.status >> 4),
		NewStatus: bridge.Status(e.status & 0x0f),
		CreatedAt: time.Unix(e.created, 0).UTC(),
	}
}

// keyLen is the length of the kind's keys.
func (k runKind) keyLen() int {
	if k.perBlog {
		return 24
	}
	return 16
}

// appendKey appends the key of a run whose first event is e.
func (k runKind) appendKey(dst []byte, e entry) []byte {
	if k.perBlog {
		dst = binary.BigEndian.AppendUint64(dst, e.blog)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.created))
	return binary.BigEndian.AppendUint64(dst, e.id)
}

// seekKey is where a cursor seeks to find the run holding events of blog
// (ignored for the events bucket) created at or after created.
func (k runKind) seekKey(dst []byte, blog uint64, created int64) []byte {
	return k.appendKey(dst, entry{blog: blog, created: created})
}

// sameGroup reports whether key is a run of blog's group.
func (k runKind) sameGroup(key []byte, blog uint64) bool {
	if key == nil {
		return false
	}
	return !k.perBlog || len(key) >= 8 && binary.BigEndian.Uint64(key) == blog
}

// keyEntry decodes a run's key: its first event's position.
func (k runKind) keyEntry(key []byte) (entry, error) {
	if len(key) != k.keyLen() {
		return entry{}, fmt.Errorf("%w: %s run key %x", ErrCorrupt, k.bucket, key)
	}
	var e entry
	if k.perBlog {
		e.blog, key = binary.BigEndian.Uint64(key), key[8:]
		if e.blog == 0 {
			return entry{}, fmt.Errorf("%w: %s run for blog 0", ErrCorrupt, k.bucket)
		}
	}
	created := binary.BigEndian.Uint64(key)
	e.id = binary.BigEndian.Uint64(key[8:])
	if created > maxCreated || e.id == 0 {
		return entry{}, fmt.Errorf("%w: %s run key %x", ErrCorrupt, k.bucket, key)
	}
	e.created = int64(created)
	return e, nil
}

// maxCreated bounds created_at so that no sum of deltas can overflow.
const maxCreated = 1 << 62

// appendEntry appends e's encoding following prev (nil for a run's first
// event, which the key holds).
func (k runKind) appendEntry(dst []byte, prev *entry, e entry) []byte {
	if prev != nil {
		dst = binary.AppendUvarint(dst, uint64(e.created-prev.created))
		dst = binary.AppendVarint(dst, int64(e.id-prev.id))
	}
	if !k.perBlog {
		dst = binary.AppendUvarint(dst, e.blog)
	}
	return append(dst, e.status)
}

// encode appends the value of a run holding es, whole (the fuzz target's
// inverse of decode; commits split runs with runWriter.replace).
func (k runKind) encode(dst []byte, es []entry) []byte {
	for i := range es {
		var prev *entry
		if i > 0 {
			prev = &es[i-1]
		}
		dst = k.appendEntry(dst, prev, es[i])
	}
	return dst
}

// decode appends the events of the run key=val to dst. It accepts only
// what encode writes: strictly ascending events with valid statuses and
// non-zero ids and blogs, in canonical varints.
func (k runKind) decode(dst []entry, key, val []byte) ([]entry, error) {
	for e, err := range k.events(key, val) {
		if err != nil {
			return dst, err
		}
		dst = append(dst, e)
	}
	return dst, nil
}

// events yields the run's events in order; a damaged run ends with its
// error.
func (k runKind) events(key, val []byte) iter.Seq2[entry, error] {
	return func(yield func(entry, error) bool) {
		r, err := k.read(key, val)
		for err == nil {
			var e entry
			var ok bool
			if e, ok, err = r.next(); !ok {
				break
			}
			if !yield(e, nil) {
				return
			}
		}
		if err != nil {
			yield(entry{}, err)
		}
	}
}

// runReader walks a run's events in order, checking them as decode says.
type runReader struct {
	kind    runKind
	key     []byte
	rest    []byte // the value not yet read
	size    int
	e       entry // the last event read
	started bool
}

// read starts reading the run key=val.
func (k runKind) read(key, val []byte) (runReader, error) {
	e, err := k.keyEntry(key)
	r := runReader{kind: k, key: key, rest: val, size: len(val), e: e}
	if err == nil && len(val) == 0 {
		err = r.corrupt("no events")
	}
	return r, err
}

func (r *runReader) corrupt(what string) error {
	return fmt.Errorf("%w: %s run %x: %s at byte %d of %d", ErrCorrupt, r.kind.bucket, r.key, what, r.size-len(r.rest), r.size)
}

// next returns the run's next event; ok is false at the end of the run.
func (r *runReader) next() (e entry, ok bool, err error) {
	if len(r.rest) == 0 {
		return entry{}, false, nil
	}
	e, val := r.e, r.rest
	if r.started {
		dc, n := uvarint(val)
		if n <= 0 || dc > maxCreated-uint64(e.created) {
			return e, false, r.corrupt("a bad created_at delta")
		}
		val = val[n:]
		di, n := varint(val)
		if n <= 0 {
			return e, false, r.corrupt("a bad id delta")
		}
		val = val[n:]
		id := e.id + uint64(di) // wraps exactly when the sign check below fails
		if di == 0 || (di > 0) != (id > e.id) || id == 0 || dc == 0 && di < 0 {
			return e, false, r.corrupt("events out of order")
		}
		e.created, e.id = e.created+int64(dc), id
	}
	if !r.kind.perBlog {
		blog, n := uvarint(val)
		if n <= 0 || blog == 0 {
			return e, false, r.corrupt("a bad blog id")
		}
		e.blog, val = blog, val[n:]
	}
	if len(val) == 0 {
		return e, false, r.corrupt("a missing status")
	}
	if _, _, err := unpackStatus(val[0]); err != nil {
		return e, false, r.corrupt(err.Error())
	}
	e.status, r.rest = val[0], val[1:]
	r.e, r.started = e, true
	return e, true, nil
}

// runWriter merges events into one bucket's runs inside a write
// transaction, reusing its buffers from group to group.
type runWriter struct {
	kind   runKind
	bucket *bolt.Bucket
	cursor *bolt.Cursor
	old    []entry // the run being merged into, decoded
	merged []entry
	key    []byte
	arena  []byte // values handed to bbolt, which keeps them until the commit
}

func newRunWriter(tx *bolt.Tx, kind runKind) *runWriter {
	b := tx.Bucket(kind.bucket)
	if kind.fill != 0 {
		b.FillPercent = kind.fill
	}
	return &runWriter{kind: kind, bucket: b, cursor: b.Cursor()}
}

// mergeAll adds es, in the bucket's key order, to the bucket, group by
// group.
func (w *runWriter) mergeAll(es []entry) error {
	for len(es) > 0 {
		n := len(es)
		if w.kind.perBlog {
			n = 1
			for n < len(es) && es[n].blog == es[0].blog {
				n++
			}
		}
		if err := w.merge(es[0].blog, es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// merge adds es, sorted by (created, id) and all of blog's group, to the
// bucket. In the common case, events newer than any stored, they extend the
// group's last run and then fill new ones; an older event is merged into the
// run whose stretch holds it.
func (w *runWriter) merge(blog uint64, es []entry) error {
	k := w.kind
	for len(es) > 0 {
		// The run holding es[0] is the group's last run whose key is not
		// after it; failing that (es[0] precedes the whole group), the
		// group's first run, whose key then changes.
		w.key = k.appendKey(w.key[:0], es[0])
		sk, sv := w.cursor.Seek(w.key)
		if bytes.Equal(sk, w.key) {
			return fmt.Errorf("%w: event %d is already stored", ErrCorrupt, es[0].id)
		}
		var pk, pv []byte
		if sk == nil {
			pk, pv = w.cursor.Last()
		} else {
			pk, pv = w.cursor.Prev()
		}
		var runKey, runVal, next []byte
		switch {
		case k.sameGroup(pk, blog):
			runKey, runVal = pk, pv
			if k.sameGroup(sk, blog) {
				next = sk
			}
		case k.sameGroup(sk, blog):
			runKey, runVal = sk, sv
			w.cursor.Seek(sk) // Prev may have left the cursor before the first record
			if nk, _ := w.cursor.Next(); k.sameGroup(nk, blog) {
				next = nk
			}
		}
		// Only the events before the next run's key join this run.
		n := len(es)
		if next != nil {
			nextEntry, err := k.keyEntry(next)
			if err != nil {
				return err
			}
			n = sort.Search(len(es), func(i int) bool { return cmpEntry(es[i], nextEntry) >= 0 })
		}
		var err error
		w.old = w.old[:0]
		if runKey != nil {
			if w.old, err = k.decode(w.old, runKey, runVal); err != nil {
				return err
			}
		}
		if err := w.replace(w.old, es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// replace writes the union of the stored run old (possibly empty) and the
// new events add as runs of at most maxBytes, removing old's record when its
// key changes.
func (w *runWriter) replace(old, add []entry) error {
	k := w.kind
	merged := add
	if len(old) > 0 {
		if cmpEntry(old[len(old)-1], add[0]) < 0 {
			merged = append(append(w.merged[:0], old...), add...) // appending: the common case
		} else {
			merged = w.merged[:0]
			i, j := 0, 0
			for i < len(old) || j < len(add) {
				switch {
				case j == len(add) || i < len(old) && cmpEntry(old[i], add[j]) < 0:
					merged = append(merged, old[i])
					i++
				case i < len(old) && cmpEntry(old[i], add[j]) == 0:
					return fmt.Errorf("%w: event %d is already stored", ErrCorrupt, add[j].id)
				default:
					merged = append(merged, add[j])
					j++
				}
			}
		}
		w.merged = merged
		if merged[0] != old[0] {
			w.key = k.appendKey(w.key[:0], old[0])
			if err := w.bucket.Delete(w.key); err != nil {
				return err
			}
		}
	}
	for start := 0; start < len(merged); {
		end, size := start+1, len(k.appendEntry(w.key[:0], nil, merged[start]))
		for end < len(merged) {
			w.key = k.appendEntry(w.key[:0], &merged[end-1], merged[end])
			if size+len(w.key) > k.maxBytes {
				break
			}
			size += len(w.key)
			end++
		}
		val := w.alloc(size)
		val = k.encode(val, merged[start:end])
		w.key = k.appendKey(w.key[:0], merged[start])
		if err := w.bucket.Put(w.key, val); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// alloc returns an empty slice with room for n bytes that no later alloc
// shares: bbolt keeps every value put until the transaction commits.
func (w *runWriter) alloc(n int) []byte {
	if cap(w.arena)-len(w.arena) < n {
		// Chunks double from 4 KiB: a live commit writes a run or two, a
		// catch-up megabytes.
		w.arena = make([]byte, 0, max(n, min(2*cap(w.arena), 256<<10), 4<<10))
	}
	start := len(w.arena)
	w.arena = w.arena[:start+n]
	return w.arena[start : start : start+n]
}

// scanRuns calls fn with each event of blog's group (any for the events
// bucket) with from <= created_at < to, in (created_at, id) order; to < 0
// leaves the end open. fn's first error stops the scan and is returned.
func scanRuns(tx *bolt.Tx, k runKind, blog uint64, from, to int64, fn func(entry) error) error {
	return scanRunsAt(tx, k, entry{blog: blog, created: from}, to, fn)
}

// scanRunsAt is scanRuns from the position start, (created_at, id), in
// start.blog's group: events that sort before it are passed over.
func scanRunsAt(tx *bolt.Tx, k runKind, start entry, to int64, fn func(entry) error) error {
	c := tx.Bucket(k.bucket).Cursor()
	var kb [24]byte
	seek := k.appendKey(kb[:0], start)
	// The run before the seek position may hold events at or after start.
	key, val := seekFloor(c, seek, func(pk []byte) bool { return k.sameGroup(pk, start.blog) })
	for ; k.sameGroup(key, start.blog); key, val = c.Next() {
		for e, err := range k.events(key, val) {
			switch {
			case err != nil:
				return err
			case to >= 0 && e.created >= to:
				return nil
			case cmpEntry(e, start) >= 0:
				if err := fn(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// seekFloor positions c on the last record whose key is at most seek, if
// accept takes it, and otherwise on the first record after seek, and
// returns that record (nil when there is none): where records are keyed by
// the start of what they hold, the one that may hold seek.
func seekFloor(c *bolt.Cursor, seek []byte, accept func(k []byte) bool) (k, v []byte) {
	k, v = c.Seek(seek)
	if bytes.Equal(k, seek) {
		return k, v
	}
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil && accept(pk) {
		return pk, pv
	}
	return c.Seek(seek) // Prev may have left the cursor before the first record
}

// boundedCreated converts created_at for storage, refusing what the runs
// cannot hold.
func boundedCreated(e *bridge.Event) (int64, error) {
	c := e.CreatedAt.Unix()
	if c < 0 || c > maxCreated {
		return 0, fmt.Errorf("event for blog %d has created_at %s, outside 1970 to the far future the journal stores", e.BlogID, e.CreatedAt)
	}
	return c, nil
}
