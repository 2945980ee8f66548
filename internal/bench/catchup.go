package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// CatchupResult is one catch-up scenario: the same binlog stretch read by
// the bridge (follower into a fresh journal), by a bare go-mysql decoder,
// and by mariadb-binlog.
type CatchupResult struct {
	Name         string
	Database     string // the bench database the stretch was written in
	Transitions  int    // site_status transitions in the stretch
	OtherRows    int    // row changes that are not transitions (the inserts)
	Transactions int
	RowsPerTxn   int
	Monitors     int
	BinlogBytes  int64 // size of the stretch
	Start, End   binlog.Position
	Fill         time.Duration

	Bare, MariadbBinlog, Bridge []time.Duration
	// BareNoTimeout is the bare decoder without a read timeout: what the
	// read deadlines cost it (information; no follower can run so).
	BareNoTimeout []time.Duration
	// Headers is the header-only reader (headers.go): the same stream,
	// nothing parsed but each event's header, the limit of following this
	// server; HeaderCount is what it saw.
	Headers, HeadersCPU []time.Duration
	HeaderCount         HeaderCount
	// CPU time (user+system) each reader used, from rusage: robust to a
	// busy machine, where wall time is not.
	BareCPU, MariadbBinlogCPU, BridgeCPU, BareNoTimeoutCPU []time.Duration
	Commits                                                int // event-bearing journal commits of the last bridge run
	// BridgeHeapPeak is the bench process's peak live Go heap during the
	// bridge runs; the process holds nothing else of size.
	BridgeHeapPeak uint64
	JournalBytes   int64
	Profile        string // CPU profile of an extra, untimed bridge run
	ProfileTop     string
	// HeapProfile is the heap profile of the same run, written when its
	// live heap peaked.
	HeapProfile string
}

// Rate is transitions per second of the median run.
func rate(n int, ds []time.Duration) float64 {
	m := median(ds)
	if m <= 0 {
		return 0
	}
	return float64(n) / m.Seconds()
}

func (c *CatchupResult) BareRate() float64    { return rate(c.Transitions, c.Bare) }
func (c *CatchupResult) BridgeRate() float64  { return rate(c.Transitions, c.Bridge) }
func (c *CatchupResult) MariadbRate() float64 { return rate(c.Transitions, c.MariadbBinlog) }
func (c *CatchupResult) HeadersRate() float64 { return rate(c.Transitions, c.Headers) }

// catchupColumns is Jetmon 1's column order (bridge.Schema).
var catchupColumns = []string{"jetpack_monitor_site_id", "blog_id", "bucket_no", "monitor_url", "monitor_active", "site_status", "last_status_change", "check_interval"}

// RunCatchup fills the binlog and times the readers on it: first the
// bulk scenario (multi-row transactions, from the binlog's start), then a
// stretch of single-row transactions, Jetmon's own shape.
func RunCatchup(ctx context.Context, cfg Config, srv *testdb.Server) (bulk, single *CatchupResult, err error) {
	db, err := createDatabase(srv, "catchup")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	files, _, err := binlogFiles(ctx, db)
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("list binlogs: %v", err)
	}

	bulk = &CatchupResult{Name: "bulk", Database: "catchup", Transitions: cfg.scaled(1_000_000, 10_000), RowsPerTxn: 100, Start: binlog.Position{File: files[0], Pos: 4}}
	bulk.Monitors = min(100_000, bulk.Transitions/10)
	bulk.OtherRows = bulk.Monitors
	logf(cfg, "catch-up: filling the binlog with %d monitors and %d transitions (%d rows per UPDATE)", bulk.Monitors, bulk.Transitions, bulk.RowsPerTxn)
	t := time.Now()
	if err := insertMonitors(ctx, db, 1, bulk.Monitors, nil); err != nil {
		return nil, nil, err
	}
	if bulk.Transactions, err = fillBulk(ctx, db, bulk.Monitors, bulk.Transitions, bulk.RowsPerTxn); err != nil {
		return nil, nil, err
	}
	bulk.Fill = time.Since(t)
	if bulk.End, err = serverEnd(ctx, db); err != nil {
		return nil, nil, err
	}
	bulk.BinlogBytes, err = stretchBytes(ctx, db, bulk.Start, bulk.End)
	if err != nil {
		return nil, nil, err
	}
	logf(cfg, "catch-up: %d transitions in %s of binlog, filled in %s", bulk.Transitions, mib(uint64(bulk.BinlogBytes)), bulk.Fill.Round(time.Millisecond))
	if err := measureCatchup(ctx, cfg, srv, db, bulk, true); err != nil {
		return bulk, nil, err
	}

	single = &CatchupResult{Name: "single-row", Database: "catchup", Transitions: cfg.scaled(200_000, 5_000), RowsPerTxn: 1, Monitors: bulk.Monitors}
	if single.Start, err = serverEnd(ctx, db); err != nil {
		return bulk, nil, err
	}
	logf(cfg, "catch-up: filling %d single-row transactions", single.Transitions)
	t = time.Now()
	if single.Transactions, err = fillSingle(ctx, db, single.Monitors, single.Transitions, nil); err != nil {
		return bulk, nil, err
	}
	single.Fill = time.Since(t)
	if single.End, err = serverEnd(ctx, db); err != nil {
		return bulk, nil, err
	}
	if single.BinlogBytes, err = stretchBytes(ctx, db, single.Start, single.End); err != nil {
		return bulk, nil, err
	}
	logf(cfg, "catch-up: %d single-row transitions in %s of binlog, filled in %s", single.Transitions, mib(uint64(single.BinlogBytes)), single.Fill.Round(time.Millisecond))
	if err := measureCatchup(ctx, cfg, srv, db, single, false); err != nil {
		return bulk, single, err
	}
	return bulk, single, nil
}

// measureCatchup runs each reader catchupRounds times, interleaved so that
// a disturbance on the shared machine hits all of them alike, then profiles
// one more bridge run.
func measureCatchup(ctx context.Context, cfg Config, srv *testdb.Server, db *sql.DB, c *CatchupResult, withMariadbBinlog bool) error {
	var peak atomic.Uint64
	for round := range catchupRounds {
		d, cpu, err := timeBare(ctx, srv, c, uint32(5000+round), true)
		if err != nil {
			return fmt.Errorf("bare decoder: %w", err)
		}
		c.Bare, c.BareCPU = append(c.Bare, d), append(c.BareCPU, cpu)
		d, cpu, err = timeBare(ctx, srv, c, uint32(5200+round), false)
		if err != nil {
			return fmt.Errorf("bare decoder without a read timeout: %w", err)
		}
		c.BareNoTimeout, c.BareNoTimeoutCPU = append(c.BareNoTimeout, d), append(c.BareNoTimeoutCPU, cpu)
		cpu0 := processCPU()
		d, c.HeaderCount, err = headerRead(ctx, srv, c.Start, c.End, uint32(5400+round))
		if err != nil {
			return fmt.Errorf("header-only reader: %w", err)
		}
		c.Headers, c.HeadersCPU = append(c.Headers, d), append(c.HeadersCPU, processCPU()-cpu0)

		if withMariadbBinlog {
			d, cpu, err = mariadbBinlog(ctx, srv, db, c.Start, c.End)
			if err != nil {
				return fmt.Errorf("mariadb-binlog: %w", err)
			}
			c.MariadbBinlog = append(c.MariadbBinlog, d)
			c.MariadbBinlogCPU = append(c.MariadbBinlogCPU, cpu)
		}

		path := cfg.path(fmt.Sprintf("catchup-%s-%d.journal", c.Name, round))
		cpu0 = processCPU()
		d, size, err := bridgeCatchup(ctx, srv, c, path, uint32(6000+round), catchupExtras{peak: &peak})
		c.BridgeCPU = append(c.BridgeCPU, processCPU()-cpu0)
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		c.Bridge = append(c.Bridge, d)
		c.JournalBytes = size
		os.Remove(path)
		logf(cfg, "catch-up %s round %d: headers only %s, bare %s, mariadb-binlog %s, bridge %s", c.Name, round+1,
			c.Headers[round].Round(time.Millisecond), c.Bare[round].Round(time.Millisecond), last(c.MariadbBinlog).Round(time.Millisecond), d.Round(time.Millisecond))
	}
	c.BridgeHeapPeak = peak.Load()

	c.Profile = cfg.path("catchup-" + c.Name + ".cpu.pprof")
	f, err := os.Create(c.Profile)
	if err != nil {
		return err
	}
	defer f.Close()
	path := cfg.path("catchup-" + c.Name + "-profiled.journal")
	c.HeapProfile = cfg.path("catchup-" + c.Name + ".heap.pprof")
	var profiledPeak atomic.Uint64
	if _, _, err := bridgeCatchup(ctx, srv, c, path, 6100, catchupExtras{prof: f, peak: &profiledPeak}); err != nil {
		return fmt.Errorf("profiled bridge run: %w", err)
	}
	os.Remove(path)
	logf(cfg, "catch-up %s profiled run: live heap peaked at %s (heap profile %s)", c.Name, mib(profiledPeak.Load()), c.HeapProfile)
	c.ProfileTop = pprofTop(c.Profile, 18)
	return nil
}

func last(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)-1]
}

// fillBulk makes transitions by moving rowsPerTxn consecutive rows one step
// along Jetmon's status cycle per UPDATE, round after round over all rows,
// on four connections that own disjoint rows.
func fillBulk(ctx context.Context, db *sql.DB, monitors, transitions, rowsPerTxn int) (int, error) {
	const workers = 4
	chunks := (monitors + rowsPerTxn - 1) / rowsPerTxn
	type stmt struct{ lo, hi, round int }
	var plan []stmt
	left := transitions
	for round := 0; left > 0; round++ {
		for c := 0; c < chunks && left > 0; c++ {
			lo := c*rowsPerTxn + 1
			hi := min(lo+rowsPerTxn-1, monitors, lo+left-1)
			plan = append(plan, stmt{lo, hi, round})
			left -= hi - lo + 1
		}
	}
	q := "UPDATE " + bridge.Table + " SET site_status = CASE site_status WHEN 1 THEN 0 WHEN 0 THEN 2 ELSE 1 END, " +
		"last_status_change = FROM_UNIXTIME(?) WHERE jetpack_monitor_site_id BETWEEN ? AND ?"
	err := onConnections(ctx, db, workers, transitions, func(w int, conn *sql.Conn) (int64, error) {
		var changed int64
		for i := w; i < len(plan); i += workers {
			s := plan[i]
			// Chunks go to workers by index, so one worker owns a chunk
			// in every round and its updates stay in round order.
			at := int64(1_750_000_000 + s.round*3600 + (s.lo/rowsPerTxn)%3600)
			res, err := conn.ExecContext(ctx, q, at, s.lo, s.hi)
			if err != nil {
				return changed, err
			}
			n, _ := res.RowsAffected()
			changed += n
		}
		return changed, nil
	})
	if err != nil {
		return 0, err
	}
	return len(plan), nil
}

// fillSingle makes transitions with Jetmon's own statement, one row per
// autocommitted UPDATE, on four connections that own disjoint rows. With
// between set, each connection runs it after each of its transitions
// (transition i of all): the shared replica's other writes.
func fillSingle(ctx context.Context, db *sql.DB, monitors, transitions int, between func(ctx context.Context, conn *sql.Conn, i int) error) (int, error) {
	const workers = 4
	// Read the statuses the bulk fill left.
	status := make([]uint8, monitors+1)
	rows, err := db.QueryContext(ctx, "SELECT blog_id, site_status FROM "+bridge.Table+" WHERE blog_id <= ?", monitors)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var blog uint64
		var st uint8
		if err := rows.Scan(&blog, &st); err != nil {
			rows.Close()
			return 0, err
		}
		status[blog] = st
	}
	rows.Close()
	q := "UPDATE " + bridge.Table + " SET site_status=?, last_status_change=FROM_UNIXTIME(?) WHERE blog_id=? AND monitor_url=?"
	err = onConnections(ctx, db, workers, transitions, func(w int, conn *sql.Conn) (int64, error) {
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		var changed int64
		for i := w; i < transitions; i += workers {
			// Worker w owns the blogs congruent to w+1 modulo workers.
			k := i / workers
			per := (monitors - w + workers - 1) / workers
			blog := uint64(w + 1 + (k%per)*workers)
			next := uint8(1)
			switch status[blog] {
			case 1:
				next = 0
			case 0:
				next = 2
			}
			status[blog] = next
			res, err := st.ExecContext(ctx, next, int64(1_760_000_000+i), blog, siteURL(blog))
			if err != nil {
				return changed, err
			}
			n, _ := res.RowsAffected()
			changed += n
			if between != nil {
				if err := between(ctx, conn, i); err != nil {
					return changed, err
				}
			}
		}
		return changed, nil
	})
	if err != nil {
		return 0, err
	}
	return transitions, nil
}

// onConnections runs work on workers connections of their own at once and
// checks that together they changed exactly want rows.
func onConnections(ctx context.Context, db *sql.DB, workers, want int, work func(w int, conn *sql.Conn) (int64, error)) error {
	var changed atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := db.Conn(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			n, err := work(w, conn)
			changed.Add(n)
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if int(changed.Load()) != want {
		return fmt.Errorf("fill changed %d rows, want %d", changed.Load(), want)
	}
	return nil
}

// stretchBytes is the binlog size between two positions.
func stretchBytes(ctx context.Context, db *sql.DB, from, to binlog.Position) (int64, error) {
	names, sizes, err := binlogFiles(ctx, db)
	if err != nil {
		return 0, err
	}
	var total int64
	for i, n := range names {
		switch {
		case n < from.File || n > to.File:
		case n == from.File && n == to.File:
			total += int64(to.Pos) - int64(from.Pos)
		case n == from.File:
			total += sizes[i] - int64(from.Pos)
		case n == to.File:
			total += int64(to.Pos)
		default:
			total += sizes[i]
		}
	}
	return total, nil
}

func syncerBase(srv *testdb.Server, serverID uint32) replication.BinlogSyncerConfig {
	host, portStr, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portStr)
	return replication.BinlogSyncerConfig{
		ServerID:         serverID,
		Flavor:           "mariadb",
		Host:             host,
		Port:             uint16(port),
		User:             "root",
		ParseTime:        true,
		HeartbeatPeriod:  time.Second,
		ReadTimeout:      30 * time.Second,
		DisableRetrySync: true,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Localhost:        "jetmon-bench",
	}
}

// catchupRounds is how many times each reader takes a stretch. The bridge's
// and the bare decoder's CPU per transition differ by less than a run's
// spread on this shared machine (catch-up note 8), so five, not three.
const catchupRounds = 5

var errEnough = errors.New("reached the end position")

// timeBare runs bareDecode once over c's stretch, checking its count, and
// returns its wall and CPU time.
func timeBare(ctx context.Context, srv *testdb.Server, c *CatchupResult, serverID uint32, readTimeout bool) (wall, cpu time.Duration, err error) {
	cpu0 := processCPU()
	wall, n, err := bareDecode(ctx, srv, c.Start, c.End, serverID, readTimeout)
	cpu = processCPU() - cpu0
	if err == nil && n != c.Transitions {
		err = fmt.Errorf("counted %d update row pairs, want %d", n, c.Transitions)
	}
	return wall, cpu, err
}

// bareDecode is the limit of this stack: go-mysql's BinlogSyncer with the
// follower's settings, decoding every event and counting the table's
// updated rows until the end position, doing nothing else. Without
// readTimeout it sets no read deadlines, and could not notice a dead
// connection.
func bareDecode(ctx context.Context, srv *testdb.Server, from, to binlog.Position, serverID uint32, readTimeout bool) (time.Duration, int, error) {
	var updates int
	file := from.File
	done := make(chan struct{})
	var once sync.Once
	scfg := syncerBase(srv, serverID)
	if !readTimeout {
		scfg.ReadTimeout = 0
	}
	scfg.SynchronousEventHandler = handlerFunc(func(e *replication.BinlogEvent) error {
		switch ev := e.Event.(type) {
		case *replication.RotateEvent:
			file = string(ev.NextLogName)
			return nil
		case *replication.RowsEvent:
			if string(ev.Table.Table) == bridge.Table && ev.Type() == replication.EnumRowsEventTypeUpdate {
				updates += len(ev.Rows) / 2
			}
		}
		if e.Header.LogPos > 0 && (file > to.File || file == to.File && e.Header.LogPos >= to.Pos) {
			once.Do(func() { close(done) })
			return errEnough
		}
		return nil
	})
	syncer := replication.NewBinlogSyncer(scfg)
	defer syncer.Close()
	start := time.Now()
	streamer, err := syncer.StartSync(mysql.Position{Name: from.File, Pos: from.Pos})
	if err != nil {
		return 0, 0, err
	}
	errc := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, err := streamer.GetEvent(sctx); errc <- err }()
	select {
	case <-done:
	case err := <-errc:
		select {
		case <-done:
		default:
			return 0, 0, err
		}
	case <-time.After(10 * time.Minute):
		return 0, 0, errors.New("bare decoder did not reach the end position in 10 minutes")
	}
	return time.Since(start), updates, nil
}

type handlerFunc func(*replication.BinlogEvent) error

func (h handlerFunc) HandleEvent(e *replication.BinlogEvent) error { return h(e) }

// mariadbBinlog times the server's own tool decoding the stretch's row
// events into pseudo-SQL (--base64-output=decode-rows -v), from the files,
// to /dev/null.
func mariadbBinlog(ctx context.Context, srv *testdb.Server, db *sql.DB, from, to binlog.Position) (time.Duration, time.Duration, error) {
	names, _, err := binlogFiles(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	args := []string{"--base64-output=decode-rows", "-v", "--start-position=" + strconv.Itoa(int(from.Pos))}
	var files []string
	for _, n := range names {
		if n >= from.File && n <= to.File {
			files = append(files, filepath.Join(srv.Dir, "data", n))
		}
	}
	if len(files) == 1 {
		args = append(args, "--stop-position="+strconv.Itoa(int(to.Pos)))
	}
	tool, err := exec.LookPath("mariadb-binlog")
	if err != nil {
		if tool, err = exec.LookPath("mysqlbinlog"); err != nil {
			return 0, 0, errors.New("mariadb-binlog not found")
		}
	}
	cmd := exec.CommandContext(ctx, tool, append(args, files...)...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	wall := time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// processCPU is this process's CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// catchupExtras are the optional parts of a bridge catch-up run.
type catchupExtras struct {
	// prof receives a CPU profile of the run.
	prof *os.File
	// peak receives the peak live Go heap.
	peak *atomic.Uint64
	// alongside starts before the follower, on its journal (the NATS
	// publisher of part 7). The run calls finish, with the time Run started,
	// as soon as the journal holds every transition, before it closes the
	// journal.
	alongside func(ctx context.Context, j *journal.Journal) (finish func(start time.Time) error, err error)
}

// bridgeCatchup runs the product's follower (binlog.Open + Run) into a fresh
// journal that starts at c.Start, and times it from Run until the journal
// holds every transition. It returns the journal file's size.
func bridgeCatchup(ctx context.Context, srv *testdb.Server, c *CatchupResult, path string, serverID uint32, x catchupExtras) (time.Duration, int64, error) {
	prof, peak := x.prof, x.peak
	os.Remove(path)
	c.Commits = 0
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		return 0, 0, err
	}
	closed := false
	defer func() {
		if !closed {
			j.Close()
		}
	}()
	// A fresh journal that starts at the stretch: the checkpoint and a new
	// coverage span, as beginSpan would write them (without the table
	// snapshot, which a catch-up does not need: row images carry it all).
	if err := j.Commit(&journal.Batch{
		Checkpoint: &journal.Checkpoint{Flavor: string(binlog.FlavorMariaDB), File: c.Start.File, Pos: c.Start.Pos, Columns: catchupColumns},
		NewSpan:    &journal.SpanStart{Start: time.Unix(1_700_000_000, 0)},
	}); err != nil {
		return 0, 0, err
	}
	replica, err := store.Open("-dsn", srv.DSN(c.Database), 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer replica.Close()
	f, err := binlog.Open(ctx, binlog.Config{Replica: replica, Journal: j,
		ServerID: serverID, Heartbeat: time.Second, Logger: quietLogger()})
	if err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finish := func(time.Time) error { return nil }
	if x.alongside != nil {
		if finish, err = x.alongside(rctx, j); err != nil {
			return 0, 0, err
		}
	}
	runErr := make(chan error, 1)
	stopSampling := make(chan struct{})
	var sampled sync.WaitGroup
	if peak != nil {
		sampled.Add(1)
		go func() {
			defer sampled.Done()
			heapProfile := ""
			if prof != nil {
				heapProfile = c.HeapProfile
			}
			sampleHeap(stopSampling, peak, heapProfile)
		}()
	}
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	go func() { runErr <- f.Run(rctx, nil) }()
	want := uint64(c.Transitions)
	deadline := time.After(10 * time.Minute)
	var lastSeen uint64
	for {
		changed := j.Changed()
		seq := j.LastID()
		if seq != lastSeen {
			lastSeen = seq
			c.Commits++ // commits that brought events, as seen by a waiter
		}
		if seq >= want {
			break
		}
		select {
		case <-changed:
		case err := <-runErr:
			if prof != nil {
				pprof.StopCPUProfile()
			}
			return 0, 0, fmt.Errorf("follower stopped after %d of %d transitions: %v", j.LastID(), want, err)
		case <-deadline:
			return 0, 0, fmt.Errorf("follower journaled %d of %d transitions in 10 minutes", j.LastID(), want)
		}
	}
	elapsed := time.Since(start)
	if prof != nil {
		pprof.StopCPUProfile()
	}
	close(stopSampling)
	sampled.Wait()
	if err := finish(start); err != nil {
		return 0, 0, err
	}
	cancel()
	if err := <-runErr; err != nil {
		return 0, 0, err
	}
	if got := j.LastID(); got != want {
		return 0, 0, fmt.Errorf("journal holds %d events, want exactly %d", got, want)
	}
	j.Close()
	closed = true
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return elapsed, fi.Size(), nil
}

// sampleHeap records the peak of the live Go heap (as marked by the last
// garbage collection) until stop closes. With heapProfile set, it also
// writes the heap profile there each time the peak grows by a tenth, so the
// file shows what the heap held at (nearly) its peak; the profile's
// in-use figures are those of the same last collection.
func sampleHeap(stop <-chan struct{}, peak *atomic.Uint64, heapProfile string) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var profiled uint64
	for {
		metrics.Read(s)
		v := s[0].Value.Uint64()
		for {
			p := peak.Load()
			if v <= p || peak.CompareAndSwap(p, v) {
				break
			}
		}
		if heapProfile != "" && v > profiled+profiled/10 {
			profiled = v
			writeHeapProfile(heapProfile)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// writeHeapProfile replaces path with the current heap profile; a failure
// leaves the report without it, which is no reason to stop the bench.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
}

// pprofTop renders a profile's top functions with `go tool pprof`, when
// the Go toolchain is at hand.
func pprofTop(path string, n int) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "(go tool pprof not available)"
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-nodecount="+strconv.Itoa(n), path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)", err)
	}
	return string(out)
}
