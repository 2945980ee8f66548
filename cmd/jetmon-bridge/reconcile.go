package main

import (
	"context"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/server"
)

// defaultReconcileInterval is -reconcile's default. A run over a million
// rows took about 3.5 s on a busy 2-CPU machine (BenchmarkReconcile,
// docs/guarantees.md "What a reconcile costs"): every five minutes that is
// about 1% of the time spent reading the replica in primary-key order, and
// a journal that diverged from the table answers `journal` wrongly for at
// most five minutes and one run.
const defaultReconcileInterval = 5 * time.Minute

// reconcileNow is the on-demand reconcile of POST /journal/reconcile and
// the Monitor's reconcile call: one run, ended early only by the caller or
// by the daemon stopping.
func (f *follower) reconcileNow(daemon context.Context) server.ReconcileFunc {
	return func(ctx context.Context) any {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(daemon, cancel)
		defer stop()
		return f.reconciler.Reconcile(ctx)
	}
}

// reconcileHealth is /healthz's view of the self-check: its interval, the
// last run (when, outcome, rows compared, differences and the first few
// differing sites), and the totals.
func (f *follower) reconcileHealth() map[string]any {
	h := map[string]any{"interval_seconds": f.reconciler.Interval().Seconds()}
	st := f.reconciler.Stats()
	h["runs"], h["differences_total"] = st.Runs, st.Differences
	if !st.LastSuccess.IsZero() {
		h["last_success"] = st.LastSuccess.UTC().Format(time.RFC3339Nano)
	}
	last, ok := f.reconciler.Last()
	if !ok {
		return h
	}
	l := map[string]any{
		"at": last.At.Format(time.RFC3339Nano), "outcome": last.Outcome, "duration_seconds": last.Seconds,
		"rows": last.Rows, "skipped_changed_meanwhile": last.Skipped, "differences": last.Differences,
		"other_differences": last.OtherDifferences,
	}
	if last.Reason != "" {
		l["reason"] = last.Reason
	}
	if last.Position != "" {
		l["position"] = last.Position
	}
	if len(last.Examples) > 0 {
		sites := make([]uint64, len(last.Examples))
		for i, d := range last.Examples {
			sites[i] = d.Site
		}
		l["sites"] = sites
	}
	if last.TakenBackFrom != nil {
		l["coverage_taken_back_from"] = last.TakenBackFrom.Format(time.RFC3339)
	}
	h["last"] = l
	return h
}

// reconcileStats adapts the Reconciler's counters for /metrics.
func (f *follower) reconcileStats() metrics.ReconcileStats {
	st := f.reconciler.Stats()
	return metrics.ReconcileStats{Runs: st.Runs, Differences: st.Differences, LastSuccess: st.LastSuccess, LastSeconds: st.LastSeconds}
}
