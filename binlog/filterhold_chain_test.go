package binlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	c.ignoreTable(replica)
	c.flips(blogs...)
	waitFor(t, "the follower to end coverage for the filter", func() bool {
		st, ok, _ := r.follower.Replication()
		return ok && st.Filtered != nil && !journalCovering(r.journal)
	})
	// The replica has read past the dropped transitions: they are lost to
	// it, not waiting.
	c.waitCaughtUp()
	c.unignoreTable(replica)
	waitUnfiltered(t, r)
}

// beforeTheFilter starts c.r as startInSpan does, flips blog 1 and asks
// for its window from the span's start until an answer is covered (the
// phase "before the filter"); it returns the span's start.
func (c *chain) beforeTheFilter(answers *[]answer) time.Time {
	c.t.Helper()
	spanStart := c.startInSpan(c.r)
	c.flip(1)
	c.askUntilCovered(c.r.journal, answers, "before the filter", 1, spanStart, c.serverNow())
	return spanStart
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
	replica, r := c.tp.Replica(), c.r
	var answers []answer
	c.beforeTheFilter(&answers)

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

// TestAHoldLiftsWhenTheOperatorSaysResynced: after a replication filter
// dropped transitions, coverage is held with the fix named (the Replica
// service's reason, the hold's status), across a restart of the bridge
// too, while the follower goes on journaling; the operator's word is
// refused while the filter is still there; once the replica's table is
// re-synchronized and the operator says so, a fresh span starts and its
// answers equal the primary's truth. Every journal answer throughout is
// judged against the truth.
func TestAHoldLiftsWhenTheOperatorSaysResynced(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 3)
	replica, r := c.tp.Replica(), c.r
	var answers []answer
	c.startInSpan(r)

	c.ignoreTable(replica)
	c.flip(2) // dropped
	waitFor(t, "the hold", func() bool { _, held := r.follower.Hold(); return held && !journalCovering(r.journal) })
	if rep := r.follower.Resynced(context.Background()); rep.Outcome != ResyncHeld || !strings.Contains(rep.Message, "still has a filter") {
		t.Errorf("resynced while the filter is there: %+v", rep)
	}
	c.unignoreTable(replica)
	waitUnfiltered(t, r)
	h, held := r.follower.Hold()
	if !held || !strings.Contains(h.Reason, "replicate_ignore_table") || !strings.Contains(h.Fix, "jetmon-bridge journal resynced") || !strings.Contains(h.Fix, "pt-table-sync") {
		t.Fatalf("hold %+v held=%v", h, held)
	}
	if err := r.follower.ReplicaProblem(); err == nil || !strings.Contains(err.Error(), "coverage is held") || !strings.Contains(err.Error(), "journal resynced") {
		t.Errorf("the Replica service's reason while held: %v", err)
	}

	// Held, the follower journals on and vouches for nothing.
	since := c.serverNow()
	c.waitServerPast(since)
	c.flip(3)
	last := c.flip(2) // the replica's row of blog 2 is stale: a wrong transition
	waitFor(t, "the follower to journal blog 3", func() bool { return len(r.events(3, 1)) >= 1 })
	heartbeatsPass(t, c, replica, 3, func() {
		for _, blog := range []uint64{2, 3} {
			answers = append(answers, c.ask(r.journal, "held", blog, since, last.Add(time.Second)))
		}
	})
	r.halt()
	r.run()
	if _, held := r.follower.Hold(); !held || journalCovering(r.journal) {
		t.Fatalf("after a restart: held=%v, spans %s", held, spanReasons(r.journal))
	}
	heartbeatsPass(t, c, replica, 2, func() {
		answers = append(answers, c.ask(r.journal, "held, restarted", 2, since, last.Add(time.Second)))
	})

	c.resync(2)
	if rep := r.follower.Resynced(context.Background()); rep.Outcome != ResyncReleased {
		t.Fatalf("resynced: %+v", rep)
	}
	waitFor(t, "a fresh span", func() bool { return journalCovering(r.journal) })
	if _, held := r.follower.Hold(); held {
		t.Error("still held after the operator's word")
	}
	if rep := r.follower.Resynced(context.Background()); rep.Outcome != ResyncNotHeld {
		t.Errorf("resynced with nothing held: %+v", rep)
	}
	c.flipAndAsk(r.journal, &answers, "after the resync", c.pastSpanStart(r.journal), 2, 3)
	c.judgeCovered(answers, map[string]int{"held": 0, "held, restarted": 0, "after the resync": 2})
}

// TestTheHoldLiftsWhenThePrimaryAgrees: with -primary-dsn the bridge
// compares the replica's table with the primary's while coverage is held:
// rows a filter left stale are named by site and keep the hold; rows the
// primary's later changes made alike again count as agreeing; once every
// row agrees (the stale one re-synchronized, a row only the replica has
// gone) the hold lifts by itself and a fresh span's answers equal the
// primary's truth.
func TestTheHoldLiftsWhenThePrimaryAgrees(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 3)
	replica, r := c.tp.Replica(), c.r
	r.holdCheck, r.primaryDSN = 200*time.Millisecond, c.db.DSN()
	startQuick(r)
	var answers []answer
	site1, site2 := c.siteOf(1), c.siteOf(2)

	filterDrops(t, c, r, replica, 1, 2)
	sitesDiffer := func(want ...uint64) func() bool {
		return func() bool {
			h, held := r.follower.Hold()
			return held && h.LastCheck != nil && h.LastCheck.Outcome == ReconcileDiverged && slices.Equal(h.LastCheck.Sites, want)
		}
	}
	waitFor(t, "a comparison naming the stale rows of blogs 1 and 2", sitesDiffer(site1, site2))
	since := c.serverNow()
	c.waitServerPast(since)
	last := c.flip(1) // the primary's change makes the replica's row of blog 1 right again
	waitFor(t, "a comparison naming blog 2's row alone", sitesDiffer(site2))
	heartbeatsPass(t, c, replica, 2, func() {
		answers = append(answers, c.ask(r.journal, "held", 1, since, last.Add(time.Second)))
	})
	if journalCovering(r.journal) {
		t.Fatalf("a span opened while a row differs from the primary's: %s", spanReasons(r.journal))
	}

	// A row only the replica has (a stray write there, kept out of its
	// binlog) keeps the hold as a stale one does, until it is gone.
	const stray = 990001
	if err := replica.Exec(fmt.Sprintf("SET sql_log_bin=0; INSERT INTO %s.%s (jetpack_monitor_site_id, blog_id, bucket_no, monitor_url) VALUES (%d, 99, 0, 'https://stray.example'); SET sql_log_bin=1",
		c.db.Name, bridge.Table, stray)); err != nil {
		t.Fatal(err)
	}
	c.resync(2)
	waitFor(t, "a comparison naming the row only the replica has", sitesDiffer(stray))
	if err := replica.Exec(fmt.Sprintf("SET sql_log_bin=0; DELETE FROM %s.%s WHERE jetpack_monitor_site_id = %d; SET sql_log_bin=1", c.db.Name, bridge.Table, stray)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hold to lift by itself", func() bool { _, held := r.follower.Hold(); return !held && journalCovering(r.journal) })
	c.flipAndAsk(r.journal, &answers, "after the check agreed", c.pastSpanStart(r.journal), 1, 2, 3)
	c.judgeCovered(answers, map[string]int{"held": 0, "after the check agreed": 3})
}

// TestAFilterSeenAtStartHoldsCoverage: a replication filter set while the
// bridge is stopped may drop changes before the bridge sees it. Preflight
// refuses to start, and records the hold first (ending the open span); once
// the filter is gone the bridge follows with coverage held until the
// operator says the table was re-synchronized.
func TestAFilterSeenAtStartHoldsCoverage(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 2)
	replica, r := c.tp.Replica(), c.r
	startQuick(r)
	r.halt()
	c.ignoreTable(replica)
	c.flip(1) // dropped while the bridge is stopped
	c.waitCaughtUp()
	_, err := Open(context.Background(), Config{Replica: r.replica, Journal: r.journal, ServerID: 4242})
	var p *FilterProblem
	if !errors.As(err, &p) {
		t.Fatalf("Open with a filter: %v", err)
	}
	if h, held := r.journal.Held(); !held || !strings.Contains(h.Reason, "replicate_ignore_table") || journalCovering(r.journal) {
		t.Fatalf("after the refusal: hold %+v held=%v, spans %s", h, held, spanReasons(r.journal))
	}
	c.unignoreTable(replica)
	r.run()
	since := c.serverNow()
	c.waitServerPast(since)
	last := c.flip(2)
	var answers []answer
	heartbeatsPass(t, c, replica, 3, func() {
		answers = append(answers, c.ask(r.journal, "held", 2, since, last.Add(time.Second)))
	})
	if journalCovering(r.journal) {
		t.Fatalf("a span opened after a filter refused at start: %s", spanReasons(r.journal))
	}
	c.resync(1)
	if rep := r.follower.Resynced(context.Background()); rep.Outcome != ResyncReleased {
		t.Fatalf("resynced: %+v", rep)
	}
	waitFor(t, "a fresh span", func() bool { return journalCovering(r.journal) })
	c.flipAndAsk(r.journal, &answers, "after the resync", c.pastSpanStart(r.journal), 1)
	c.judgeCovered(answers, map[string]int{"held": 0, "after the resync": 1})
}
