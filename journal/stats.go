package journal

import (
	"encoding/binary"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats summarizes a journal file for operators (jetmon-bridge journal stats).
type Stats struct {
	// Path is the journal file.
	Path string `json:"path"`
	// FileSize is the file's size in bytes; UsedBytes is how much of it its
	// pages take (bbolt grows the file ahead of need, up to 16 MiB at a time).
	FileSize  int64 `json:"file_size"`
	UsedBytes int64 `json:"used_bytes"`
	// Events counts the stored events; Seq is the id of the newest one;
	// Trimmed counts the events retention deleted (Trim). In a sound
	// journal Events + Trimmed = Seq (ids are dense, never reused).
	Events  uint64 `json:"events"`
	Seq     uint64 `json:"seq"`
	Trimmed uint64 `json:"trimmed"`
	// FirstID is the smallest id that may still be stored: every id below
	// it was trimmed.
	FirstID uint64 `json:"first_id"`
	// RetainedFrom is the retention cutoff: the journal answers for
	// nothing created before it, and its coverage starts there. Nil when
	// it was never trimmed.
	RetainedFrom *time.Time `json:"retained_from,omitempty"`
	// BeforeCutoff counts stored events created before RetainedFrom: held
	// back for the NATS publisher, or committed after the last trim. No
	// answer shows them; the next trim deletes them.
	BeforeCutoff uint64 `json:"before_cutoff,omitempty"`
	// BytesPerEvent is FileSize / Events (0 when there are none).
	BytesPerEvent float64 `json:"bytes_per_event"`
	// Blogs counts the distinct blogs with at least one event.
	Blogs uint64 `json:"blogs"`
	// Monitors and ActiveMonitors count the monitor rows the journal keeps.
	Monitors       uint64 `json:"monitors"`
	ActiveMonitors uint64 `json:"active_monitors"`
	// FirstEvent and LastEvent are the oldest and newest created_at of the
	// stored events; nil when there are none.
	FirstEvent *time.Time `json:"first_event,omitempty"`
	LastEvent  *time.Time `json:"last_event,omitempty"`
	// Checkpoint is the binlog position the follower resumes from; nil for
	// a journal that never followed.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// ServerID is the replication server id kept in the file (0: none).
	ServerID uint32 `json:"server_id,omitempty"`
	// Spans are the coverage spans as stored, oldest first.
	Spans []SpanInfo `json:"spans"`
	// Gaps are the uncovered stretches between consecutive spans.
	Gaps []Gap `json:"gaps"`
	// Stopped is the reason coverage stopped when the last span is closed
	// and none follows it yet (Batch.EndSpan: a replication filter may have
	// dropped changes); empty while a span is open.
	Stopped string `json:"stopped,omitempty"`
	// Held is the hold on coverage in force (a replication filter may have
	// left the replica's rows stale: no span opens until it is released);
	// nil when none.
	Held *Hold `json:"held,omitempty"`
}

// SpanInfo is one stored coverage span.
type SpanInfo struct {
	Start time.Time `json:"start"`
	// End is the last instant the span vouches for so far.
	End time.Time `json:"end"`
	// Open is true for the span the follower was still extending when the
	// file was last written (at most the last one).
	Open bool `json:"open"`
	// Server is the server the span followed (ServerIdentity.String);
	// empty for spans written before the bridge recorded it.
	Server string `json:"server,omitempty"`
}

// Gap is the stretch between two spans, with the reason recorded when the
// earlier span was closed (for example a purged binlog). A gap of no length
// marks a switch of servers that missed nothing.
type Gap struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason"`
}

// Stats reads the summary in one read transaction. The event count decodes
// the events bucket's runs (a few bytes per event, no allocation per
// event), and the blog count skips from blog to blog through the blogs
// bucket, so it is quick even for a large file.
func (j *Journal) Stats() (st Stats, err error) {
	defer guard(j.path, &err)()
	st.Path = j.path
	if fi, err := os.Stat(j.path); err == nil {
		st.FileSize = fi.Size()
	}
	err = j.db.View(func(tx *bolt.Tx) error {
		st.UsedBytes = tx.Size()
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySeq); len(v) == 8 {
			st.Seq = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyServerID); len(v) == 8 {
			st.ServerID = uint32(binary.BigEndian.Uint64(v))
		}
		t, err := decodeTrimmed(meta.Get(keyTrim))
		if err != nil {
			return err
		}
		st.Trimmed, st.FirstID = t.count(), t.firstID()
		if t.cutoff > 0 {
			c := t.cutoffTime()
			st.RetainedFrom = &c
		}
		if st.Events, st.BeforeCutoff, st.FirstEvent, st.LastEvent, err = countEvents(tx, t.cutoff); err != nil {
			return err
		}
		st.Blogs = countBlogs(tx.Bucket(bucketBlogs))
		for r, err := range storedMonitors(tx) {
			if err != nil {
				return err
			}
			m, err := decodeMonitor(r.site, r.rec)
			if err != nil {
				return err
			}
			st.Monitors++
			if m.Active {
				st.ActiveMonitors++
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if st.Events > 0 {
		st.BytesPerEvent = float64(st.FileSize) / float64(st.Events)
	}
	if cp, ok := j.Checkpoint(); ok {
		st.Checkpoint = &cp
	}
	st.Spans, st.Gaps, st.Stopped = j.storedSpans()
	if h, held := j.Held(); held {
		st.Held = &h
	}
	return st, nil
}

// countEvents counts the events bucket's events and those created before
// cutoff, and returns the first and last created_at (nil when there are
// none).
func countEvents(tx *bolt.Tx, cutoff int64) (n, before uint64, first, last *time.Time, err error) {
	c := tx.Bucket(bucketEvents).Cursor()
	var buf []entry
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if buf, err = eventRuns.decode(buf[:0], k, v); err != nil {
			return 0, 0, nil, nil, err
		}
		if first == nil {
			t := buf[0].event().CreatedAt
			first = &t
		}
		n += uint64(len(buf))
		for _, e := range buf {
			if e.created >= cutoff {
				break
			}
			before++
		}
	}
	if n > 0 {
		t := buf[len(buf)-1].event().CreatedAt
		last = &t
	}
	return n, before, first, last, nil
}

// countBlogs counts the distinct blog prefixes of the blogs index by
// seeking past each blog's entries.
func countBlogs(b *bolt.Bucket) uint64 {
	var n uint64
	c := b.Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) < 8 {
			k, _ = c.Next()
			continue
		}
		n++
		blog := binary.BigEndian.Uint64(k)
		if blog == ^uint64(0) {
			break
		}
		k, _ = c.Seek(u64(blog + 1))
	}
	return n
}

// storedSpans returns the spans as the file holds them, the gaps between
// them, and why coverage stopped when no span is open after the last.
func (j *Journal) storedSpans() (spans []SpanInfo, gaps []Gap, stopped string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	spans = make([]SpanInfo, 0, len(j.spans))
	gaps = []Gap{}
	if n := len(j.spans); n > 0 && j.spans[n-1].Closed {
		stopped = j.spans[n-1].Reason
	}
	for i, s := range j.spans {
		spans = append(spans, SpanInfo{Start: s.Start, End: s.End, Open: !s.Closed, Server: s.Server})
		if i > 0 {
			prev := j.spans[i-1]
			gaps = append(gaps, Gap{Start: prev.End, End: s.Start, Reason: prev.Reason})
		}
	}
	return spans, gaps, stopped
}
