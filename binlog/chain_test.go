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
)

// chain is Jetmon's table on a throwaway primary -> replica topology, with
// the truth recorded on the primary: a trigger writes every site_status
// transition into a truth table in the transaction that makes it, so the
// truth's ids are in commit order.
type chain struct {
	t  *testing.T
	tp *testdb.Topology
	db *testdb.DB // Jetmon's database, on the primary
	// primary is a pool on Jetmon's database on the server that is the
	// primary now (it changes in a failover).
	primary *sql.DB
}

const truthSchema = `CREATE TABLE truth (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  blog_id BIGINT UNSIGNED NOT NULL,
  old_status TINYINT UNSIGNED NOT NULL,
  new_status TINYINT UNSIGNED NOT NULL,
  created_at BIGINT NOT NULL
)`

const truthTrigger = `CREATE TRIGGER truth_after_update AFTER UPDATE ON jetpack_monitor_sites FOR EACH ROW
  IF NOT (OLD.site_status <=> NEW.site_status) THEN
    INSERT INTO truth (blog_id, old_status, new_status, created_at)
    VALUES (NEW.blog_id, OLD.site_status, NEW.site_status, UNIX_TIMESTAMP(NEW.last_status_change));
  END IF`

func newChain(t *testing.T, opts testdb.TopologyOptions, blogs int) *chain {
	t.Helper()
	tp := testdb.DedicatedTopology(t, opts)
	db := testdb.NewDBOn(t, tp.Primary)
	db.MustExec(t, truthSchema)
	db.MustExec(t, truthTrigger)
	for b := 1; b <= blogs; b++ {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, ?)", b, fmt.Sprintf("https://%d.example", b))
	}
	c := &chain{t: t, tp: tp, db: db, primary: db.SQL}
	c.waitCaughtUp()
	return c
}

// onReplica is Jetmon's database on a replica, for a follower's rig.
func (c *chain) onReplica(r *testdb.Replica) *testdb.DB {
	return &testdb.DB{Server: r.Server, Name: c.db.Name}
}

func (c *chain) waitCaughtUp() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.tp.WaitCaughtUp(ctx); err != nil {
		c.t.Fatal(err)
	}
}

// flip commits a transition of blog on the primary and returns its
// created_at, as the truth recorded it.
func (c *chain) flip(blog int) time.Time {
	c.t.Helper()
	if _, err := c.primary.Exec("UPDATE jetpack_monitor_sites SET site_status = 1 - LEAST(site_status, 1), last_status_change = NOW() WHERE blog_id = ?", blog); err != nil {
		c.t.Fatalf("flip blog %d: %v", blog, err)
	}
	var at int64
	if err := c.primary.QueryRow("SELECT created_at FROM truth WHERE blog_id = ? ORDER BY id DESC LIMIT 1", blog).Scan(&at); err != nil {
		c.t.Fatal(err)
	}
	return time.Unix(at, 0).UTC()
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

// truthRow is one recorded transition and its place in commit order.
type truthRow struct {
	id    uint64
	event bridge.Event
}

func (c *chain) truth() []truthRow {
	c.t.Helper()
	rows, err := c.primary.Query("SELECT id, blog_id, old_status, new_status, created_at FROM truth ORDER BY id")
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []truthRow
	for rows.Next() {
		var r truthRow
		var at int64
		if err := rows.Scan(&r.id, &r.event.BlogID, &r.event.OldStatus, &r.event.NewStatus, &at); err != nil {
			c.t.Fatal(err)
		}
		r.event.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, r)
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
