package binlog

// The chain's layout checks: statements that change the table, a wait for
// c.r's journal to commit all the primary wrote, and the journal held to
// the truth as a whole.

import (
	"fmt"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// transition is an UPDATE that changes blog's site_status and stamps it.
func transition(blog, status int) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET site_status=%d, last_status_change=NOW() WHERE blog_id=%d", status, blog)
}

// activeOnly is an UPDATE of monitor_active alone: no transition.
func activeOnly(blog, active int) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET monitor_active=%d WHERE blog_id=%d", active, blog)
}

// waitJournaled waits until the replica has applied all the primary wrote
// and c.r's journal has committed it, failing when the follower stops.
func (c *chain) waitJournaled() {
	c.t.Helper()
	c.waitCaughtUp()
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

// lastGTID is the GTID the primary wrote last.
func (c *chain) lastGTID() string {
	c.t.Helper()
	var pos string
	if err := c.primary.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		c.t.Fatal(err)
	}
	return pos
}

// committed reports whether the journal has committed the GTID set pos.
func (c *chain) committed(pos string) bool {
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
func (c *chain) running() {
	c.t.Helper()
	select {
	case err := <-c.r.done:
		c.r.cancel = nil
		c.r.journal.Close()
		c.t.Fatalf("the follower stopped: %v", err)
	default:
	}
}

// journaled is every event in the journal, in id order, with its GTID.
func (c *chain) journaled() []journal.SourcedEvent {
	c.t.Helper()
	evs, err := c.r.journal.EventsAfter(0, 1<<20)
	if err != nil {
		c.t.Fatal(err)
	}
	return evs
}

// matches reports whether e is the transition r, at r's time unless the
// binlog times it.
func (r truthRow) matches(e bridge.Event) bool {
	return e.BlogID == r.event.BlogID && e.OldStatus == r.event.OldStatus && e.NewStatus == r.event.NewStatus &&
		(r.binlogTimed || e.CreatedAt.Equal(r.event.CreatedAt))
}

func (r truthRow) String() string {
	at := "binlog time"
	if !r.binlogTimed {
		at = r.event.CreatedAt.Format(time.TimeOnly)
	}
	return fmt.Sprintf("blog %d %d->%d at %s", r.event.BlogID, r.event.OldStatus, r.event.NewStatus, at)
}

// exactly fails t unless the journal holds exactly the truth, blog by
// blog in order, in one span: nothing missing, nothing extra.
func (c *chain) exactly() {
	c.t.Helper()
	if st, err := c.r.journal.Stats(); err != nil || len(st.Gaps) != 0 {
		c.t.Fatalf("coverage has gaps %+v (err %v), want none", st.Gaps, err)
	}
	c.sameAs(c.truth(), c.journaled())
}

// sameAs fails t unless events are truth, blog by blog in order.
func (c *chain) sameAs(truth []truthRow, events []journal.SourcedEvent) {
	c.t.Helper()
	byBlog := map[uint64][]truthRow{}
	for _, r := range truth {
		byBlog[r.event.BlogID] = append(byBlog[r.event.BlogID], r)
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
func (c *chain) withinSpans() []journal.Gap {
	c.t.Helper()
	truth, events := c.truth(), c.journaled()
	// Nothing that is not the truth, anywhere.
	left := slices.Clone(truth)
	for _, e := range events {
		i := slices.IndexFunc(left, func(r truthRow) bool { return r.matches(e.Event) })
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
		var want []truthRow
		for _, r := range truth {
			if !r.binlogTimed && in(r.event.CreatedAt) {
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
