package journal

import (
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot writes a consistent copy of the whole journal file to w, as of
// one read transaction, while the follower keeps committing: a hot backup
// that opens as a journal of its own. size is called with the copy's exact
// length before anything is written (for a Content-Length header); a
// non-nil error from it aborts the copy. It returns the bytes written.
//
// The read transaction lasts as long as w takes to absorb the file, and
// bbolt cannot grow its memory map while one is open, so a writer that
// needs to grow the file waits for it: give Snapshot a fast w (a local
// file), not a slow network peer.
func (j *Journal) Snapshot(w io.Writer, size func(int64) error) (n int64, err error) {
	defer guard(j.path, &err)()
	err = j.db.View(func(tx *bolt.Tx) error {
		if size != nil {
			if err := size(tx.Size()); err != nil {
				return err
			}
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
