package metrics_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
)

func TestRetentionMetricsFollowTheJournal(t *testing.T) {
	var mu sync.Mutex
	oldest := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	stats := metrics.RetentionStats{Oldest: oldest}
	var fail error
	m := metrics.New(metrics.Sources{Retention: func() (metrics.RetentionStats, error) { mu.Lock(); defer mu.Unlock(); return stats, fail }})
	fams := scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_journal_oldest_event_timestamp_seconds", nil, float64(oldest.Unix()))
	mustAbsent(t, fams, "jetmon_bridge_journal_retention_cutoff_timestamp_seconds", nil)
	mustValue(t, fams, "jetmon_bridge_journal_trimmed_events_total", nil, 0)
	mustValue(t, fams, "jetmon_bridge_journal_retain_seconds", nil, 0)

	cutoff := oldest.Add(time.Hour)
	mu.Lock()
	stats = metrics.RetentionStats{Oldest: cutoff.Add(time.Second), Cutoff: cutoff, Trimmed: 1234, Retain: 720 * time.Hour}
	mu.Unlock()
	fams = scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_journal_oldest_event_timestamp_seconds", nil, float64(cutoff.Unix()+1))
	mustValue(t, fams, "jetmon_bridge_journal_retention_cutoff_timestamp_seconds", nil, float64(cutoff.Unix()))
	mustValue(t, fams, "jetmon_bridge_journal_trimmed_events_total", nil, 1234)
	mustValue(t, fams, "jetmon_bridge_journal_retain_seconds", nil, 720*3600)

	// An empty journal has no oldest event; a failed read reports nothing.
	mu.Lock()
	stats = metrics.RetentionStats{}
	mu.Unlock()
	mustAbsent(t, scrape(t, m.Handler()), "jetmon_bridge_journal_oldest_event_timestamp_seconds", nil)
	mu.Lock()
	stats, fail = metrics.RetentionStats{Oldest: oldest, Trimmed: 9}, errors.New("damaged")
	mu.Unlock()
	mustAbsent(t, scrape(t, m.Handler()), "jetmon_bridge_journal_trimmed_events_total", nil)
}
