package binlog

import (
	"context"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestReconcileWithThePrimaryFindsADriftedReplica: a transition committed
// on the primary with sql_log_bin=0 never reaches the replica, so the
// replica's table, its binlog and the journal agree with each other and
// the journal reconcile alone finds nothing. With -primary-dsn the run
// goes on to compare the replica's table with the primary's: it names the
// row, takes coverage back to the last agreement (no answer over the
// transition says journal from then on) and holds it; once the row is
// re-synchronized the hold lifts by itself and a fresh span's answers
// equal the primary's truth.
func TestReconcileWithThePrimaryFindsADriftedReplica(t *testing.T) {
	c := newChain(t, testdb.TopologyOptions{}, 2)
	replica, r := c.tp.Replica(), c.r
	r.holdCheck, r.primaryDSN = 200*time.Millisecond, c.db.DSN()
	spanStart := c.startInSpan(r)
	rec := NewReconciler(r.follower, ReconcileOptions{})
	ctx := context.Background()
	if rep := rec.Reconcile(ctx); rep.Outcome != ReconcileAgreed || rep.Primary == nil || rep.Primary.Outcome != ReconcileAgreed {
		t.Fatalf("a clean chain: %+v (primary %+v)", rep, rep.Primary)
	}

	// sql_log_bin is back on before the session goes back to the pool.
	c.exec("SET SESSION sql_log_bin = 0", flipping(1), "SET SESSION sql_log_bin = 1")
	until := c.lastStamp(1).Add(time.Second)
	c.waitServerPast(until)

	rep := rec.Reconcile(ctx)
	if rep.Outcome != ReconcileDiverged || rep.Differences != 0 || rep.Primary == nil || len(rep.Primary.Sites) != 1 || rep.Primary.Sites[0] != c.siteOf(1) || rep.TakenBackFrom == nil {
		t.Fatalf("after a transition the replica never saw: %+v (primary %+v)", rep, rep.Primary)
	}
	var answers []answer
	a := c.ask(r.journal, "taken back", 1, spanStart, until)
	if a.covered {
		t.Fatalf("a window holding the hidden transition answers journal after the reconcile (spans %s)", spanReasons(r.journal))
	}
	answers = append(answers, a)
	waitFor(t, "the span to end, held", func() bool { _, held := r.follower.Hold(); return held && !journalCovering(r.journal) })
	heartbeatsPass(t, c, replica, 2, func() {
		answers = append(answers, c.ask(r.journal, "held", 1, spanStart, until))
	})

	c.resync(1)
	waitFor(t, "the hold to lift by itself", func() bool { _, held := r.follower.Hold(); return !held && journalCovering(r.journal) })
	c.flipAndAsk(r.journal, &answers, "after the re-synchronization", c.pastSpanStart(r.journal), 1, 2)
	c.judgeCovered(answers, map[string]int{"taken back": 0, "held": 0, "after the re-synchronization": 2})
}
