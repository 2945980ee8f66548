package binlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/netstall"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
	driver "github.com/go-sql-driver/mysql"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// rig is a follower on a test database, running in the background.
type rig struct {
	t       *testing.T
	db      *testdb.DB
	replica *store.DB
	journal *journal.Journal
	path    string
	cancel  context.CancelFunc
	done    chan error
	// follower is the running follower (nil before start).
	follower *Follower
	closed   bool // the journal was closed by stop
	hb       time.Duration
	// primaryDSN, when set, is Jetmon's database on its primary, for the
	// primary-gtid proof (the follower derives the proof from the followed
	// server's role) and the comparison that lifts a hold on coverage.
	primaryDSN string
	// holdCheck is the follower's HoldCheckInterval (0: its default).
	holdCheck time.Duration
	// poll is the follower's PollInterval (0: its default).
	poll time.Duration
	// waitLimit is the journal's WaitLimit; default 5s.
	waitLimit time.Duration
	// maxBatch, maxEvents and maxRows are the follower's batch limits (0:
	// defaults).
	maxBatch, maxEvents, maxRows int
	// batchAge is the follower's MaxBatchAge (0: the default).
	batchAge time.Duration
	// committed, when set, sees each batch's checkpoint once durable.
	committed func(journal.Checkpoint)
	// noResume leaves a follower that failed stopped, with its error in
	// done, instead of running it again.
	noResume bool
}

// maxRigRestarts bounds how often the rig runs a failed follower again.
const maxRigRestarts = 5

func newRig(t *testing.T, db *testdb.DB) *rig {
	t.Helper()
	r := &rig{t: t, db: db, path: filepath.Join(t.TempDir(), "test.journal"), hb: 200 * time.Millisecond}
	var err error
	r.replica, err = store.Open("-dsn", db.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop(); r.replica.Close() })
	return r
}

func (r *rig) start() {
	r.t.Helper()
	var err error
	if r.waitLimit == 0 {
		r.waitLimit = 5 * time.Second
	}
	if r.journal, err = journal.Open(r.path, journal.Options{WaitLimit: r.waitLimit}); err != nil {
		r.t.Fatal(err)
	}
	r.closed = false
	r.run()
}

// run starts a follower on the open journal, built as the daemon builds it
// (Open), and returns once it streams.
func (r *rig) run() {
	r.t.Helper()
	var primary *store.DB
	if r.primaryDSN != "" {
		var err error
		if primary, err = store.Open("-primary-dsn", r.primaryDSN, 5*time.Second); err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { primary.Close() })
	}
	f, err := Open(context.Background(), Config{Replica: r.replica, Journal: r.journal, ServerID: 4242, Heartbeat: r.hb,
		Primary: primary, PollInterval: r.poll, MaxBatch: r.maxBatch, MaxBatchEvents: r.maxEvents, MaxBatchRows: r.maxRows,
		MaxBatchAge: r.batchAge, HoldCheckInterval: r.holdCheck})
	if err != nil {
		r.t.Fatal(err)
	}
	f.committed, r.follower = r.committed, f
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() {
		var once bool
		streaming := func() {
			if !once {
				once = true
				close(ready)
			}
		}
		err := f.Run(ctx, streaming)
		// A broken stream is run again, as the daemon's supervisor does:
		// on a loaded machine a heartbeat can come later than the read
		// timeout. A test that watches the failure itself sets noResume.
		for restarts := 0; err != nil && ctx.Err() == nil && !r.noResume && once && restarts < maxRigRestarts; restarts++ {
			r.t.Logf("follower failed, running it again as the supervisor would: %v", err)
			time.Sleep(250 * time.Millisecond)
			err = f.Run(ctx, streaming)
		}
		r.done <- err
	}()
	select {
	case <-ready:
	case err := <-r.done:
		r.t.Fatalf("follower ended before streaming: %v", err)
	case <-time.After(30 * time.Second):
		r.t.Fatal("follower did not start streaming")
	}
}

func (r *rig) stop() {
	r.halt()
	if r.journal != nil && !r.closed {
		r.journal.Close()
		r.closed = true
	}
}

// halt stops the follower and leaves the journal open, as a daemon whose
// follower stopped serves it.
func (r *rig) halt() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("follower: %v", err)
	}
	r.cancel = nil
}

// events waits until the journal holds want events for blog and returns
// them, via the same Window the API uses.
func (r *rig) events(blog uint64, want int) []bridge.Event {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, _, err := r.journal.Window(context.Background(), blog, time.Unix(0, 0), time.Now().Add(time.Hour))
		if err != nil {
			r.t.Fatal(err)
		}
		if len(evs) >= want || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCommitPagesSizeTheNextBatch: a catch-up batch's rows (which bound the
// blogs its commit touches) are sized from the last commit's pages per row
// so that a commit writes about 4,096 pages, whatever the journal's size: in
// a large journal each blog touched costs a leaf, which bbolt holds until the
// commit is written. The journal reports the pages; the applier's check uses
// the cap they give.
func TestCommitPagesSizeTheNextBatch(t *testing.T) {
	for _, c := range []struct {
		name                     string
		prev, rows, pages, limit int
		want                     int
	}{
		{"a leaf per blog: a quarter of the rows", 0, 16_384, 16_384, maxBatchRows, 4_096},
		{"a large journal: 100,000 blogs wrote 100,000 pages", 90_000, 100_000, 100_000, maxBatchRows, 4_096},
		{"a small journal: 100,000 blogs wrote 4,553 pages", 16_384, 100_000, 4_553, maxBatchRows, 89_962},
		{"few pages: the rows cap", 16_384, 16_384, 100, maxBatchRows, maxBatchRows},
		{"a small commit keeps the cap", 50_000, 10, 8, maxBatchRows, 50_000},
		{"a small commit before any: the first cap", 0, 10, 8, maxBatchRows, 4_096},
		{"never below the least", 16_384, 2_000, 1_000_000, maxBatchRows, 1_024},
		{"a tiny configured cap holds", 0, 2_000, 1, 5, 5},
	} {
		if got := rowsCapFor(c.prev, c.rows, c.pages, c.limit, maxCommitPages); got != c.want {
			t.Errorf("%s: rowsCapFor(%d, %d rows, %d pages, %d) = %d, want %d", c.name, c.prev, c.rows, c.pages, c.limit, got, c.want)
		}
	}
	if maxCommitPages != 4096 {
		t.Errorf("maxCommitPages is %d; docs/guarantees.md says 4,096", maxCommitPages)
	}

	db := testdb.NewDB(t)
	r := newRig(t, db)
	r.start()
	defer r.stop()
	b := &journal.Batch{Transactions: 1}
	for site := uint64(1); site <= 2_000; site++ {
		b.SetMonitor(bridge.Monitor{SiteID: site, BlogID: site, URL: "https://x.example"})
	}
	if err := r.journal.Commit(b); err != nil {
		t.Fatal(err)
	}
	if b.PagesWritten <= 0 {
		t.Fatalf("a commit of 2,000 rows reports %d pages written", b.PagesWritten)
	}

	// The applier's check: full at the cap the last commit's pages give.
	f, err := New(Config{Replica: r.replica, Journal: r.journal})
	if err != nil {
		t.Fatal(err)
	}
	f.noteCommitPages(16_384, 16_384) // a leaf per blog: 4,096 rows
	a := &applier{f: f, batch: newBatch()}
	for site := uint64(1); site <= 4_096; site++ {
		if a.full() {
			t.Fatalf("a batch of %d rows is full after a commit of a leaf per blog; the cap is 4,096", site-1)
		}
		a.batch.SetMonitor(bridge.Monitor{SiteID: site, BlogID: site, URL: "https://x.example"})
	}
	if !a.full() {
		t.Fatal("a batch of 4,096 rows is not full after a commit of a leaf per blog: the next commit may write 4 times the pages")
	}
	off, err := New(Config{Replica: r.replica, Journal: r.journal, MaxCommitPages: -1})
	if err != nil {
		t.Fatal(err)
	}
	off.noteCommitPages(16_384, 16_384)
	if got := off.rowsCap(maxBatchRows); got != maxBatchRows {
		t.Errorf("with MaxCommitPages off the rows cap is %d, want MaxBatchRows %d", got, maxBatchRows)
	}
}

func TestFollowerJournalsTransitions(t *testing.T) {
	db := testdb.NewDB(t)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (11, 0, 'https://a.example'), (12, 0, 'https://b.example')")
	r := newRig(t, db)
	r.start()
	upd := "UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=FROM_UNIXTIME(?) WHERE blog_id=? AND monitor_url=?"
	base := int64(1_700_000_000)
	db.MustExec(t, "SET time_zone='+00:00'")
	for i, st := range []int{0, 2, 1} {
		db.MustExec(t, upd, st, base+int64(i*60), 11, "https://a.example")
	}
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET check_interval=3")                                             // not a transition
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=FROM_UNIXTIME(?)", base+500) // multi-row
	evs := r.events(11, 4)
	want := []struct {
		old, new bridge.Status
		at       int64
	}{{1, 0, base}, {0, 2, base + 60}, {2, 1, base + 120}, {1, 0, base + 500}}
	if len(evs) != len(want) {
		t.Fatalf("blog 11: %d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if e.OldStatus != w.old || e.NewStatus != w.new || e.CreatedAt.Unix() != w.at || e.BlogID != 11 {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Errorf("ids not increasing: %d then %d", evs[i-1].ID, e.ID)
		}
	}
	if evs := r.events(12, 1); len(evs) != 1 || evs[0].NewStatus != bridge.StatusDown {
		t.Fatalf("blog 12: %+v", evs)
	}
}

func TestCoverageAdvancesWithHeartbeats(t *testing.T) {
	db := testdb.NewDB(t)
	r := newRig(t, db)
	r.start()
	first := r.journal.Spans(time.Time{})
	if len(first) != 1 {
		t.Fatalf("spans after start: %+v", first)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans := r.journal.Spans(time.Time{})
		if spans[0].End.After(first[0].End) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("coverage never advanced past %s: %+v", first[0].End, spans)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOtherTablesAndDatabasesAreIgnored(t *testing.T) {
	db := testdb.NewDB(t)
	other := testdb.NewDB(t) // same server, same table name, another database
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (21, 0, 'https://a.example')")
	other.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (21, 0, 'https://a.example')")
	db.MustExec(t, "CREATE TABLE lookalike LIKE jetpack_monitor_sites")
	db.MustExec(t, "INSERT INTO lookalike SELECT * FROM jetpack_monitor_sites")
	r := newRig(t, db)
	r.start()
	other.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0")
	db.MustExec(t, "UPDATE lookalike SET site_status=2")
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=FROM_UNIXTIME(1700000000)")
	evs := r.events(21, 1)
	time.Sleep(300 * time.Millisecond)
	evs = r.events(21, 1)
	if len(evs) != 1 || evs[0].OldStatus != bridge.StatusRunning || evs[0].NewStatus != bridge.StatusDown || evs[0].CreatedAt.Unix() != 1700000000 {
		t.Fatalf("blog 21: %+v (only the followed table's change belongs here)", evs)
	}
}

// MariaDB can compress row events in its binlog; they must decode the same.
func TestCompressedBinlog(t *testing.T) {
	server := testdb.Dedicated(t, testdb.Options{Args: []string{"--log-bin-compress=ON", "--log-bin-compress-min-len=10"}})
	db := testdb.NewDBOn(t, server)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (31, 0, 'https://a.example'), (32, 0, 'https://b.example')")
	r := newRig(t, db)
	r.start()
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=FROM_UNIXTIME(1700000000)")
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=2, last_status_change=FROM_UNIXTIME(1700000060) WHERE blog_id=31")
	if evs := r.events(31, 2); len(evs) != 2 || evs[1].NewStatus != bridge.StatusConfirmedDown || evs[1].CreatedAt.Unix() != 1700000060 {
		t.Fatalf("blog 31: %+v", evs)
	}
	if evs := r.events(32, 1); len(evs) != 1 {
		t.Fatalf("blog 32: %+v", evs)
	}
}

// TestBacklogSharesCommits: a follower that starts behind commits its
// backlog in a few large batches (by age or size, not at every pause of the
// stream), and once caught up commits each live change on its own.
func TestBacklogSharesCommits(t *testing.T) {
	db := testdb.NewDB(t)
	const blogs, backlog = 20, 2000
	for b := 1; b <= blogs; b++ {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, ?)", b, fmt.Sprintf("https://%d.example", b))
	}
	r := newRig(t, db)
	r.start()
	r.stop() // the checkpoint is now here: what follows is a backlog
	for i := range backlog {
		// Each autocommitted UPDATE is one binlog transaction and one transition.
		db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=? WHERE blog_id=?", (i/blogs+2)%3, 1+i%blogs)
	}
	r.start()
	r.events(1, backlog/blogs)
	deadline := time.Now().Add(20 * time.Second)
	for r.journal.LastID() < backlog && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := r.journal.LastID(); got != backlog {
		t.Fatalf("%d transitions journaled, want %d", got, backlog)
	}
	// A commit per pause of the stream made 15 here; batches of up to one
	// second make one or two, a few on a slow machine.
	c := r.journal.Commits()
	t.Logf("a backlog of %d transactions took %d commits", backlog, c)
	if c > 6 {
		t.Errorf("a backlog of %d transactions took %d commits", backlog, c)
	}
	// Live changes commit at once, not when a batch would have aged or a
	// heartbeat came: with an age and a heartbeat period no test waits
	// for, a change that waited for either would never be journaled.
	r.stop()
	r.batchAge, r.hb = time.Hour, time.Hour
	r.start()
	before := r.journal.Commits()
	for i := range 3 {
		db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=? WHERE blog_id=?", i%2, 1) // 0, 1, 0 after 1: transitions
		r.events(1, backlog/blogs+i+1)
	}
	if c := r.journal.Commits() - before; c < 3 {
		t.Errorf("three live changes, each awaited, took %d commits", c)
	}
}

// TestSilentConnectionIsDropped: a replication connection kept alive by
// heartbeats outlives its read timeout (three heartbeats) however long it
// idles, and one that goes silent (a partition: nothing passes, nothing is
// refused) fails the stream, so the follower reconnects instead of waiting
// forever. The read deadlines are lazyDeadlineConn's.
func TestSilentConnectionIsDropped(t *testing.T) {
	db := testdb.NewDB(t)
	proxy := netstall.NewProxy(t, db.Server.Addr())
	r := newRig(t, db)
	r.noResume = true // the broken stream is what this test watches
	r.replica.Close()
	dsn, err := driver.ParseDSN(db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	dsn.Addr = proxy.Addr()
	if r.replica, err = store.Open("-dsn", dsn.FormatDSN(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.start()
	// Idle for ten heartbeats (the coverage they advance shows they
	// arrived): more than three times the read timeout.
	begun := r.journal.Spans(time.Time{})[0].End
	deadline := time.Now().Add(30 * time.Second)
	for r.journal.Spans(time.Time{})[0].End.Before(begun.Add(10 * r.hb).Truncate(time.Second).Add(time.Second)) {
		select {
		case err := <-r.done:
			r.cancel = nil
			t.Fatalf("an idle stream kept alive by heartbeats failed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("heartbeats never advanced coverage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	proxy.Cut()
	select {
	case err := <-r.done:
		r.cancel = nil
		r.journal.Close()
		if err == nil || !strings.Contains(err.Error(), "broke") {
			t.Fatalf("silent stream ended with %v, want the stream reported broken", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a silent replication connection was never dropped")
	}
}

// TestBatchLimits: a backlog is committed in batches of at most
// MaxBatchEvents transitions and MaxBatchRows rows, whatever their age, and
// nothing is lost or repeated across them.
func TestBatchLimits(t *testing.T) {
	for _, c := range []struct {
		name           string
		events, rows   int
		leastCommits   uint64
		blogs, changes int
	}{
		{name: "events", events: 100, blogs: 20, changes: 1000, leastCommits: 10},
		{name: "rows", rows: 5, blogs: 20, changes: 1000, leastCommits: 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := testdb.NewDB(t)
			for b := 1; b <= c.blogs; b++ {
				db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, ?)", b, fmt.Sprintf("https://%d.example", b))
			}
			r := newRig(t, db)
			r.maxEvents, r.maxRows = c.events, c.rows
			// Each batch's events, measured as it becomes durable: only
			// the applier's batches add events, one commit at a time.
			var mu sync.Mutex
			var seen, largest uint64
			r.committed = func(journal.Checkpoint) {
				mu.Lock()
				defer mu.Unlock()
				seq := r.journal.LastID()
				largest, seen = max(largest, seq-seen), seq
			}
			r.start()
			r.stop() // what follows is a backlog
			for i := range c.changes {
				db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=? WHERE blog_id=?", (i/c.blogs+2)%3, 1+i%c.blogs)
			}
			r.start()
			deadline := time.Now().Add(30 * time.Second)
			for r.journal.LastID() < uint64(c.changes) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := r.journal.LastID(); got != uint64(c.changes) {
				t.Fatalf("%d transitions journaled, want %d", got, c.changes)
			}
			if n := r.journal.Commits(); n < c.leastCommits {
				t.Errorf("a backlog of %d transitions over %d rows took %d commits; the limits allow no fewer than %d", c.changes, c.blogs, n, c.leastCommits)
			}
			mu.Lock()
			if c.events > 0 && largest > uint64(c.events) {
				t.Errorf("a batch held %d events; the limit is %d", largest, c.events)
			}
			mu.Unlock()
			for b := uint64(1); b <= uint64(c.blogs); b++ {
				if evs := r.events(b, c.changes/c.blogs); len(evs) != c.changes/c.blogs {
					t.Fatalf("blog %d: %d events, want %d", b, len(evs), c.changes/c.blogs)
				}
			}
		})
	}
}
