package binlog

import (
	"fmt"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// filterDrops sets a replication filter on the chain's replica that leaves
// jetpack_monitor_sites out, flips blogs on the primary (the replica drops
// those transitions and keeps its rows as they were), waits until the
// follower has ended its span for the filter, and removes the filter. It
// returns once a replication reading shows the filter gone.
func filterDrops(t *testing.T, c *chain, r *rig, replica *testdb.Replica, blogs ...int) {
	t.Helper()
	filter := fmt.Sprintf("%s.%s", c.db.Name, bridge.Table)
	if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table='" + filter + "'; START SLAVE"); err != nil {
		t.Fatal(err)
	}
	removed := false
	defer func() {
		if !removed {
			replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table=''; START SLAVE")
		}
	}()
	for _, blog := range blogs {
		c.flip(blog)
	}
	waitFor(t, "the follower to end coverage for the filter", func() bool {
		st, ok, _ := r.follower.Replication()
		return ok && st.Filtered != nil && !journalCovering(r.journal)
	})
	// The replica has read past the dropped transitions: they are lost to
	// it, not waiting.
	c.waitCaughtUp()
	if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table=''; START SLAVE"); err != nil {
		t.Fatal(err)
	}
	removed = true
	waitFor(t, "a replication reading without the filter", func() bool {
		st, ok, _ := r.follower.Replication()
		return ok && st.Filtered == nil && r.follower.Status().State == bridge.FollowerFollowing
	})
}

// TestAFilterLeavesNoStaleRowVouchedFor reproduces issue 21's remaining
// filter hole on a real chain: a replication filter drops the primary's
// transitions of blogs 1 and 2, so the replica's rows of those blogs stay
// stale; the filter is removed; the primary then changes blog 1 back
// (truth 1 -> 0 dropped, then 0 -> 1: the replica re-logs its row as 1 ->
// 1, and nothing is journaled) and blog 3 (never touched by the filter).
// Every answer labelled journal, before and after a restart of the bridge,
// must equal the primary's truth: once a filter has dropped changes no
// span may vouch for the replica's stale rows, and a restart does not
// change that. (Before the hold, the fresh span that followed the filter
// answered journal for blog 1's window without its 0 -> 1.)
func TestAFilterLeavesNoStaleRowVouchedFor(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 3)
	replica := c.tp.Replica()
	r := newRig(t, c.onReplica(replica))
	r.waitLimit, r.poll = time.Second, 100*time.Millisecond
	r.start()
	defer r.stop()
	var answers []answer
	spanStart := r.journal.Spans(time.Time{})[0].Start
	c.waitServerPast(spanStart)
	c.flip(1)
	c.askUntilCovered(r.journal, &answers, "before the filter", 1, spanStart, c.serverNow())

	filterDrops(t, c, r, replica, 1, 2)
	since := c.serverNow()
	if spans := r.journal.Spans(time.Time{}); len(spans) > 0 && spans[len(spans)-1].Start.After(since) {
		since = spans[len(spans)-1].Start
	}
	c.waitServerPast(since)
	c.flip(1)
	last := c.flip(3)
	c.waitServerPast(last.Add(time.Second))
	askAll := func(phase string) {
		heartbeatsPass(t, c, replica, 4, func() {
			for _, blog := range []uint64{1, 3} {
				answers = append(answers, c.ask(r.journal, phase, blog, since, last.Add(time.Second)))
			}
		})
	}
	askAll("after the filter")
	r.halt()
	r.run()
	askAll("after a restart")
	if journalCovering(r.journal) {
		t.Errorf("a span is open after a filter dropped changes and the bridge restarted, with nothing re-synchronized: %s", spanReasons(r.journal))
	}
	c.judge(answers)
}
