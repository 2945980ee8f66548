package metrics_test

import (
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
)

func TestPublisherMetricsFollowThePublisher(t *testing.T) {
	var mu sync.Mutex
	stats := metrics.PublisherStats{Published: 10, Duplicates: 2, Pending: 5}
	m := metrics.New(metrics.Sources{Publisher: func() metrics.PublisherStats { mu.Lock(); defer mu.Unlock(); return stats }})
	fams := scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_publish_messages_total", map[string]string{"result": "stored"}, 10)
	mustValue(t, fams, "jetmon_bridge_publish_messages_total", map[string]string{"result": "duplicate"}, 2)
	mustValue(t, fams, "jetmon_bridge_publish_pending", nil, 5)
	mustValue(t, fams, "jetmon_bridge_publish_errors_total", nil, 0)
	mustValue(t, fams, "jetmon_bridge_publish_held", nil, 0)
	mustValue(t, fams, "jetmon_bridge_publish_overtaken_total", nil, 0)
	mustAbsent(t, fams, "jetmon_bridge_publish_last_error_timestamp_seconds", nil)

	at := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	mu.Lock()
	stats = metrics.PublisherStats{Published: 15, Errors: 1, LastErrorAt: at, Pending: 40, Held: true, Overtaken: 3}
	mu.Unlock()
	fams = scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_publish_messages_total", map[string]string{"result": "stored"}, 15)
	mustValue(t, fams, "jetmon_bridge_publish_pending", nil, 40)
	mustValue(t, fams, "jetmon_bridge_publish_errors_total", nil, 1)
	mustValue(t, fams, "jetmon_bridge_publish_last_error_timestamp_seconds", nil, float64(at.Unix()))
	mustValue(t, fams, "jetmon_bridge_publish_held", nil, 1)
	mustValue(t, fams, "jetmon_bridge_publish_overtaken_total", nil, 3)

	// Without -publish, none of them.
	fams = scrape(t, metrics.New(metrics.Sources{}).Handler())
	mustAbsent(t, fams, "jetmon_bridge_publish_pending", nil)
	mustAbsent(t, fams, "jetmon_bridge_publish_held", nil)
}
