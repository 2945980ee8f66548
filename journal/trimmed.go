package journal

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// keyTrim holds what retention removed (trim.go):
//
//	meta/trim  uvarint cutoff, uvarint first, uvarint ranges,
//	           then per range: uvarint lo-(previous hi+1), uvarint hi-lo
//
// cutoff is Unix seconds: the journal answers for nothing created before
// it, and its coverage starts there. Event ids are never reused or
// renumbered: meta/seq stays the last id assigned, and the ids retention
// deleted are recorded here, so that a reader by id (EventsAfter, Verify)
// tells a trimmed id from a lost one. Retention deletes the oldest events
// in (created_at, id) order; ids follow commit order and created_at follows
// it nearly, so what it deletes is, in ids, a prefix 1..first-1 and,
// rarely, a few ids above it whose events were stamped earlier than an
// event committed before them (the ranges).
var keyTrim = []byte("trim")

// maxTrimRanges bounds the ranges of trimmed ids above the prefix: a trim
// step that would need more deletes nothing (Trim says why) until the
// cutoff passes the events between them. Each range stands for an event
// kept below a deleted one, which a clock gone far ahead makes, not
// ordinary traffic.
const maxTrimRanges = 4096

// trimmed is the set of event ids retention deleted, and the cutoff.
type trimmed struct {
	cutoff int64     // Unix seconds; 0: never trimmed
	first  uint64    // every id below it is trimmed (0 and 1: none)
	above  []idRange // trimmed ids above first: sorted, apart, all > first
}

// idRange is the ids lo..hi, both included.
type idRange struct{ lo, hi uint64 }

// cutoffTime is the cutoff as a time, zero when the journal was never trimmed.
func (t trimmed) cutoffTime() time.Time {
	if t.cutoff == 0 {
		return time.Time{}
	}
	return time.Unix(t.cutoff, 0).UTC()
}

// firstID is the smallest id that may still be stored.
func (t trimmed) firstID() uint64 { return max(t.first, 1) }

// count is the number of trimmed ids.
func (t trimmed) count() uint64 {
	n := t.firstID() - 1
	for _, r := range t.above {
		n += r.hi - r.lo + 1
	}
	return n
}

// maxID is the largest trimmed id (0: none).
func (t trimmed) maxID() uint64 {
	if n := len(t.above); n > 0 {
		return t.above[n-1].hi
	}
	return t.firstID() - 1
}

// has reports whether id was trimmed.
func (t trimmed) has(id uint64) bool {
	if id < t.firstID() {
		return true
	}
	_, found := slices.BinarySearchFunc(t.above, id, func(r idRange, id uint64) int {
		switch {
		case r.hi < id:
			return -1
		case r.lo > id:
			return 1
		}
		return 0
	})
	return found
}

// skip returns the largest a >= after such that every id in after+1..a was
// trimmed: where a reader by id continues after after.
func (t trimmed) skip(after uint64) uint64 {
	if after+1 < t.firstID() {
		after = t.firstID() - 1
	}
	for _, r := range t.above {
		if r.lo > after+1 {
			break
		}
		after = max(after, r.hi)
	}
	return after
}

// countIn is the number of trimmed ids in lo..hi.
func (t trimmed) countIn(lo, hi uint64) uint64 {
	if hi < lo {
		return 0
	}
	var n uint64
	if first := t.firstID(); lo < first {
		n += min(hi, first-1) - lo + 1
	}
	for _, r := range t.above {
		if r.lo > hi {
			break
		}
		if a, b := max(r.lo, lo), min(r.hi, hi); a <= b {
			n += b - a + 1
		}
	}
	return n
}

// covers reports whether every id of lo..hi was trimmed.
func (t trimmed) covers(lo, hi uint64) bool {
	return t.skip(lo-1) >= hi
}

// with returns t with the ids added (sorted, ascending, none trimmed
// already), or false when the ranges would outgrow maxTrimRanges.
func (t trimmed) with(ids []uint64) (trimmed, bool) {
	if len(ids) == 0 {
		return t, true
	}
	// Merge ranges and the new ids (as ranges of one) into one sorted list,
	// then join neighbours and fold whatever reaches the prefix into it.
	merged := make([]idRange, 0, len(t.above)+len(ids))
	i := 0
	for _, id := range ids {
		for i < len(t.above) && t.above[i].lo < id {
			merged = append(merged, t.above[i])
			i++
		}
		merged = append(merged, idRange{id, id})
	}
	merged = append(merged, t.above[i:]...)
	out := trimmed{cutoff: t.cutoff, first: t.firstID()}
	for _, r := range merged {
		switch {
		case r.lo <= out.first:
			out.first = max(out.first, r.hi+1)
		case len(out.above) > 0 && r.lo <= out.above[len(out.above)-1].hi+1:
			last := &out.above[len(out.above)-1]
			last.hi = max(last.hi, r.hi)
		default:
			out.above = append(out.above, r)
		}
	}
	// A range the prefix grew into joins it.
	for len(out.above) > 0 && out.above[0].lo <= out.first {
		out.first = max(out.first, out.above[0].hi+1)
		out.above = out.above[1:]
	}
	if len(out.above) > maxTrimRanges {
		return t, false
	}
	return out, true
}

// encode is the meta/trim value.
func (t trimmed) encode() []byte {
	v := binary.AppendUvarint(nil, uint64(t.cutoff))
	v = binary.AppendUvarint(v, t.firstID())
	v = binary.AppendUvarint(v, uint64(len(t.above)))
	prev := t.firstID() // the id after the previous range, or first
	for _, r := range t.above {
		v = binary.AppendUvarint(v, r.lo-prev)
		v = binary.AppendUvarint(v, r.hi-r.lo)
		prev = r.hi + 1
	}
	return v
}

// decodeTrimmed reads what encode writes, refusing anything else: ranges
// that touch, overlap or reach the prefix, which encode never writes. A
// journal without the key was never trimmed.
func decodeTrimmed(v []byte) (trimmed, error) {
	if v == nil {
		return trimmed{}, nil
	}
	bad := func(what string) (trimmed, error) {
		return trimmed{}, fmt.Errorf("%w: meta trim %x: %s", ErrCorrupt, clipBytes(v), what)
	}
	var t trimmed
	read := func() (uint64, bool) {
		x, n := uvarint(v)
		if n <= 0 {
			return 0, false
		}
		v = v[n:]
		return x, true
	}
	cutoff, ok1 := read()
	first, ok2 := read()
	n, ok3 := read()
	if !ok1 || !ok2 || !ok3 || cutoff > maxCreated || first == 0 || n > maxTrimRanges {
		return bad("a bad header")
	}
	t.cutoff, t.first = int64(cutoff), first
	prev := first
	for range n {
		gap, ok1 := read()
		length, ok2 := read()
		// Ranges start at least two past the previous one's end (or one
		// past first): touching ranges would have been joined.
		if !ok1 || !ok2 || gap == 0 || prev+gap < prev || prev+gap+length < prev+gap {
			return bad("a bad range")
		}
		r := idRange{prev + gap, prev + gap + length}
		t.above = append(t.above, r)
		prev = r.hi + 1
	}
	if len(v) > 0 {
		return bad("bytes after the last range")
	}
	return t, nil
}
