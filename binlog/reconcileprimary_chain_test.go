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
	replica := c.tp.Replica()
	r := newRig(t, c.onReplica(replica))
	r.waitLimit, r.poll, r.holdCheck = time.Second, 100*time.Millisecond, 200*time.Millisecond
	r.primaryDSN = c.db.DSN()
	r.start()
	defer r.stop()
	rec := NewReconciler(r.follower, ReconcileOptions{})
	ctx := context.Background()
	spanStart := r.journal.Spans(time.Time{})[0].Start
	c.waitServerPast(spanStart)
	if rep := rec.Reconcile(ctx); rep.Outcome != ReconcileAgreed || rep.Primary == nil || rep.Primary.Outcome != ReconcileAgreed {
		t.Fatalf("a clean chain: %+v (primary %+v)", rep, rep.Primary)
	}

	conn, err := c.primary.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE jetpack_monitor_sites SET site_status = 1 - LEAST(site_status, 1), last_status_change = NOW() WHERE blog_id = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 1"); err != nil { // the connection goes back to the pool
		t.Fatal(err)
	}
	conn.Close()
	var hidden int64
	if err := c.primary.QueryRow("SELECT created_at FROM truth WHERE blog_id = 1 ORDER BY id DESC LIMIT 1").Scan(&hidden); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(hidden+1, 0).UTC()
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
	spans := r.journal.Spans(time.Time{})
	start := spans[len(spans)-1].Start
	c.waitServerPast(start)
	for _, blog := range []int{1, 2} {
		at := c.flip(blog)
		c.askUntilCovered(r.journal, &answers, "after the re-synchronization", uint64(blog), start, at.Add(time.Second))
	}
	if n := c.judge(answers); n["taken back"] != 0 || n["held"] != 0 || n["after the re-synchronization"] != 2 {
		t.Errorf("covered answers per phase %v", n)
	}
}
