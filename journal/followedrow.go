package journal

import (
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// FollowedRow returns site's row as the binlog last showed it, and since:
// the start of the open span, from which on the follower has read every
// change to the table from the binlog, in order, without a break. A change
// of the row made at or after since and at or before the row's
// last_status_change has passed through the journal: if it was a
// transition, the journal holds its event. ok is false when the journal
// keeps no row for site, has no open span, or the open span is in doubt
// (Suspect): then nothing can be said from the row.
//
// /events uses it so that synthesis into a gap never speaks again for a
// change the journal has followed (server.History; docs/guarantees.md,
// "A purged binlog, and what a gap means"). The row and the span are read
// in one read transaction, so a span that started from a fresh snapshot
// meanwhile is never paired with the previous span's start.
func (j *Journal) FollowedRow(site uint64) (row bridge.Monitor, since time.Time, ok bool, err error) {
	defer guard(j.path, &err)()
	j.mu.Lock()
	suspect := j.suspect
	j.mu.Unlock()
	err = j.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketSpans).Cursor().Last()
		if k == nil {
			return nil
		}
		span, err := decodeSpan(k, v)
		if err != nil || span.Closed || (!suspect.IsZero() && j.SameSpan(suspect, span.Start)) {
			return err
		}
		page := tx.Bucket(bucketMonitors).Get(monitorPageKey(nil, site))
		if page == nil {
			return nil
		}
		records, err := decodeMonitorPage(nil, monitorPageKey(nil, site), page)
		if err != nil {
			return err
		}
		for _, r := range records {
			if r.site != site {
				continue
			}
			if row, err = decodeMonitor(site, r.rec); err != nil {
				return err
			}
			since, ok = span.Start, true
		}
		return nil
	})
	if err != nil {
		return bridge.Monitor{}, time.Time{}, false, err
	}
	return row, since, ok, nil
}
