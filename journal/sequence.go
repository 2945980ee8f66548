package journal

import (
	"errors"
	"fmt"
	"slices"

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
// Ids retention deleted (trimmed.go) are passed over: the events returned
// are those of after+1.. still stored, from the first of them on, and the
// limit counts from there.
//
// A call that continues where the previous one ended (after is the last id
// it returned, or later within the same commits) starts where that one
// left off (readHint), so reading a large commit a batch at a time costs
// time in proportion to its events, not to its events times the batches.
func (j *Journal) EventsAfter(after uint64, limit int) (out []SourcedEvent, err error) {
	defer guard(j.path, &err)()
	lastID := j.LastID() // read before the snapshot, which holds every event up to it
	var r eventsRead
	err = j.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = j.readEventsAfter(tx, after, limit, lastID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d from journal %s: %w", after, j.path, err)
	}
	j.eventsAfterReads.Add(uint64(r.decoded))
	if r.next.end > r.next.after {
		j.setReadHint(r.next)
	}
	return r.events, nil
}

// eventsRead is what one EventsAfter read: the events, the hint for the
// call that continues after them, and how many events and transactions it
// decoded (eventsAfterReads).
type eventsRead struct {
	events  []SourcedEvent
	next    readHint
	decoded int
}

// readEventsAfter is EventsAfter inside one snapshot, lastID its last id, in
// four steps: the ids wanted (retention's holes left out), their sources,
// their events from one scan of the events bucket, and the sources joined
// to the events.
func (j *Journal) readEventsAfter(tx *bolt.Tx, after uint64, limit int, lastID uint64) (r eventsRead, err error) {
	t, err := decodeTrimmed(tx.Bucket(bucketMeta).Get(keyTrim))
	if err != nil {
		return r, err
	}
	after = t.skip(after)
	last := min(lastID, after+uint64(max(limit, 0)))
	if last <= after {
		return r, nil
	}
	out := make([]SourcedEvent, last-after)
	want := int(last-after) - int(t.countIn(after+1, last))
	hint, hinted := j.readHintFor(after)
	src, err := sourcesFrom(tx, after+1, last, hint.record, hint.mark)
	if err != nil {
		return r, err
	}
	r.decoded += src.decoded
	start, covered := scanStart(t, after, last, hint, hinted, src.records)
	// Continuing after last, the ids last+1..covered sort at or after the
	// first of them the scan meets, or after where it stops.
	r.next = readHint{after: last, end: covered, record: src.markRecord, mark: src.mark}
	if want > 0 {
		found, scanned, err := readEvents(tx, start, after, last, covered, want, out, &r.next.from)
		r.decoded += scanned
		if err != nil {
			return r, err
		}
		if found != want {
			return r, fmt.Errorf("%w: events %d..%d: %d of them are missing from the events bucket", ErrCorrupt, after+1, last, want-found)
		}
	}
	joinSources(out, src.records, after, last)
	if want < len(out) {
		out = slices.DeleteFunc(out, func(e SourcedEvent) bool { return e.ID == 0 }) // trimmed ids
	}
	r.events = out
	return r, nil
}

// scanStart is where the scan of the events bucket starts: the earliest
// position among the wanted ids after+1..last. The hint says it for those
// up to its end, the sources records' earliest created_at for the rest,
// unless some id has no record (an older journal), when only a scan from
// the start finds it. Trimmed ids need no position. covered is the last id
// the position is known good for.
func scanStart(t trimmed, after, last uint64, hint readHint, hinted bool, records []sourceRecord) (start entry, covered uint64) {
	start, covered = entry{created: maxCreated}, after
	if hinted {
		start, covered = hint.from, hint.end
	}
	for _, r := range records {
		if covered = t.skip(covered); r.first > covered+1 {
			break
		}
		if r.first+r.count-1 > covered {
			start, covered = minEntry(start, entry{created: r.minCreated}), r.first+r.count-1
		}
	}
	if covered = t.skip(covered); covered < last {
		start = entry{}
	}
	return start, covered
}

// readEvents scans the events bucket from start until it has found the
// want events of after+1..last, placing each at out[id-after-1]. It sets
// *from to the first id of last+1..covered it meets, or else the last
// event it found: where the next call's scan may start. scanned counts the
// events decoded.
func readEvents(tx *bolt.Tx, start entry, after, last, covered uint64, want int, out []SourcedEvent, from *entry) (found, scanned int, err error) {
	seenNext := false
	err = scanRunsAt(tx, eventRuns, start, -1, func(e entry) error {
		scanned++
		if e.id > last && e.id <= covered && !seenNext {
			*from, seenNext = e, true
		}
		if e.id <= after || e.id > last {
			return nil
		}
		out[e.id-after-1].Event = e.event()
		if found++; found == want {
			if !seenNext {
				*from = e
			}
			return errScanDone
		}
		return nil
	})
	if errors.Is(err, errScanDone) {
		err = nil
	}
	return found, scanned, err
}

// joinSources gives each event of after+1..last in out its commit's GTID
// set before it and, where known, its transaction's GTID and its place in
// that transaction.
func joinSources(out []SourcedEvent, records []sourceRecord, after, last uint64) {
	for _, r := range records {
		txns := r.txns
		for id := max(r.first, after+1); id < r.first+r.count && id <= last; id++ {
			e := &out[id-after-1]
			e.BaseGTIDSet = r.base
			for len(txns) > 0 && txns[0].first+txns[0].count <= id {
				txns = txns[1:]
			}
			if len(txns) > 0 && id >= txns[0].first {
				e.GTID, e.Ordinal = txns[0].gtid, int(id-txns[0].first)
			}
		}
	}
}

func minEntry(a, b entry) entry {
	if cmpEntry(a, b) <= 0 {
		return a
	}
	return b
}

var errScanDone = errors.New("scan done")

// FindGTID returns the journal ids of the events of the source transaction
// gtid: first..first+count-1; ok is false when the journal holds no event
// of it. It searches from the newest commit back, so finding a recent
// transaction is cheap; a miss reads every record, building no GTID.
func (j *Journal) FindGTID(gtid string) (first, count uint64, ok bool, err error) {
	defer guard(j.path, &err)()
	err = j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSources)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			_, d, err := decodeSourceHeader(k, v)
			if err != nil {
				return err
			}
			// The record is decoded to its end even after a match, so a
			// damaged record fails the lookup wherever the damage lies.
			for !d.done() {
				t, err := d.next()
				if err != nil {
					return err
				}
				if !ok && t.is(gtid) {
					first, count, ok = t.first, t.count, true
				}
			}
			if ok {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("look up transaction %s in journal %s: %w", gtid, j.path, err)
	}
	return first, count, ok, nil
}
