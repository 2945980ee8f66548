package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PublisherStats is what the metrics read from the NATS publisher
// (nats.Publisher.Status, adapted by cmd/jetmon-bridge).
type PublisherStats struct {
	// Published counts messages the stream stored from this bridge since
	// start; Duplicates those it already held (another bridge's, or a
	// resend of an unacknowledged one).
	Published, Duplicates uint64
	// Pending counts journal events the stream is not known to hold yet.
	Pending uint64
	// Overtaken counts the times the publisher found the stream's end
	// moved under it (another bridge's messages after its last) and placed
	// itself again.
	Overtaken uint64
	// Held: the publisher publishes nothing until something outside the
	// bridge changes (its reason is in /healthz and the Monitor).
	Held bool
	// Errors counts failed publisher runs; LastErrorAt is the last one's
	// time (zero when none).
	Errors      uint64
	LastErrorAt time.Time
}

var (
	descPublished = prometheus.NewDesc(Namespace+"_publish_messages_total",
		"Journal events the NATS stream acknowledged from this bridge since start, by result: stored, or duplicate (already in the stream).", []string{"result"}, nil)
	descPending = prometheus.NewDesc(Namespace+"_publish_pending",
		"Journal events the NATS stream is not known to hold yet.", nil, nil)
	descPublishOvertaken = prometheus.NewDesc(Namespace+"_publish_overtaken_total",
		"Times the NATS publisher found the stream's end moved under it (another bridge stored messages after its last, or its last message was deleted) and placed itself again.", nil, nil)
	descPublishHeld = prometheus.NewDesc(Namespace+"_publish_held",
		"1 while the NATS publisher publishes nothing until something outside the bridge changes (it cannot place the stream's end in its journal, or waits for the stream's duplicate window); the reason is in /healthz.", nil, nil)
	descPublishErrors = prometheus.NewDesc(Namespace+"_publish_errors_total",
		"Failed runs of the NATS publisher (each is retried after a back-off; the last error is in /healthz).", nil, nil)
	descPublishLastError = prometheus.NewDesc(Namespace+"_publish_last_error_timestamp_seconds",
		"Unix time of the NATS publisher's last failure; absent when it has not failed.", nil, nil)
)

// publisherCollector reads the publisher on each scrape.
type publisherCollector struct{ stats func() PublisherStats }

func (c publisherCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPublished
	ch <- descPending
	ch <- descPublishOvertaken
	ch <- descPublishHeld
	ch <- descPublishErrors
	ch <- descPublishLastError
}

func (c publisherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(s.Published), "stored")
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(s.Duplicates), "duplicate")
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(descPublishOvertaken, prometheus.CounterValue, float64(s.Overtaken))
	held := 0.0
	if s.Held {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(descPublishHeld, prometheus.GaugeValue, held)
	ch <- prometheus.MustNewConstMetric(descPublishErrors, prometheus.CounterValue, float64(s.Errors))
	if !s.LastErrorAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(descPublishLastError, prometheus.GaugeValue, float64(s.LastErrorAt.UnixNano())/1e9)
	}
}
