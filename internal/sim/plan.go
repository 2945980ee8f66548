package sim

import (
	"math/rand/v2"
	"slices"

	bridge "github.com/automattic/jetmon-bridge"
)

// Jetmon 1's status cycle: a running site goes down, the verifliers confirm
// it, and it recovers.
func nextStatus(s bridge.Status) bridge.Status {
	switch s {
	case bridge.StatusRunning:
		return bridge.StatusDown
	case bridge.StatusDown:
		return bridge.StatusConfirmedDown
	default:
		return bridge.StatusRunning
	}
}

type actionKind uint8

const (
	// actStep moves one blog one step along the cycle 1 -> 0 -> 2 -> 1.
	actStep actionKind = iota
	// actMulti moves several blogs in the same status one step, in a single
	// UPDATE.
	actMulti
	// actFlap takes a running blog down and back up at once (1 -> 0 -> 1, or
	// the whole cycle 1 -> 0 -> 2 -> 1): several changes within a second.
	actFlap
)

type noiseKind uint8

const (
	noiseNone noiseKind = iota
	// noiseTouch changes check_interval, not site_status.
	noiseTouch
	// noiseSameStatus runs Jetmon's UPDATE with the status the row already
	// has: last_status_change moves, site_status does not.
	noiseSameStatus
)

// action is one choice of a worker: one or more transition statements (the
// statuses in path, applied in turn to the blogs), then maybe one
// non-transition update.
type action struct {
	kind  actionKind
	blogs []int // indexes into the worker's sites, ascending
	from  bridge.Status
	path  []bridge.Status

	noise     noiseKind
	noiseBlog int

	// shape is the transaction a single-blog step is made in.
	shape txnShape
}

// transitions is the number of transitions the action makes.
func (a action) transitions() int { return len(a.blogs) * len(a.path) }

// planner makes a worker's choices. They depend only on the seed, the
// worker's number, its sites' initial statuses, its quota and the options:
// never on timing, so a seed reproduces the sequence.
type planner struct {
	rng      *rand.Rand
	status   []bridge.Status
	multiRow float64
	flap     float64
	noise    float64
	txn      float64
	maxGroup int
}

func newPlanner(seed uint64, worker int, status []bridge.Status, o Options) *planner {
	return &planner{
		rng:      rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(worker))),
		status:   status,
		multiRow: o.MultiRow,
		flap:     o.Flap,
		noise:    o.Noise,
		txn:      o.Transactions,
		maxGroup: max(o.MaxGroup, 2),
	}
}

// next chooses an action making at most left transitions (left >= 1) and
// applies it to the planner's view of the statuses.
func (p *planner) next(left int) action {
	a := p.choose(left)
	// Drawn only when asked for, so that a seed's plain sequence stays.
	if a.kind == actStep && p.txn > 0 && p.rng.Float64() < p.txn {
		a.shape = shapeSavepointRollback + txnShape(p.rng.IntN(4))
	}
	for _, s := range a.path {
		for _, b := range a.blogs {
			p.status[b] = s
		}
	}
	if p.rng.Float64() < p.noise {
		a.noiseBlog = p.rng.IntN(len(p.status))
		a.noise = noiseTouch + noiseKind(p.rng.IntN(2))
	}
	return a
}

func (p *planner) choose(left int) action {
	n := len(p.status)
	u := p.rng.Float64()
	switch {
	case u < p.multiRow && left >= 2:
		b := p.rng.IntN(n)
		var same []int
		for i, s := range p.status {
			if s == p.status[b] {
				same = append(same, i)
			}
		}
		if len(same) < 2 {
			break
		}
		k := 2 + p.rng.IntN(min(p.maxGroup, len(same), left)-1)
		p.rng.Shuffle(len(same), func(i, j int) { same[i], same[j] = same[j], same[i] })
		group := same[:k]
		slices.Sort(group)
		from := p.status[b]
		return action{kind: actMulti, blogs: group, from: from, path: []bridge.Status{nextStatus(from)}}
	case u < p.multiRow+p.flap && left >= 2:
		var running []int
		for i, s := range p.status {
			if s == bridge.StatusRunning {
				running = append(running, i)
			}
		}
		if len(running) == 0 {
			break
		}
		b := running[p.rng.IntN(len(running))]
		path := []bridge.Status{bridge.StatusDown, bridge.StatusRunning}
		if left >= 3 && p.rng.IntN(4) == 0 {
			path = []bridge.Status{bridge.StatusDown, bridge.StatusConfirmedDown, bridge.StatusRunning}
		}
		return action{kind: actFlap, blogs: []int{b}, from: bridge.StatusRunning, path: path}
	}
	b := p.rng.IntN(n)
	return action{kind: actStep, blogs: []int{b}, from: p.status[b], path: []bridge.Status{nextStatus(p.status[b])}}
}
