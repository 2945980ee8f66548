package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// GrowthResult is part 8: the same work against journals of growing size
// (a sidecar runs for years), and retention's steady state.
type GrowthResult struct {
	// Blogs are the monitors of the history and of all the work.
	Blogs int
	// Stretch is the binlog stretch every size catches up: bulk UPDATEs of
	// 100 rows, as in part 1.
	Stretch      int
	StretchBytes int64
	Sizes        []*GrowthSize
	Steady       *SteadyResult
}

// GrowthSize is one journal size's figures.
type GrowthSize struct {
	// Events is the size of the history the journal held before the work.
	Events int
	// Build is the time buildHistory took, in commits of BuildBatch events.
	Build      time.Duration
	BuildBatch int
	// Open is journal.Open's time on the built file (in the page cache):
	// bbolt finds the free pages by reading every page the buckets reach.
	Open time.Duration
	// The catch-up of the stretch into this journal: wall and CPU time,
	// the commits' durations and the peak live heap of the process (the
	// follower, and nothing else of size).
	Catchup, CatchupCPU time.Duration
	CatchupCommits      Latency
	CatchupHeap         uint64
	// CatchupPages is the most pages one catch-up commit wrote: a commit
	// rewrites the last run of every blog it touches, and in a larger
	// journal those runs lie on more distinct pages.
	CatchupPages int
	// The live run: visibility lag, the commits' durations, the heap.
	Live         Latency
	LiveCommits  Latency
	LiveHeap     uint64
	LiveAchieved float64
	LiveLost     int
	// /events at FixedRate offered, from a separate server on the file,
	// windows holding about ten events.
	Fixed  *LoadResult
	Window time.Duration
	// The file after the work.
	FileBytes, InUseBytes int64
	// Former is the same catch-up into a copy of the same journal as the
	// follower caught up before its batches were sized to bound a commit's
	// pages (binlog.Config.MaxCommitPages off: only the rows cap, 2^18), run
	// just before, for the comparison.
	Former *FormerCatchup
	// CatchupCount is the event-bearing commits of the catch-up.
	CatchupCount int
}

// FormerCatchup is a catch-up without the bound on a commit's pages.
type FormerCatchup struct {
	Catchup, CatchupCPU time.Duration
	Commits             Latency
	CommitCount         int
	Pages               int
	Heap                uint64
}

// CatchupRate is the stretch's transitions per second.
func (g *GrowthSize) CatchupRate(stretch int) float64 {
	if g.Catchup <= 0 {
		return 0
	}
	return float64(stretch) / g.Catchup.Seconds()
}

// growthSizes are the histories part 8 builds, before scaling.
var growthSizes = []int{1_000_000, 10_000_000, 100_000_000}

// RunGrowth builds journals of 1M, 10M and 100M events (times the scale)
// through journal.Commit and measures on each, with the same work: the
// catch-up of one binlog stretch (rate, commit durations, heap), a live
// run (visibility lag, commit durations, heap), /events at 2,000 requests
// a second, and the file's size. Then retention's steady state (steady.go).
func RunGrowth(ctx context.Context, cfg Config, srv *testdb.Server) (*GrowthResult, error) {
	r := &GrowthResult{Blogs: cfg.scaled(100_000, 2_000), Stretch: cfg.scaled(1_000_000, 20_000)}
	db, err := createDatabase(srv, "growth")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := insertMonitors(ctx, db, 1, r.Blogs, nil); err != nil {
		return nil, err
	}
	sites, err := sim.Load(ctx, db, 1, r.Blogs)
	if err != nil {
		return nil, err
	}
	start, err := serverEnd(ctx, db)
	if err != nil {
		return nil, err
	}
	logf(cfg, "growth: filling a stretch of %d transitions over %d monitors", r.Stretch, r.Blogs)
	if _, err := fillBulk(ctx, db, r.Blogs, r.Stretch, 100); err != nil {
		return nil, err
	}
	end, err := serverEnd(ctx, db)
	if err != nil {
		return nil, err
	}
	if r.StretchBytes, err = stretchBytes(ctx, db, start, end); err != nil {
		return nil, err
	}
	// The steady state first: it is the shorter, and a run stopped during
	// the largest size keeps it.
	if !cfg.NoSteady {
		if r.Steady, err = RunSteady(ctx, cfg); err != nil {
			return r, fmt.Errorf("steady state under retention: %w", err)
		}
	}
	sizes := growthSizes
	if len(cfg.GrowthSizes) > 0 {
		sizes = cfg.GrowthSizes
	}
	for _, size := range sizes {
		k := max(0, int(math.Round(math.Log10(float64(size))))-6) // 1M -> 0, 10M -> 1, 100M -> 2
		g := &GrowthSize{Events: cfg.scaled(size, 10_000*pow10(k))}
		r.Sizes = append(r.Sizes, g)
		if err := growthSize(ctx, cfg, srv, db, r, g, sites, start, k); err != nil {
			r.Sizes = r.Sizes[:len(r.Sizes)-1] // not measured to its end
			return r, fmt.Errorf("%d events: %w", g.Events, err)
		}
	}
	return r, nil
}

// growthBuildBatch is the events of one commit of a size's history: a
// twentieth of it, at least 100,000. Each commit rewrites the last run of
// nearly every blog, about a leaf each once the journal is large, so the
// build's cost is its commits times the blogs: in commits of 100,000 the
// 100M-event history would write some 1,000 times the blogs bucket
// (hours), in twenty commits it takes minutes (docs/bench-notes.md).
func growthBuildBatch(events int) int {
	return max(100_000, events/20)
}

func pow10(k int) int {
	n := 1
	for range k {
		n *= 10
	}
	return n
}

// commitLog collects a journal's commit durations (Options.OnCommit).
type commitLog struct {
	mu    sync.Mutex
	took  []time.Duration
	pages []int
}

func (c *commitLog) add(s journal.CommitStats) {
	c.mu.Lock()
	c.took = append(c.took, s.Took)
	c.pages = append(c.pages, s.Pages)
	c.mu.Unlock()
}

// take returns the durations and the most pages written since the last
// take, and starts anew.
func (c *commitLog) take() ([]time.Duration, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, most := c.took, 0
	for _, p := range c.pages {
		most = max(most, p)
	}
	c.took, c.pages = nil, nil
	return t, most
}

// growthSize runs the work on a journal of g.Events.
func growthSize(ctx context.Context, cfg Config, srv *testdb.Server, db *sql.DB, r *GrowthResult, g *GrowthSize, sites []sim.Site, start binlog.Position, k int) error {
	path := cfg.path(fmt.Sprintf("growth-%d.journal", g.Events))
	os.Remove(path)
	defer os.Remove(path)
	g.BuildBatch = growthBuildBatch(g.Events)
	logf(cfg, "growth: building a journal of %d events over %d blogs in commits of %d", g.Events, r.Blogs, g.BuildBatch)
	t := time.Now()
	// History ends before the stretch's times (fillBulk stamps 1.75e9 on).
	span, _, err := buildHistory(path, history{
		events: g.Events, blogs: r.Blogs, batch: g.BuildBatch,
		start: time.Unix(1_750_000_000, 0).Add(-30 * 24 * time.Hour).UTC(), length: 30*24*time.Hour - time.Hour,
		checkpoint: journal.Checkpoint{Flavor: string(binlog.FlavorMariaDB), File: start.File, Pos: start.Pos, Columns: catchupColumns},
		resume:     true,
	})
	if err != nil {
		return err
	}
	g.Build = time.Since(t)
	logf(cfg, "growth: built in %s", g.Build.Round(time.Millisecond))
	if cfg.NoFormer {
		// nothing to compare with
	} else if g.Former, err = formerCatchup(ctx, srv, path, uint64(g.Events+r.Stretch), uint32(7110+k)); err != nil {
		return fmt.Errorf("catch-up without the commit pages bound: %w", err)
	} else {
		logf(cfg, "growth %d: catch-up without the commit pages bound: %s (%s CPU), %d commits, p99 %s (%d pages at most), heap peak %s", g.Events,
			g.Former.Catchup.Round(time.Millisecond), g.Former.CatchupCPU.Round(time.Millisecond), g.Former.CommitCount, ms(g.Former.Commits.P99), g.Former.Pages, mib(g.Former.Heap))
	}

	var commits commitLog
	t = time.Now()
	j, err := journal.Open(path, journal.Options{WaitLimit: 5 * time.Second, OnCommit: commits.add})
	if err != nil {
		return err
	}
	g.Open = time.Since(t)
	closed := false
	defer func() {
		if !closed {
			j.Close()
		}
	}()
	replica, err := store.Open("-dsn", srv.DSN("growth"), 10*time.Second)
	if err != nil {
		return err
	}
	defer replica.Close()
	f, err := binlog.Open(ctx, binlog.Config{Replica: replica, Journal: j,
		ServerID: uint32(7100 + k), Heartbeat: time.Second, Logger: quietLogger()})
	if err != nil {
		return err
	}
	// The catch-up: from Run until the journal holds the stretch. The heap
	// from a fresh mark: the live heap is read as of the last collection,
	// which may date from the catch-up just before (formerCatchup).
	freshHeap()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() { sampleHeap(stopSampling, &peak, ""); close(sampled) }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	cpu0 := processCPU()
	t = time.Now()
	go func() { runErr <- f.Run(rctx, nil) }()
	want := uint64(g.Events + r.Stretch)
	if err := awaitJournaled(j, want, runErr); err != nil {
		return err
	}
	g.Catchup, g.CatchupCPU = time.Since(t), processCPU()-cpu0
	close(stopSampling)
	<-sampled
	g.CatchupHeap = peak.Load()
	took, pages := commits.take()
	g.CatchupCommits, g.CatchupPages, g.CatchupCount = Summarize(took), pages, len(took)
	logf(cfg, "growth %d: catch-up of %d transitions in %s (%s /s), commit p99 %s (%d pages at most), heap peak %s", g.Events, r.Stretch,
		g.Catchup.Round(time.Millisecond), kfmt(g.CatchupRate(r.Stretch)), ms(g.CatchupCommits.P99), g.CatchupPages, mib(g.CatchupHeap))

	// Live: once the follower has caught up with whatever earlier sizes
	// left after the stretch, the simulator and the probes, as in part 2.
	probes, err := sim.Setup(ctx, db, uint64(900_001+1000*k), liveProbeBlogs)
	if err != nil {
		return err
	}
	if err := waitJournaled(ctx, j, runErr); err != nil {
		return err
	}
	commits.take()
	// The live heap from a fresh mark: the last collection may date from
	// the catch-up's commits.
	freshHeap()
	w := newWatcher(j)
	wctx, stopWatcher := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { w.run(wctx); close(watchDone) }()
	peak.Store(0)
	stopSampling, sampled = make(chan struct{}), make(chan struct{})
	go func() {
		sampleHeap(stopSampling, &peak, cfg.path(fmt.Sprintf("growth-%d-live.heap.pprof", g.Events)))
		close(sampled)
	}()
	d := cfg.scaledDur(20*time.Second, 5*time.Second)
	simCtx, stopSim := context.WithTimeout(ctx, d)
	defer stopSim()
	simDone := make(chan error, 1)
	var stats sim.Stats
	go func() {
		var err error
		stats, err = sim.Run(simCtx, db, sim.Options{Sites: sites, Workers: 4, Rate: 1000, Seed: uint64(50 + k),
			MultiRow: 0.1, Flap: 0.05, Noise: 0.05}, nil)
		simDone <- err
	}()
	probeErr := runProbes(simCtx, db, probes, 100, w)
	if err := <-simDone; err != nil {
		stopWatcher()
		return fmt.Errorf("simulator: %w", err)
	}
	if probeErr != nil {
		stopWatcher()
		return fmt.Errorf("probes: %w", probeErr)
	}
	for wait := time.Now().Add(10 * time.Second); w.pending() > 0 && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	stopWatcher()
	<-watchDone
	close(stopSampling)
	<-sampled
	g.LiveHeap = peak.Load()
	took, _ = commits.take()
	g.LiveCommits = Summarize(took)
	var lags []time.Duration
	w.mu.Lock()
	for _, p := range w.probes {
		if p.visible.IsZero() {
			g.LiveLost++
			continue
		}
		lags = append(lags, p.visible.Sub(p.committed))
	}
	g.LiveAchieved = float64(stats.Transitions+len(w.probes)) / d.Seconds()
	w.mu.Unlock()
	g.Live = Summarize(lags)
	logf(cfg, "growth %d: live at %.0f/s: lag p50 %s p99 %s (lost %d), commit p99 %s, heap peak %s", g.Events, g.LiveAchieved,
		ms(g.Live.P50), ms(g.Live.P99), g.LiveLost, ms(g.LiveCommits.P99), mib(g.LiveHeap))
	cancel()
	if err := <-runErr; err != nil {
		return fmt.Errorf("follower: %w", err)
	}
	j.Close()
	closed = true

	fp, err := measureFootprint(path)
	if err != nil {
		return err
	}
	g.FileBytes, g.InUseBytes = fp.FileBytes, fp.InUseBytes

	// /events from a separate server on the file, windows of the history
	// holding about ten events each.
	perBlog := float64(g.Events) / float64(r.Blogs)
	g.Window = min(time.Duration(float64(span.End.Sub(span.Start))*10/perBlog), span.End.Sub(span.Start)/2).Truncate(time.Second)
	urls := requestList(50_000, r.Blogs, span, g.Window)
	js, err := startServer(cfg, srv.DSN("growth"), path)
	if err != nil {
		return err
	}
	defer js.stop()
	js.warm(ctx, urls)
	g.Fixed = OpenLoop(ctx, js.base, urls, FixedRate, 256, 2*time.Second, cfg.scaledDur(10*time.Second, 3*time.Second))
	js.stop()
	logf(cfg, "growth %d: /events at %d req/s: p50 %s p99 %s from send (%d errors, %.1f events/answer); file %s (%s in use)", g.Events, FixedRate,
		ms(g.Fixed.Service.P50), ms(g.Fixed.Service.P99), g.Fixed.Errors, g.Fixed.EventsPerAnswer(), mib(uint64(g.FileBytes)), mib(uint64(g.InUseBytes)))
	return nil
}

// freshHeap collects twice, so that the live heap read next holds nothing
// the work before it left. One collection is not enough: it moves what a
// sync.Pool holds to the pool's victim cache, which it still marks live,
// and bbolt keeps the page buffers of a commit in such a pool: after the
// catch-up without the bound into 10M events (commits of 30,000 pages) the
// measured catch-up's heap read 134 MiB with one collection, 54 MiB with
// two. The second drops them, as the runtime's own collections do within
// two cycles of the work's end.
func freshHeap() {
	runtime.GC()
	runtime.GC()
}

// waitJournaled waits until the follower has proved itself caught up
// after the call: what the server had written by then is in j.
func waitJournaled(ctx context.Context, j *journal.Journal, runErr <-chan error) error {
	now := time.Now()
	for j.Confirmed().Before(now) {
		select {
		case <-j.Changed():
		case err := <-runErr:
			return fmt.Errorf("follower stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return fmt.Errorf("follower did not catch up within a minute")
		}
	}
	return nil
}

// formerCatchup catches the stretch up into a copy of the journal at path
// without the bound on a commit's pages (MaxCommitPages -1), until it holds
// want events, and deletes the copy: the catch-up as it was before, on the
// same journal, just before the measured one.
func formerCatchup(ctx context.Context, srv *testdb.Server, path string, want uint64, serverID uint32) (*FormerCatchup, error) {
	cp := path + ".former"
	if err := copyFile(path, cp); err != nil {
		return nil, err
	}
	defer os.Remove(cp)
	var commits commitLog
	j, err := journal.Open(cp, journal.Options{WaitLimit: 5 * time.Second, OnCommit: commits.add})
	if err != nil {
		return nil, err
	}
	defer j.Close()
	replica, err := store.Open("-dsn", srv.DSN("growth"), 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer replica.Close()
	f, err := binlog.Open(ctx, binlog.Config{Replica: replica, Journal: j, MaxCommitPages: -1,
		ServerID: serverID, Heartbeat: time.Second, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	freshHeap()
	var peak atomic.Uint64
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() { sampleHeap(stopSampling, &peak, ""); close(sampled) }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	cpu0 := processCPU()
	t := time.Now()
	go func() { runErr <- f.Run(rctx, nil) }()
	if err := awaitJournaled(j, want, runErr); err != nil {
		close(stopSampling)
		<-sampled
		return nil, err
	}
	fc := &FormerCatchup{Catchup: time.Since(t), CatchupCPU: processCPU() - cpu0}
	close(stopSampling)
	<-sampled
	fc.Heap = peak.Load()
	cancel()
	if err := <-runErr; err != nil {
		return nil, fmt.Errorf("follower: %w", err)
	}
	took, pages := commits.take()
	fc.Commits, fc.CommitCount, fc.Pages = Summarize(took), len(took), pages
	return fc, nil
}

// copyFile copies the file at from to to.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// awaitJournaled waits until the journal holds want events, the follower
// whose Run reports to runErr stops, or 30 minutes pass.
func awaitJournaled(j *journal.Journal, want uint64, runErr <-chan error) error {
	deadline := time.After(30 * time.Minute)
	for j.LastID() < want {
		changed := j.Changed()
		if j.LastID() >= want {
			break
		}
		select {
		case <-changed:
		case err := <-runErr:
			return fmt.Errorf("follower stopped after %d of %d events: %v", j.LastID(), want, err)
		case <-deadline:
			return fmt.Errorf("follower journaled %d of %d events in 30 minutes", j.LastID(), want)
		}
	}
	return nil
}
