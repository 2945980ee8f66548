package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
)

// LiveResult is the visibility lag of live changes while the simulator
// commits a steady load.
type LiveResult struct {
	Place      string // where the journal file lives: disk or tmpfs
	Dir        string
	SimRate    float64 // the simulator's target, transitions/s
	SimStats   sim.Stats
	ProbeRate  float64
	Duration   time.Duration
	Lag        Latency // probe commit returned -> visible in the journal
	Lost       int     // probes never seen
	Truth      int     // simulator transitions committed
	Journaled  int     // of them, found in the journal afterwards
	Achieved   float64 // transitions/s the simulator and probes committed
	FollowerOK bool
	// Publish is set when a NATS publisher ran on the journal (part 7);
	// Streamed is then the lag from a probe's commit returning to its
	// message reaching a subscriber of the stream's subjects.
	Publish  bool    `json:",omitempty"`
	Streamed Latency `json:",omitzero"`
	// CPU is the bench process's CPU time during the round's load;
	// NATSCPU nats-server's over the round (part 7).
	CPU     time.Duration
	NATSCPU time.Duration `json:",omitzero"`

	// The raw lags, for pooling rounds.
	lags, streamedLags []time.Duration
}

// liveBench is a database the live rounds run in: the simulator's blogs
// and the probe writer's, created once.
type liveBench struct {
	name  string
	srv   *testdb.Server
	db    *sql.DB
	sites []sim.Site
}

const liveSimBlogs, liveProbeBlogs, liveProbeFirst = 2000, 100, 800_001

func newLiveBench(ctx context.Context, srv *testdb.Server, name string) (*liveBench, error) {
	db, err := createDatabase(srv, name)
	if err != nil {
		return nil, err
	}
	sites, err := sim.Setup(ctx, db, sim.DefaultFirstBlogID, liveSimBlogs)
	if err == nil {
		_, err = sim.Setup(ctx, db, liveProbeFirst, liveProbeBlogs)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &liveBench{name: name, srv: srv, db: db, sites: sites}, nil
}

func (lb *liveBench) close() { lb.db.Close() }

// liveRound shapes one round of live load.
type liveRound struct {
	place, dir string
	duration   time.Duration
	seed       uint64
	serverID   uint32
	// alongside, when set, starts with the follower, on its journal, and
	// returns a function that ends it once the round is scored.
	alongside func(ctx context.Context, j *journal.Journal, w *watcher) (end func() error, err error)
}

// RunLive runs the simulator at 1,000 transitions/s against a database the
// bridge follows, with a probe writer on its own blogs whose every commit
// is timed until the transition is visible through journal.BlogEvents (the
// read /events makes), woken by journal.Changed().
func RunLive(ctx context.Context, cfg Config, srv *testdb.Server, place, dir string) (*LiveResult, error) {
	lb, err := newLiveBench(ctx, srv, "live_"+place)
	if err != nil {
		return nil, err
	}
	defer lb.close()
	return lb.round(ctx, cfg, liveRound{place: place, dir: dir, duration: cfg.scaledDur(30*time.Second, 5*time.Second), seed: 42, serverID: 7001})
}

// round follows the database with a fresh journal in lr.dir while the
// simulator and the probes commit for lr.duration, then scores the lag and
// checks every simulated transition is in the journal.
func (lb *liveBench) round(ctx context.Context, cfg Config, lr liveRound) (*LiveResult, error) {
	// The probes' statuses as the last round left them.
	probes, err := sim.Load(ctx, lb.db, liveProbeFirst, liveProbeBlogs)
	if err != nil {
		return nil, err
	}
	r := &LiveResult{Place: lr.place, Dir: lr.dir, SimRate: 1000, ProbeRate: 100, Duration: lr.duration, Publish: lr.alongside != nil}

	jdir, err := os.MkdirTemp(lr.dir, "jetmon-bench-live-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(jdir)
	// A fresh journal: the follower starts at the server's current
	// position with a snapshot of the table, as in production.
	fol, err := startFollower(ctx, lb.srv.DSN(lb.name), filepath.Join(jdir, "live.journal"), lr.serverID)
	if err != nil {
		return nil, err
	}
	defer fol.stop()
	j := fol.journal
	w := newWatcher(j)
	end := func() error { return nil }
	if lr.alongside != nil {
		if end, err = lr.alongside(ctx, j, w); err != nil {
			return nil, err
		}
	}
	wctx, stopWatcher := context.WithCancel(ctx)
	defer stopWatcher()
	watchDone := make(chan struct{})
	go func() { w.run(wctx); close(watchDone) }()

	label := lr.place
	if r.Publish {
		label += ", publishing to NATS"
	}
	logf(cfg, "live (%s): simulator at %.0f transitions/s plus %.0f probes/s for %s", label, r.SimRate, r.ProbeRate, r.Duration)
	var truthMu sync.Mutex
	var truth []sim.Transition
	simCtx, stopSim := context.WithTimeout(ctx, r.Duration)
	defer stopSim()
	simDone := make(chan error, 1)
	go func() {
		var err error
		r.SimStats, err = sim.Run(simCtx, lb.db, sim.Options{Sites: lb.sites, Workers: 4, Rate: r.SimRate, Seed: lr.seed,
			MultiRow: 0.1, Flap: 0.05, Noise: 0.05}, func(t sim.Transition) error {
			truthMu.Lock()
			truth = append(truth, t)
			truthMu.Unlock()
			return nil
		})
		simDone <- err
	}()
	cpu0 := processCPU()
	probeErr := runProbes(simCtx, lb.db, probes, r.ProbeRate, w)
	if err := <-simDone; err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if probeErr != nil {
		return nil, fmt.Errorf("probes: %w", probeErr)
	}
	r.Achieved = float64(r.SimStats.Transitions+len(w.probes)) / r.Duration.Seconds()

	// Let the last probes and simulated transitions land (each is one
	// event), then score.
	events := uint64(len(truth) + len(w.probes))
	deadline := time.Now().Add(10 * time.Second)
	for (w.pending() > 0 || j.LastID() < events) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.CPU = processCPU() - cpu0
	stopWatcher()
	<-watchDone
	if err := end(); err != nil {
		return nil, err
	}
	var lags, streamed []time.Duration
	w.mu.Lock()
	for _, p := range w.probes {
		if p.visible.IsZero() {
			r.Lost++
			continue
		}
		lags = append(lags, p.visible.Sub(p.committed))
		if !p.streamed.IsZero() {
			streamed = append(streamed, p.streamed.Sub(p.committed))
		}
	}
	w.mu.Unlock()
	r.lags, r.streamedLags = slices.Clone(lags), slices.Clone(streamed)
	r.Lag = Summarize(lags)
	r.Streamed = Summarize(streamed)

	// Every simulated transition must be in the journal.
	r.Truth = len(truth)
	byBlog := map[uint64][]sim.Transition{}
	for _, t := range truth {
		byBlog[t.BlogID] = append(byBlog[t.BlogID], t)
	}
	for blog, ts := range byBlog {
		evs, err := j.BlogEvents(blog, time.Unix(0, 0), time.Now().Add(time.Hour))
		if err != nil {
			return nil, err
		}
		r.Journaled += matchSequence(evs, ts)
	}
	if err := fol.stop(); err == nil {
		r.FollowerOK = true
	}
	logf(cfg, "live (%s): %d probes, lag p50 %s p99 %s max %s; %d/%d simulated transitions journaled", label,
		r.Lag.N, ms(r.Lag.P50), ms(r.Lag.P99), ms(r.Lag.Max), r.Journaled, r.Truth)
	return r, nil
}

// matchSequence counts the truth transitions that the journal's events
// reproduce, in order (blog, old, new, created_at).
func matchSequence(evs []bridge.Event, ts []sim.Transition) int {
	n := 0
	for i := 0; i < len(evs) && i < len(ts); i++ {
		e, t := evs[i], ts[i]
		if e.OldStatus != t.Old || e.NewStatus != t.New || !e.CreatedAt.Equal(t.CreatedAt) {
			break
		}
		n++
	}
	return n
}

type probe struct {
	blog      uint64
	want      int // the blog's event count once this probe is journaled
	committed time.Time
	visible   time.Time
	streamed  time.Time // its message reached a subscriber (part 7)
}

// watcher marks probes visible as soon as the journal shows them.
type watcher struct {
	j      *journal.Journal
	mu     sync.Mutex
	probes []*probe
	next   int // first probe not yet seen
	// byEvent finds a probe by blog and the blog's event count.
	byEvent map[probeKey]*probe
}

type probeKey struct {
	blog uint64
	want int
}

func newWatcher(j *journal.Journal) *watcher {
	return &watcher{j: j, byEvent: map[probeKey]*probe{}}
}

func (w *watcher) add(p *probe) {
	w.mu.Lock()
	w.probes = append(w.probes, p)
	w.byEvent[probeKey{p.blog, p.want}] = p
	w.mu.Unlock()
}

// streamed notes that the n-th event of blog reached the stream at t, when
// that event is a probe's.
func (w *watcher) streamed(blog uint64, n int, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.byEvent[probeKey{blog, n}]; ok && p.streamed.IsZero() {
		p.streamed = t
	}
}

func (w *watcher) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.probes) - w.next
}

func (w *watcher) run(ctx context.Context) {
	far := time.Now().Add(24 * time.Hour)
	for {
		changed := w.j.Changed()
		w.scan(far)
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// scan checks the unseen probes in commit order; probes commit one at a
// time, so the first unseen one bounds the rest.
func (w *watcher) scan(far time.Time) {
	for {
		w.mu.Lock()
		if w.next >= len(w.probes) {
			w.mu.Unlock()
			return
		}
		p := w.probes[w.next]
		w.mu.Unlock()
		evs, err := w.j.BlogEvents(p.blog, time.Unix(0, 0), far)
		if err != nil || len(evs) < p.want {
			return
		}
		now := time.Now()
		w.mu.Lock()
		p.visible = now
		w.next++
		w.mu.Unlock()
	}
}

// runProbes commits Jetmon's UPDATE on the probe blogs at rate per second,
// one at a time on its own connection, and records when each commit
// returned.
func runProbes(ctx context.Context, db *sql.DB, sites []sim.Site, rate float64, w *watcher) error {
	conn, err := db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET time_zone='+00:00'"); err != nil {
		return err
	}
	stmt, err := conn.PrepareContext(context.WithoutCancel(ctx), sim.JetmonUpdate)
	if err != nil {
		return err
	}
	defer stmt.Close()
	status := make([]bridge.Status, len(sites))
	count := make([]int, len(sites))
	for i, s := range sites {
		status[i] = s.Status
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		i := k % len(sites)
		next := bridge.StatusRunning
		switch status[i] {
		case bridge.StatusRunning:
			next = bridge.StatusDown
		case bridge.StatusDown:
			next = bridge.StatusConfirmedDown
		}
		status[i] = next
		count[i]++
		p := &probe{blog: sites[i].BlogID, want: count[i]}
		w.add(p)
		if _, err := stmt.ExecContext(context.WithoutCancel(ctx), uint8(next), sites[i].BlogID, sites[i].URL); err != nil {
			return err
		}
		t := time.Now()
		w.mu.Lock()
		p.committed = t
		w.mu.Unlock()
	}
}
