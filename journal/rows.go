package journal

import (
	"cmp"
	"errors"
	"math"
	"slices"

	bridge "github.com/automattic/jetmon-bridge"
)

// rowSet is the rows a batch changes, by primary key (site): the last
// change of each, held as the monitors bucket stores it (appendMonitor):
// about ten bytes and the URL a record, with a 16-byte slot and an index
// entry, where a bridge.Monitor takes 64 and the URL's string 16 more. A follower catching up collects the final state
// of every monitor its batch touches, a hundred thousand and more, while
// the previous batch is being committed.
type rowSet struct {
	index map[uint64]int32 // site -> its slot; nil once sorted
	slots []rowSlot
	arena []byte // the records, back to back
	stale int    // arena bytes no slot refers to: records replaced by longer or shorter ones
	err   error  // the set outgrew its 32-bit offsets
}

// rowSlot is one row of a rowSet: its record is arena[off:off+n], or the
// row was deleted (n == deletedRow).
type rowSlot struct {
	site uint64
	off  uint32
	n    uint32
}

const deletedRow = math.MaxUint32

var errRowsTooLarge = errors.New("a batch's rows take more than 4 GiB: commit smaller batches")

func (s *rowSet) len() int { return len(s.slots) }

// set records m as its row's state.
func (s *rowSet) set(m bridge.Monitor) {
	start := len(s.arena)
	s.arena = appendMonitor(s.arena, m)
	s.place(m.SiteID, start, uint32(len(s.arena)-start))
}

// delete records that site's row is gone.
func (s *rowSet) delete(site uint64) { s.place(site, len(s.arena), deletedRow) }

// place points site's slot at the record appended at arena[start:] (or at
// none, for deletedRow). A record as long as the one it replaces, the
// common case (a row's status and time change, its URL stays), is moved
// into its place instead.
func (s *rowSet) place(site uint64, start int, n uint32) {
	if len(s.arena) > math.MaxUint32 {
		s.arena, s.err = s.arena[:start], errRowsTooLarge
		return
	}
	if s.index == nil {
		s.index = make(map[uint64]int32)
	}
	i, ok := s.index[site]
	if !ok {
		s.index[site] = int32(len(s.slots))
		s.slots = append(s.slots, rowSlot{site: site, off: uint32(start), n: n})
		return
	}
	old := &s.slots[i]
	if n != deletedRow && old.n == n {
		copy(s.arena[old.off:], s.arena[start:])
		s.arena = s.arena[:start]
		return
	}
	if old.n != deletedRow {
		s.stale += int(old.n)
	}
	old.off, old.n = uint32(start), n
	if s.stale > 1<<16 && s.stale > len(s.arena)/2 {
		s.compact()
	}
}

// compact rewrites the arena without the records no slot refers to.
func (s *rowSet) compact() {
	arena := make([]byte, 0, len(s.arena)-s.stale)
	for i := range s.slots {
		r := &s.slots[i]
		if r.n != deletedRow {
			start := len(arena)
			arena = append(arena, s.record(r)...)
			r.off = uint32(start)
		}
	}
	s.arena, s.stale = arena, 0
}

// record is r's record.
func (s *rowSet) record(r *rowSlot) []byte { return s.arena[r.off : r.off+r.n] }

// replay records o's changes after s's.
func (s *rowSet) replay(o *rowSet) {
	for i := range o.slots {
		r := &o.slots[i]
		if r.n == deletedRow {
			s.delete(r.site)
			continue
		}
		start := len(s.arena)
		s.arena = append(s.arena, o.record(r)...)
		s.place(r.site, start, r.n)
	}
}

// sort orders the slots by site for writeMonitors, keeping the order of
// changes to one site (a set changed after sorting holds such duplicates;
// the last wins), and drops the index, which no longer applies.
func (s *rowSet) sort() {
	s.index = nil
	if !slices.IsSortedFunc(s.slots, cmpSlots) {
		slices.SortStableFunc(s.slots, cmpSlots)
	}
}

func cmpSlots(a, b rowSlot) int { return cmp.Compare(a.site, b.site) }
