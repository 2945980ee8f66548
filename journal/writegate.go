package journal

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// writeGate orders the journal's two writers: the follower's commits and
// retention's trim steps (trim.go). bbolt runs one write transaction at a
// time anyway; the gate also covers what a commit reads before its
// transaction (the sequence, the spans) and publishes after it, and it
// gives commits the right of way: a trim step waits while a commit waits,
// so a commit waits at most for the one trim step already running, which
// is bounded to cost about as much as an ordinary commit.
type writeGate struct {
	mu      sync.Mutex
	commits atomic.Int32 // commits waiting for mu
}

// lockCommit takes the gate for a commit.
func (g *writeGate) lockCommit() {
	g.commits.Add(1)
	if testHookCommitGate != nil {
		testHookCommitGate(false)
	}
	g.mu.Lock()
	g.commits.Add(-1)
	if testHookCommitGate != nil {
		testHookCommitGate(true)
	}
}

// testHookCommitGate, when set by a test, runs as a commit starts waiting
// for the gate (false) and once it holds it (true).
var testHookCommitGate func(holds bool)

// lockTrim takes the gate for a trim step once no commit is waiting.
func (g *writeGate) lockTrim() {
	for {
		for g.commits.Load() > 0 {
			runtime.Gosched() // a commit is about to take the gate
		}
		g.mu.Lock()
		if g.commits.Load() == 0 {
			return
		}
		g.mu.Unlock()
	}
}

func (g *writeGate) unlock() { g.mu.Unlock() }
