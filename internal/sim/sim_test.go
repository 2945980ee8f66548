package sim

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/go-sql-driver/mysql"
	"os"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The tests judge the simulator by an independent witness: a trigger that
// records every row the table's UPDATEs touch, with the row's status and
// last_status_change before and after, the statement's connection and start
// time (NOW(6), which identifies one statement of one connection), and an
// auto-increment id that follows the order of the (serialized) transition
// statements.
const auditSchema = `
CREATE TABLE sim_audit (
  id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  blog_id bigint unsigned NOT NULL,
  old_status tinyint unsigned NOT NULL,
  new_status tinyint unsigned NOT NULL,
  new_lsc timestamp NULL DEFAULT NULL,
  old_interval tinyint unsigned NOT NULL,
  new_interval tinyint unsigned NOT NULL,
  conn bigint unsigned NOT NULL,
  stmt_at datetime(6) NOT NULL
);
CREATE TRIGGER sim_audit_update AFTER UPDATE ON jetpack_monitor_sites FOR EACH ROW
  INSERT INTO sim_audit (blog_id, old_status, new_status, new_lsc, old_interval, new_interval, conn, stmt_at)
  VALUES (NEW.blog_id, OLD.site_status, NEW.site_status, NEW.last_status_change, OLD.check_interval, NEW.check_interval, CONNECTION_ID(), NOW(6));
`

type auditRow struct {
	BlogID           uint64
	Old, New         bridge.Status
	At               time.Time
	OldIval, NewIval uint8
	Stmt             string // connection and statement start: one UPDATE
}

func (a auditRow) transition() bool { return a.Old != a.New }

func installAudit(t *testing.T, d *testdb.DB) {
	t.Helper()
	d.MustExec(t, auditSchema)
}

// utcDB is a connection pool on d whose sessions read TIMESTAMPs in UTC,
// whatever the server's default zone.
func utcDB(t *testing.T, d *testdb.DB) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(d.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Loc = time.UTC
	cfg.ParseTime = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readAudit(t *testing.T, d *testdb.DB) []auditRow {
	t.Helper()
	rows, err := utcDB(t, d).Query("SELECT blog_id, old_status, new_status, new_lsc, old_interval, new_interval, conn, stmt_at FROM sim_audit ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var a auditRow
		var conn uint64
		var at time.Time
		if err := rows.Scan(&a.BlogID, &a.Old, &a.New, &a.At, &a.OldIval, &a.NewIval, &conn, &at); err != nil {
			t.Fatal(err)
		}
		a.Stmt = fmt.Sprintf("%d@%s", conn, at.Format(time.RFC3339Nano))
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// collector is a truth callback that keeps what it is given, and checks it
// is called from one goroutine at a time.
type collector struct {
	mu    sync.Mutex
	truth []Transition

	onCall func(n int)
}

func (c *collector) add(tr Transition) error {
	if !c.mu.TryLock() {
		return fmt.Errorf("truth callback called concurrently")
	}
	defer c.mu.Unlock()
	c.truth = append(c.truth, tr)
	if c.onCall != nil {
		c.onCall(len(c.truth))
	}
	return nil
}

// checkTruthAgainstAudit is the heart of the matter: the transitions the
// table went through, in commit order, are exactly the truth.
func checkTruthAgainstAudit(t *testing.T, truth []Transition, audit []auditRow) {
	t.Helper()
	for i, tr := range truth {
		if tr.Seq != uint64(i+1) {
			t.Fatalf("truth line %d has seq %d: seq must count 1, 2, 3, ... in delivery order", i+1, tr.Seq)
		}
	}
	var moved []auditRow
	for _, a := range audit {
		if a.transition() {
			moved = append(moved, a)
		}
	}
	if len(moved) != len(truth) {
		t.Fatalf("the table went through %d transitions, the truth has %d", len(moved), len(truth))
	}
	stmtOf := map[uint64]string{}
	for i, a := range moved {
		tr := truth[i]
		if a.BlogID != tr.BlogID || a.Old != tr.Old || a.New != tr.New || !a.At.Equal(tr.CreatedAt) {
			t.Fatalf("transition %d: table went blog %d %d -> %d at %s, truth says blog %d %d -> %d at %s",
				i+1, a.BlogID, a.Old, a.New, a.At.Format(time.RFC3339), tr.BlogID, tr.Old, tr.New, tr.CreatedAt.Format(time.RFC3339))
		}
		if tr.CreatedAt.Location() != time.UTC || tr.CreatedAt.Nanosecond() != 0 {
			t.Fatalf("transition %d: created_at %v is not whole seconds in UTC", i+1, tr.CreatedAt)
		}
		// Stmt numbers and the table's statements are the same partition.
		if s, ok := stmtOf[tr.Stmt]; ok && s != a.Stmt {
			t.Fatalf("transition %d: truth puts it in statement %d with other rows the table changed in another statement", i+1, tr.Stmt)
		}
		stmtOf[tr.Stmt] = a.Stmt
		if i > 0 && moved[i-1].Stmt == a.Stmt && truth[i-1].Stmt != tr.Stmt {
			t.Fatalf("transitions %d and %d came from one UPDATE but have different stmt numbers", i, i+1)
		}
		if i > 0 && tr.Stmt != truth[i-1].Stmt && tr.Stmt != truth[i-1].Stmt+1 {
			t.Fatalf("transition %d: stmt %d follows stmt %d", i+1, tr.Stmt, truth[i-1].Stmt)
		}
	}
}

func TestTruthIsWhatTheTableWentThrough(t *testing.T) {
	// A server whose default time zone is not UTC: the truth must still be
	// the UTC instant the binlog carries.
	srv := testdb.Dedicated(t, testdb.Options{Args: []string{"--default-time-zone=+05:00"}})
	d := testdb.NewDBOn(t, srv)
	installAudit(t, d)
	ctx := context.Background()
	sites, err := Setup(ctx, d.SQL, 5000, 12)
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	const n = 400
	stats, err := Run(ctx, d.SQL, Options{
		Sites: sites, Workers: 3, Transitions: n, Seed: 42,
		MultiRow: 0.3, Flap: 0.3, Noise: 0.3,
	}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	truth := c.truth
	t.Logf("stats: %+v", stats)
	if len(truth) != n || stats.Transitions != n {
		t.Fatalf("%d truth lines, stats say %d transitions; want exactly %d", len(truth), stats.Transitions, n)
	}
	audit := readAudit(t, d)
	checkTruthAgainstAudit(t, truth, audit)

	checkTruthEndsAtTable(t, d, sites, truth)

	// Multi-row UPDATEs happened: the table saw statements changing several
	// rows' status, as many as the simulator says it issued.
	perStmt := map[string]int{}
	for _, a := range audit {
		if a.transition() {
			perStmt[a.Stmt]++
		}
	}
	multi := 0
	for _, k := range perStmt {
		if k > 1 {
			multi++
		}
	}
	if multi == 0 || multi != stats.MultiRow {
		t.Errorf("the table saw %d multi-row transition statements, stats say %d; want the same, > 0", multi, stats.MultiRow)
	}
	if len(perStmt) != stats.Statements {
		t.Errorf("the table saw %d transition statements, stats say %d", len(perStmt), stats.Statements)
	}

	// Several changes of one blog within one second happened.
	same, last := 0, map[uint64]time.Time{}
	for _, tr := range truth {
		if at, ok := last[tr.BlogID]; ok && at.Equal(tr.CreatedAt) {
			same++
		}
		last[tr.BlogID] = tr.CreatedAt
	}
	if same == 0 || same != stats.SameSecond {
		t.Errorf("%d transitions share their second with the blog's previous one, stats say %d; want the same, > 0", same, stats.SameSecond)
	}
	if stats.Flaps == 0 {
		t.Error("no flaps")
	}

	// Updates that are not transitions happened, and are not in the truth
	// (checkTruthAgainstAudit compared the transitions one for one).
	touches, sameStatus := 0, 0
	for _, a := range audit {
		switch {
		case a.transition():
		case a.OldIval != a.NewIval:
			touches++
		default:
			sameStatus++
		}
	}
	if touches == 0 || touches != stats.Touches || sameStatus == 0 || sameStatus != stats.SameStatus {
		t.Errorf("the table saw %d check_interval and %d same-status updates, stats say %d and %d; want the same, > 0",
			touches, sameStatus, stats.Touches, stats.SameStatus)
	}
}

// checkTruthEndsAtTable checks that every blog's history is a chain from its
// initial status (1) through Jetmon's statuses, ending at what the table
// holds now.
func checkTruthEndsAtTable(t *testing.T, d *testdb.DB, sites []Site, truth []Transition) {
	t.Helper()
	final := map[uint64]bridge.Status{}
	for _, s := range sites {
		final[s.BlogID] = bridge.StatusRunning
	}
	for _, tr := range truth {
		if prev := final[tr.BlogID]; prev != tr.Old {
			t.Fatalf("seq %d: blog %d goes from %d, but its previous transition left it at %d", tr.Seq, tr.BlogID, tr.Old, prev)
		}
		if tr.Old == tr.New || !tr.New.Valid() {
			t.Fatalf("seq %d: %d -> %d is not a transition", tr.Seq, tr.Old, tr.New)
		}
		final[tr.BlogID] = tr.New
	}
	rows, err := d.SQL.Query("SELECT blog_id, site_status, monitor_active FROM jetpack_monitor_sites")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var blog uint64
		var status bridge.Status
		var active bool
		if err := rows.Scan(&blog, &status, &active); err != nil {
			t.Fatal(err)
		}
		if final[blog] != status || !active {
			t.Fatalf("blog %d: table has status %d (active %v), truth ends at %d", blog, status, active, final[blog])
		}
	}
	rows.Close()
}

// TestTransactionShapesTruthIsWhatCommitted runs steps in savepoint and XA
// transactions: what ROLLBACK TO SAVEPOINT and XA ROLLBACK undid is not in
// the truth, what committed is, in commit order.
func TestTransactionShapesTruthIsWhatCommitted(t *testing.T) {
	d := testdb.NewDB(t)
	installAudit(t, d)
	ctx := context.Background()
	sites, err := Setup(ctx, d.SQL, 7000, 8)
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	const n = 200
	stats, err := Run(ctx, d.SQL, Options{Sites: sites, Workers: 2, Transitions: n, Seed: 5, Flap: 0.2, Noise: 0.2, Transactions: 0.5}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", stats)
	if len(c.truth) != n || stats.Transitions != n {
		t.Fatalf("%d truth lines, stats say %d transitions; want exactly %d", len(c.truth), stats.Transitions, n)
	}
	if stats.SavepointRollbacks == 0 || stats.XATwoPhase == 0 || stats.XAOnePhase == 0 || stats.XARollbacks == 0 {
		t.Fatalf("a shape never ran: %+v", stats)
	}
	checkTruthAgainstAudit(t, c.truth, readAudit(t, d))
	checkTruthEndsAtTable(t, d, sites, c.truth)
}

// choices is what a run chose, blog by blog, read from the audit: every
// UPDATE of every blog, with the rows that changed status in the same
// statement.
func choices(t *testing.T, d *testdb.DB) map[uint64][]string {
	t.Helper()
	audit := readAudit(t, d)
	group := map[string][]uint64{}
	for _, a := range audit {
		group[a.Stmt] = append(group[a.Stmt], a.BlogID)
	}
	out := map[uint64][]string{}
	for _, a := range audit {
		out[a.BlogID] = append(out[a.BlogID], fmt.Sprintf("%d->%d ival %d->%d with %v", a.Old, a.New, a.OldIval, a.NewIval, group[a.Stmt]))
	}
	return out
}

func TestSeedReproducesChoices(t *testing.T) {
	ctx := context.Background()
	runOnce := func(seed uint64) (map[uint64][]string, Stats) {
		d := testdb.NewDB(t)
		installAudit(t, d)
		sites, err := Setup(ctx, d.SQL, 7000, 10)
		if err != nil {
			t.Fatal(err)
		}
		var c collector
		stats, err := Run(ctx, d.SQL, Options{
			Sites: sites, Workers: 3, Transitions: 150, Seed: seed,
			MultiRow: 0.25, Flap: 0.25, Noise: 0.25,
		}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		checkTruthAgainstAudit(t, c.truth, readAudit(t, d))
		stats.Elapsed, stats.SameSecond = 0, 0 // timing, not choice
		return choices(t, d), stats
	}
	a, sa := runOnce(3)
	b, sb := runOnce(3)
	if sa != sb {
		t.Errorf("same seed, different stats:\n%+v\n%+v", sa, sb)
	}
	for _, blog := range slices.Sorted(maps.Keys(a)) {
		if !slices.Equal(a[blog], b[blog]) {
			t.Fatalf("same seed, blog %d went through different updates:\n%s\n---\n%s", blog, strings.Join(a[blog], "\n"), strings.Join(b[blog], "\n"))
		}
	}
	if len(a) != len(b) {
		t.Fatalf("same seed, %d and %d blogs updated", len(a), len(b))
	}
	c, _ := runOnce(4)
	if maps.EqualFunc(a, c, slices.Equal) {
		t.Error("seeds 3 and 4 made the same choices")
	}
}

func TestStoppingKeepsTruthComplete(t *testing.T) {
	ctx := context.Background()
	t.Run("cancel", func(t *testing.T) {
		d := testdb.NewDB(t)
		installAudit(t, d)
		sites, err := Setup(ctx, d.SQL, 1, 8)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		c := collector{onCall: func(n int) {
			if n == 60 {
				cancel()
			}
		}}
		stats, err := Run(runCtx, d.SQL, Options{Sites: sites, Workers: 4, Seed: 1, MultiRow: 0.3, Flap: 0.3, Noise: 0.2}, c.add)
		if err != nil {
			t.Fatalf("a cancelled run is not an error: %v", err)
		}
		if len(c.truth) < 60 || stats.Transitions != len(c.truth) {
			t.Fatalf("%d truth lines, stats say %d transitions", len(c.truth), stats.Transitions)
		}
		checkTruthAgainstAudit(t, c.truth, readAudit(t, d))
	})
	t.Run("cancelled before the first statement", func(t *testing.T) {
		// The soak pauses the simulator at any moment, also while Run still
		// reads the sites' statuses.
		d := testdb.NewDB(t)
		sites, err := Setup(ctx, d.SQL, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		cancel()
		var c collector
		stats, err := Run(runCtx, d.SQL, Options{Sites: sites, Seed: 1}, c.add)
		if err != nil {
			t.Fatalf("a run cancelled before it began is not an error: %v", err)
		}
		if stats.Transitions != 0 || len(c.truth) != 0 {
			t.Fatalf("a run cancelled before it began made %d transitions (%d truth lines)", stats.Transitions, len(c.truth))
		}
	})
	t.Run("duration and rate", func(t *testing.T) {
		d := testdb.NewDB(t)
		installAudit(t, d)
		sites, err := Setup(ctx, d.SQL, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		var c collector
		stats, err := Run(ctx, d.SQL, Options{Sites: sites, Rate: 40, Duration: 300 * time.Millisecond, Seed: 2, Flap: 1}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats: %+v", stats)
		if stats.Transitions != len(c.truth) {
			t.Fatalf("%d truth lines, stats say %d transitions", len(c.truth), stats.Transitions)
		}
		// Even at a slow rate, a flap's changes come within one second:
		// the action takes its tokens at once.
		if stats.Flaps == 0 || stats.SameSecond == 0 {
			t.Errorf("flaps at 40/s: %d flaps, %d changes in the same second as the previous one; want both > 0", stats.Flaps, stats.SameSecond)
		}
		checkTruthAgainstAudit(t, c.truth, readAudit(t, d))
	})
}

func TestTruthCallbackErrorStopsTheRun(t *testing.T) {
	d := testdb.NewDB(t)
	sites, err := Setup(context.Background(), d.SQL, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = Run(context.Background(), d.SQL, Options{Sites: sites, Seed: 1}, func(Transition) error {
		if n++; n == 5 {
			return fmt.Errorf("disk full")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("err = %v, want the callback's error and that the truth is incomplete", err)
	}
}

func TestSetupAndLoad(t *testing.T) {
	ctx := context.Background()
	d := testdb.NewDB(t)
	if _, err := Load(ctx, d.SQL, 100, 3); err == nil || !strings.Contains(err.Error(), "-create") {
		t.Fatalf("Load of missing blogs: err = %v, want one naming -create", err)
	}
	d.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status = 2") // no rows yet
	d.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status) VALUES (101, 3, 'https://kept.example', 2)")
	sites, err := Setup(ctx, d.SQL, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Site{
		{BlogID: 100, URL: SiteURL(100), Status: bridge.StatusRunning},
		{BlogID: 101, URL: "https://kept.example", Status: bridge.StatusConfirmedDown},
		{BlogID: 102, URL: SiteURL(102), Status: bridge.StatusRunning},
	}
	if !slices.Equal(sites, want) {
		t.Fatalf("Setup = %+v, want %+v", sites, want)
	}
	again, err := Setup(ctx, d.SQL, 100, 3)
	if err != nil || !slices.Equal(again, want) {
		t.Fatalf("Setup again = %+v, %v; want the same rows, no new ones", again, err)
	}
	var rows int
	d.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&rows)
	if rows != 3 {
		t.Fatalf("%d rows after Setup twice, want 3", rows)
	}

	// A blog with a second row cannot be driven: its events would not all
	// be the simulator's.
	d.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (102, 0, 'https://other.example')")
	if _, err := Load(ctx, d.SQL, 100, 3); err == nil || !strings.Contains(err.Error(), "several rows") {
		t.Fatalf("Load with two rows for blog 102: err = %v", err)
	}
	if _, err := Run(ctx, d.SQL, Options{Sites: sites, Transitions: 1}, nil); err == nil || !strings.Contains(err.Error(), "exactly one row") {
		t.Fatalf("Run with two rows for blog 102: err = %v", err)
	}
	if _, err := Run(ctx, d.SQL, Options{Sites: sites[:1], MultiRow: 0.7, Flap: 0.7}, nil); err == nil {
		t.Fatal("fractions adding up to more than 1 were accepted")
	}
	if _, err := Setup(ctx, d.SQL, 1<<31-1, 2); err == nil {
		t.Fatal("blog ids beyond 2^31-1 were accepted")
	}
}

func TestTruthLines(t *testing.T) {
	in := []Transition{
		{BlogID: 12345, Old: 1, New: 0, CreatedAt: time.Date(2026, 4, 22, 14, 5, 33, 0, time.UTC), Seq: 1, Stmt: 1},
		{BlogID: 12346, Old: 0, New: 2, CreatedAt: time.Date(2026, 4, 22, 14, 5, 34, 0, time.UTC), Seq: 2, Stmt: 2},
	}
	var buf bytes.Buffer
	write := JSONLines(&buf)
	for _, tr := range in {
		if err := write(tr); err != nil {
			t.Fatal(err)
		}
	}
	wantFirst := `{"blog_id":12345,"old_status":1,"new_status":0,"created_at":"2026-04-22T14:05:33Z","seq":1,"stmt":1}` + "\n"
	if !strings.HasPrefix(buf.String(), wantFirst) {
		t.Fatalf("first line %q, want %q", strings.SplitAfter(buf.String(), "\n")[0], wantFirst)
	}
	out, err := ReadTruth(&buf)
	if err != nil || !slices.Equal(out, in) {
		t.Fatalf("ReadTruth = %+v, %v; want %+v", out, err, in)
	}
	ev := in[1].Event()
	if want := (bridge.Event{BlogID: 12346, OldStatus: 0, NewStatus: 2, CreatedAt: in[1].CreatedAt}); ev != want {
		t.Fatalf("Event() = %+v, want %+v", ev, want)
	}

	for _, bad := range []struct{ line, want string }{
		{`{"blog_id":1,"old_status":1,"new_status":0,"seq":1}`, `missing "created_at"`},
		{`{"blog_id":1,"old_status":1,"new_status":7,"created_at":"2026-04-22T14:05:33Z","seq":1}`, "statuses are 0, 1 or 2"},
		{`{"blog_id":1,"old_status":1,"new_status":0,"created_at":"yesterday","seq":1}`, "created_at"},
		{`{"blog_id":1,"old_status":1,"new_status":0,"created_at":"2026-04-22T14:05:33Z","seq":1,"extra":2}`, "unknown field"},
	} {
		_, err := ReadTruth(strings.NewReader("\n" + bad.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ReadTruth(%s): err = %v, want line 2 and %q", bad.line, err, bad.want)
		}
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(10, 4, func() time.Time { return now })
	if d := b.reserve(4); d != 0 {
		t.Fatalf("a full bucket makes the caller wait %v for 4 tokens", d)
	}
	if d := b.reserve(1); d != 100*time.Millisecond {
		t.Fatalf("empty bucket at 10/s: wait %v for 1 token, want 100ms", d)
	}
	if d := b.reserve(2); d != 300*time.Millisecond {
		t.Fatalf("wait %v for 2 more tokens behind a reservation, want 300ms", d)
	}
	now = now.Add(time.Hour)
	if d := b.reserve(4); d != 0 {
		t.Fatalf("after an idle hour: wait %v for 4 tokens", d)
	}
	if d := b.reserve(1); d != 100*time.Millisecond {
		t.Fatalf("an idle hour filled the bucket beyond its capacity: wait %v", d)
	}
}

func TestPlannerIsAFunctionOfTheSeed(t *testing.T) {
	o := Options{MultiRow: 0.3, Flap: 0.3, Noise: 0.3, MaxGroup: 4}
	seq := func(seed uint64) []string {
		p := newPlanner(seed, 1, slices.Repeat([]bridge.Status{bridge.StatusRunning}, 9), o)
		var out []string
		for range 200 {
			out = append(out, fmt.Sprintf("%+v", p.next(1000)))
		}
		return out
	}
	a, b, c := seq(5), seq(5), seq(6)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different choices")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same choices")
	}
	// The quota is respected to the transition.
	p := newPlanner(5, 0, slices.Repeat([]bridge.Status{bridge.StatusRunning}, 9), o)
	for left := 1; left <= 3; left++ {
		for range 50 {
			if a := p.next(left); a.transitions() > left || a.transitions() == 0 {
				t.Fatalf("with %d transitions left, the planner chose %d", left, a.transitions())
			}
		}
	}
}
