package journal

import (
	"context"
	"encoding/binary"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// ActiveMonitor returns the active monitor row whose monitor_url is exactly
// url, as the journal last saw it in the binlog: the replay's answer to GET
// /monitors. Jetmon 1 has no unique key on monitor_url; of several active
// rows the one with the lowest primary key wins. It returns
// bridge.ErrNotFound when no active row has the url.
//
// The monitors bucket has no url index, so this is a scan of the rows; a
// replay serves thousands of rows in well under a millisecond.
func (j *Journal) ActiveMonitor(ctx context.Context, url string) (m bridge.Monitor, err error) {
	defer guard(j.path, &err)()
	err = j.db.View(func(tx *bolt.Tx) error {
		for r, err := range storedMonitors(tx) {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !monitorURLIs(r.rec, url) {
				continue
			}
			row, err := decodeMonitor(r.site, r.rec)
			if err != nil {
				return err
			}
			if row.Active && row.URL == url {
				m = row
				return nil
			}
		}
		return bridge.ErrNotFound
	})
	return m, err
}

// monitorURLIs is a cheap pre-filter on an encoded monitor: its url is the
// record's tail.
func monitorURLIs(v []byte, url string) bool {
	if len(v) < len(url) || string(v[len(v)-len(url):]) != url {
		return false
	}
	_, n := binary.Uvarint(v)
	return n > 0
}

// BlogMonitor returns the blog's monitor row whose status changed last, as
// the journal last saw it: the row v1 synthesis would speak for. ok is
// false when the journal keeps no row of the blog.
func (j *Journal) BlogMonitor(blogID uint64) (m bridge.Monitor, ok bool, err error) {
	defer guard(j.path, &err)()
	err = j.db.View(func(tx *bolt.Tx) error {
		for r, err := range storedMonitors(tx) {
			if err != nil {
				return err
			}
			if blog, n := binary.Uvarint(r.rec); n <= 0 || blog != blogID {
				continue
			}
			row, err := decodeMonitor(r.site, r.rec)
			if err != nil {
				return err
			}
			if !ok || !row.LastStatusChange.Before(m.LastStatusChange) {
				m, ok = row, true
			}
		}
		return nil
	})
	return m, ok, err
}
