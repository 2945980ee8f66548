package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishResult is what publishing the journal to NATS JetStream (-publish)
// costs: the live path with and without a publisher, rounds interleaved,
// and the publisher's rate during a catch-up.
type PublishResult struct {
	NATSVersion string
	// Live holds the live rounds in the order they ran, alternating
	// without and with a publisher (LiveResult.Publish).
	Live []*LiveResult
	// LagOff and LagOn pool the rounds' probe lags without and with a
	// publisher; Streamed pools the publishing rounds' commit-to-subscriber
	// lags.
	LagOff, LagOn, Streamed Latency

	// Catchup is the bulk stretch caught up with and without a publisher.
	Catchup *CatchupResult
	// Plain and Journaled are the journal's catch-up times (Run until the
	// journal holds every transition) without and with a publisher;
	// Published is the time from Run until the stream acknowledged the
	// last transition, and PublishedAtJournal how many it had acknowledged
	// when the journal was complete. One entry per round.
	Plain, Journaled, Published []time.Duration
	PublishedAtJournal          []int
	// Bare is the time a bare JetStream client took to publish as many
	// messages of the same shape (subject per blog, message id, expected
	// last sequence, 256 in flight) to a stream of its own: the limit of
	// the server and the client library on this machine, one per round.
	Bare []time.Duration
	// Profile is a CPU profile of the bench process (follower and
	// publisher) over the last publishing round, from Run until the stream
	// held every transition.
	Profile, ProfileTop string
}

// PlainRate, JournaledRate and PublishedRate are transitions per second
// of the median rounds.
func (p *PublishResult) PlainRate() float64     { return rate(p.Catchup.Transitions, p.Plain) }
func (p *PublishResult) JournaledRate() float64 { return rate(p.Catchup.Transitions, p.Journaled) }
func (p *PublishResult) PublishedRate() float64 { return rate(p.Catchup.Transitions, p.Published) }
func (p *PublishResult) BareRate() float64      { return rate(p.Catchup.Transitions, p.Bare) }

// PublishedDuringRate is the publisher's rate while the journal caught up:
// what the stream had acknowledged when the journal was complete, over the
// journal's time, median of the rounds.
func (p *PublishResult) PublishedDuringRate() float64 {
	var rates []float64
	for i, n := range p.PublishedAtJournal {
		if i < len(p.Journaled) && p.Journaled[i] > 0 {
			rates = append(rates, float64(n)/p.Journaled[i].Seconds())
		}
	}
	return median(rates)
}

// AddedP50 and AddedP99 are the publisher's cost to the live path: the
// pooled lag with a publisher minus without, at the median and the 99th
// percentile (negative when the rounds with a publisher were faster).
func (p *PublishResult) AddedP50() time.Duration { return p.LagOn.P50 - p.LagOff.P50 }
func (p *PublishResult) AddedP99() time.Duration { return p.LagOn.P99 - p.LagOff.P99 }

// RunPublish starts a JetStream nats-server on loopback (natstest), then
// runs live rounds alternately without and with a publisher on the
// follower's journal, and catches up a bulk stretch alternately without
// and with one.
func RunPublish(ctx context.Context, cfg Config, srv *testdb.Server) (*PublishResult, error) {
	storeDir, err := os.MkdirTemp(cfg.Dir, "nats-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(storeDir)
	ns, err := natstest.StartServer(storeDir)
	if err != nil {
		return nil, err
	}
	defer ns.Kill()
	r := &PublishResult{NATSVersion: natsVersion()}
	logf(cfg, "publish: %s on %s, store in %s", r.NATSVersion, ns.URL(), storeDir)

	lb, err := newLiveBench(ctx, srv, "live_publish")
	if err != nil {
		return nil, err
	}
	defer lb.close()
	// Many short rounds, so that the machine's other load, which comes and
	// goes, falls on both kinds alike.
	rounds := 10
	dur := cfg.scaledDur(6*time.Second, 2*time.Second)
	for i := range rounds {
		lr := liveRound{place: "disk", dir: cfg.Dir, duration: dur, seed: uint64(70 + i), serverID: uint32(7300 + i)}
		if i%2 == 1 {
			lr.alongside = livePublisher(ns.URL(), i)
		}
		natsCPU := procCPU(ns.Pid())
		res, err := lb.round(ctx, cfg, lr)
		if err != nil {
			return r, fmt.Errorf("live round %d: %w", i+1, err)
		}
		res.NATSCPU = procCPU(ns.Pid()) - natsCPU
		r.Live = append(r.Live, res)
	}
	r.pool()
	logf(cfg, "publish: live lag p99 without %s, with %s (commit to stream p99 %s)", ms(r.LagOff.P99), ms(r.LagOn.P99), ms(r.Streamed.P99))

	if err := publishCatchup(ctx, cfg, srv, ns.URL(), r); err != nil {
		return r, fmt.Errorf("catch-up: %w", err)
	}
	return r, nil
}

// pool summarizes every probe of every live round of each kind.
func (p *PublishResult) pool() {
	var off, on, streamed []time.Duration
	for _, l := range p.Live {
		if l.Publish {
			on = append(on, l.lags...)
			streamed = append(streamed, l.streamedLags...)
		} else {
			off = append(off, l.lags...)
		}
	}
	p.LagOff, p.LagOn, p.Streamed = Summarize(off), Summarize(on), Summarize(streamed)
}

// P99Spread is the range of the per-round p99 lags among the rounds
// without a publisher: how much this machine's noise alone moves the
// figure the goal is about.
func (p *PublishResult) P99Spread() time.Duration {
	var lo, hi time.Duration
	first := true
	for _, l := range p.Live {
		if l.Publish {
			continue
		}
		if first || l.Lag.P99 < lo {
			lo = l.Lag.P99
		}
		if first || l.Lag.P99 > hi {
			hi = l.Lag.P99
		}
		first = false
	}
	return hi - lo
}

// CPUPerEvent is the CPU time per committed event, median of the rounds
// of each kind: of the bench process (follower, probes, simulator client
// and, with publish, the publisher) and of nats-server.
func (p *PublishResult) CPUPerEvent(publish bool) (bench, natsServer time.Duration) {
	var b, n []time.Duration
	for _, l := range p.Live {
		if events := time.Duration(l.Truth + l.Lag.N); l.Publish == publish && events > 0 {
			b, n = append(b, l.CPU/events), append(n, l.NATSCPU/events)
		}
	}
	return median(b), median(n)
}

// livePublisher starts a publisher of the round's journal to a stream of
// its own, and a subscriber of the stream's subjects that notes when each
// probe's message arrives.
func livePublisher(url string, round int) func(ctx context.Context, j *journal.Journal, w *watcher) (func() error, error) {
	return func(ctx context.Context, j *journal.Journal, w *watcher) (func() error, error) {
		subject := fmt.Sprintf("bench.live%d", round)
		nc, err := natsgo.Connect(url)
		if err != nil {
			return nil, err
		}
		// One goroutine delivers the messages, so the counts need no lock.
		seen := map[uint64]int{}
		_, err = nc.Subscribe(subject+".>", func(m *natsgo.Msg) {
			now := time.Now()
			blog, err := strconv.ParseUint(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], 10, 64)
			if err != nil {
				return
			}
			seen[blog]++
			w.streamed(blog, seen[blog], now)
		})
		if err == nil {
			err = nc.Flush()
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
		stop, err := startPublisher(ctx, j, url, subject, fmt.Sprintf("BENCH_LIVE_%d", round))
		if err != nil {
			nc.Close()
			return nil, err
		}
		return func() error {
			err := stop(j.LastID())
			nc.Close()
			return err
		}, nil
	}
}

// startPublisher runs the product's publisher (nats.New + Run, as the
// daemon's -publish does) on j to stream, and returns once it has
// connected. stop waits until the stream holds the journal's first want
// events, then ends the publisher and checks the stream holds exactly
// those.
func startPublisher(ctx context.Context, j *journal.Journal, url, subject, stream string) (stop func(want uint64) error, err error) {
	p, err := nats.New(j, nats.Config{URL: url, Subject: subject, Stream: stream, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx, func() { once.Do(func() { close(ready) }) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("publisher: %w", err)
	case <-time.After(time.Minute):
		cancel()
		<-done
		return nil, errors.New("the publisher did not connect within a minute")
	}
	stop = func(want uint64) error {
		defer cancel()
		if err := waitPublished(p, want, done); err != nil {
			return err
		}
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
		info, err := natstest.StreamInfo(url, stream)
		if err != nil {
			return err
		}
		if info.State.Msgs != want {
			return fmt.Errorf("stream %s holds %d messages, the journal %d events", stream, info.State.Msgs, want)
		}
		return nil
	}
	return stop, nil
}

// waitPublished waits until the stream has acknowledged the journal's
// first want events, or the publisher fails.
func waitPublished(p *nats.Publisher, want uint64, done <-chan error) error {
	deadline := time.Now().Add(10 * time.Minute)
	for p.Status().Position < want {
		select {
		case err := <-done:
			return fmt.Errorf("publisher stopped at %d of %d events: %v", p.Status().Position, want, err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s := p.Status()
			return fmt.Errorf("publisher reached %d of %d events in 10 minutes (last error: %s)", s.Position, want, s.Error)
		}
	}
	return nil
}

// publishCatchup fills a bulk stretch as part 1 does, then catches it up
// four times, alternately without and with a publisher started with the
// follower.
func publishCatchup(ctx context.Context, cfg Config, srv *testdb.Server, url string, r *PublishResult) error {
	db, err := createDatabase(srv, "publish")
	if err != nil {
		return err
	}
	defer db.Close()
	start, err := serverEnd(ctx, db)
	if err != nil {
		return err
	}
	c := &CatchupResult{Name: "publish", Database: "publish", Transitions: cfg.scaled(40_000, 5_000), RowsPerTxn: 100, Start: start}
	c.Monitors = min(100_000, c.Transitions/10)
	c.OtherRows = c.Monitors
	r.Catchup = c
	logf(cfg, "publish: filling %d monitors and %d transitions (%d rows per UPDATE)", c.Monitors, c.Transitions, c.RowsPerTxn)
	t := time.Now()
	if err := insertMonitors(ctx, db, 1, c.Monitors, nil); err != nil {
		return err
	}
	if c.Transactions, err = fillBulk(ctx, db, c.Monitors, c.Transitions, c.RowsPerTxn); err != nil {
		return err
	}
	c.Fill = time.Since(t)
	if c.End, err = serverEnd(ctx, db); err != nil {
		return err
	}
	if c.BinlogBytes, err = stretchBytes(ctx, db, c.Start, c.End); err != nil {
		return err
	}
	want := uint64(c.Transitions)
	defer func() {
		if r.Profile = cfg.path("publish-catchup.cpu.pprof"); len(r.Published) == 2 {
			r.ProfileTop = pprofTop(r.Profile, 18)
		}
	}()
	for round := range 4 {
		path := cfg.path(fmt.Sprintf("publish-catchup-%d.journal", round))
		var x catchupExtras
		publishing := round%2 == 1
		if publishing {
			stream := fmt.Sprintf("BENCH_CATCHUP_%d", round)
			profiled := round == 3
			x.alongside = func(ctx context.Context, j *journal.Journal) (func(time.Time) error, error) {
				stop, err := startPublisher(ctx, j, url, fmt.Sprintf("bench.catchup%d", round), stream)
				if err != nil {
					return nil, err
				}
				endProfile := func() {}
				if profiled {
					if endProfile, err = startProfile(cfg.path("publish-catchup.cpu.pprof")); err != nil {
						return nil, err
					}
				}
				return func(start time.Time) error {
					r.PublishedAtJournal = append(r.PublishedAtJournal, int(publishedNow(url, stream)))
					err := stop(want)
					r.Published = append(r.Published, time.Since(start))
					endProfile()
					deleteStream(url, stream)
					return err
				}, nil
			}
		}
		d, _, err := bridgeCatchup(ctx, srv, c, path, uint32(7400+round), x)
		os.Remove(path)
		if err != nil {
			return err
		}
		if publishing {
			bare, err := bareJetStream(url, fmt.Sprintf("BENCH_BARE_%d", round), c.Transitions)
			if err != nil {
				return fmt.Errorf("bare JetStream client: %w", err)
			}
			r.Bare = append(r.Bare, bare)
			r.Journaled = append(r.Journaled, d)
			logf(cfg, "publish: catch-up with a publisher: journal %s, stream %s (%d acknowledged when the journal was complete); a bare JetStream client %s",
				d.Round(time.Millisecond), last(r.Published).Round(time.Millisecond), r.PublishedAtJournal[len(r.PublishedAtJournal)-1], bare.Round(time.Millisecond))
		} else {
			r.Plain = append(r.Plain, d)
			logf(cfg, "publish: catch-up without a publisher: journal %s", d.Round(time.Millisecond))
		}
	}
	return nil
}

// bareJetStream publishes n messages shaped like the publisher's (a subject
// per blog, an event's JSON, a message id and the expected last sequence,
// 256 in flight) to a stream of its own, times it until the last is
// acknowledged, and drops the stream.
func bareJetStream(url, stream string, n int) (time.Duration, error) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(nats.DefaultInFlight))
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	subject := "bench.bare." + stream
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject + ".>"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, err
	}
	defer deleteStream(url, stream)
	start := time.Now()
	for i := range n {
		blog := uint64(i%100_000 + 1)
		m := natsgo.NewMsg(subject + "." + strconv.FormatUint(blog, 10))
		m.Data = bridge.Event{ID: uint64(i + 1), BlogID: blog, OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: start}.AppendJSON(nil)
		// With 256 in flight a publish waits for room; the default wait
		// (200 ms) gave up on a loaded machine ("stalled with too many
		// outstanding async published messages"), where the publisher
		// itself never asks for more than its room.
		if _, err := js.PublishMsgAsync(m, jetstream.WithMsgID("bare/"+strconv.Itoa(i)), jetstream.WithExpectLastSequence(uint64(i)),
			jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, errors.New("the bare client's messages were not all acknowledged in 10 minutes")
	}
	if got := publishedNow(url, stream); got != uint64(n) {
		return 0, fmt.Errorf("the bare client's stream holds %d messages, want %d", got, n)
	}
	return time.Since(start), nil
}

// startProfile records a CPU profile of this process into path until the
// returned function is called.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// publishedNow is how many messages the stream holds, 0 when it cannot
// tell.
func publishedNow(url, stream string) uint64 {
	info, err := natstest.StreamInfo(url, stream)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// deleteStream drops a round's stream, so the store does not grow with
// the rounds.
func deleteStream(url, stream string) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	nc.Request("$JS.API.STREAM.DELETE."+stream, nil, 10*time.Second)
}

// natsVersion is `nats-server --version`'s answer.
func natsVersion() string {
	out, err := exec.Command("nats-server", "--version").Output()
	if err != nil {
		if out, err = exec.Command("/usr/sbin/nats-server", "--version").Output(); err != nil {
			return "nats-server (version unknown)"
		}
	}
	return strings.TrimSpace(string(out))
}
