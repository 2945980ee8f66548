// Package journal keeps the bridge's history of site_status transitions in
// one bbolt file: the events, a per-blog time index, each monitor's last
// seen row, the binlog checkpoint and the coverage spans (the stretches of
// replica time for which every committed change is in the file).
//
// The follower is the only writer. It hands the journal whole binlog
// transactions in batches (Commit); a batch's events and the checkpoint
// after its last transaction land in one bbolt transaction, so after any
// crash the follower resumes exactly where the file ends. Readers (Window,
// the operator tools) see consistent snapshots and never block the writer.
package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FormatVersion is written into every journal and checked on open.
// Version 1 stored a record per event in each bucket; version 2 packs
// events into runs (run.go).
const FormatVersion = 2

var (
	bucketMeta     = []byte("meta")
	bucketEvents   = []byte("events")
	bucketBlogs    = []byte("blogs")
	bucketMonitors = []byte("monitors")
	bucketSpans    = []byte("spans")

	keyVersion    = []byte("version")
	keySeq        = []byte("seq")
	keyCheckpoint = []byte("checkpoint")
	keyServerID   = []byte("server_id")
)

// ErrLocked is returned when another process holds the journal file.
var ErrLocked = errors.New("journal is held by another process")

// Options tune Open.
type Options struct {
	// ReadOnly opens the file for reading only (operator tools).
	ReadOnly bool
	// LockTimeout bounds the wait for another process's lock; default 1s.
	LockTimeout time.Duration
	// WaitLimit bounds how long Window waits for the follower to catch up
	// to a window's end; 0 never waits.
	WaitLimit time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnCommit, when set, is called after each successful Commit that
	// wrote something, with what it cost (the benchmarks' commit
	// latencies). It runs on the committing goroutine: keep it short.
	OnCommit func(CommitStats)
}

// CommitStats is what one Commit cost.
type CommitStats struct {
	// Events is the batch's events (0 for coverage or rows alone).
	Events int
	// Took is the Commit call's time, waiting for a trim step included.
	Took time.Duration
	// Pages is the pages bbolt wrote.
	Pages int
}

// Journal is an open journal file.
type Journal struct {
	db   *bolt.DB
	path string
	opts Options
	now  func() time.Time

	// gate orders the writers: Commit and the steps of Trim.
	gate writeGate

	mu         sync.Mutex
	lastID     uint64
	trim       trimmed // what retention removed (trimmed.go)
	checkpoint *Checkpoint
	spans      []spanRecord // sorted by start; only the last may be open
	confirmed  time.Time    // when the follower last proved it had applied everything (server clock)
	clock      serverClock  // the followed server's clock, as the follower last read it (clock.go)
	following  bool         // a follower is attached and live
	changed    chan struct{}
	commitErr  error // the last Commit's failure, cleared by a success (see CommitErr)
	errChanges bool  // commitErr is the failure of a batch that carried changes
	commits    uint64

	// cutoff is trim.cutoff for readers, which clip every window at it
	// (trim.go explains why they read it inside their transaction).
	cutoff atomic.Int64

	probe probeState
	readHints
	reconcileState
	holdState
}

// Open opens or creates the journal at path.
func Open(path string, opts Options) (*Journal, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open journal %s: %w", path, err)
		}
	}
	bopts := &bolt.Options{
		Timeout:      opts.LockTimeout,
		ReadOnly:     opts.ReadOnly,
		FreelistType: bolt.FreelistMapType,
	}
	if !opts.ReadOnly {
		// Reserve address space up front: each time a growing file outgrows
		// the map, bbolt remaps it inside the writing transaction and first
		// copies every node that transaction touched onto the heap, which
		// more than doubled the cost of a catch-up's commits (and blocks
		// readers meanwhile). This is virtual memory, not resident.
		bopts.InitialMmapSize = 1 << 30
		// No freelist in the file: bbolt rebuilds it on open from the
		// pages the buckets reach. Written by every commit, the freelist
		// takes contiguous pages in proportion to the free ones, which
		// the scattered pages retention frees seldom offer, so each
		// commit took them past the high-water mark and the file grew
		// under a steady window (docs/bench-notes.md, part 8b); it was
		// also a write per commit growing with the free pages. The price
		// is the rebuild at open, a read of every page's header
		// (docs/BENCHMARKS.md, part 8, has the open time per size).
		bopts.NoFreelistSync = true
	}
	db, err := bolt.Open(path, 0o600, bopts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is in use (is jetmon-bridge running on it?): stop that process first, or work on a copy fetched from its GET /journal/snapshot", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w (if the file is damaged, run 'jetmon-bridge journal verify -journal %s')", path, err, path)
	}
	j := &Journal{db: db, path: path, opts: opts, now: opts.Now, changed: make(chan struct{})}
	if !opts.ReadOnly {
		if err := db.Update(initBuckets); err != nil {
			db.Close()
			return nil, fmt.Errorf("initialize journal %s: %w", path, err)
		}
	}
	if err := db.View(j.load); err != nil {
		db.Close()
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	return j, nil
}

func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketEvents, bucketBlogs, bucketMonitors, bucketSpans} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyVersion) == nil {
		return meta.Put(keyVersion, u64(FormatVersion))
	}
	return nil
}

// checkFormat refuses a file of another format version than this build's.
func checkFormat(meta *bolt.Bucket, path string) error {
	v := meta.Get(keyVersion)
	switch {
	case len(v) != 8:
		return fmt.Errorf("%w: the format version is %x, not an 8-byte number", ErrCorrupt, v)
	case binary.BigEndian.Uint64(v) == 1:
		return fmt.Errorf("%w 1 (written by an earlier jetmon-bridge; this build reads format %d): convert it with 'jetmon-bridge journal upgrade -journal %s -o NEW' and start the bridge on NEW", ErrFormat, FormatVersion, path)
	case binary.BigEndian.Uint64(v) != FormatVersion:
		return fmt.Errorf("%w %d (this build reads format %d: is the file from a newer jetmon-bridge?)", ErrFormat, binary.BigEndian.Uint64(v), FormatVersion)
	}
	return nil
}

// ErrFormat marks a journal of a format this build does not read.
var ErrFormat = errors.New("unsupported journal format")

// load reads the in-memory state from the file.
func (j *Journal) load(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("%w: not a jetmon-bridge journal (no meta bucket)", ErrCorrupt)
	}
	if err := checkFormat(meta, j.path); err != nil {
		return err
	}
	j.loadSuspicion(meta)
	if err := j.loadHold(meta); err != nil {
		return err
	}
	if v := meta.Get(keySeq); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("%w: sequence %x", ErrCorrupt, v)
		}
		j.lastID = binary.BigEndian.Uint64(v)
	}
	if v := meta.Get(keyCheckpoint); v != nil {
		var cp Checkpoint
		if err := json.Unmarshal(v, &cp); err != nil {
			return fmt.Errorf("%w: checkpoint: %v", ErrCorrupt, err)
		}
		j.checkpoint = &cp
	}
	t, err := decodeTrimmed(meta.Get(keyTrim))
	if err != nil {
		return err
	}
	j.trim = t
	j.cutoff.Store(t.cutoff)
	j.spans = nil
	return tx.Bucket(bucketSpans).ForEach(func(k, v []byte) error {
		s, err := decodeSpan(k, v)
		if err != nil {
			return err
		}
		j.spans = append(j.spans, s)
		return nil
	})
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// Close closes the file.
func (j *Journal) Close() error { return j.db.Close() }

// Checkpoint returns the binlog position after the last committed
// transaction, or false for a fresh journal.
func (j *Journal) Checkpoint() (Checkpoint, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.checkpoint == nil {
		return Checkpoint{}, false
	}
	return j.checkpoint.Clone(), true
}

// LastID is the id of the newest event (0 when empty). Ids are dense in
// commit order; retention (Trim) deletes the oldest events without reusing
// or renumbering their ids, so LastID is the number of events ever
// journaled, and the number stored when nothing was trimmed.
func (j *Journal) LastID() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastID
}

// Commits counts the commits since Open that wrote events, monitor rows or
// a checkpoint; a heartbeat's commit of coverage alone is not counted.
func (j *Journal) Commits() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commits
}

// ServerID returns the replication server id kept in the journal, choosing
// and keeping one with choose when there is none yet. A non-zero override
// replaces the kept value.
func (j *Journal) ServerID(override uint32, choose func() uint32) (uint32, error) {
	var id uint32
	err := j.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyServerID); len(v) == 8 {
			id = uint32(binary.BigEndian.Uint64(v))
		}
		if override != 0 {
			id = override
		} else if id == 0 {
			id = choose()
		}
		return meta.Put(keyServerID, u64(uint64(id)))
	})
	return id, err
}

// notifyLocked wakes everything waiting for the journal to change. j.mu is held.
func (j *Journal) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// Changed returns a channel closed at the next commit or confirmation.
func (j *Journal) Changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.changed
}

// CommitErr reports the last commit's failure (for example a full disk), or
// nil when the last commit succeeded. A commit that only advances coverage
// needs next to no space and may succeed where the follower's changes
// cannot be written: it does not clear the failure of a batch that carried
// changes (events, rows, a checkpoint), which only such a batch's success
// clears.
func (j *Journal) CommitErr() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commitErr
}
