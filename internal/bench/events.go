package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	bolt "go.etcd.io/bbolt"
)

// EventsResult is /events under load, journal against synthesis, and the
// journal's footprint.
type EventsResult struct {
	Events, Blogs int
	Window        time.Duration // each request's window
	Build         time.Duration // building the journal with Commit batches
	BuildBatch    int
	Footprint     Footprint

	JournalMax, SynthMax       *LoadResult // closed loop, 64 connections: the median round
	JournalRounds, SynthRounds []*LoadResult
	JournalFixed, SynthFixed   *LoadResult // open loop at FixedRate
	// CPU time per answered request during the max runs: the server
	// process alone for the journal; the server plus mariadbd for
	// synthesis. Independent of the load generator's share of the CPUs.
	JournalCPUPerReq, SynthCPUPerReq, SynthDBCPUPerReq time.Duration
	FixedRate                                          float64
	ServerMem                                          ServerMem // the journal server after its runs
	SynthServerMem                                     ServerMem
	Profile, ProfileTop                                string
}

// Footprint is the journal's size on disk.
type Footprint struct {
	FileBytes  int64
	InUseBytes int64 // pages bbolt uses (file minus free pages)
	// Per bucket: bytes of the pages (leaf + branch) and the share of them
	// holding data.
	EventsBytes, BlogsBytes, MonitorsBytes int64
	EventsFill, BlogsFill                  float64
	Depth                                  int
	// The copy `jetmon-bridge journal compact` writes (journal.Compact).
	CompactedBytes int64
	CompactTime    time.Duration
	CompactError   string
}

func (f Footprint) PerEvent(n int) float64      { return float64(f.FileBytes) / float64(n) }
func (f Footprint) InUsePerEvent(n int) float64 { return float64(f.InUseBytes) / float64(n) }

// ServerMem is what the /events server process reported about itself.
type ServerMem struct {
	HeapInuse, HeapAlloc, Sys uint64
	ProcMem
}

// FixedRate is the offered load of the latency runs.
const FixedRate = 2000

// RunEvents builds a 10,000,000-event journal over 100,000 blogs and an
// equivalent MySQL table, then loads a jetmon-bench serve process with the
// same random requests answered from the journal and from v1 synthesis.
func RunEvents(ctx context.Context, cfg Config, srv *testdb.Server) (*EventsResult, error) {
	r := &EventsResult{Events: cfg.scaled(10_000_000, 200_000), Blogs: cfg.scaled(100_000, 2_000), FixedRate: FixedRate, BuildBatch: 100_000}
	path := cfg.path("events.journal")
	os.Remove(path)
	defer os.Remove(path)
	logf(cfg, "events: building a journal of %d events over %d blogs", r.Events, r.Blogs)
	t := time.Now()
	span, last, err := buildEventsJournal(path, r.Events, r.Blogs, r.BuildBatch)
	if err != nil {
		return nil, err
	}
	r.Build = time.Since(t)
	if r.Footprint, err = measureFootprint(path); err != nil {
		return nil, err
	}
	// What `jetmon-bridge journal compact` makes of it: full pages, no free
	// ones.
	compacted := cfg.path("events-compacted.journal")
	os.Remove(compacted)
	t = time.Now()
	if _, size, err := journal.Compact(path, compacted); err != nil {
		r.Footprint.CompactError = err.Error()
	} else {
		r.Footprint.CompactedBytes, r.Footprint.CompactTime = size, time.Since(t)
	}
	os.Remove(compacted)
	logf(cfg, "events: built in %s: %.1f bytes/event on disk (%.1f in use)", r.Build.Round(time.Millisecond),
		r.Footprint.PerEvent(r.Events), r.Footprint.InUsePerEvent(r.Events))

	// The synthesis path's table: one row per blog, in the state the
	// journal ends in.
	db, err := createDatabase(srv, "events")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := insertMonitors(ctx, db, 1, r.Blogs, func(blog uint64) (uint8, int64) {
		l := last[blog-1]
		return uint8(l.status), l.at
	}); err != nil {
		return nil, err
	}

	// Windows of a tenth of the history hold about ten of a blog's ~100
	// events.
	r.Window = span.End.Sub(span.Start) / time.Duration(r.Events/r.Blogs/10)
	urls := requestList(200_000, r.Blogs, span, r.Window)

	warm := 2 * time.Second
	maxDur := cfg.scaledDur(8*time.Second, 3*time.Second)
	fixedDur := cfg.scaledDur(10*time.Second, 3*time.Second)

	// Both servers run side by side; the idle one costs nothing.
	js, err := startServer(cfg, srv.DSN("events"), path)
	if err != nil {
		return nil, err
	}
	defer js.stop()
	ss, err := startServer(cfg, srv.DSN("events"), "") // -journal "": synthesis only
	if err != nil {
		return nil, err
	}
	defer ss.stop()
	mysqld := mariadbPID(srv)
	logf(cfg, "events: journal server pid %d, synthesis server pid %d, mariadbd pid %d", js.cmd.Process.Pid, ss.cmd.Process.Pid, mysqld)
	js.warm(ctx, urls)
	ss.warm(ctx, urls)

	// Closed loop, interleaved rounds.
	var jCPU, sCPU, dbCPU time.Duration
	var jReq, sReq int
	for round := range 3 {
		cpu := measureCPU(warm, maxDur, js.cmd.Process.Pid)
		jl := ClosedLoop(ctx, js.base, urls, 64, warm, maxDur)
		jCPU += (<-cpu)[0]
		jReq += jl.Requests
		r.JournalRounds = append(r.JournalRounds, jl)
		cpu = measureCPU(warm, maxDur, ss.cmd.Process.Pid, mysqld)
		sl := ClosedLoop(ctx, ss.base, urls, 64, warm, maxDur)
		used := <-cpu
		sCPU, dbCPU = sCPU+used[0], dbCPU+used[1]
		sReq += sl.Requests
		r.SynthRounds = append(r.SynthRounds, sl)
		logf(cfg, "events round %d, 64 connections: journal %.0f req/s (p99 %s, %d errors, %.1f events/answer), synthesis %.0f req/s (p99 %s, %d errors)",
			round+1, jl.Throughput, ms(jl.Latency.P99), jl.Errors, jl.EventsPerAnswer(), sl.Throughput, ms(sl.Latency.P99), sl.Errors)
	}
	r.JournalMax, r.SynthMax = medianRun(r.JournalRounds), medianRun(r.SynthRounds)
	r.JournalCPUPerReq = cpuPer(jCPU, jReq)
	r.SynthDBCPUPerReq = cpuPer(dbCPU, sReq)
	r.SynthCPUPerReq = cpuPer(sCPU, sReq) + r.SynthDBCPUPerReq

	// Open loop at the fixed rate.
	r.JournalFixed = OpenLoop(ctx, js.base, urls, FixedRate, 256, warm, fixedDur)
	logf(cfg, "events: journal at %d req/s: p50 %s p99 %s from send", FixedRate, ms(r.JournalFixed.Service.P50), ms(r.JournalFixed.Service.P99))
	r.SynthFixed = OpenLoop(ctx, ss.base, urls, FixedRate, 256, warm, fixedDur)
	logf(cfg, "events: synthesis at %d req/s: p50 %s p99 %s from send", FixedRate, ms(r.SynthFixed.Service.P50), ms(r.SynthFixed.Service.P99))

	// A profiled closed-loop run of the journal server, not timed.
	r.Profile = cfg.path("events-journal.cpu.pprof")
	profDone := make(chan error, 1)
	go func() { profDone <- js.profile(r.Profile, maxDur) }()
	ClosedLoop(ctx, js.base, urls, 64, 0, maxDur+time.Second)
	if err := <-profDone; err != nil {
		r.ProfileTop = "(profile failed: " + err.Error() + ")"
	} else {
		r.ProfileTop = pprofTop(r.Profile, 18)
	}
	if r.ServerMem, err = js.mem(); err != nil {
		return nil, err
	}
	r.SynthServerMem, _ = ss.mem()
	return r, nil
}

// medianRun is the run of median throughput.
func medianRun(runs []*LoadResult) *LoadResult {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b *LoadResult) int { return cmp.Compare(a.Throughput, b.Throughput) })
	return s[len(s)/2]
}

func cpuPer(cpu time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

type blogState struct {
	status bridge.Status
	at     int64
}

// buildEventsJournal commits events in time order for uniformly random
// blogs, each walking Jetmon's status cycle, in batches, as a follower
// would; the journal's one span covers them all. It returns the span and
// each blog's final state.
func buildEventsJournal(path string, events, blogs, batchSize int) (bridge.Span, []blogState, error) {
	return buildHistory(path, history{
		events: events, blogs: blogs, batch: batchSize,
		start:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		length:     30 * 24 * time.Hour, // 30 days of history, events spread evenly in time
		checkpoint: journal.Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4},
	})
}

// history shapes a synthetic journal (buildHistory).
type history struct {
	events, blogs, batch int
	start                time.Time
	length               time.Duration
	// checkpoint is the position the journal resumes from; each batch
	// otherwise advances a made-up position in its file.
	checkpoint journal.Checkpoint
	resume     bool // keep checkpoint as the last one (a follower resumes there)
}

// buildHistory commits h.events events in time order for uniformly random
// blogs 1..h.blogs (site i is blog i), each walking Jetmon's status cycle,
// in batches of h.batch, through the journal's own Commit; the journal's
// one span covers them all. It returns the span and each blog's final
// state.
func buildHistory(path string, h history) (bridge.Span, []blogState, error) {
	// Committed as the daemon commits, synced: in batches this large the
	// fsyncs are a small part of the build.
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		return bridge.Span{}, nil, err
	}
	defer j.Close()
	start := h.start
	step := h.length / time.Duration(h.events)
	state := make([]blogState, h.blogs)
	cp := h.checkpoint
	first := &journal.Batch{Checkpoint: &cp, NewSpan: &journal.SpanStart{Start: start}}
	for i := range state {
		state[i] = blogState{status: bridge.StatusRunning, at: start.Unix()}
		first.Monitors = append(first.Monitors, bridge.Monitor{SiteID: uint64(i + 1), BlogID: uint64(i + 1), URL: siteURL(uint64(i + 1)),
			Active: true, Status: bridge.StatusRunning})
	}
	if err := j.Commit(first); err != nil {
		return bridge.Span{}, nil, err
	}
	rng := rand.New(rand.NewPCG(10, 20))
	at := start
	for done := 0; done < h.events; {
		var b journal.Batch
		for n := 0; n < h.batch && done < h.events; n, done = n+1, done+1 {
			i := rng.IntN(h.blogs)
			old := state[i].status
			next := bridge.StatusRunning
			switch old {
			case bridge.StatusRunning:
				next = bridge.StatusDown
			case bridge.StatusDown:
				next = bridge.StatusConfirmedDown
			}
			created := at.Truncate(time.Second)
			state[i] = blogState{status: next, at: created.Unix()}
			b.AddEvent(bridge.Event{BlogID: uint64(i + 1), OldStatus: old, NewStatus: next, CreatedAt: created})
			at = at.Add(step)
		}
		b.CoveredTo = at.Truncate(time.Second)
		b.Transactions = b.EventCount()
		if !h.resume {
			b.Checkpoint = &journal.Checkpoint{Flavor: cp.Flavor, File: cp.File, Pos: uint32(4 + done)}
		}
		if err := j.Commit(&b); err != nil {
			return bridge.Span{}, nil, err
		}
	}
	end := at.Truncate(time.Second)
	return bridge.Span{Start: start, End: end}, state, nil
}

func measureFootprint(path string) (Footprint, error) {
	var f Footprint
	fi, err := os.Stat(path)
	if err != nil {
		return f, err
	}
	f.FileBytes = fi.Size()
	// Read-write, so that bbolt loads the freelist (a read-only open does
	// not, and would count free pages as used). Nothing is written.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return f, err
	}
	defer db.Close()
	st := db.Stats()
	err = db.View(func(tx *bolt.Tx) error {
		f.InUseBytes = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.Info().PageSize)
		for _, b := range []struct {
			name  string
			bytes *int64
			fill  *float64
		}{{"events", &f.EventsBytes, &f.EventsFill}, {"blogs", &f.BlogsBytes, &f.BlogsFill}, {"monitors", &f.MonitorsBytes, nil}} {
			bk := tx.Bucket([]byte(b.name))
			if bk == nil {
				continue
			}
			s := bk.Stats()
			*b.bytes = int64(s.LeafAlloc + s.BranchAlloc)
			if b.fill != nil && s.LeafAlloc > 0 {
				*b.fill = float64(s.LeafInuse) / float64(s.LeafAlloc)
			}
			if b.name == "blogs" {
				f.Depth = s.Depth
			}
		}
		return nil
	})
	return f, err
}

// requestList is n /events paths (without host) for uniformly random blogs
// and windows inside the span.
func requestList(n, blogs int, span bridge.Span, window time.Duration) []string {
	rng := rand.New(rand.NewPCG(30, 40))
	room := span.End.Sub(span.Start) - window
	out := make([]string, n)
	for i := range out {
		since := span.Start.Add(time.Duration(rng.Int64N(int64(room)))).Truncate(time.Second)
		out[i] = "/events?blog_id=" + strconv.Itoa(rng.IntN(blogs)+1) +
			"&since=" + url.QueryEscape(since.Format(time.RFC3339)) +
			"&until=" + url.QueryEscape(since.Add(window).Format(time.RFC3339))
	}
	return out
}

// child is a running jetmon-bench serve process.
type child struct {
	cmd   *exec.Cmd
	base  string
	stdin io.WriteCloser // held open: the child exits when it closes
}

func startServer(cfg Config, dsn, journalPath string) (*child, error) {
	cmd := exec.Command(cfg.Self, "serve", "-dsn", dsn, "-journal", journalPath, "-addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe() // closed when this process dies: the child exits
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("jetmon-bench serve did not start: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTENING ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("jetmon-bench serve said %q", line)
	}
	go io.Copy(io.Discard, out)
	return &child{cmd: cmd, base: "http://" + addr, stdin: stdin}, nil
}

// warm touches the data once (page cache, connection pools) before any
// measurement, the same for both paths.
func (c *child) warm(ctx context.Context, paths []string) {
	ClosedLoop(ctx, c.base, paths[:min(len(paths), 20_000)], 16, 0, 2*time.Second)
}

func (c *child) mem() (ServerMem, error) {
	var m ServerMem
	resp, err := http.Get(c.base + "/bench/mem")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return m, err
	}
	m.ProcMem = ReadProcMem(strconv.Itoa(c.cmd.Process.Pid))
	return m, nil
}

func (c *child) profile(path string, d time.Duration) error {
	resp, err := http.Get(c.base + "/debug/pprof/profile?seconds=" + strconv.Itoa(int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func (c *child) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// procCPU is a process's CPU time (user + system) from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// measureCPU reads the processes' CPU time after warm and again after d
// more, and sends the differences.
func measureCPU(warm, d time.Duration, pids ...int) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		time.Sleep(warm)
		before := make([]time.Duration, len(pids))
		for i, p := range pids {
			before[i] = procCPU(p)
		}
		time.Sleep(d)
		used := make([]time.Duration, len(pids))
		for i, p := range pids {
			used[i] = procCPU(p) - before[i]
		}
		out <- used
	}()
	return out
}

// mariadbPID reads the throwaway server's pid file.
func mariadbPID(srv *testdb.Server) int {
	b, err := os.ReadFile(filepath.Join(srv.Dir, "mysqld.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
