package journal

import (
	"cmp"
	"math"
	"slices"

	bridge "github.com/automattic/jetmon-bridge"
)

// batchEvents are a batch's events in the journal's compact form, column by
// column, in the order they were added: 17 bytes an event, where a struct
// of the same fields takes 24 with its padding and a bridge.Event 48. A
// follower catching up holds two batches of hundreds of thousands of events
// (one filling while the other is committed). An event's place in the
// batch, from 0, gives its id: the journal's sequence plus the place plus
// one.
type batchEvents struct {
	created []int64 // Unix seconds, boundedCreated
	blog    []uint64
	status  []byte // packStatus(old, new)
}

func (c *batchEvents) len() int { return len(c.created) }

// add appends e; an event the journal cannot store is appended all the same
// and reported, for Commit to refuse the batch.
func (c *batchEvents) add(e *bridge.Event) error {
	created, err := boundedCreated(e)
	c.created = append(c.created, created)
	c.blog = append(c.blog, e.BlogID)
	c.status = append(c.status, packStatus(e.OldStatus, e.NewStatus))
	return err
}

// appendAll appends o's events.
func (c *batchEvents) appendAll(o *batchEvents) {
	c.created = append(c.created, o.created...)
	c.blog = append(c.blog, o.blog...)
	c.status = append(c.status, o.status...)
}

// entry is the event at place i as the runs store it, with its id after lastID.
func (c *batchEvents) entry(i uint32, lastID uint64) entry {
	return entry{created: c.created[i], id: lastID + uint64(i) + 1, blog: c.blog[i], status: c.status[i]}
}

// byTime returns the events' places in (created, place) order, the events
// bucket's, in buf.
func (c *batchEvents) byTime(buf []uint32) []uint32 {
	order := slices.Grow(buf[:0], c.len())[:c.len()]
	for i := range order {
		order[i] = uint32(i)
	}
	if slices.IsSorted(c.created) { // a live batch, and most of a catch-up's
		return order
	}
	low, high := slices.Min(c.created), slices.Max(c.created)
	sortPlaces(order, func(i uint32) uint64 { return uint64(c.created[i] - low) }, uint64(high-low))
	return order
}

// byBlog returns the places of byTime, an order by time, in (blog, created,
// place) order, the blogs bucket's, in buf.
func (c *batchEvents) byBlog(byTime, buf []uint32) []uint32 {
	order := append(buf[:0], byTime...)
	var most uint64
	for _, b := range c.blog {
		most |= b
	}
	sortPlaces(order, func(i uint32) uint64 { return c.blog[i] }, most)
	return order
}

// sortPlaces orders places stably by key, where no key exceeds most. It is
// an LSD radix sort on the keys' bytes: a catch-up batch holds hundreds of
// thousands of events, which a comparison sort takes several times longer
// to order. The keys are sorted along with the places, so that each pass
// reads memory in order; keys that fit in 32 bits (blog ids do on
// WordPress.com, and a batch's span of created times does) are sorted as
// such, so the two scratch arrays take 8 bytes per place rather than 16.
func sortPlaces(places []uint32, key func(uint32) uint64, most uint64) {
	if len(places) < 256 {
		slices.SortStableFunc(places, func(x, y uint32) int { return cmp.Compare(key(x), key(y)) })
		return
	}
	if most <= math.MaxUint32 {
		radixSort[uint32](places, key, most)
	} else {
		radixSort[uint64](places, key, most)
	}
}

func radixSort[K uint32 | uint64](places []uint32, key func(uint32) uint64, most uint64) {
	type keyed struct {
		key   K
		place uint32
	}
	a, b := make([]keyed, len(places)), make([]keyed, len(places))
	for i, p := range places {
		a[i] = keyed{K(key(p)), p}
	}
	for shift := 0; shift < 64 && most>>shift != 0; shift += 8 {
		var count [256]int
		for i := range a {
			count[byte(a[i].key>>shift)]++
		}
		at := 0
		for d, c := range count {
			count[d] = at
			at += c
		}
		for i := range a {
			d := byte(a[i].key >> shift)
			b[count[d]] = a[i]
			count[d]++
		}
		a, b = b, a
	}
	for i := range a {
		places[i] = a[i].place
	}
}
