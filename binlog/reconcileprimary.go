package binlog

import (
	"context"
	"fmt"

	bridge "github.com/automattic/jetmon-bridge"
)

// With -primary-dsn the reconcile goes one step further (docs/guarantees.md,
// "Reconcile: the journal checked against the table"): once the journal
// agrees with the replica's table, the replica's table is compared with the
// primary's (compareWithPrimary, tablecheck.go). The journal reconcile
// cannot see a replica whose table itself lost the primary's changes (a
// replication filter set and removed between two readings or while the
// bridge was stopped, a transaction skipped on the replica, a write on the
// primary with sql_log_bin=0): the replica's table, its binlog and the
// journal then agree with each other. The comparison can. A difference
// takes coverage back to the last run in which both agreed, as a journal
// divergence does, and holds it (hold.go) instead of restarting it: a span
// started from the replica's snapshot would vouch for its stale rows. The
// hold lifts once the tables agree (checkHoldInBackground) or the operator
// says the table was re-synchronized. A run marks its agreement only when
// both comparisons agree, so a comparison with the primary that could not
// be made (skipped, failed) leaves the last agreement where it was.

// checkPrimary compares the replica's table with the primary's after the
// journal agreed with the replica's, for the open span span.
func (r *Reconciler) checkPrimary(ctx context.Context, span bridge.Span, rep *ReconcileReport) error {
	f, j := r.f, r.f.cfg.Journal
	check := f.compareWithPrimary(ctx)
	rep.Primary = &check
	switch check.Outcome {
	case ReconcileAgreed:
		return j.MarkAgreed(span.Start, span.End)
	case ReconcileDiverged:
	default:
		return nil // no consistent point with the primary now: the next run tries again
	}
	if now, ok := j.OpenSpan(); !ok || !j.SameSpan(now.Start, span.Start) {
		return skip("a new coverage span started meanwhile")
	}
	from, err := r.takeBack(span, rep)
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("the replica's table differs from the primary's in %d row(s) (sites %v)", check.Differences, check.Sites)
	if _, err := holdFor(j, f.log, reason, f.holdFix()); err != nil {
		return err
	}
	r.log.Error("REPLICA DIVERGED: the replica's table differs from the primary's at one GTID point, though the journal agrees with it; "+
		"coverage after the last agreement is taken back, the span ends, and coverage is held until the rows are re-synchronized",
		"differences", check.Differences, "sites", check.Sites, "primary_gtids", check.PrimaryGTIDs, "taken_back_from", from)
	f.RestartCoverage(span.Start, reason, from)
	return nil
}
