package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxProblems bounds a Report: a badly damaged file would otherwise list
// every record.
const maxProblems = 100

// Report is what Verify found in a journal file.
type Report struct {
	// Path is the file checked.
	Path string `json:"path"`
	// Events, IndexEntries, Monitors and Spans count the records read.
	Events       uint64 `json:"events"`
	IndexEntries uint64 `json:"index_entries"`
	Monitors     uint64 `json:"monitors"`
	Spans        uint64 `json:"spans"`
	// Problems describes each defect found, one sentence each; empty when
	// the file is sound.
	Problems []string `json:"problems"`
	// Omitted counts the problems beyond the first maxProblems.
	Omitted int `json:"omitted,omitempty"`
}

// OK reports whether the file is sound.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks the journal file at path without changing it: bbolt's own
// page-level consistency check (Tx.Check) and the journal's invariants:
//
//   - the meta, events, blogs, monitors and spans buckets exist and the
//     format version is one this build reads;
//   - every record of every bucket decodes;
//   - every event has its blogs index entry with the same status, and every
//     index entry its event;
//   - event ids are unique and dense: exactly 1..seq, where seq is the
//     sequence kept in meta;
//   - spans are sorted, do not overlap, end at or after they start, and
//     only the last one may still be open;
//   - the checkpoint decodes and is a plausible binlog position, and is
//     present whenever events are.
//
// It opens the file read-only, so damage is reported, never repaired. A
// file held by a running daemon fails with ErrLocked, a missing one with
// fs.ErrNotExist; every defect of the file itself, including one bbolt
// cannot open at all, is a Problem in the Report.
func Verify(path string) (*Report, error) {
	r := &Report{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	fileSize := fi.Size()

	// bbolt's open reads only the checksummed meta pages; it takes the
	// file lock, so no daemon writes while the rest is read.
	var db *bolt.DB
	if !r.guarded("opening the file", func() { db, err = openRaw(path, 0) }) {
		return r, nil
	}
	if errors.Is(err, ErrLocked) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, err
	}
	if err != nil {
		r.add("bbolt cannot open the file: %v", err)
		return r, nil
	}
	defer db.Close()
	// Prove the page structure sound with bounds-checked reads before bbolt
	// reads any page: on a damaged file, its unchecked reads can crash the
	// process (see pagewalk.go).
	if !r.checkStructure(path, fileSize) {
		r.add("the journal's records and bbolt's own page check were skipped: reading a file damaged like this could crash")
		return r, nil
	}
	tx, err := db.Begin(false)
	if err != nil {
		r.add("bbolt cannot begin a read transaction: %v", err)
		return r, nil
	}
	defer tx.Rollback()
	if !r.guarded("reading the records", func() { r.checkRecords(tx) }) {
		return r, nil
	}
	for err := range tx.Check() {
		r.add("bbolt check: %v", err)
	}
	return r, nil
}

// checkStructure checks bbolt's meta pages, the file's length, the
// freelist and the page tree straight from the file, and reports whether
// they are sound.
func (r *Report) checkStructure(path string, fileSize int64) bool {
	f, err := os.Open(path)
	if err != nil {
		r.add("cannot read the file: %v", err)
		return false
	}
	defer f.Close()
	meta, err := readBoltMeta(f)
	if err != nil {
		r.add("bbolt cannot open the file: %v", err)
		return false
	}
	sound := true
	if need := int64(meta.pgid) * int64(meta.pageSize); fileSize < need {
		r.add("the file is truncated: it is %d bytes long but its pages reach byte %d (%d bytes missing)", fileSize, need, need-fileSize)
		sound = false
	}
	if err := checkFreelistPage(f, meta, fileSize); err != nil {
		r.add("the freelist is damaged: %v", err)
		sound = false
	}
	for _, p := range walkPages(f, meta, fileSize, meta.root) {
		r.add("%s", p)
		sound = false
	}
	return sound
}

// guarded runs fn, turning a panic or a memory fault (a page pointer or
// length past the end of the file) into a problem. It reports whether fn
// completed.
func (r *Report) guarded(what string, fn func()) (ok bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			r.add("%s failed: %v (a page of the file is damaged)", what, p)
			ok = false
		}
	}()
	fn()
	return true
}

// checkRecords checks the journal's invariants inside tx.
func (r *Report) checkRecords(tx *bolt.Tx) {
	buckets := map[string]*bolt.Bucket{}
	for _, name := range [][]byte{bucketMeta, bucketEvents, bucketBlogs, bucketMonitors, bucketSpans} {
		b := tx.Bucket(name)
		if b == nil {
			r.add("bucket %q is missing: this is not a complete jetmon-bridge journal", name)
			continue
		}
		buckets[string(name)] = b
	}
	seq, haveSeq := r.checkMeta(buckets["meta"])
	events, blogs := buckets["events"], buckets["blogs"]
	if events != nil && blogs != nil {
		r.checkEvents(events, blogs, seq, haveSeq)
		r.checkIndex(blogs, events)
	}
	if b := buckets["monitors"]; b != nil {
		r.checkMonitors(b)
	}
	if b := buckets["spans"]; b != nil {
		r.checkSpans(b)
	}
}

// checkMeta checks the version, sequence, server id and checkpoint, and
// returns the sequence.
func (r *Report) checkMeta(meta *bolt.Bucket) (seq uint64, haveSeq bool) {
	if meta == nil {
		return 0, false
	}
	if v := meta.Get(keyVersion); len(v) != 8 {
		r.add("meta version is %x, not an 8-byte number", v)
	} else if n := binary.BigEndian.Uint64(v); n != FormatVersion {
		r.add("meta version is %d; this build reads version %d", n, FormatVersion)
	}
	if v := meta.Get(keySeq); v != nil {
		if len(v) != 8 {
			r.add("meta seq is %x, not an 8-byte number", v)
		} else {
			seq, haveSeq = binary.BigEndian.Uint64(v), true
		}
	} else {
		haveSeq = true // a journal that has never stored an event
	}
	if v := meta.Get(keyServerID); v != nil && len(v) != 8 {
		r.add("meta server_id is %x, not an 8-byte number", v)
	}
	v := meta.Get(keyCheckpoint)
	if v == nil {
		if seq > 0 {
			r.add("the journal holds %d events but no binlog checkpoint", seq)
		}
		return seq, haveSeq
	}
	var cp Checkpoint
	if err := json.Unmarshal(v, &cp); err != nil {
		r.add("the checkpoint does not decode: %v (%q)", err, clipBytes(v))
		return seq, haveSeq
	}
	switch {
	case cp.Flavor != "mysql" && cp.Flavor != "mariadb":
		r.add("the checkpoint's flavor is %q, want mysql or mariadb", cp.Flavor)
	case cp.File == "":
		r.add("the checkpoint names no binlog file")
	case cp.Pos < 4:
		r.add("the checkpoint's position %d lies inside the binlog file header", cp.Pos)
	}
	if len(cp.Columns) > 0 {
		for _, col := range []string{"blog_id", "site_status", "monitor_url"} {
			if !slices.Contains(cp.Columns, col) {
				r.add("the checkpoint's column layout %v lacks %s", cp.Columns, col)
			}
		}
	}
	return seq, haveSeq
}

// checkEvents walks the events bucket: every record decodes and has its
// index entry, and the ids are exactly 1..seq.
func (r *Report) checkEvents(events, blogs *bolt.Bucket, seq uint64, haveSeq bool) {
	// The bitmap of ids seen is bounded by the number of records, so a
	// damaged sequence cannot make it huge.
	limit := 8*uint64(events.Stats().KeyN) + 1<<20
	if haveSeq && seq < limit {
		limit = seq
	}
	seen := make([]uint64, 0, limit/64+1)
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.Events++
		e, err := DecodeEvent(k, v)
		if err != nil {
			r.add("events record %x: %v", k, err)
			continue
		}
		switch {
		case e.ID == 0:
			r.add("event at %s for blog %d has id 0", e.CreatedAt.Format(time.RFC3339), e.BlogID)
		case haveSeq && e.ID > seq:
			r.add("event %d (blog %d) lies beyond the sequence %d kept in meta", e.ID, e.BlogID, seq)
		case e.ID > limit:
			r.add("event %d (blog %d) has an implausible id for a file of %d events", e.ID, e.BlogID, events.Stats().KeyN)
		default:
			w, bit := e.ID/64, uint64(1)<<(e.ID%64)
			for uint64(len(seen)) <= w {
				seen = append(seen, 0)
			}
			if seen[w]&bit != 0 {
				r.add("event id %d appears more than once", e.ID)
			}
			seen[w] |= bit
		}
		status := v[len(v)-1]
		iv := blogs.Get(blogKey(e.BlogID, e.CreatedAt.Unix(), e.ID))
		switch {
		case iv == nil:
			r.add("event %d (blog %d at %s) has no entry in the blogs index", e.ID, e.BlogID, e.CreatedAt.Format(time.RFC3339))
		case len(iv) != 1 || iv[0] != status:
			r.add("event %d (blog %d) has status %#x but its blogs index entry has %x", e.ID, e.BlogID, status, iv)
		}
	}
	if !haveSeq {
		return
	}
	if r.Events != seq {
		r.add("meta seq is %d but the events bucket holds %d events: ids must be exactly 1..%d", seq, r.Events, seq)
	}
	missing := 0
	for id := uint64(1); id <= seq && id <= limit; id++ {
		if w := id / 64; w >= uint64(len(seen)) || seen[w]&(1<<(id%64)) == 0 {
			if missing++; missing <= 10 {
				r.add("event id %d is missing (ids must be dense 1..%d)", id, seq)
			}
		}
	}
	if missing > 10 {
		r.add("%d more event ids are missing", missing-10)
	}
}

// checkIndex walks the blogs index: every entry decodes and points at an
// event of the same blog and status.
func (r *Report) checkIndex(blogs, events *bolt.Bucket) {
	c := blogs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.IndexEntries++
		e, err := DecodeBlogIndex(k, v)
		if err != nil {
			r.add("blogs index entry %x: %v", k, err)
			continue
		}
		ev := events.Get(eventKey(e.CreatedAt.Unix(), e.ID))
		if ev == nil {
			r.add("blogs index entry for blog %d, event %d at %s has no event", e.BlogID, e.ID, e.CreatedAt.Format(time.RFC3339))
			continue
		}
		blog, n := uvarint(ev)
		if n <= 0 || blog != e.BlogID || len(ev) != n+1 || ev[n] != v[0] {
			r.add("blogs index entry for blog %d, event %d does not match its event (%x)", e.BlogID, e.ID, ev)
		}
	}
}

func (r *Report) checkMonitors(b *bolt.Bucket) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.Monitors++
		if _, err := DecodeMonitor(k, v); err != nil {
			r.add("monitors record %x: %v", k, err)
		}
	}
}

// checkSpans checks that spans are sorted (bbolt keeps keys in order; the
// check is that each decodes), do not overlap, and that only the last one
// is open.
func (r *Report) checkSpans(b *bolt.Bucket) {
	var prev *spanRecord
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.Spans++
		s, err := decodeSpan(k, v)
		if err != nil {
			r.add("span %d: %v", r.Spans, err)
			continue
		}
		if prev != nil {
			if !prev.Closed {
				r.add("span %d (from %s) is open but is not the last span", r.Spans-1, prev.Start.Format(time.RFC3339Nano))
			}
			if s.Start.Before(prev.End) {
				r.add("span %d starts at %s, before span %d ends at %s: spans must not overlap", r.Spans, s.Start.Format(time.RFC3339Nano), r.Spans-1, prev.End.Format(time.RFC3339Nano))
			}
		}
		prev = &s
	}
}

// touch reads the first and last byte of a record so that a length or
// offset pointing past the file faults here, inside guarded, and not later
// inside bbolt's own check.
func touch(k, v []byte) {
	if len(k) > 0 {
		touched ^= k[0] ^ k[len(k)-1]
	}
	if len(v) > 0 {
		touched ^= v[0] ^ v[len(v)-1]
	}
}

// touched keeps touch's reads from being optimized away.
var touched byte

func clipBytes(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
