package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	driver "github.com/go-sql-driver/mysql"
)

// layoutChain is a primary -> replica chain whose replica a rig follows, with
// the truth recorded on the primary: a trigger writes every change of
// site_status into the table truth, in the transaction that makes it, so a
// change rolled back or never committed leaves no truth either.
type layoutChain struct {
	t       *testing.T
	tp      *testdb.Topology
	primary *testdb.DB
	utc     *sql.DB // the primary database, read in UTC
	r       *rig
}

const truthTable = `CREATE TABLE truth (
  id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  blog_id bigint unsigned NOT NULL,
  old_status tinyint unsigned NOT NULL,
  new_status tinyint unsigned NOT NULL,
  at timestamp NULL
) ENGINE=InnoDB`

// truthTrigger records the transitions of table (by its name when the
// trigger is created; a trigger follows its table through renames). A
// transition whose update left last_status_change alone is timed by its
// binlog event: its at is NULL.
func truthTriggerOn(name, table string) string {
	return fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s FOR EACH ROW INSERT INTO truth (blog_id, old_status, new_status, at) "+
		"SELECT NEW.blog_id, OLD.site_status, NEW.site_status, "+
		"IF(NEW.last_status_change IS NULL OR NEW.last_status_change <=> OLD.last_status_change, NULL, NEW.last_status_change) "+
		"FROM DUAL WHERE OLD.site_status <> NEW.site_status", name, table)
}

// newLayoutChain starts a chain, creates the table on the primary with blogs
// 1..sites and its truth, and a rig (not started) on the replica.
func newLayoutChain(t *testing.T, opts testdb.TopologyOptions, sites int) *layoutChain {
	t.Helper()
	c := &layoutChain{t: t, tp: testdb.DedicatedTopology(t, opts)}
	c.primary = c.tp.NewDB(t)
	c.primary.MustExec(t, truthTable)
	c.primary.MustExec(t, truthTriggerOn("truth_sites", "jetpack_monitor_sites"))
	for b := 1; b <= sites; b++ {
		c.primary.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (?, 0, ?, NULL)",
			b, fmt.Sprintf("https://%d.example", b))
	}
	cfg, err := driver.ParseDSN(c.primary.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Loc, cfg.ParseTime = time.UTC, true
	if c.utc, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.utc.Close() })
	c.replicated()
	c.r = newRig(t, &testdb.DB{Server: c.tp.Replica().Server, Name: c.primary.Name})
	return c
}

// exec runs statements on the primary, in one session.
func (c *layoutChain) exec(stmts ...string) {
	c.t.Helper()
	conn, err := c.utc.Conn(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			c.t.Fatalf("%s: %v", s, err)
		}
	}
}

// transition is an UPDATE that changes blog's site_status and stamps it.
func transition(blog, status int) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET site_status=%d, last_status_change=NOW() WHERE blog_id=%d", status, blog)
}

// activeOnly is an UPDATE of monitor_active alone: no transition.
func activeOnly(blog, active int) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET monitor_active=%d WHERE blog_id=%d", active, blog)
}

// replicated waits until the replica has applied all the primary wrote.
func (c *layoutChain) replicated() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.tp.WaitCaughtUp(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// pastSpanStart waits until the primary's clock has passed the start of
// the journal's last span, so that transitions made next lie inside it.
func (c *layoutChain) pastSpanStart() {
	c.t.Helper()
	spans := c.r.journal.Spans(time.Time{})
	start := spans[len(spans)-1].Start
	for {
		var after bool
		if err := c.utc.QueryRow("SELECT UTC_TIMESTAMP() >= ?", start.UTC().Format(time.DateTime)).Scan(&after); err != nil {
			c.t.Fatal(err)
		}
		if after {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// caughtUp waits until the replica has applied all the primary wrote and
// the journal has committed it, failing when the follower stops.
func (c *layoutChain) caughtUp() {
	c.t.Helper()
	c.replicated()
	pos := c.lastGTID()
	deadline := time.Now().Add(60 * time.Second)
	for !c.committed(pos) {
		c.running()
		if time.Now().After(deadline) {
			cp, _ := c.r.journal.Checkpoint()
			c.t.Fatalf("the journal never committed the primary's %s (checkpoint %s)", pos, cp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// committed reports whether the journal has committed the GTID set pos.
func (c *layoutChain) committed(pos string) bool {
	c.t.Helper()
	want, err := gomysql.ParseMariadbGTIDSet(pos)
	if err != nil {
		c.t.Fatal(err)
	}
	cp, ok := c.r.journal.Checkpoint()
	if !ok {
		return false
	}
	have, err := gomysql.ParseMariadbGTIDSet(cp.GTIDSet)
	return err == nil && have.Contain(want)
}

// running fails t when the follower has stopped.
func (c *layoutChain) running() {
	c.t.Helper()
	select {
	case err := <-c.r.done:
		c.r.cancel = nil
		c.r.journal.Close()
		c.t.Fatalf("the follower stopped: %v", err)
	default:
	}
}

// layoutTruthRow is one transition the primary committed; at is zero when the
// update left last_status_change alone (the event's time is the binlog's).
type layoutTruthRow struct {
	blog     uint64
	old, new bridge.Status
	at       time.Time
}

func (c *layoutChain) truth() []layoutTruthRow {
	c.t.Helper()
	rows, err := c.utc.Query("SELECT blog_id, old_status, new_status, at FROM truth ORDER BY id")
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []layoutTruthRow
	for rows.Next() {
		var r layoutTruthRow
		var at sql.NullTime
		if err := rows.Scan(&r.blog, &r.old, &r.new, &at); err != nil {
			c.t.Fatal(err)
		}
		if at.Valid {
			r.at = at.Time.UTC()
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// journaled is every event in the journal, in id order, with its GTID.
func (c *layoutChain) journaled() []journal.SourcedEvent {
	c.t.Helper()
	evs, err := c.r.journal.EventsAfter(0, 1<<20)
	if err != nil {
		c.t.Fatal(err)
	}
	return evs
}

func (r layoutTruthRow) matches(e bridge.Event) bool {
	return e.BlogID == r.blog && e.OldStatus == r.old && e.NewStatus == r.new && (r.at.IsZero() || e.CreatedAt.Equal(r.at))
}

func (r layoutTruthRow) String() string {
	at := "binlog time"
	if !r.at.IsZero() {
		at = r.at.Format(time.TimeOnly)
	}
	return fmt.Sprintf("blog %d %d->%d at %s", r.blog, r.old, r.new, at)
}

// exactly fails t unless the journal holds exactly the truth, blog by
// blog in order, in one span: nothing missing, nothing extra.
func (c *layoutChain) exactly() {
	c.t.Helper()
	if st, err := c.r.journal.Stats(); err != nil || len(st.Gaps) != 0 {
		c.t.Fatalf("coverage has gaps %+v (err %v), want none", st.Gaps, err)
	}
	c.sameAs(c.truth(), c.journaled())
}

// sameAs fails t unless events are truth, blog by blog in order.
func (c *layoutChain) sameAs(truth []layoutTruthRow, events []journal.SourcedEvent) {
	c.t.Helper()
	byBlog := map[uint64][]layoutTruthRow{}
	for _, r := range truth {
		byBlog[r.blog] = append(byBlog[r.blog], r)
	}
	got := map[uint64][]bridge.Event{}
	for _, e := range events {
		got[e.BlogID] = append(got[e.BlogID], e.Event)
	}
	for blog := range mergeKeys(byBlog, got) {
		want, have := byBlog[blog], got[blog]
		ok := len(want) == len(have)
		for i := 0; ok && i < len(want); i++ {
			ok = want[i].matches(have[i])
		}
		if !ok {
			c.t.Errorf("blog %d: the journal holds %v, the primary committed %v", blog, have, want)
		}
	}
}

// withinSpans fails t unless the journal holds nothing the primary did not
// commit, and inside every span exactly what it committed there; it
// returns the gaps.
func (c *layoutChain) withinSpans() []journal.Gap {
	c.t.Helper()
	truth, events := c.truth(), c.journaled()
	// Nothing that is not the truth, anywhere.
	left := slices.Clone(truth)
	for _, e := range events {
		i := slices.IndexFunc(left, func(r layoutTruthRow) bool { return r.matches(e.Event) })
		if i < 0 {
			c.t.Errorf("the journal holds %+v, which the primary never committed (truth %v)", e.Event, truth)
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	st, err := c.r.journal.Stats()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, s := range st.Spans {
		in := func(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }
		var want []layoutTruthRow
		for _, r := range truth {
			if !r.at.IsZero() && in(r.at) {
				want = append(want, r)
			}
		}
		var have []journal.SourcedEvent
		for _, e := range events {
			if in(e.CreatedAt) {
				have = append(have, e)
			}
		}
		c.sameAs(want, have)
	}
	return st.Gaps
}

func mergeKeys[V1, V2 any](a map[uint64]V1, b map[uint64]V2) map[uint64]bool {
	keys := map[uint64]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
