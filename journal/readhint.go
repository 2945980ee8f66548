package journal

import (
	"sync"
	"sync/atomic"
)

// readHint is what one EventsAfter call learnt about the ids after the last
// one it returned, for the next call, which usually continues there (the
// publisher reads the journal a batch at a time). Without it, each call
// finds its first id by scanning the events bucket from the earliest
// created_at of that id's commit and decoding the commit's sources record
// from its start: for a catch-up commit of up to 3x2^17 events (the
// follower's cap, binlog.Config.MaxBatchEvents), read in batches, a cost
// quadratic in the commit's size.
//
// Everything it says is about events already written, which keep their id
// and position for the journal's life, so a hint never turns false; a
// caller that reads elsewhere just does not use it.
type readHint struct {
	// after is the last id the call returned; the hint speaks of the ids
	// after..end, end the last id of the last sources record it read.
	after, end uint64
	// from is a position in the events bucket at or before every one of
	// the ids after+1..end.
	from entry
	// mark is a position in the sources record whose first id is record
	// (0: none) before every transaction holding after+1 or a later id.
	record uint64
	mark   txnMark
}

// readHints holds the last readHint (one: there is one publisher) and
// counts what EventsAfter decodes.
type readHints struct {
	mu   sync.Mutex
	last readHint
	// eventsAfterReads counts the events and transactions EventsAfter
	// decoded, so that a test can see that reading a commit in batches
	// costs in proportion to its size.
	eventsAfterReads atomic.Uint64
}

// readHintFor returns the hint for a call reading the ids after after.
func (h *readHints) readHintFor(after uint64) (readHint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last.end == 0 || after < h.last.after || after >= h.last.end {
		return readHint{}, false
	}
	return h.last, true
}

func (h *readHints) setReadHint(r readHint) {
	h.mu.Lock()
	h.last = r
	h.mu.Unlock()
}
