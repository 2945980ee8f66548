package journal

import (
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// ExportFilter selects the events Export streams. The zero value selects
// every event.
type ExportFilter struct {
	// BlogID, when non-zero, selects one blog's events (through the blogs
	// bucket, so the cost is that blog's events, not the file's).
	BlogID uint64
	// Since and Until bound created_at to [Since, Until); a zero time leaves
	// that side open.
	Since, Until time.Time
}

// Export calls fn with every selected event in (created_at, id) order, the
// order of /events, none before the retention cutoff, inside one read transaction: the events form one
// consistent snapshot and memory use does not grow with their number. It
// stops at fn's first error and returns it.
func (j *Journal) Export(f ExportFilter, fn func(bridge.Event) error) (err error) {
	defer guard(j.path, &err)()
	from, to := int64(0), int64(-1) // to < 0: no upper bound
	if !f.Since.IsZero() {
		from = ceilSeconds(f.Since)
	}
	if !f.Until.IsZero() {
		to = ceilSeconds(f.Until)
		if from >= to {
			return nil
		}
	}
	kind := eventRuns
	if f.BlogID != 0 {
		kind = blogRuns
	}
	return j.db.View(func(tx *bolt.Tx) error {
		// Nothing before the retention cutoff (trim.go): events held back
		// for the publisher or committed late are past retention.
		from := max(from, j.cutoff.Load())
		if to >= 0 && from >= to {
			return nil
		}
		return scanRuns(tx, kind, f.BlogID, from, to, func(e entry) error { return fn(e.event()) })
	})
}
