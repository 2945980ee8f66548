package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Retention is how far back the journal reaches, for /healthz and metrics.
type Retention struct {
	// Cutoff is the retention cutoff: coverage starts there and no answer
	// holds an event from before it. Zero when never trimmed.
	Cutoff time.Time
	// Trimmed counts the events retention deleted; FirstID is the
	// smallest id that may still be stored.
	Trimmed, FirstID uint64
	// Oldest is the created_at of the oldest stored event (zero when
	// there are none): the cutoff once trimming has caught up, earlier
	// while events are held back for the publisher.
	Oldest time.Time
}

// Retention reads how far back the journal reaches: the cutoff and counts
// from memory, the oldest event from the first key of the events bucket.
func (j *Journal) Retention() (r Retention, err error) {
	defer guard(j.path, &err)()
	j.mu.Lock()
	t := j.trim
	j.mu.Unlock()
	r.Cutoff, r.Trimmed, r.FirstID = t.cutoffTime(), t.count(), t.firstID()
	err = j.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketEvents).Cursor().First()
		if k == nil {
			return nil
		}
		e, err := eventRuns.keyEntry(k)
		if err != nil {
			return err
		}
		r.Oldest = time.Unix(e.created, 0).UTC()
		return nil
	})
	return r, err
}

// Retainer is the daemon's retention (-retain): a supervised service that
// trims the journal to the last Retain of history every Interval while the
// follower commits. Each trim is a sequence of bounded steps on the
// follower's writer path (trim.go).
type Retainer struct {
	// Journal is the followed journal.
	Journal *Journal
	// Retain is how much history to keep: each trim deletes what is older
	// than the journal's clock minus Retain.
	Retain time.Duration
	// Interval is the time between trims; zero takes a minute.
	Interval time.Duration
	// KeepFrom, when set, returns the first event id the NATS publisher has
	// not published; Trim keeps it and every later event.
	KeepFrom func() uint64
	// Step bounds each step (TrimOptions.StepEvents, StepBlogs) and can
	// watch them (OnStep); its KeepFrom is KeepFrom's.
	Step TrimOptions
	// Logger receives a line per trim that deleted something.
	Logger *slog.Logger

	mu     sync.Mutex
	status RetainerStatus
}

// RetainerStatus is the Retainer's state for /healthz.
type RetainerStatus struct {
	// Retain is the configured retention.
	Retain time.Duration `json:"-"`
	// Trims counts finished trims; Deleted the events they deleted.
	Trims   uint64 `json:"trims"`
	Deleted uint64 `json:"deleted"`
	// LastTrim is when the last trim finished.
	LastTrim time.Time `json:"last_trim,omitzero"`
	// Pending says why the last trim left events before the cutoff.
	Pending string `json:"pending,omitempty"`
	// Error is the last trim's failure, cleared by a success.
	Error string `json:"error,omitempty"`
}

// Status reports the last trims.
func (r *Retainer) Status() RetainerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Retain = r.Retain
	return s
}

// Run trims at once, then every Interval, until ctx ends (nil) or a trim
// fails (a full disk, a damaged file: the supervisor runs it again after a
// back-off).
func (r *Retainer) Run(ctx context.Context, ready func()) error {
	if r.Retain <= 0 {
		return errors.New("retention is off (-retain 0): nothing to run")
	}
	interval := r.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ready()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.trim(ctx, log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.mu.Lock()
			r.status.Error = err.Error()
			r.mu.Unlock()
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// trim runs one trim to the journal's clock minus Retain.
func (r *Retainer) trim(ctx context.Context, log *slog.Logger) error {
	opts := r.Step
	if r.KeepFrom != nil {
		opts.KeepFrom = max(r.KeepFrom(), 1)
	}
	started := time.Now()
	res, err := r.Journal.Trim(ctx, r.Journal.Now().Add(-r.Retain), opts)
	if err != nil {
		return fmt.Errorf("retention (-retain %s): %w", r.Retain, err)
	}
	r.mu.Lock()
	changed := res.Pending != r.status.Pending
	r.status.Trims++
	r.status.Deleted += res.Deleted
	r.status.LastTrim, r.status.Pending, r.status.Error = time.Now().UTC(), res.Pending, ""
	r.mu.Unlock()
	if res.Deleted > 0 {
		log.Info("journal trimmed", "before", res.Cutoff, "events", res.Deleted, "steps", res.Steps, "took", time.Since(started).Round(time.Millisecond))
	}
	if res.Pending != "" && changed {
		log.Warn("journal trim left events before the cutoff", "before", res.Cutoff, "why", res.Pending)
	}
	return nil
}

// TrimFile trims the journal file at path offline (jetmon-bridge journal
// trim) to the cutoff before, which must not be in the future. Like the
// tools that copy a journal, it first proves the file's structure sound;
// a file a daemon holds fails with ErrLocked. It holds nothing back for a
// publisher: it cannot know what the stream holds (docs/journal-tools.md).
func TrimFile(ctx context.Context, path string, before time.Time, opts TrimOptions) (res TrimResult, err error) {
	lock, err := openRaw(path, 0)
	if err != nil {
		return res, err
	}
	err = checkSound(path, "trim")
	lock.Close()
	if err != nil {
		return res, err
	}
	defer guard(path, &err)()
	j, err := Open(path, Options{})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := j.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	return j.Trim(ctx, before, opts)
}
