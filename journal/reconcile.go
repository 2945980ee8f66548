package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// What the reconcile self-check (binlog/reconcile.go; docs/guarantees.md,
// "Reconcile: the journal checked against the table") needs from the
// journal: its rows read in primary-key order a range at a time, a record
// of the rows its commits change while a check runs, the last instant the
// open span was found to agree with the table, and a way to take back what
// the open span vouches for at once, before the follower has started a
// fresh span.

// keyReconciled holds, in meta, the start of the span a reconcile last
// found in agreement with the table and the vouched end it had read before
// taking that snapshot: start(8) | agreed(8), Unix nanoseconds.
var keyReconciled = []byte("reconciled")

// keyDiverged holds, in meta, the start of the open span a reconcile found
// diverged from the table and where its claims end (Suspect): start(8) |
// from(8), Unix nanoseconds. It lapses when another span opens.
var keyDiverged = []byte("diverged")

// pairValue encodes two instants as keyReconciled and keyDiverged hold them.
func pairValue(a, b time.Time) []byte {
	return binary.BigEndian.AppendUint64(u64(uint64(a.UnixNano())), uint64(b.UnixNano()))
}

// pair decodes pairValue; ok is false for any other value.
func pair(v []byte) (a, b time.Time, ok bool) {
	if len(v) != 16 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC(), true
}

// reconcileState is the journal's part of the self-check.
type reconcileState struct {
	// suspect is the start of the open span that a reconcile found
	// diverged from the table, and suspectFrom where the span's claims end
	// from then on; both under Journal.mu, zero when nothing is in doubt.
	// They lapse by themselves when a new span opens.
	suspect, suspectFrom time.Time
	// watch records the rows commits change while a reconcile runs.
	watch atomic.Pointer[RowWatch]
}

// RowWatch records the primary keys of the rows the journal's commits
// change from WatchRows until Close. A reconcile compares the table, read
// at one binlog position, with the journal's rows, read later when the
// journal has committed at least that far: a row changed in between may
// rightly differ, and is left for the next run instead of being reported.
type RowWatch struct {
	j     *Journal
	limit int

	mu        sync.Mutex
	sites     map[uint64]struct{}
	overflow  bool // more than limit rows changed: the watch cannot say which
	snapshots int  // commits that replaced every row or opened a span
}

// ErrWatchBusy is returned by WatchRows while another watch is open.
var ErrWatchBusy = errors.New("a reconcile is already running")

// WatchRows starts recording the rows changed by commits from now on, up
// to limit distinct rows (beyond, Disturbed says so). One watch may be open
// at a time.
func (j *Journal) WatchRows(limit int) (*RowWatch, error) {
	w := &RowWatch{j: j, limit: limit, sites: make(map[uint64]struct{})}
	if !j.watch.CompareAndSwap(nil, w) {
		return nil, ErrWatchBusy
	}
	return w, nil
}

// Close stops the recording.
func (w *RowWatch) Close() { w.j.watch.CompareAndSwap(w, nil) }

// Changed reports whether a commit since WatchRows changed site's row.
func (w *RowWatch) Changed(site uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.sites[site]
	return ok
}

// Changes is the number of distinct rows changed since WatchRows.
func (w *RowWatch) Changes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sites)
}

// Disturbed says why the watch cannot tell which rows changed, or nil: more
// rows changed than its limit (a follower catching up), or a commit
// replaced the rows with a snapshot and opened a new span.
func (w *RowWatch) Disturbed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.snapshots > 0:
		return errors.New("a new coverage span started meanwhile, from a fresh snapshot of the table")
	case w.overflow:
		return fmt.Errorf("the follower changed more than %d rows meanwhile (catching up?)", w.limit)
	}
	return nil
}

// noteRows records a commit's rows with the open watch, if any. Commit
// calls it inside its transaction: a commit that then fails has changed
// nothing, and noting its rows only makes a reconcile skip them.
func (j *Journal) noteRows(b *Batch, rows *rowSet) {
	w := j.watch.Load()
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b.ResetMonitors || b.NewSpan != nil {
		w.snapshots++
	}
	if w.overflow {
		return
	}
	for _, s := range rows.slots {
		w.sites[s.site] = struct{}{}
		if len(w.sites) > w.limit {
			w.overflow, w.sites = true, nil
			return
		}
	}
}

// MonitorsAfter appends to dst the rows the journal keeps whose primary
// key is greater than after, at most limit of them, in key order, as the
// binlog last showed them, from one read transaction. A reconcile reads
// the rows a page at a time so that no read transaction lasts long: bbolt
// cannot grow the file while one is open, and the follower would wait.
func (j *Journal) MonitorsAfter(after uint64, limit int, dst []bridge.Monitor) (_ []bridge.Monitor, err error) {
	defer guard(j.path, &err)()
	if after == ^uint64(0) || limit <= 0 {
		return dst, nil
	}
	err = j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMonitors).Cursor()
		var page []monitorRecord
		n := 0
		for k, v := c.Seek(monitorPageKey(nil, after+1)); k != nil; k, v = c.Next() {
			var err error
			if page, err = decodeMonitorPage(page[:0], k, v); err != nil {
				return err
			}
			for _, r := range page {
				if r.site <= after {
					continue
				}
				m, err := decodeMonitor(r.site, r.rec)
				if err != nil {
					return err
				}
				dst = append(dst, m)
				if n++; n == limit {
					return nil
				}
			}
		}
		return nil
	})
	return dst, err
}

// OpenSpan returns the open span as it stands now (its end as far as it is
// vouched for, never "forever"), or false when there is none.
func (j *Journal) OpenSpan() (bridge.Span, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := len(j.spans)
	if n == 0 || j.spans[n-1].Closed {
		return bridge.Span{}, false
	}
	spans := j.spansLocked(time.Time{})
	return spans[n-1], true
}

// MarkAgreed records that a reconcile found the rows of the span starting
// at spanStart in agreement with the table, at a snapshot taken after the
// span was vouched for up to at. It is kept in the file, so that a
// divergence found after a restart takes back no more than it must.
func (j *Journal) MarkAgreed(spanStart, at time.Time) error {
	v := pairValue(spanStart, at)
	err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyReconciled, v) })
	if err != nil {
		return fmt.Errorf("record the reconcile in journal %s: %w", j.path, err)
	}
	return nil
}

// Agreed returns the last instant up to which a reconcile found the span
// starting at spanStart in agreement with the table, or spanStart when none
// has (nothing of it has been checked).
func (j *Journal) Agreed(spanStart time.Time) (at time.Time, err error) {
	defer guard(j.path, &err)()
	at = spanStart
	err = j.db.View(func(tx *bolt.Tx) error {
		start, agreed, ok := pair(tx.Bucket(bucketMeta).Get(keyReconciled))
		if ok && j.SameSpan(start, spanStart) && agreed.After(spanStart) {
			at = agreed
		}
		return nil
	})
	return at, err
}

// Suspect takes back, at once, what the open span starting at spanStart
// vouches for from `from` on: a reconcile found the journal diverged from
// the table. Answers over that stretch turn mixed until the follower has
// closed the span in the file (SpanStart.CloseAt) and started a fresh one,
// which ends the suspicion. It is kept in the file too, so that a bridge
// stopped or killed before the fresh span began still doubts the span when
// it starts again, and its follower starts the fresh span first
// (Suspected). It reports false when that span is no longer the open one.
func (j *Journal) Suspect(spanStart, from time.Time) (bool, error) {
	j.mu.Lock()
	n := len(j.spans)
	open := n > 0 && !j.spans[n-1].Closed && j.sameSpanLocked(j.spans[n-1].Start, spanStart)
	if open {
		j.suspect, j.suspectFrom = spanStart, from
		j.notifyLocked()
	}
	j.mu.Unlock()
	if !open {
		return false, nil
	}
	v := pairValue(spanStart, from)
	if err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyDiverged, v) }); err != nil {
		return true, fmt.Errorf("record the divergence in journal %s: %w", j.path, err)
	}
	return true, nil
}

// Suspected returns the open span's start and where its claims end when a
// reconcile has put it in doubt and no fresh span has followed yet.
func (j *Journal) Suspected() (spanStart, from time.Time, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.suspectedEndLocked(); !ok {
		return time.Time{}, time.Time{}, false
	}
	return j.suspect, j.suspectFrom, true
}

// loadSuspicion restores a suspicion kept in the file (Suspect); a stale
// one, of a span that is no longer the open one, lapses by itself.
func (j *Journal) loadSuspicion(meta *bolt.Bucket) {
	if start, from, ok := pair(meta.Get(keyDiverged)); ok {
		j.suspect, j.suspectFrom = start, from
	}
}

// suspectedEndLocked returns where the open span's claims end while it is
// in doubt, and false when it is not. j.mu is held.
func (j *Journal) suspectedEndLocked() (time.Time, bool) {
	n := len(j.spans)
	if n == 0 || j.spans[n-1].Closed || j.suspect.IsZero() || !j.sameSpanLocked(j.spans[n-1].Start, j.suspect) {
		return time.Time{}, false
	}
	end := j.spans[n-1].End
	if c := j.confirmed.Truncate(time.Second); j.following && c.After(end) {
		end = c // what it vouched for when the divergence was found
	}
	switch {
	case j.suspectFrom.Before(j.spans[n-1].Start):
		return j.spans[n-1].Start, true
	case j.suspectFrom.Before(end):
		return j.suspectFrom, true
	}
	return end, true
}
