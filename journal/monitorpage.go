package journal

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	bridge "github.com/automattic/jetmon-bridge"
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

// writeMonitors applies the batch's rows to the monitors bucket: deleted
// rows go, inserted or updated rows are written (a row in both is kept).
func writeMonitors(tx *bolt.Tx, b *Batch) error {
	if b.ResetMonitors {
		if err := tx.DeleteBucket(bucketMonitors); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketMonitors); err != nil {
			return err
		}
	}
	if len(b.Monitors) == 0 && len(b.Deleted) == 0 {
		return nil
	}
	// Both in key order, for the reason Prepare gives; the caller's slices
	// are left as they were.
	ms, deleted := b.Monitors, b.Deleted
	bySite := func(a, b bridge.Monitor) int { return cmp.Compare(a.SiteID, b.SiteID) }
	if !slices.IsSortedFunc(ms, bySite) {
		ms = slices.Clone(ms)
		slices.SortStableFunc(ms, bySite)
	}
	if !slices.IsSorted(deleted) {
		deleted = slices.Clone(deleted)
		slices.Sort(deleted)
	}
	bucket := tx.Bucket(bucketMonitors)
	var (
		key, rec []byte
		stored   []monitorRecord
	)
	for len(ms) > 0 || len(deleted) > 0 {
		page := ^uint64(0)
		if len(ms) > 0 {
			page = ms[0].SiteID >> monitorPageShift
		}
		if len(deleted) > 0 {
			page = min(page, deleted[0]>>monitorPageShift)
		}
		nm, nd := 0, 0
		for nm < len(ms) && ms[nm].SiteID>>monitorPageShift == page {
			nm++
		}
		for nd < len(deleted) && deleted[nd]>>monitorPageShift == page {
			nd++
		}
		upd, del := ms[:nm], deleted[:nd]
		ms, deleted = ms[nm:], deleted[nd:]

		key = binary.BigEndian.AppendUint64(key[:0], page)
		stored = stored[:0]
		if v := bucket.Get(key); v != nil {
			var err error
			if stored, err = decodeMonitorPage(stored, key, v); err != nil {
				return err
			}
		}
		var val []byte // bbolt keeps it until the commit
		for i, j := 0, 0; i < len(stored) || j < len(upd); {
			if j < len(upd) && (i == len(stored) || upd[j].SiteID <= stored[i].site) {
				site := upd[j].SiteID
				if i < len(stored) && stored[i].site == site {
					i++ // replaced
				}
				for j+1 < len(upd) && upd[j+1].SiteID == site {
					j++ // of duplicates, the last wins
				}
				rec = appendMonitor(rec[:0], upd[j])
				val = appendMonitorRecord(val, site, rec)
				j++
				continue
			}
			r := stored[i]
			i++
			if _, gone := slices.BinarySearch(del, r.site); !gone {
				val = appendMonitorRecord(val, r.site, r.rec)
			}
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
