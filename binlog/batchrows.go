package binlog

import (
	"slices"

	"github.com/automattic/jetmon-bridge/journal"
)

// batchRows is the final state of each row the batch being filled changes,
// in the order the rows were first changed, with an index by site.
//
// A catch-up batch touches every monitor of the table (100,000 in the
// benchmark), so this is one of the catch-up's largest structures: a map
// from site to the row's 72 bytes took about 40 MiB (a Go map's slots hold
// the values, and it keeps room to grow), a map from site to a position
// in a dense slice about a quarter of that.
type batchRows struct {
	index map[uint64]int32 // site -> position in rows
	rows  []rowState
	sites []uint64 // moveTo's buffer
}

func newBatchRows() batchRows {
	return batchRows{index: map[uint64]int32{}}
}

// set records s as its row's state after the batch so far.
func (r *batchRows) set(s rowState) {
	site := s.monitor.SiteID
	if i, ok := r.index[site]; ok {
		r.rows[i] = s
		return
	}
	r.index[site] = int32(len(r.rows))
	r.rows = append(r.rows, s)
}

// moveTo hands the rows to b's Monitors and Deleted in primary-key order
// (bbolt writes sorted keys far faster than random ones: see
// journal.Batch.Prepare) and empties r for the next batch. Sorting the
// sites alone is several times cheaper than sorting the rows.
func (r *batchRows) moveTo(b *journal.Batch) {
	r.sites = r.sites[:0]
	for i := range r.rows {
		r.sites = append(r.sites, r.rows[i].monitor.SiteID)
	}
	slices.Sort(r.sites)
	b.Monitors = slices.Grow(b.Monitors[:0], len(r.sites))
	for _, site := range r.sites {
		if c := &r.rows[r.index[site]]; c.deleted {
			b.Deleted = append(b.Deleted, site)
		} else {
			b.Monitors = append(b.Monitors, c.monitor)
		}
	}
	clear(r.index)
	clear(r.rows) // the kept capacity must not keep the rows' URLs alive
	r.rows = r.rows[:0]
}
