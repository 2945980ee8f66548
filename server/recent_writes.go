package server

import (
	"container/list"
	"sync"
)

// maxRecentWrites bounds the URLs remembered for read-your-writes: beyond
// it the oldest is forgotten (its GET /monitors reads the replica again,
// as it would once the replica has caught up). A URL is at most a few
// hundred bytes, so the set stays within a few megabytes.
const maxRecentWrites = 10_000

// recentWrites is the set of URLs this bridge wrote on the primary (POST
// or DELETE /monitors) that the replica has not yet been seen to answer
// the same as the primary. GET /monitors reads the primary for them:
// right after a create or a reactivation a lagging replica would answer
// 404, and right after a deactivation the monitor as still active.
type recentWrites struct {
	mu    sync.Mutex
	limit int
	gen   uint64
	byURL map[string]*list.Element // of *recentWrite
	order *list.List               // oldest first
}

type recentWrite struct {
	url string
	gen uint64 // tells one write of a URL from the next
}

func newRecentWrites(limit int) *recentWrites {
	return &recentWrites{limit: limit, byURL: map[string]*list.Element{}, order: list.New()}
}

// note records a write of url, forgetting the oldest URL when full.
func (r *recentWrites) note(url string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if e, ok := r.byURL[url]; ok {
		e.Value.(*recentWrite).gen = r.gen
		r.order.MoveToBack(e)
		return
	}
	r.byURL[url] = r.order.PushBack(&recentWrite{url: url, gen: r.gen})
	for r.order.Len() > r.limit {
		oldest := r.order.Remove(r.order.Front()).(*recentWrite)
		delete(r.byURL, oldest.url)
	}
}

// pending returns the generation of url's last write, or false when the
// replica is not known to lag behind a write of it.
func (r *recentWrites) pending(url string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byURL[url]; ok {
		return e.Value.(*recentWrite).gen, true
	}
	return 0, false
}

// settled forgets url once the replica answered as the primary did after
// write gen; a later write of the URL keeps it remembered.
func (r *recentWrites) settled(url string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byURL[url]; ok && e.Value.(*recentWrite).gen == gen {
		r.order.Remove(e)
		delete(r.byURL, url)
	}
}

// len is the number of URLs remembered.
func (r *recentWrites) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len()
}
