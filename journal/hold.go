package journal

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A hold keeps coverage ended until the followed replica's table is known
// to match its primary's again (docs/guarantees.md, "Coverage on a
// replica"). A replication filter that dropped a change to the table left
// the replica's row stale, and the primary's next change of that row
// reaches the binlog with the stale row as its before image: a span
// started from a snapshot of the replica would vouch for a wrong
// transition, and nothing the replica shows can tell. So the follower
// records a hold (HoldCoverage) before it ends the span, opens no span
// while it lasts, and lifts it (ReleaseHold) only when the operator says
// the table was re-synchronized, or when a comparison with the primary
// finds the tables alike. The hold is kept in the file: a restart of the
// bridge is no re-synchronization.

// keyHold holds, in meta, the hold in force as JSON (Hold); absent when
// none is.
var keyHold = []byte("hold")

// Hold is a hold on coverage.
type Hold struct {
	// Since is when it began, on the bridge host's clock: it names the
	// hold for operators and for ReleaseHold; no coverage instant rests
	// on it.
	Since time.Time `json:"since"`
	// Reason says what may have left the replica's table stale.
	Reason string `json:"reason"`
}

// holdState is the journal's part of a hold.
type holdState struct {
	// holdMu orders HoldCoverage and ReleaseHold, each a read of the hold
	// and a write of the file.
	holdMu sync.Mutex
	// hold is the hold in force, nil when none; under Journal.mu.
	hold *Hold
}

// HoldCoverage records h as the hold in force, in the file first, unless a
// hold is in force already: that one, the oldest cause, stays (the same
// re-synchronization ends both). It returns the hold in force.
func (j *Journal) HoldCoverage(h Hold) (Hold, error) {
	j.holdMu.Lock()
	defer j.holdMu.Unlock()
	j.mu.Lock()
	held := j.hold
	j.mu.Unlock()
	if held != nil {
		return *held, nil
	}
	h.Since = h.Since.UTC()
	v, err := json.Marshal(h)
	if err != nil {
		return h, err
	}
	if err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyHold, v) }); err != nil {
		return h, fmt.Errorf("record the hold on coverage in journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	j.hold = &h
	j.notifyLocked()
	j.mu.Unlock()
	return h, nil
}

// Held returns the hold in force, if any.
func (j *Journal) Held() (Hold, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.hold == nil {
		return Hold{}, false
	}
	return *j.hold, true
}

// ReleaseHold lifts the hold that began at since. It reports false, and
// changes nothing, when that hold is no longer the one in force (released
// already, or none): a release decided on a check that began before a
// newer hold cannot lift the newer one.
func (j *Journal) ReleaseHold(since time.Time) (bool, error) {
	j.holdMu.Lock()
	defer j.holdMu.Unlock()
	j.mu.Lock()
	held := j.hold
	j.mu.Unlock()
	if held == nil || !held.Since.Equal(since) {
		return false, nil
	}
	if err := j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyHold) }); err != nil {
		return false, fmt.Errorf("release the hold on coverage in journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	j.hold = nil
	j.notifyLocked()
	j.mu.Unlock()
	return true, nil
}

// loadHold restores the hold kept in the file.
func (j *Journal) loadHold(meta *bolt.Bucket) error {
	v := meta.Get(keyHold)
	if v == nil {
		return nil
	}
	var h Hold
	if err := json.Unmarshal(v, &h); err != nil || h.Since.IsZero() {
		return fmt.Errorf("%w: hold on coverage %q", ErrCorrupt, v)
	}
	j.hold = &h
	return nil
}
