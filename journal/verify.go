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
	// Events and IndexEntries count the events read from the events and
	// blogs buckets, EventRuns and BlogRuns the runs that hold them, and
	// Monitors and Spans those records.
	Events       uint64 `json:"events"`
	IndexEntries uint64 `json:"index_entries"`
	EventRuns    uint64 `json:"event_runs"`
	BlogRuns     uint64 `json:"blog_runs"`
	Monitors     uint64 `json:"monitors"`
	Spans        uint64 `json:"spans"`
	// Problems describes each defect found, one sentence each; empty when
	// the file is sound.
	Problems []string `json:"problems"`
	// Omitted counts the problems beyond the first maxProblems.
	Omitted int `json:"omitted,omitempty"`

	otherFormat bool // the file is not of FormatVersion: its records were not read
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
//   - every record of every bucket decodes, and the runs of each group
//     (the events bucket, each blog) follow one another in order;
//   - every event has exactly one entry in the blogs bucket with the same
//     blog, time and status (compared by a 32-bit fingerprint), and every
//     entry there its event;
//   - event ids are unique and dense: exactly 1..seq, where seq is the
//     sequence kept in meta;
//   - spans are sorted, do not overlap, end at or after they start, and
//     only the last one may still be open;
//   - the checkpoint decodes and is a plausible binlog position (or, taken
//     over from another server by GTID, a GTID set alone), and is present
//     whenever events are.
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
	if r.otherFormat {
		return // its records would all look damaged
	}
	var trim trimmed
	if meta := buckets["meta"]; meta != nil {
		var err error
		if trim, err = decodeTrimmed(meta.Get(keyTrim)); err != nil {
			r.add("%v", err)
		} else if haveSeq && trim.maxID() > seq {
			r.add("meta trim says event %d was trimmed, beyond the sequence %d kept in meta", trim.maxID(), seq)
		}
	}
	events, blogs := buckets["events"], buckets["blogs"]
	if events != nil && blogs != nil {
		seen, base := r.checkEvents(events, seq, haveSeq, trim)
		r.checkIndex(blogs, seen, base)
	}
	if b := buckets["monitors"]; b != nil {
		r.checkMonitors(b)
	}
	if b := buckets["spans"]; b != nil {
		r.checkSpans(b, trim.cutoffTime())
	}
	if b := tx.Bucket(bucketSources); b != nil {
		r.checkSources(b, seq)
	}
}

// checkMeta checks the version, sequence, server id and checkpoint, and
// returns the sequence.
func (r *Report) checkMeta(meta *bolt.Bucket) (seq uint64, haveSeq bool) {
	if meta == nil {
		return 0, false
	}
	if err := checkFormat(meta, r.Path); err != nil {
		r.add("%v", err)
		r.otherFormat = true
		return 0, false
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
	case cp.File != "" && cp.Pos < 4:
		// A checkpoint rebuilt from a NATS stream has a GTID set alone, or
		// neither a file nor a GTID set where the stream proves no position
		// (nats/restore.go): the follower then begins a new coverage span
		// at the replica's current position.
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

// checkEvents walks the events bucket: every run decodes, runs follow one
// another in order, and the ids are exactly 1..seq but those retention
// trimmed. It returns each id's fingerprint (0 for an id not seen), from
// id base on, for checkIndex.
func (r *Report) checkEvents(events *bolt.Bucket, seq uint64, haveSeq bool, trim trimmed) (seen []uint32, base uint64) {
	// The fingerprints are bounded by the events the runs can hold (at
	// least two bytes each), so a damaged sequence cannot make them huge.
	base = trim.firstID()
	stored := events.Stats().LeafInuse
	limit := uint64(stored)/2 + 1<<20 // ids from base on
	if haveSeq && seq < base+limit {
		limit = seq + 1 - min(base, seq+1)
	}
	seen = make([]uint32, 0, min(limit, 1<<24)+1)
	var buf []entry
	var last entry // the previous run's last event; id 0 when none
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.EventRuns++
		var err error
		if buf, err = eventRuns.decode(buf[:0], k, v); err != nil {
			r.add("events run %x: %v", k, err)
			last = entry{}
			continue
		}
		if last.id != 0 && cmpEntry(last, buf[0]) >= 0 {
			r.add("events run %x starts before the run ahead of it ends (event %d at %s)", k, last.id, last.event().CreatedAt.Format(time.RFC3339))
		}
		last = buf[len(buf)-1]
		for _, e := range buf {
			r.Events++
			switch {
			case haveSeq && e.id > seq:
				r.add("event %d (blog %d) lies beyond the sequence %d kept in meta", e.id, e.blog, seq)
			case trim.has(e.id):
				r.add("event %d (blog %d) is stored, but meta trim says retention deleted it", e.id, e.blog)
			case e.id-base >= limit:
				r.add("event %d (blog %d) has an implausible id for %d bytes of events", e.id, e.blog, stored)
			default:
				i := e.id - base
				for uint64(len(seen)) <= i {
					seen = append(seen, 0)
				}
				if seen[i] != 0 {
					r.add("event id %d appears more than once", e.id)
				}
				seen[i] = fingerprint(e)
			}
		}
	}
	if !haveSeq {
		return seen, base
	}
	if trimmed := trim.count(); r.Events+trimmed != seq {
		r.add("meta seq is %d but the events bucket holds %d events and %d were trimmed: ids must be exactly 1..%d", seq, r.Events, trimmed, seq)
	}
	missing := 0
	for id := base; id <= seq && id-base < limit; id++ {
		if i := id - base; (i >= uint64(len(seen)) || seen[i] == 0) && !trim.has(id) {
			if missing++; missing <= 10 {
				r.add("event id %d is missing (ids must be dense 1..%d, but for those retention trimmed)", id, seq)
			}
		}
	}
	if missing > 10 {
		r.add("%d more event ids are missing", missing-10)
	}
	return seen, base
}

// fingerprint condenses an event's blog, time and status into a non-zero
// 32-bit number: the blogs bucket's copy of an event must have the same.
func fingerprint(e entry) uint32 {
	h := uint64(e.blog)*0x9E3779B97F4A7C15 ^ uint64(e.created)*0xC2B2AE3D27D4EB4F ^ uint64(e.status)
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return uint32(h) | 2 // never 0 (no event) or 1 (matched)
}

// checkIndex walks the blogs bucket: every run decodes, each blog's runs
// follow one another in order, and every entry matches an event of the
// events bucket, which in turn has exactly one entry here.
func (r *Report) checkIndex(blogs *bolt.Bucket, events []uint32, base uint64) {
	var buf []entry
	var last entry // as in checkEvents
	c := blogs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		r.BlogRuns++
		var err error
		if buf, err = blogRuns.decode(buf[:0], k, v); err != nil {
			r.add("blogs run %x: %v", k, err)
			last = entry{}
			continue
		}
		if last.id != 0 && last.blog == buf[0].blog && cmpEntry(last, buf[0]) >= 0 {
			r.add("blogs run %x starts before the run ahead of it ends (blog %d, event %d)", k, last.blog, last.id)
		}
		last = buf[len(buf)-1]
		for _, e := range buf {
			r.IndexEntries++
			at := e.event().CreatedAt.Format(time.RFC3339)
			i := e.id - base
			switch {
			case e.id < base || i >= uint64(len(events)) || events[i] == 0:
				r.add("the blogs bucket's entry for blog %d, event %d at %s has no event", e.blog, e.id, at)
			case events[i] == 1: // matched by an earlier entry
				r.add("event %d appears more than once in the blogs bucket", e.id)
			case events[i] != fingerprint(e):
				r.add("event %d does not match the blogs bucket's entry for it (blog %d at %s, status %#x)", e.id, e.blog, at, e.status)
				events[i] = 1
			default:
				events[i] = 1
			}
		}
	}
	missing := 0
	for i, f := range events {
		if f > 1 {
			if missing++; missing <= 10 {
				r.add("event %d has no entry in the blogs bucket", base+uint64(i))
			}
		}
	}
	if missing > 10 {
		r.add("%d more events have no entry in the blogs bucket", missing-10)
	}
}

func (r *Report) checkMonitors(b *bolt.Bucket) {
	var page []monitorRecord
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		var err error
		if page, err = decodeMonitorPage(page[:0], k, v); err != nil {
			r.add("monitors page %x: %v", k, err)
			continue
		}
		for _, row := range page {
			r.Monitors++
			if _, err := decodeMonitor(row.site, row.rec); err != nil {
				r.add("monitor row %d: %v", row.site, err)
			}
		}
	}
}

// checkSpans checks that spans are sorted (bbolt keeps keys in order; the
// check is that each decodes), do not overlap, that only the last one is
// open, and that none starts before the retention cutoff (zero: none).
func (r *Report) checkSpans(b *bolt.Bucket, cutoff time.Time) {
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
		if s.Start.Before(cutoff) {
			r.add("span %d starts at %s, before the retention cutoff %s where coverage begins", r.Spans, s.Start.Format(time.RFC3339Nano), cutoff.Format(time.RFC3339))
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
