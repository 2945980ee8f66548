package journal

import (
	"encoding/binary"
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
	err = j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlogs).Cursor()
		next, nv := c.Seek(blogKey(blogID, ceilSeconds(t), 0))
		// The entry before the seek position is the last one before t.
		var pk, pv []byte
		if next == nil {
			pk, pv = c.Last()
		} else {
			pk, pv = c.Prev()
		}
		var e bridge.Event
		var err error
		switch {
		case isBlog(pk, blogID):
			e, err = DecodeBlogIndex(pk, pv)
			s = e.NewStatus
		case isBlog(next, blogID):
			e, err = DecodeBlogIndex(next, nv)
			s = e.OldStatus
		default:
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil || ok {
		return s, ok, err
	}
	m, found, err := j.BlogMonitor(blogID)
	return m.Status, found, err
}

func isBlog(k []byte, blogID uint64) bool {
	return len(k) == 24 && binary.BigEndian.Uint64(k) == blogID
}
