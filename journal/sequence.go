package journal

import (
	"errors"
	"fmt"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// SourcedEvent is a journaled event with its source transaction.
type SourcedEvent struct {
	bridge.Event
	// GTID is the source transaction's GTID; empty when the journal does
	// not know it (a server without GTIDs, or an event journaled before
	// the journal recorded sources).
	GTID string
	// Ordinal is the event's place among its transaction's events, from 0.
	Ordinal int
	// BaseGTIDSet is the checkpoint's GTID set before the commit that
	// wrote the event: with the GTIDs of the commit's transactions up to
	// this one, it is a set the source had executed by this event.
	BaseGTIDSet string
}

// EventsAfter returns the events with ids after..after+limit, in id order
// (the order the follower committed them), with their sources. It returns
// fewer when the journal ends sooner, none when it has nothing after after.
func (j *Journal) EventsAfter(after uint64, limit int) (out []SourcedEvent, err error) {
	defer guard(j.path, &err)()
	last := min(j.LastSeq(), after+uint64(max(limit, 0)))
	if last <= after {
		return nil, nil
	}
	n := int(last - after)
	out = make([]SourcedEvent, n)
	err = j.db.View(func(tx *bolt.Tx) error {
		records, err := sourcesFrom(tx, after+1, last)
		if err != nil {
			return err
		}
		// The scan of the events bucket starts at the earliest created_at
		// among the wanted ids: the records say it, unless some id has no
		// record (an older journal), when only a scan from the start finds it.
		from, covered := int64(maxCreated), after
		for _, r := range records {
			if r.first > covered+1 {
				break
			}
			from, covered = min(from, r.minCreated), max(covered, r.first+r.count-1)
		}
		if covered < last {
			from = 0
		}
		found := 0
		err = scanRuns(tx, eventRuns, 0, from, -1, func(e entry) error {
			if e.id <= after || e.id > last {
				return nil
			}
			out[e.id-after-1].Event = e.event()
			if found++; found == n {
				return errScanDone
			}
			return nil
		})
		if err != nil && !errors.Is(err, errScanDone) {
			return err
		}
		if found != n {
			return fmt.Errorf("%w: events %d..%d: %d of them are missing from the events bucket", ErrCorrupt, after+1, last, n-found)
		}
		for _, r := range records {
			for id := max(r.first, after+1); id < r.first+r.count && id <= last; id++ {
				e := &out[id-after-1]
				e.BaseGTIDSet = r.base
				if t, ok := r.txnOf(id); ok {
					e.GTID, e.Ordinal = t.gtid, int(id-t.first)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d from journal %s: %w", after, j.path, err)
	}
	return out, nil
}

var errScanDone = errors.New("scan done")

// FindGTID returns the journal ids of the events of the source transaction
// gtid: first..first+count-1; ok is false when the journal holds no event
// of it. It searches from the newest commit back, so finding a recent
// transaction is cheap; a miss reads every record.
func (j *Journal) FindGTID(gtid string) (first, count uint64, ok bool, err error) {
	defer guard(j.path, &err)()
	err = j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSources)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := decodeSource(k, v)
			if err != nil {
				return err
			}
			for _, t := range r.txns {
				if t.gtid == gtid {
					first, count, ok = t.first, t.count, true
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("look up transaction %s in journal %s: %w", gtid, j.path, err)
	}
	return first, count, ok, nil
}
