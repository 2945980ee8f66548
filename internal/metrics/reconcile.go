package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReconcileStats is what the metrics read from the reconcile self-check
// (binlog.Reconciler.Stats, adapted by cmd/jetmon-bridge).
type ReconcileStats struct {
	// Runs counts finished runs by outcome (agreed, diverged, skipped,
	// failed).
	Runs map[string]uint64
	// Differences counts the rows found differing, over all runs.
	Differences uint64
	// LastSuccess is when the last run that compared every row ended;
	// zero when none has.
	LastSuccess time.Time
	// LastSeconds is how long the last run took; zero before the first.
	LastSeconds float64
}

// ReconcileOutcomes are the outcomes a run may have; each has a series
// from the start.
var ReconcileOutcomes = []string{"agreed", "diverged", "skipped", "failed"}

var (
	descReconcileRuns = prometheus.NewDesc(Namespace+"_reconcile_runs_total",
		"Reconcile runs (the journal's rows compared with the table at a consistent point) since start, by outcome: agreed, diverged (coverage taken back and restarted), skipped (no consistent point now), failed.", []string{"outcome"}, nil)
	descReconcileDifferences = prometheus.NewDesc(Namespace+"_reconcile_differences_total",
		"Rows whose site_status or last_status_change differed between the journal and the table (or that one side lacked), over all reconcile runs since start.", nil, nil)
	descReconcileLastSuccess = prometheus.NewDesc(Namespace+"_reconcile_last_success_timestamp_seconds",
		"Unix time the last reconcile run that compared every row ended (agreed or diverged); absent before the first.", nil, nil)
	descReconcileDuration = prometheus.NewDesc(Namespace+"_reconcile_duration_seconds",
		"How long the last reconcile run took; absent before the first.", nil, nil)
)

// reconcileCollector reads the reconcile counters on each scrape.
type reconcileCollector struct{ stats func() ReconcileStats }

func (c reconcileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReconcileRuns
	ch <- descReconcileDifferences
	ch <- descReconcileLastSuccess
	ch <- descReconcileDuration
}

func (c reconcileCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, o := range ReconcileOutcomes {
		ch <- prometheus.MustNewConstMetric(descReconcileRuns, prometheus.CounterValue, float64(s.Runs[o]), o)
	}
	ch <- prometheus.MustNewConstMetric(descReconcileDifferences, prometheus.CounterValue, float64(s.Differences))
	if !s.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(descReconcileLastSuccess, prometheus.GaugeValue, float64(s.LastSuccess.UnixNano())/1e9)
	}
	if s.LastSeconds > 0 {
		ch <- prometheus.MustNewConstMetric(descReconcileDuration, prometheus.GaugeValue, s.LastSeconds)
	}
}
