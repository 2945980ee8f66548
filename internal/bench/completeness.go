package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/server"
)

// CompletenessResult scores each approach against one simulated run's
// ground truth.
type CompletenessResult struct {
	Blogs        int
	Compression  float64       // simulated seconds per real second
	Rate         float64       // transitions/s, real time
	Duration     time.Duration // real time
	PollInterval time.Duration // real time (15 s simulated)
	Stats        sim.Stats
	Truth        int

	Journal, JournalWindows, Synthesis, Polling Score
	Windows                                     int // failure windows the adapter asked about
	Polls                                       int
	PollRowsRead                                int
	BinlogBytes                                 int64 // written during the run
}

// Score is how much of the truth an approach reported.
type Score struct {
	Reported int // events the approach returned
	Matched  int // true transitions among them (each counted once)
	False    int // returned events that match no true transition
}

// Share is the fraction of true transitions reported.
func (s Score) Share(truth int) float64 {
	if truth == 0 {
		return 0
	}
	return float64(s.Matched) / float64(truth)
}

// TransitionsPerMonitorHour is the simulated run's rate per monitor per
// simulated hour.
func (c *CompletenessResult) TransitionsPerMonitorHour() float64 {
	simHours := c.Duration.Seconds() * c.Compression / 3600
	return float64(c.Truth) / float64(c.Blogs) / simHours
}

// BinlogBytesPerTransition is the binlog written per true transition
// (including the non-transition updates of the run).
func (c *CompletenessResult) BinlogBytesPerTransition() float64 {
	return float64(c.BinlogBytes) / float64(c.Truth)
}

// RunCompleteness runs the simulator with Jetmon-like timing compressed by
// Compression (so the 15 s poll becomes 15 s / Compression) and flaps that
// last well under one poll, while the bridge follows, a poller reads the
// whole table every 15 simulated seconds, and the adapter asks v1 synthesis
// about each failure window as soon as it closes.
func RunCompleteness(ctx context.Context, cfg Config, srv *testdb.Server) (*CompletenessResult, error) {
	const name = "complete"
	db, err := createDatabase(srv, name)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	r := &CompletenessResult{Blogs: 1000, Compression: 20, Duration: cfg.scaledDur(60*time.Second, 15*time.Second)}
	r.PollInterval = time.Duration(float64(15*time.Second) / r.Compression)
	// Each blog moves every 300 simulated seconds on average (one Jetmon
	// round): Blogs / Rate real seconds.
	r.Rate = float64(r.Blogs) * r.Compression / 300
	sites, err := sim.Setup(ctx, db, 700_001, r.Blogs)
	if err != nil {
		return nil, err
	}

	jpath := cfg.path("complete.journal")
	os.Remove(jpath)
	defer os.Remove(jpath)
	fol, err := startFollower(ctx, srv.DSN(name), jpath, 7101)
	if err != nil {
		return nil, err
	}
	defer fol.stop()
	j := fol.journal
	startPos, err := serverEnd(ctx, db)
	if err != nil {
		return nil, err
	}

	// The poller: every PollInterval, read every active row.
	poller := &poller{db: db, last: map[uint64]polled{}}
	if err := poller.poll(ctx, false); err != nil {
		return nil, err
	}
	pctx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	pollDone := make(chan error, 1)
	go func() { pollDone <- poller.run(pctx, r.PollInterval) }()

	// The adapter: one v1 synthesis call per failure window, when it closes.
	v1 := &server.History{Synthesizer: fol.replica}
	adapter := newAdapter(ctx, v1)

	logf(cfg, "completeness: %d blogs, %.0f transitions/s for %s (x%.0f time: poll every %s)", r.Blogs, r.Rate, r.Duration, r.Compression, r.PollInterval)
	var truth []sim.Transition
	open := map[uint64]time.Time{} // blog -> start of its open failure window
	simCtx, stopSim := context.WithTimeout(ctx, r.Duration)
	defer stopSim()
	r.Stats, err = sim.Run(simCtx, db, sim.Options{Sites: sites, Workers: 4, Rate: r.Rate, Seed: 7,
		MultiRow: 0.05, Flap: 0.2, Noise: 0.05}, func(t sim.Transition) error {
		truth = append(truth, t)
		switch {
		case t.Old == bridge.StatusRunning:
			open[t.BlogID] = t.CreatedAt
		case t.New == bridge.StatusRunning:
			if since, ok := open[t.BlogID]; ok {
				delete(open, t.BlogID)
				adapter.ask(t.BlogID, since, t.CreatedAt.Add(time.Second))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	end := time.Now().Add(time.Second).Truncate(time.Second)
	for blog, since := range open {
		adapter.ask(blog, since, end)
	}
	windows := adapter.finish()
	stopPolling()
	if err := <-pollDone; err != nil {
		return nil, err
	}
	if err := poller.poll(ctx, true); err != nil {
		return nil, err
	}
	r.Truth = len(truth)
	r.Windows = len(windows)
	r.Polls, r.PollRowsRead = poller.polls, poller.rows
	endPos, err := serverEnd(ctx, db)
	if err != nil {
		return nil, err
	}
	if r.BinlogBytes, err = stretchBytes(ctx, db, startPos, endPos); err != nil {
		return nil, err
	}

	// Score. A returned event matches a true transition of its blog with
	// the same new status and created_at (the old status is the v1
	// bridge's guess, so it is not held against it); each true transition
	// counts once.
	keyOf := func(blog uint64, st bridge.Status, at time.Time) truthKey { return truthKey{blog, st, at.Unix()} }
	index := map[truthKey][]int{}
	for i, t := range truth {
		k := keyOf(t.BlogID, t.New, t.CreatedAt)
		index[k] = append(index[k], i)
	}
	score := func(events []bridge.Event, s *Score, seen []bool) {
		for _, e := range events {
			s.Reported++
			hit := false
			for _, i := range index[keyOf(e.BlogID, e.NewStatus, e.CreatedAt)] {
				if !seen[i] {
					seen[i], hit = true, true
					break
				}
			}
			if hit {
				s.Matched++
			} else if len(index[keyOf(e.BlogID, e.NewStatus, e.CreatedAt)]) == 0 {
				s.False++
			}
		}
	}
	var synthEvents []bridge.Event
	for _, w := range windows {
		synthEvents = append(synthEvents, w.events...)
	}
	score(synthEvents, &r.Synthesis, make([]bool, len(truth)))
	score(poller.reported, &r.Polling, make([]bool, len(truth)))

	// The journal, asked the adapter's questions after the run...
	full := &server.History{Journal: j, Synthesizer: fol.replica}
	var jw []bridge.Event
	for _, w := range windows {
		evs, cov, err := full.Events(ctx, w.blog, w.since, w.until)
		if err != nil {
			return nil, err
		}
		if cov != bridge.CoverageJournal {
			return nil, fmt.Errorf("window %+v answered with coverage %s", w, cov)
		}
		jw = append(jw, evs...)
	}
	score(jw, &r.JournalWindows, make([]bool, len(truth)))
	// ...and each blog's whole history, compared in order with the truth.
	byBlog := map[uint64][]sim.Transition{}
	for _, t := range truth {
		byBlog[t.BlogID] = append(byBlog[t.BlogID], t)
	}
	for _, s := range sites {
		evs, cov, err := full.Events(ctx, s.BlogID, time.Unix(1, 0), end)
		if err != nil {
			return nil, err
		}
		if cov != bridge.CoverageMixed && cov != bridge.CoverageJournal {
			return nil, fmt.Errorf("blog %d answered with coverage %s", s.BlogID, cov)
		}
		// Before the journal's span, synthesis may speak for the
		// untouched row (Setup's insert); only journaled events count.
		var journaled []bridge.Event
		for _, e := range evs {
			if e.ID != 0 {
				journaled = append(journaled, e)
			}
		}
		r.Journal.Reported += len(journaled)
		n := matchSequence(journaled, byBlog[s.BlogID])
		r.Journal.Matched += n
		r.Journal.False += len(journaled) - n
	}
	fol.stop()
	logf(cfg, "completeness: %d true transitions; journal %d, journal per window %d, v1 synthesis %d (%d windows), polling %d (%d polls)",
		r.Truth, r.Journal.Matched, r.JournalWindows.Matched, r.Synthesis.Matched, r.Windows, r.Polling.Matched, r.Polls)
	return r, nil
}

type truthKey struct {
	blog uint64
	st   bridge.Status
	at   int64
}

type polled struct {
	status bridge.Status
	at     int64
}

// poller is the old polling approach: read every active row every 15 s
// and report a transition wherever site_status differs from the last poll.
type poller struct {
	db       *sql.DB
	last     map[uint64]polled
	polls    int
	rows     int
	reported []bridge.Event
}

func (p *poller) run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.poll(ctx, true); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

func (p *poller) poll(ctx context.Context, report bool) error {
	rows, err := p.db.QueryContext(ctx, "SELECT blog_id, site_status, UNIX_TIMESTAMP(last_status_change) FROM "+bridge.Table+" WHERE monitor_active = 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	p.polls++
	for rows.Next() {
		var blog uint64
		var st uint8
		var at int64
		if err := rows.Scan(&blog, &st, &at); err != nil {
			return err
		}
		p.rows++
		prev, seen := p.last[blog]
		now := polled{bridge.Status(st), at}
		if report && seen && prev.status != now.status {
			p.reported = append(p.reported, bridge.Event{BlogID: blog, OldStatus: prev.status, NewStatus: now.status, CreatedAt: time.Unix(at, 0).UTC()})
		}
		p.last[blog] = now
	}
	return rows.Err()
}

// window is one failure window and what v1 synthesis answered for it.
type window struct {
	blog         uint64
	since, until time.Time
	events       []bridge.Event
}

// adapter asks v1 synthesis about each failure window as it closes, from a
// few goroutines, as the uptime-bench adapter would.
type adapter struct {
	ctx  context.Context
	h    *server.History
	jobs chan *window
	mu   sync.Mutex
	done []*window
	wg   sync.WaitGroup
	err  error
}

func newAdapter(ctx context.Context, h *server.History) *adapter {
	a := &adapter{ctx: ctx, h: h, jobs: make(chan *window, 1<<16)}
	for range 4 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for w := range a.jobs {
				evs, _, err := a.h.Events(a.ctx, w.blog, w.since, w.until)
				a.mu.Lock()
				if err != nil && a.err == nil {
					a.err = err
				}
				w.events = evs
				a.done = append(a.done, w)
				a.mu.Unlock()
			}
		}()
	}
	return a
}

func (a *adapter) ask(blog uint64, since, until time.Time) {
	a.jobs <- &window{blog: blog, since: since, until: until}
}

func (a *adapter) finish() []*window {
	close(a.jobs)
	a.wg.Wait()
	return a.done
}
