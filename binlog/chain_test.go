package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	driver "github.com/go-sql-driver/mysql"
)

// chain is Jetmon's table on a throwaway primary -> replica topology, with
// the truth recorded on the primary: a trigger writes every change of
// site_status into the table truth, in the transaction that makes it, so
// the truth's ids are in commit order and a change rolled back or never
// committed leaves no truth either.
type chain struct {
	t  *testing.T
	tp *testdb.Topology
	db *testdb.DB // Jetmon's database, on the primary
	// primary is a pool on Jetmon's database on the server that is the
	// primary now (it changes in a failover); newChain's keeps its
	// sessions' time in UTC and scans times.
	primary *sql.DB
	// r is a rig on the replica, not started; a test that follows another
	// server, or several times afresh, makes its own.
	r *rig
	// filtered is the replica ignoreTable left its filter on (nil: none).
	filtered *testdb.Replica
}

const truthTable = `CREATE TABLE truth (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  blog_id BIGINT UNSIGNED NOT NULL,
  old_status TINYINT UNSIGNED NOT NULL,
  new_status TINYINT UNSIGNED NOT NULL,
  created_at BIGINT NULL,
  binlog_timed BOOL NOT NULL
) ENGINE=InnoDB`

// truthTriggerOn records the transitions of table (by its name when the
// trigger is created; a trigger follows its table through renames):
// created_at is the last_status_change the update left, in Unix seconds;
// binlog_timed says the update left it alone (or NULL), so the bridge
// times the transition by its binlog event instead.
func truthTriggerOn(name, table string) string {
	return fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s FOR EACH ROW INSERT INTO truth (blog_id, old_status, new_status, created_at, binlog_timed) "+
		"SELECT NEW.blog_id, OLD.site_status, NEW.site_status, UNIX_TIMESTAMP(NEW.last_status_change), "+
		"NEW.last_status_change IS NULL OR NEW.last_status_change <=> OLD.last_status_change "+
		"FROM DUAL WHERE NOT (OLD.site_status <=> NEW.site_status)", name, table)
}

// newChain starts the topology, creates Jetmon's table on the primary with
// blogs 1..blogs (last_status_change NULL) and its truth, waits until the
// replica has it all, and makes a rig (not started) on the replica.
func newChain(t *testing.T, opts testdb.TopologyOptions, blogs int) *chain {
	t.Helper()
	tp := testdb.DedicatedTopology(t, opts)
	db := testdb.NewDBOn(t, tp.Primary)
	db.MustExec(t, truthTable)
	db.MustExec(t, truthTriggerOn("truth_sites", bridge.Table))
	for b := 1; b <= blogs; b++ {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (?, 0, ?, NULL)",
			b, fmt.Sprintf("https://%d.example", b))
	}
	cfg, err := driver.ParseDSN(db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Loc, cfg.ParseTime = time.UTC, true
	utc, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { utc.Close() })
	c := &chain{t: t, tp: tp, db: db, primary: utc}
	c.waitCaughtUp()
	c.r = newRig(t, c.onReplica(tp.Replica()))
	return c
}

// onReplica is Jetmon's database on a replica, for a follower's rig.
func (c *chain) onReplica(r *testdb.Replica) *testdb.DB {
	return &testdb.DB{Server: r.Server, Name: c.db.Name}
}

// waitCaughtUp waits until every replica has applied all the primary wrote.
func (c *chain) waitCaughtUp() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.tp.WaitCaughtUp(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// exec runs statements on the primary, in one session.
func (c *chain) exec(stmts ...string) {
	c.t.Helper()
	conn, err := c.primary.Conn(context.Background())
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

// flipping is an UPDATE that turns blog's site_status between 0 and 1
// and stamps it.
func flipping(blog int) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET site_status = 1 - LEAST(site_status, 1), last_status_change = NOW() WHERE blog_id = %d", blog)
}

// flip commits a transition of blog on the primary and returns its
// created_at, as the truth recorded it.
func (c *chain) flip(blog int) time.Time {
	c.t.Helper()
	c.exec(flipping(blog))
	return c.lastStamp(blog)
}

// flips flips each blog in turn and returns the last one's created_at.
func (c *chain) flips(blogs ...int) time.Time {
	c.t.Helper()
	var last time.Time
	for _, blog := range blogs {
		last = c.flip(blog)
	}
	return last
}

// lastStamp is the created_at of blog's last transition in the truth.
func (c *chain) lastStamp(blog int) time.Time {
	c.t.Helper()
	var at int64
	if err := c.primary.QueryRow("SELECT created_at FROM truth WHERE blog_id = ? ORDER BY id DESC LIMIT 1", blog).Scan(&at); err != nil {
		c.t.Fatal(err)
	}
	return time.Unix(at, 0).UTC()
}

// writeOn makes s the server Jetmon writes on, as after a failover:
// c.primary becomes a pool on Jetmon's database there.
func (c *chain) writeOn(s *testdb.Server) {
	c.t.Helper()
	pool, err := openPool(&testdb.DB{Server: s, Name: c.db.Name})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { pool.Close() })
	c.primary = pool
}

// serverNow is the primary's clock.
func (c *chain) serverNow() time.Time {
	c.t.Helper()
	var us int64
	if err := c.primary.QueryRow("SELECT " + serverClockSQL).Scan(&us); err != nil {
		c.t.Fatal(err)
	}
	return unixMicros(us)
}

// waitServerPast waits until the primary's clock has passed at.
func (c *chain) waitServerPast(at time.Time) {
	c.t.Helper()
	for !c.serverNow().After(at) {
		time.Sleep(20 * time.Millisecond)
	}
}

// lastSpanStart is the start of j's last span.
func lastSpanStart(j *journal.Journal) time.Time {
	spans := j.Spans(time.Time{})
	return spans[len(spans)-1].Start
}

// pastSpanStart waits until the primary's clock has passed the start of
// j's last span, so that transitions made next lie inside it, and returns
// that start.
func (c *chain) pastSpanStart(j *journal.Journal) time.Time {
	c.t.Helper()
	start := lastSpanStart(j)
	c.waitServerPast(start)
	return start
}

// startQuick starts r with a short journal wait limit and poll, so that a
// lag, a filter or a hold shows within a second.
func startQuick(r *rig) {
	r.t.Helper()
	r.waitLimit, r.poll = time.Second, 100*time.Millisecond
	r.start()
}

// startInSpan starts r as startQuick does and returns the start of its
// span once the primary's clock has passed it.
func (c *chain) startInSpan(r *rig) time.Time {
	c.t.Helper()
	startQuick(r)
	return c.pastSpanStart(r.journal)
}

// siteOf is blog's jetpack_monitor_site_id (on the primary).
func (c *chain) siteOf(blog int) uint64 {
	c.t.Helper()
	var site uint64
	if err := c.primary.QueryRow("SELECT jetpack_monitor_site_id FROM jetpack_monitor_sites WHERE blog_id = ?", blog).Scan(&site); err != nil {
		c.t.Fatal(err)
	}
	return site
}

// resync re-synchronizes blog's row on the replica as pt-table-sync
// --sync-to-master does: on the primary, with changes that replicate the
// whole row (bucket_no there and back; no transition, so the truth records
// none), which the replica applies over its stale row.
func (c *chain) resync(blog int) {
	c.t.Helper()
	for _, q := range []string{
		"UPDATE jetpack_monitor_sites SET bucket_no = bucket_no + 1 WHERE blog_id = ?",
		"UPDATE jetpack_monitor_sites SET bucket_no = bucket_no - 1 WHERE blog_id = ?",
	} {
		if _, err := c.primary.Exec(q, blog); err != nil {
			c.t.Fatal(err)
		}
	}
	c.waitCaughtUp()
}

// liftFilter is what removes ignoreTable's filter.
const liftFilter = "STOP SLAVE; SET GLOBAL replicate_ignore_table=''; START SLAVE"

// ignoreTable sets a replication filter on replica that leaves Jetmon's
// table out (MariaDB allows it between STOP SLAVE and START SLAVE), and
// returns it; a filter not lifted by unignoreTable is lifted when the test
// ends.
func (c *chain) ignoreTable(replica *testdb.Replica) string {
	c.t.Helper()
	filter := fmt.Sprintf("%s.%s", c.db.Name, bridge.Table)
	if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table='" + filter + "'; START SLAVE"); err != nil {
		c.t.Fatal(err)
	}
	if c.filtered == nil {
		c.t.Cleanup(func() {
			if c.filtered != nil {
				c.filtered.Exec(liftFilter)
			}
		})
	}
	c.filtered = replica
	return filter
}

// unignoreTable lifts ignoreTable's filter.
func (c *chain) unignoreTable(replica *testdb.Replica) {
	c.t.Helper()
	if err := replica.Exec(liftFilter); err != nil {
		c.t.Fatal(err)
	}
	c.filtered = nil
}

// waitUnfiltered waits until r's follower follows on a replication
// reading without a filter.
func waitUnfiltered(t *testing.T, r *rig) {
	t.Helper()
	waitFor(t, "a replication reading without the filter", func() bool {
		st, ok, _ := r.follower.Replication()
		return ok && st.Filtered == nil && st.Running() && r.follower.Status().State == bridge.FollowerFollowing
	})
}

// heartbeatsPass waits until n replication heartbeats have reached the
// replica since it was called, calling each at the start and after every
// heartbeat: the chances a wrong proof has to vouch. (A primary sends a
// heartbeat only after a period with nothing to send, so each is paced by
// the heartbeats.)
func heartbeatsPass(t *testing.T, c *chain, r *testdb.Replica, n uint64, each func()) {
	t.Helper()
	db := c.onReplica(r)
	pool, err := openPool(db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	read := func() ReplicationStatus {
		t.Helper()
		st, err := ReadReplicationStatus(ctx, pool, FlavorMariaDB, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := read()
	seen := first.Heartbeats
	each()
	for {
		st := read()
		if st.Heartbeats >= first.Heartbeats+n {
			return
		}
		if st.Heartbeats > seen {
			seen = st.Heartbeats
			each()
		}
		if ctx.Err() != nil {
			t.Fatalf("%d heartbeats never arrived: %+v", n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// truthRow is one transition the primary committed and its place in
// commit order. event.CreatedAt is the last_status_change the update left
// (zero when NULL).
type truthRow struct {
	id    uint64
	event bridge.Event
	// binlogTimed: the update left last_status_change alone, so the
	// bridge times the transition by its binlog event, not by
	// event.CreatedAt.
	binlogTimed bool
}

func (c *chain) truth() []truthRow {
	c.t.Helper()
	rows, err := c.primary.Query("SELECT id, blog_id, old_status, new_status, created_at, binlog_timed FROM truth ORDER BY id")
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []truthRow
	for rows.Next() {
		var r truthRow
		var at sql.NullInt64
		if err := rows.Scan(&r.id, &r.event.BlogID, &r.event.OldStatus, &r.event.NewStatus, &at, &r.binlogTimed); err != nil {
			c.t.Fatal(err)
		}
		if at.Valid {
			r.event.CreatedAt = time.Unix(at.Int64, 0).UTC()
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *chain) lastTruthID() uint64 {
	c.t.Helper()
	var id sql.NullInt64
	if err := c.primary.QueryRow("SELECT MAX(id) FROM truth").Scan(&id); err != nil {
		c.t.Fatal(err)
	}
	return uint64(id.Int64)
}

// answer is one Window answer and the truth's extent around it: every
// transition with an id up to before was committed before the question,
// none after after had been when it was answered.
type answer struct {
	blog          uint64
	since, until  time.Time
	events        []bridge.Event
	covered       bool
	before, after uint64
	phase         string
}

// ask asks j for blog's window as /events does and keeps the answer.
func (c *chain) ask(j *journal.Journal, phase string, blog uint64, since, until time.Time) answer {
	c.t.Helper()
	a := answer{blog: blog, since: since, until: until, before: c.lastTruthID(), phase: phase}
	evs, spans, err := j.Window(context.Background(), blog, since, until)
	if err != nil {
		c.t.Fatal(err)
	}
	a.events = evs
	a.covered = len(spans) > 0 && len(bridge.Uncovered(spans, since, until)) == 0
	a.after = c.lastTruthID()
	return a
}

// askUntilCovered asks until an answer is covered (keeping every answer),
// failing after a minute.
func (c *chain) askUntilCovered(j *journal.Journal, answers *[]answer, phase string, blog uint64, since, until time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a := c.ask(j, phase, blog, since, until)
		*answers = append(*answers, a)
		if a.covered {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: blog %d [%s, %s) never answered journal; spans %s", phase, blog, since.Format(time.RFC3339), until.Format(time.RFC3339), spanReasons(j))
		}
	}
}

// flipAndAsk flips each blog in turn and asks for its window from since
// to a second past the flip until an answer is covered.
func (c *chain) flipAndAsk(j *journal.Journal, answers *[]answer, phase string, since time.Time, blogs ...int) {
	c.t.Helper()
	for _, blog := range blogs {
		at := c.flip(blog)
		c.askUntilCovered(j, answers, phase, uint64(blog), since, at.Add(time.Second))
	}
}

// wantUncovered asks for each blog's window [since, until) and keeps the
// answers, failing the test if one answers journal: the journal vouched
// for what it says.
func (c *chain) wantUncovered(j *journal.Journal, answers *[]answer, phase string, since, until time.Time, vouched string, blogs ...uint64) {
	c.t.Helper()
	for _, blog := range blogs {
		a := c.ask(j, phase, blog, since, until)
		if a.covered {
			c.t.Fatalf("blog %d: %s (events %v; spans %s)", blog, vouched, a.events, spanReasons(j))
		}
		*answers = append(*answers, a)
	}
}

// journalCovering reports whether the journal has an open span.
func journalCovering(j *journal.Journal) bool {
	_, open := j.OpenSpan()
	return open
}

// openPool opens a root pool on db.
func openPool(db *testdb.DB) (*sql.DB, error) { return sql.Open("mysql", db.DSN()) }

// judge holds every covered answer to the invariant: its events are the
// truth for its window, counting every transition committed before the
// question and none committed after the answer. It returns how many
// answers were covered, per phase.
func (c *chain) judge(answers []answer) map[string]int {
	c.t.Helper()
	truth := c.truth()
	covered := map[string]int{}
	for _, a := range answers {
		if !a.covered {
			continue
		}
		covered[a.phase]++
		var low, high []bridge.Event
		for _, r := range truth {
			e := r.event
			if e.BlogID != a.blog || e.CreatedAt.Before(a.since) || !e.CreatedAt.Before(a.until) {
				continue
			}
			if r.id <= a.before {
				low = append(low, e)
			}
			if r.id <= a.after {
				high = append(high, e)
			}
		}
		ok := len(a.events) >= len(low) && len(a.events) <= len(high)
		for i := 0; ok && i < len(a.events); i++ {
			g, w := a.events[i], high[i]
			ok = g.BlogID == w.BlogID && g.OldStatus == w.OldStatus && g.NewStatus == w.NewStatus && g.CreatedAt.Equal(w.CreatedAt)
		}
		if !ok {
			c.t.Errorf("%s: blog %d [%s, %s) answered journal but differs from the primary's truth\n got: %v\nwant: %v (at least the first %d)",
				a.phase, a.blog, a.since.Format(time.RFC3339), a.until.Format(time.RFC3339), a.events, high, len(low))
		}
	}
	return covered
}

// judgeCovered judges answers and fails c.t unless each phase in want had
// exactly that many covered answers.
func (c *chain) judgeCovered(answers []answer, want map[string]int) {
	c.t.Helper()
	n := c.judge(answers)
	for phase, w := range want {
		if n[phase] != w {
			c.t.Errorf("covered answers per phase %v", n)
			return
		}
	}
}

// spanReasons lists the journal's spans, gaps and why coverage stopped.
func spanReasons(j *journal.Journal) string {
	st, err := j.Stats()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, s := range st.Spans {
		out = append(out, fmt.Sprintf("[%s, %s) open=%v", s.Start.Format(time.TimeOnly), s.End.Format(time.TimeOnly), s.Open))
	}
	for _, g := range st.Gaps {
		out = append(out, "gap: "+g.Reason)
	}
	if st.Stopped != "" {
		out = append(out, "stopped: "+st.Stopped)
	}
	return strings.Join(out, "; ")
}
