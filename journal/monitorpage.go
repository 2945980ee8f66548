package journal

import (
	"encoding/binary"
	"fmt"
	"iter"

	bolt "go.etcd.io/bbolt"
)

// The monitors bucket mirrors jetpack_monitor_sites, each row as the
// binlog last showed it. Rows are kept in pages of the 64 consecutive
// primary keys that share site>>6: a catch-up rewrites tens of thousands of
// rows per commit, and a bbolt put per page instead of per row is what
// keeps that cheap. A page's value is its rows in ascending site order:
//
//	site&63 (1) | uvarint len | record (appendMonitor)
const monitorPageShift = 6

func monitorPageKey(dst []byte, site uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, site>>monitorPageShift)
}

// monitorRecord is one row of a page, still encoded.
type monitorRecord struct {
	site uint64
	rec  []byte
}

// decodeMonitorPage appends the page's records to dst, checking its
// framing: sites ascending within the page, lengths within the value.
// The records themselves are decoded by decodeMonitor.
func decodeMonitorPage(dst []monitorRecord, k, v []byte) ([]monitorRecord, error) {
	if len(k) != 8 || binary.BigEndian.Uint64(k) > ^uint64(0)>>monitorPageShift {
		return dst, fmt.Errorf("%w: monitors page key %x", ErrCorrupt, k)
	}
	base := binary.BigEndian.Uint64(k) << monitorPageShift
	prev := -1
	if len(v) == 0 {
		return dst, fmt.Errorf("%w: monitors page %x is empty", ErrCorrupt, k)
	}
	for len(v) > 0 {
		low := int(v[0])
		n, c := uvarint(v[1:])
		if low <= prev || low >= 1<<monitorPageShift || c <= 0 || n > uint64(len(v)-1-c) {
			return dst, fmt.Errorf("%w: monitors page %x is damaged at row %d", ErrCorrupt, k, base+uint64(low))
		}
		prev = low
		v = v[1+c:]
		dst = append(dst, monitorRecord{site: base + uint64(low), rec: v[:n:n]})
		v = v[n:]
	}
	return dst, nil
}

func appendMonitorRecord(dst []byte, site uint64, rec []byte) []byte {
	dst = append(dst, byte(site&(1<<monitorPageShift-1)))
	dst = binary.AppendUvarint(dst, uint64(len(rec)))
	return append(dst, rec...)
}

// storedMonitors yields every stored row's site and record, in site order
// (decodeMonitor decodes a record); a damaged page ends it with its error.
func storedMonitors(tx *bolt.Tx) iter.Seq2[monitorRecord, error] {
	return func(yield func(monitorRecord, error) bool) {
		var page []monitorRecord
		c := tx.Bucket(bucketMonitors).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var err error
			if page, err = decodeMonitorPage(page[:0], k, v); err != nil {
				yield(monitorRecord{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// clearMonitors empties the monitors bucket: a batch that sets
// ResetMonitors (a fresh snapshot) replaces every row.
func clearMonitors(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketMonitors); err != nil {
		return err
	}
	_, err := tx.CreateBucket(bucketMonitors)
	return err
}

// writeMonitors applies a batch's rows, sorted by site, to the monitors
// bucket: deleted rows go, the others are written.
func writeMonitors(tx *bolt.Tx, rows *rowSet) error {
	bucket := tx.Bucket(bucketMonitors)
	var (
		key    []byte
		stored []monitorRecord
	)
	for changes := rows.slots; len(changes) > 0; {
		page := changes[0].site >> monitorPageShift
		n := 1
		for n < len(changes) && changes[n].site>>monitorPageShift == page {
			n++
		}
		upd := changes[:n]
		changes = changes[n:]

		key = monitorPageKey(key[:0], upd[0].site)
		stored = stored[:0]
		if v := bucket.Get(key); v != nil {
			var err error
			if stored, err = decodeMonitorPage(stored, key, v); err != nil {
				return err
			}
		}
		var val []byte // bbolt keeps it until the commit
		for i, j := 0, 0; i < len(stored) || j < len(upd); {
			if j < len(upd) && (i == len(stored) || upd[j].site <= stored[i].site) {
				site := upd[j].site
				if i < len(stored) && stored[i].site == site {
					i++ // replaced or deleted
				}
				for j+1 < len(upd) && upd[j+1].site == site {
					j++ // of several changes, the last wins
				}
				if r := &upd[j]; r.n != deletedRow {
					val = appendMonitorRecord(val, site, rows.record(r))
				}
				j++
				continue
			}
			val = appendMonitorRecord(val, stored[i].site, stored[i].rec)
			i++
		}
		var err error
		if len(val) == 0 {
			err = bucket.Delete(key)
		} else {
			err = bucket.Put(key, val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
