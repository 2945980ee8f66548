package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// ChainResult is the completeness comparison repeated on a primary ->
// replica chain whose replica lags: the simulator writes on the primary,
// two bridges follow the replica side by side, one per coverage proof, and
// /events is asked continuously while the replica's SQL thread is stopped
// and started again on a fixed schedule.
type ChainResult struct {
	Blogs    int
	Rate     float64       // the simulator's transitions/s
	Duration time.Duration // of the simulator's run
	Stats    sim.Stats
	Truth    int // transitions the simulator committed on the primary
	// The replica's SQL thread is stopped for StopFor at the start of every
	// StopEvery; Stops counts the stops made.
	StopEvery, StopFor time.Duration
	Stops              int
	// Heartbeat is the replica's MASTER_HEARTBEAT_PERIOD; ReadTimeout the
	// bridges' -read-timeout (how long a window past coverage waits).
	Heartbeat, ReadTimeout time.Duration
	// Clients ask each bridge at once; Sample is the /healthz period.
	Clients int
	Sample  time.Duration
	Proofs  []*ProofResult
}

// ProofResult is one bridge of the chain part: its coverage proof, its
// answers judged against the primary's ground truth, and how far its
// coverage trailed the present.
type ProofResult struct {
	Proof string // replica-status or primary-gtid (the bridge's coverage_proof)
	Args  string // the flags that chose it
	// Answers were kept, Failed got none; Journal of the answers said
	// journal, and Exact of those equal the truth for their window.
	Answers, Failed, Journal, Exact int
	// Problems are the first few journal answers that differ from the truth.
	Problems []string `json:",omitempty"`
	// Took is how long the answers took (a window past coverage waits up to
	// ReadTimeout).
	Took Latency
	// Trail is present minus the vouched-for time (/healthz's
	// coverage_trail_seconds), sampled every Sample; Running and Stopped
	// split the samples by the SQL thread's state when taken.
	Trail, TrailRunning, TrailStopped Latency
	// After the run, with the replica caught up: blogs whose whole history
	// since the start answers journal and equals the truth.
	BlogsExact, EventsAfter int
}

// ExactShare is the fraction of journal-labelled answers that equal the
// truth (1 when none said journal: nothing claimed, nothing wrong).
func (p *ProofResult) ExactShare() float64 {
	if p.Journal == 0 {
		return 1
	}
	return float64(p.Exact) / float64(p.Journal)
}

// JournalShare is the fraction of answers labelled journal.
func (p *ProofResult) JournalShare() float64 {
	if p.Answers == 0 {
		return 0
	}
	return float64(p.Journal) / float64(p.Answers)
}

// chainBridge is one bridge of the chain part.
type chainBridge struct {
	res   *ProofResult
	proc  *bridgetest.Process
	asker *bridgetest.Asker
	// trail samples, by the SQL thread's state.
	running, stopped []time.Duration
}

// RunChain runs the chain part: a throwaway primary and replica
// (testdb.StartTopology), the simulator on the primary, and the real
// jetmon-bridge binary twice on the replica, once choosing the
// replica-status proof and once -primary-dsn's primary-gtid proof.
func RunChain(ctx context.Context, cfg Config) (*ChainResult, error) {
	r := &ChainResult{Blogs: 1000, Rate: 50, Duration: cfg.scaledDur(60*time.Second, 16*time.Second),
		StopEvery: 8 * time.Second, StopFor: 4 * time.Second, Heartbeat: time.Second, ReadTimeout: 5 * time.Second,
		Clients: 4, Sample: 100 * time.Millisecond}
	logf(cfg, "chain: building jetmon-bridge and starting a primary and a replica")
	binDir, err := os.MkdirTemp(cfg.Dir, "chain-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	binary, err := bridgetest.BuildRelease(binDir)
	if err != nil {
		return nil, err
	}
	tp, err := testdb.StartTopology(testdb.TopologyOptions{HeartbeatPeriod: r.Heartbeat})
	if err != nil {
		return nil, err
	}
	defer tp.Close()
	const name = "chain"
	db, err := createDatabase(tp.Primary, name)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	sites, err := sim.Setup(ctx, db, 600_001, r.Blogs)
	if err != nil {
		return nil, err
	}
	replica := tp.Replica()
	if err := waitCaughtUp(ctx, replica); err != nil {
		return nil, err
	}

	var bridges []*chainBridge
	defer func() {
		for _, b := range bridges {
			b.proc.Kill()
		}
	}()
	for _, proof := range []struct {
		name string
		args []string
	}{{"replica-status", nil}, {"primary-gtid", []string{"-primary-dsn", tp.Primary.DSN(name)}}} {
		addr, err := bridgetest.FreeAddr()
		if err != nil {
			return nil, err
		}
		jpath := cfg.path("chain-" + proof.name + ".journal")
		os.Remove(jpath)
		defer os.Remove(jpath)
		// The daemon's periodic services that are not the follower's own
		// are turned off, so that the part measures the proofs alone: the
		// self-check (-reconcile, every 5 minutes by default) reads the
		// whole table and, on a difference, takes coverage back, which would
		// be a reconcile's figure, not a proof's; retention and publishing
		// are off by default. What stays is the follower with its proofs and
		// the Monitor's sampling (-monitor-interval), which reads no table.
		args := append([]string{"-dsn", replica.DSN(name), "-journal", jpath, "-read-timeout", r.ReadTimeout.String(),
			"-reconcile", "0"}, proof.args...)
		p := &bridgetest.Process{Binary: binary, Args: args, Addr: addr, Output: &bridgetest.LogBuffer{}}
		if err := p.Start(); err != nil {
			return nil, err
		}
		b := &chainBridge{res: &ProofResult{Proof: proof.name, Args: strings.Join(proofFlags(proof.args), " ")}, proc: p}
		bridges = append(bridges, b)
		if err := p.WaitReady(ctx, time.Minute); err != nil {
			return nil, err
		}
		if !strings.Contains(p.Output.String(), "coverage_proof="+proof.name) {
			return nil, fmt.Errorf("the bridge with %q did not choose the %s proof; its log:\n%s", args, proof.name, p.Output.Tail(2000))
		}
	}
	// Windows start at the next whole second, after both journals began.
	since := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(since))
	blogs := make([]uint64, len(sites))
	for i, s := range sites {
		blogs[i] = s.BlogID
	}
	for i, b := range bridges {
		b.asker = bridgetest.NewAsker(b.proc, blogs, since, uint64(1300+i))
		b.asker.Start(r.Clients)
	}

	logf(cfg, "chain: %d blogs at %.0f transitions/s on the primary for %s; the replica's SQL thread stopped %s of every %s",
		r.Blogs, r.Rate, r.Duration, r.StopFor, r.StopEvery)
	var stopped atomic.Bool
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	var wg sync.WaitGroup
	faultErr := make(chan error, 1)
	wg.Go(func() { faultErr <- lagReplica(bg, replica, r, &stopped) })
	wg.Go(func() { sampleTrails(bg, bridges, r.Sample, &stopped) })

	var truth []bridge.Event
	// When the simulator reported each transition: after its commit, so a
	// journal answer that misses a transition reported before the answer
	// was asked missed a committed one.
	reported := map[bridge.Event]time.Time{}
	simCtx, stopSim := context.WithTimeout(ctx, r.Duration)
	defer stopSim()
	r.Stats, err = sim.Run(simCtx, db, sim.Options{Sites: sites, Workers: 4, Rate: r.Rate, Seed: 13,
		MultiRow: 0.05, Flap: 0.2, Noise: 0.05}, func(t sim.Transition) error {
		truth = append(truth, t.Event())
		reported[t.Event()] = time.Now()
		return nil
	})
	for _, b := range bridges {
		answers, failed := b.asker.Stop()
		v := bridgetest.JudgeJournalAnswers(answers, truth)
		b.res.Answers, b.res.Failed, b.res.Journal, b.res.Exact = v.Answers, failed, v.Journal, v.Journal-len(v.Problems)
		b.res.Problems = explainMisses(answers, truth, reported, 5)
		took := make([]time.Duration, len(answers))
		for i, a := range answers {
			took[i] = a.Took
		}
		b.res.Took = Summarize(took)
	}
	stopBackground()
	wg.Wait()
	if ferr := <-faultErr; err == nil {
		err = ferr
	}
	if err != nil {
		return r, fmt.Errorf("simulator: %w", err)
	}
	r.Truth = len(truth)
	for _, b := range bridges {
		b.res.TrailRunning, b.res.TrailStopped = Summarize(b.running), Summarize(b.stopped)
		b.res.Trail = Summarize(append(b.running, b.stopped...))
	}

	// After the run: the replica catches up, and each bridge's whole
	// history must be the truth, vouched for by its journal.
	if err := waitCaughtUp(ctx, replica); err != nil {
		return r, err
	}
	until := time.Now()
	for _, b := range bridges {
		if err := b.judgeWholeHistory(ctx, sites, truth, since, until); err != nil {
			return r, err
		}
		if err := b.proc.Stop(); err != nil {
			return r, fmt.Errorf("the %s bridge: %w", b.res.Proof, err)
		}
		r.Proofs = append(r.Proofs, b.res)
		logf(cfg, "chain (%s): %d answers, %d said journal, %d of them exact; trail p50 %s p99 %s max %s; afterwards %d/%d blogs exact",
			b.res.Proof, b.res.Answers, b.res.Journal, b.res.Exact, ms(b.res.Trail.P50), ms(b.res.Trail.P99), ms(b.res.Trail.Max), b.res.BlogsExact, len(sites))
	}
	return r, nil
}

// explainMisses describes up to limit journal answers that differ from the
// truth, each missing transition with when the simulator reported it
// (after its commit) relative to when the answer was asked.
func explainMisses(answers []bridgetest.Answer, truth []bridge.Event, reported map[bridge.Event]time.Time, limit int) []string {
	var out []string
	for _, a := range answers {
		if len(out) == limit {
			break
		}
		want := bridgetest.TruthFor(truth, a.Blog, a.Since, a.Until)
		if a.Coverage != string(bridge.CoverageJournal) || bridgetest.SameEvents(a.Events, want) {
			continue
		}
		asked := a.At.Add(-a.Took)
		var b strings.Builder
		fmt.Fprintf(&b, "blog %d, window [%s, %s), asked at %s, answered journal at %s with %d events; the truth has %d",
			a.Blog, a.Since.Format(time.RFC3339Nano), a.Until.Format(time.RFC3339Nano), asked.Format(time.RFC3339Nano), a.At.Format(time.RFC3339Nano), len(a.Events), len(want))
		have := map[bridge.Event]int{}
		for _, e := range a.Events {
			e.ID = 0
			have[e]++
		}
		for _, e := range want {
			if have[e] > 0 {
				have[e]--
				continue
			}
			fmt.Fprintf(&b, "\n  missing %s -> %s at %s, reported by the simulator %s after the answer was asked",
				e.OldStatus, e.NewStatus, e.CreatedAt.Format(time.RFC3339), reported[e].Sub(asked).Round(time.Millisecond))
		}
		out = append(out, b.String())
	}
	return out
}

// proofFlags shows a proof's flags without the DSN's details.
func proofFlags(args []string) []string {
	if len(args) == 0 {
		return []string{"(no -primary-dsn)"}
	}
	return []string{args[0] + " <primary>"}
}

// lagReplica stops the replica's SQL thread for r.StopFor at the start of
// every r.StopEvery until ctx ends, and leaves it running.
func lagReplica(ctx context.Context, replica *testdb.Replica, r *ChainResult, stopped *atomic.Bool) error {
	t := time.NewTicker(r.StopEvery)
	defer t.Stop()
	for {
		if err := replica.StopSQLThread(); err != nil {
			return err
		}
		stopped.Store(true)
		r.Stops++
		select {
		case <-ctx.Done():
		case <-time.After(r.StopFor):
		}
		if err := replica.StartSQLThread(); err != nil {
			return err
		}
		stopped.Store(false)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sampleTrails reads every bridge's coverage trail from /healthz every
// period until ctx ends, filed by the SQL thread's state.
func sampleTrails(ctx context.Context, bridges []*chainBridge, period time.Duration, stopped *atomic.Bool) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, b := range bridges {
			state := stopped.Load()
			h, code, err := b.proc.Health(ctx)
			if err != nil || code == 0 {
				continue
			}
			trail := time.Duration(h.Journal.CoverageTrail * float64(time.Second))
			if state {
				b.stopped = append(b.stopped, trail)
			} else {
				b.running = append(b.running, trail)
			}
		}
	}
}

// judgeWholeHistory waits until the journal vouches for [since, until),
// then compares every blog's history with the truth.
func (b *chainBridge) judgeWholeHistory(ctx context.Context, sites []sim.Site, truth []bridge.Event, since, until time.Time) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, cov, err := b.proc.Events(ctx, sites[0].BlogID, since, until)
		if err == nil && cov == string(bridge.CoverageJournal) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %s bridge's journal did not cover the run a minute after the replica caught up (last: %s, %v)", b.res.Proof, cov, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range sites {
		got, cov, err := b.proc.Events(ctx, s.BlogID, since, until)
		if err != nil {
			return err
		}
		b.res.EventsAfter += len(got)
		if cov == string(bridge.CoverageJournal) && bridgetest.SameEvents(got, bridgetest.TruthFor(truth, s.BlogID, since, until)) {
			b.res.BlogsExact++
		}
	}
	return nil
}

// waitCaughtUp waits, at most a minute, until the replica has applied all
// the primary wrote.
func waitCaughtUp(ctx context.Context, replica *testdb.Replica) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return replica.WaitCaughtUp(wctx)
}
