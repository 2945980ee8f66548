package soak

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/automattic/jetmon-bridge/internal/sim"
)

// simLoop runs the simulator in segments that can be paused: around a
// replica restart no statement is in flight, so none can end with its
// commit unknown and the ground truth stays exact. Each segment has a seed
// of its own, derived from the run's.
type simLoop struct {
	dsn  string
	opts sim.Options
	seed uint64

	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	stopping bool
	running  bool
	cancel   context.CancelFunc
	truth    []sim.Transition
	stats    sim.Stats
	segments int
	err      error
	done     chan struct{}
}

func startSimLoop(dsn string, opts sim.Options, seed uint64) *simLoop {
	l := &simLoop{dsn: dsn, opts: opts, seed: seed, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	go l.run()
	return l
}

func (l *simLoop) run() {
	defer close(l.done)
	for seg := uint64(0); ; seg++ {
		l.mu.Lock()
		for l.paused && !l.stopping {
			l.cond.Wait()
		}
		if l.stopping || l.err != nil {
			l.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel, l.running = cancel, true
		l.segments++
		l.mu.Unlock()

		st, err := l.segment(ctx, seg)
		cancel()

		l.mu.Lock()
		l.running, l.cancel = false, nil
		l.stats.Add(st)
		if err != nil {
			l.err = fmt.Errorf("simulator segment %d: %w", seg, err)
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// segment runs the simulator on a pool of its own until ctx ends.
func (l *simLoop) segment(ctx context.Context, seg uint64) (sim.Stats, error) {
	db, err := sql.Open("mysql", l.dsn)
	if err != nil {
		return sim.Stats{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(l.opts.Workers + 2)
	o := l.opts
	o.Seed = l.seed*1_000_003 + seg
	return sim.Run(ctx, db, o, func(tr sim.Transition) error {
		l.mu.Lock()
		l.truth = append(l.truth, tr)
		l.mu.Unlock()
		return nil
	})
}

// pause stops the simulator between statements and returns once none is
// in flight.
func (l *simLoop) pause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paused = true
	if l.cancel != nil {
		l.cancel()
	}
	for l.running {
		l.cond.Wait()
	}
	return l.err
}

func (l *simLoop) resume() {
	l.mu.Lock()
	l.paused = false
	l.cond.Broadcast()
	l.mu.Unlock()
}

// stop ends the simulator and returns its ground truth.
func (l *simLoop) stop() ([]sim.Transition, sim.Stats, int, error) {
	l.mu.Lock()
	l.stopping = true
	if l.cancel != nil {
		l.cancel()
	}
	l.cond.Broadcast()
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truth, l.stats, l.segments, l.err
}

// failed returns the simulator's error, if it stopped on one.
func (l *simLoop) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
