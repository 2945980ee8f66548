package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RetentionStats is how far back the journal reaches (journal.Retention,
// with the daemon's -retain, adapted by cmd/jetmon-bridge).
type RetentionStats struct {
	// Oldest is the created_at of the oldest stored event; zero when the
	// journal holds none.
	Oldest time.Time
	// Cutoff is the retention cutoff, where coverage starts; zero when the
	// journal was never trimmed.
	Cutoff time.Time
	// Trimmed counts the events retention deleted over the journal's life.
	Trimmed uint64
	// Retain is the configured retention (-retain); zero when it is off.
	Retain time.Duration
}

var (
	descOldestEvent = prometheus.NewDesc(Namespace+"_journal_oldest_event_timestamp_seconds",
		"Unix time of the oldest event the journal holds (created_at); absent when it holds none. With -retain it trails the present by about the retention once trimming keeps up.", nil, nil)
	descRetentionCutoff = prometheus.NewDesc(Namespace+"_journal_retention_cutoff_timestamp_seconds",
		"Unix time before which the journal answers for nothing (retention's cutoff: coverage starts there); absent when it was never trimmed.", nil, nil)
	descTrimmed = prometheus.NewDesc(Namespace+"_journal_trimmed_events_total",
		"Events retention deleted from the journal over its life.", nil, nil)
	descRetain = prometheus.NewDesc(Namespace+"_journal_retain_seconds",
		"The configured retention (-retain), 0 when it is off: the oldest event should not trail the present by much more.", nil, nil)
)

// retentionCollector reads the journal's reach on each scrape.
type retentionCollector struct {
	stats func() (RetentionStats, error)
}

func (c retentionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOldestEvent
	ch <- descRetentionCutoff
	ch <- descTrimmed
	ch <- descRetain
}

func (c retentionCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.stats()
	if err != nil {
		return // left out of the scrape rather than made up
	}
	if !s.Oldest.IsZero() {
		ch <- prometheus.MustNewConstMetric(descOldestEvent, prometheus.GaugeValue, float64(s.Oldest.Unix()))
	}
	if !s.Cutoff.IsZero() {
		ch <- prometheus.MustNewConstMetric(descRetentionCutoff, prometheus.GaugeValue, float64(s.Cutoff.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(descTrimmed, prometheus.CounterValue, float64(s.Trimmed))
	ch <- prometheus.MustNewConstMetric(descRetain, prometheus.GaugeValue, s.Retain.Seconds())
}
