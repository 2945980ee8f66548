package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var ctx = context.Background()

// open returns a store on a fresh database of srv (nil: the shared server).
func open(t *testing.T, srv *testdb.Server, timeout time.Duration) (*DB, *testdb.DB) {
	t.Helper()
	var tdb *testdb.DB
	if srv == nil {
		tdb = testdb.NewDB(t)
	} else {
		tdb = testdb.NewDBOn(t, srv)
	}
	d, err := Open("-dsn", tdb.DSN(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, tdb
}

func insert(t *testing.T, db *testdb.DB, blogID uint64, url string, active bool, status bridge.Status, changed time.Time) uint64 {
	t.Helper()
	var ts any
	if !changed.IsZero() {
		ts = changed.Unix()
	}
	res := db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change) VALUES (?, 3, ?, ?, ?, FROM_UNIXTIME(?))",
		blogID, url, active, uint8(status), ts)
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(id)
}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseDSN(t *testing.T) {
	cfg, err := ParseDSN("-dsn", "u:pw@tcp(db:3306)/jetmon?parseTime=false&loc=Local&time_zone=%27%2B05%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params["time_zone"] != "'+00:00'" || !cfg.ParseTime || cfg.Loc != time.UTC || cfg.Timeout != 10*time.Second || cfg.DBName != "jetmon" {
		t.Fatalf("session settings not forced: time_zone=%q parseTime=%v loc=%v timeout=%v db=%q",
			cfg.Params["time_zone"], cfg.ParseTime, cfg.Loc, cfg.Timeout, cfg.DBName)
	}
	cfg, err = ParseDSN("-dsn", "u:pw@tcp(db:3306)/jetmon?timeout=3s")
	if err != nil || cfg.Timeout != 3*time.Second {
		t.Fatalf("explicit timeout: %v %v", cfg.Timeout, err)
	}

	const secret = "hunter2secret"
	for _, c := range []struct{ dsn, want string }{
		{"", "-dsn is required"},
		{"u:" + secret + "@tcp(db:3306)/", "names no database"},
		{"u:" + secret + "@tcp(db:3306)", "not a valid DSN"},
		{"u:" + secret + "@tcp(db:3306/jetmon", "not a valid DSN"},
		{"u:" + secret + "@nosuchnet(db:3306)/jetmon?x=%zz", "not a valid DSN"},
		{"mysql://u:" + secret + "@db:3306/jetmon", "not a valid DSN"},
	} {
		_, err := ParseDSN("-dsn", c.dsn)
		if err == nil {
			t.Fatalf("%q accepted", c.dsn)
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-dsn") {
			t.Fatalf("%q: error %q, want it to name -dsn and say %q", c.dsn, err, c.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("%q: error %q repeats the password", c.dsn, err)
		}
		if _, err := Open("-write-dsn", c.dsn, time.Second); err == nil || !strings.Contains(err.Error(), "-write-dsn") || strings.Contains(err.Error(), secret) {
			t.Fatalf("Open(%q): %v", c.dsn, err)
		}
	}
}

// TestSessionIsUTC: whatever the DSN or the server says, every pooled
// connection runs in UTC.
func TestSessionIsUTC(t *testing.T) {
	t.Parallel()
	tdb := testdb.NewDB(t)
	d, err := Open("-dsn", tdb.DSN()+"&time_zone=%27%2B05%3A00%27&loc=Local", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Hold several connections at once so that more than one is checked.
	for range 4 {
		c, err := d.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var tz string
		if err := c.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&tz); err != nil {
			t.Fatal(err)
		}
		if tz != "+00:00" {
			t.Fatalf("session time_zone %q, want +00:00", tz)
		}
	}
}

func TestPing(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{})
	d, _ := open(t, srv, 5*time.Second)
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	err := d.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("ping of a stopped server: %v, want an error naming %s", err, srv.Addr())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

func TestActiveMonitor(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, 5*time.Second)
	changed := at(t, "2026-04-22T14:05:33Z")
	insert(t, tdb, 1, "https://a.example.com", false, bridge.StatusRunning, changed)
	id2 := insert(t, tdb, 2, "https://a.example.com", true, bridge.StatusConfirmedDown, changed)
	insert(t, tdb, 3, "https://a.example.com", true, bridge.StatusRunning, changed)
	insert(t, tdb, 4, "https://A.example.com", true, bridge.StatusRunning, changed)
	insert(t, tdb, 5, "https://b.example.com", false, bridge.StatusRunning, changed)

	m, err := d.ActiveMonitor(ctx, "https://a.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := bridge.Monitor{SiteID: id2, BlogID: 2, URL: "https://a.example.com", Active: true, Status: bridge.StatusConfirmedDown, LastStatusChange: changed}
	if m.SiteID != want.SiteID || m.BlogID != want.BlogID || m.URL != want.URL || !m.Active || m.Status != want.Status || !m.LastStatusChange.Equal(changed) {
		t.Fatalf("got %+v, want %+v", m, want)
	}
	if m.LastStatusChange.Location() != time.UTC {
		t.Fatalf("last_status_change in %v, want UTC", m.LastStatusChange.Location())
	}
	if m, err := d.ActiveMonitor(ctx, "https://A.example.com"); err != nil || m.BlogID != 4 {
		t.Fatalf("upper-case URL: %+v %v", m, err)
	}
	for _, u := range []string{"https://b.example.com", "https://A.EXAMPLE.COM", "https://a.example.com ", "https://a.example.co", "%", "", "https://a.example.com\xff", "' OR 1=1 -- "} {
		if m, err := d.ActiveMonitor(ctx, u); !errors.Is(err, bridge.ErrNotFound) {
			t.Fatalf("%q: %+v %v, want bridge.ErrNotFound", u, m, err)
		}
	}
}

func TestLatestChange(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, 5*time.Second)
	t1, t2 := at(t, "2026-04-22T14:00:00Z"), at(t, "2026-04-22T15:00:00Z")
	insert(t, tdb, 10, "https://a.example.com", true, bridge.StatusDown, t1)
	insert(t, tdb, 10, "https://b.example.com", false, bridge.StatusConfirmedDown, t2) // inactive rows count
	insert(t, tdb, 10, "https://c.example.com", true, bridge.StatusRunning, time.Time{})
	// A tie goes to the newest row.
	insert(t, tdb, 11, "https://d.example.com", true, bridge.StatusDown, t1)
	tie := insert(t, tdb, 11, "https://e.example.com", true, bridge.StatusConfirmedDown, t1)
	insert(t, tdb, 12, "https://f.example.com", true, bridge.StatusRunning, time.Time{})

	m, err := d.LatestChange(ctx, 10)
	if err != nil || m.URL != "https://b.example.com" || !m.LastStatusChange.Equal(t2) || m.Status != bridge.StatusConfirmedDown {
		t.Fatalf("blog 10: %+v %v", m, err)
	}
	if m, err := d.LatestChange(ctx, 11); err != nil || m.SiteID != tie {
		t.Fatalf("blog 11: %+v %v, want site %d", m, err, tie)
	}
	// Only a NULL change: the row, with a zero time (nothing to synthesize).
	if m, err := d.LatestChange(ctx, 12); err != nil || !m.LastStatusChange.IsZero() {
		t.Fatalf("blog 12: %+v %v", m, err)
	}
	for _, b := range []uint64{13, 0, 1<<64 - 1} {
		if _, err := d.LatestChange(ctx, b); !errors.Is(err, bridge.ErrNotFound) {
			t.Fatalf("blog %d: %v, want bridge.ErrNotFound", b, err)
		}
	}
}

// TestLatestChangeTimeZone: a server whose zone is +05:00 still yields the
// right UTC instants.
func TestLatestChangeTimeZone(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{Args: []string{"--default-time-zone=+05:00"}})
	d, tdb := open(t, srv, 5*time.Second)
	// Written in the server's zone as wall-clock +05:00 time.
	tdb.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (1, 0, 'https://a.example.com', '2026-04-22 19:05:33')")
	m, err := d.LatestChange(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := at(t, "2026-04-22T14:05:33Z"); !m.LastStatusChange.Equal(want) {
		t.Fatalf("last_status_change %v, want %v", m.LastStatusChange, want)
	}
	var n int
	err = d.AllMonitors(ctx, func(m bridge.Monitor) error {
		n++
		if want := at(t, "2026-04-22T14:05:33Z"); !m.LastStatusChange.Equal(want) {
			return fmt.Errorf("AllMonitors: last_status_change %v, want %v", m.LastStatusChange, want)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("AllMonitors: %d rows, %v", n, err)
	}
}

func TestAllMonitors(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, time.Minute)
	var n int
	if err := d.AllMonitors(ctx, func(bridge.Monitor) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("empty table: %d rows, %v", n, err)
	}
	// Two full pages and a partial one, with holes in the primary key.
	const rows = 12001
	tdb.MustExec(t, fmt.Sprintf("INSERT INTO jetpack_monitor_sites (jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status) "+
		"SELECT seq * 3, seq, seq %% 512, CONCAT('https://s', seq, '.example.com'), seq %% 2, seq %% 3 FROM seq_1_to_%d", rows))
	var last uint64
	n = 0
	err := d.AllMonitors(ctx, func(m bridge.Monitor) error {
		n++
		if m.SiteID <= last || m.SiteID != m.BlogID*3 || m.URL != fmt.Sprintf("https://s%d.example.com", m.BlogID) ||
			m.Active != (m.BlogID%2 == 1) || m.Status != bridge.Status(m.BlogID%3) {
			return fmt.Errorf("row %d after %d: %+v", n, last, m)
		}
		last = m.SiteID
		return nil
	})
	if err != nil || n != rows {
		t.Fatalf("%d of %d rows, %v", n, rows, err)
	}
	// An error from fn stops the walk and comes back as is.
	stop := errors.New("stop")
	n = 0
	err = d.AllMonitors(ctx, func(bridge.Monitor) error {
		n++
		if n == 5001 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5001 {
		t.Fatalf("fn error: %v after %d rows", err, n)
	}
}

func TestActivateDeactivate(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, 5*time.Second)
	// Blog ids outside the allocation range do not matter; one inside it
	// pushes allocation below itself.
	insert(t, tdb, 5, "https://jetmon.example.com", true, bridge.StatusRunning, time.Time{})
	insert(t, tdb, 3_000_000_000, "https://big.example.com", true, bridge.StatusRunning, time.Time{})
	insert(t, tdb, MaxCreatedBlogID-10, "https://inrange.example.com", false, bridge.StatusRunning, time.Time{})

	m, created, err := d.Activate(ctx, "https://new.example.com", 42)
	if err != nil || !created {
		t.Fatalf("create: %+v %v %v", m, created, err)
	}
	if m.BlogID != MaxCreatedBlogID-11 || !m.Active || m.Status != bridge.StatusRunning || m.URL != "https://new.example.com" || m.SiteID == 0 {
		t.Fatalf("created %+v, want blog_id %d", m, MaxCreatedBlogID-11)
	}
	var bucket, interval int
	if err := tdb.SQL.QueryRow("SELECT bucket_no, check_interval FROM jetpack_monitor_sites WHERE jetpack_monitor_site_id = ?", m.SiteID).Scan(&bucket, &interval); err != nil || bucket != 42 || interval != 5 {
		t.Fatalf("created row: bucket %d interval %d %v", bucket, interval, err)
	}
	again, created, err := d.Activate(ctx, "https://new.example.com", 7)
	if err != nil || created || again.SiteID != m.SiteID || again.BlogID != m.BlogID {
		t.Fatalf("already active: %+v %v %v", again, created, err)
	}
	// Another case is another URL.
	other, created, err := d.Activate(ctx, "https://NEW.example.com", 42)
	if err != nil || !created || other.BlogID != m.BlogID-1 {
		t.Fatalf("other case: %+v %v %v", other, created, err)
	}

	if err := d.Deactivate(ctx, "https://new.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ActiveMonitor(ctx, "https://new.example.com"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("after deactivate: %v", err)
	}
	if _, err := d.ActiveMonitor(ctx, "https://NEW.example.com"); err != nil {
		t.Fatalf("deactivating one URL touched another: %v", err)
	}
	if err := d.Deactivate(ctx, "https://new.example.com"); err != nil {
		t.Fatalf("deactivate again: %v", err)
	}
	for _, u := range []string{"https://none.example.com", "https://new.example.com/", "%"} {
		if err := d.Deactivate(ctx, u); !errors.Is(err, bridge.ErrNotFound) {
			t.Fatalf("deactivate %q: %v, want bridge.ErrNotFound", u, err)
		}
	}
	re, created, err := d.Activate(ctx, "https://new.example.com", 7)
	if err != nil || !created || re.SiteID != m.SiteID || re.BlogID != m.BlogID || !re.Active {
		t.Fatalf("reactivate: %+v %v %v", re, created, err)
	}
	// Reactivating keeps the bucket it had.
	if err := tdb.SQL.QueryRow("SELECT bucket_no FROM jetpack_monitor_sites WHERE jetpack_monitor_site_id = ?", m.SiteID).Scan(&bucket); err != nil || bucket != 42 {
		t.Fatalf("reactivated row bucket %d %v", bucket, err)
	}
	var n int
	tdb.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n)
	if n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
}

// TestReactivateStartsAfresh: reactivating a monitor that was down or
// confirmed down resets it to running with a fresh last_status_change; a
// running one keeps its last_status_change.
func TestReactivateStartsAfresh(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, 5*time.Second)
	long := time.Date(2026, 4, 22, 14, 5, 33, 0, time.UTC)
	insert(t, tdb, 71, "https://down.example.com", false, bridge.StatusConfirmedDown, long)
	insert(t, tdb, 72, "https://up.example.com", false, bridge.StatusRunning, long)
	before := time.Now().Add(-time.Second)
	m, created, err := d.Activate(ctx, "https://down.example.com", 0)
	if err != nil || !created || !m.Active || m.Status != bridge.StatusRunning || m.LastStatusChange.Before(before) {
		t.Fatalf("reactivated a confirmed-down monitor: %+v %v %v", m, created, err)
	}
	if got, err := d.ActiveMonitor(ctx, "https://down.example.com"); err != nil || got != m {
		t.Fatalf("the row reads %+v %v, Activate answered %+v", got, err, m)
	}
	m, created, err = d.Activate(ctx, "https://up.example.com", 0)
	if err != nil || !created || m.Status != bridge.StatusRunning || !m.LastStatusChange.Equal(long) {
		t.Fatalf("reactivated a running monitor: %+v %v %v", m, created, err)
	}
}

// TestActivateRangeUsedUp: when the lowest id of the range is taken, no id
// outside it is ever handed out.
func TestActivateRangeUsedUp(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, 5*time.Second)
	insert(t, tdb, MinCreatedBlogID, "https://lowest.example.com", true, bridge.StatusRunning, time.Time{})
	m, _, err := d.Activate(ctx, "https://new.example.com", 0)
	if err == nil || !strings.Contains(err.Error(), "used up") {
		t.Fatalf("got %+v %v, want a used-up error", m, err)
	}
	var n int
	tdb.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n)
	if n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// TestURLLock: while another session holds a URL's lock, Activate and
// Deactivate of that URL give up within the timeout without writing, other
// URLs go ahead, and once the lock is released the URL works again.
func TestURLLock(t *testing.T) {
	t.Parallel()
	d, tdb := open(t, nil, time.Second)
	insert(t, tdb, 9, "https://held.example.com", true, bridge.StatusRunning, time.Time{})
	holder, err := tdb.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var got int
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", lockName("https://held.example.com")).Scan(&got); err != nil || got != 1 {
		t.Fatalf("take lock: %d %v", got, err)
	}
	if _, _, err := d.Activate(ctx, "https://held.example.com", 0); err == nil {
		t.Fatal("Activate went ahead while the URL's lock was held")
	}
	if err := d.Deactivate(ctx, "https://held.example.com"); err == nil || errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("Deactivate while the URL's lock was held: %v", err)
	}
	if _, created, err := d.Activate(ctx, "https://free.example.com", 0); err != nil || !created {
		t.Fatalf("another URL: %v %v", created, err)
	}
	var active int
	tdb.SQL.QueryRow("SELECT monitor_active FROM jetpack_monitor_sites WHERE blog_id = 9").Scan(&active)
	if active != 1 {
		t.Fatal("Deactivate wrote while the URL's lock was held")
	}
	if _, err := holder.ExecContext(ctx, "DO RELEASE_LOCK(?)", lockName("https://held.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := d.Deactivate(ctx, "https://held.example.com"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	// Activate releases its locks: another session can take them at once.
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0) + GET_LOCK(?, 0)", lockName("https://free.example.com"), blogIDLock).Scan(&got); err != nil || got != 2 {
		t.Fatalf("locks left held after Activate: %d %v", got, err)
	}
}

// TestActivateConcurrent calls Activate from many goroutines on separate
// pools, as several bridges on one primary would: one row per URL.
func TestActivateConcurrent(t *testing.T) {
	t.Parallel()
	_, tdb := open(t, nil, time.Minute)
	var pools []*DB
	for range 4 {
		p, err := Open("-write-dsn", tdb.DSN(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pools = append(pools, p)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	created := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("https://u%d.example.com", i%5)
			_, c, err := pools[i%len(pools)].Activate(ctx, u, 1)
			if err != nil {
				errs <- err
			}
			if c {
				created <- u
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(created)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for u := range created {
		if seen[u] {
			t.Fatalf("%s created twice", u)
		}
		seen[u] = true
	}
	var rows, urls, blogs int
	tdb.SQL.QueryRow("SELECT COUNT(*), COUNT(DISTINCT monitor_url), COUNT(DISTINCT blog_id) FROM jetpack_monitor_sites").Scan(&rows, &urls, &blogs)
	if rows != 5 || urls != 5 || blogs != 5 || len(seen) != 5 {
		t.Fatalf("%d rows, %d urls, %d blog ids, %d created; want 5 of each", rows, urls, blogs, len(seen))
	}
}

func TestCheckWritable(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{})
	d, _ := open(t, srv, 5*time.Second)
	if err := d.CheckWritable(ctx); err != nil {
		t.Fatalf("writable server refused: %v", err)
	}
	if err := srv.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	err := d.CheckWritable(ctx)
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), "-write-dsn") {
		t.Fatalf("read-only server: %v, want an error saying read-only and naming -write-dsn", err)
	}
	if err := srv.Exec("SET GLOBAL read_only = 0"); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckWritable(ctx); err != nil {
		t.Fatalf("writable again: %v", err)
	}
	srv.Stop()
	if err := d.CheckWritable(ctx); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("stopped server: %v", err)
	}
}
