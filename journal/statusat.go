package journal

import (
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// StatusAt returns the blog's site_status as the journal knows it at t,
// before any event at t itself: the new status of its last event before t;
// failing that, the old status of its first event at or after t; failing
// that, the status of its monitor row as the journal last saw it. ok is
// false when the journal knows nothing of the blog.
func (j *Journal) StatusAt(blogID uint64, t time.Time) (s bridge.Status, ok bool, err error) {
	defer guard(j.path, &err)()
	at := ceilSeconds(t)
	err = j.db.View(func(tx *bolt.Tx) error {
		// The run holding the blog's last event before t is the one before
		// the seek position; the run at it starts with the first event at or
		// after t.
		c := tx.Bucket(bucketBlogs).Cursor()
		next, nv := c.Seek(blogRuns.seekKey(nil, blogID, at))
		var pk, pv []byte
		if next == nil {
			pk, pv = c.Last()
		} else {
			pk, pv = c.Prev()
		}
		switch {
		case blogRuns.sameGroup(pk, blogID):
			es, err := blogRuns.decode(nil, pk, pv)
			if err != nil {
				return err
			}
			for _, e := range es {
				if e.created < at {
					s, ok = e.event().NewStatus, true
				}
			}
		case blogRuns.sameGroup(next, blogID):
			es, err := blogRuns.decode(nil, next, nv)
			if err != nil {
				return err
			}
			s, ok = es[0].event().OldStatus, true
		}
		return nil
	})
	if err != nil || ok {
		return s, ok, err
	}
	m, found, err := j.BlogMonitor(blogID)
	return m.Status, found, err
}
