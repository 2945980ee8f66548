package metrics_test

import (
	"slices"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/metrics"
)

// Names holds every family of the bridge's own, the runtime's and the
// process's, including those a scrape leaves out for want of a value.
func TestNamesListsEveryFamily(t *testing.T) {
	names := metrics.Names()
	for _, want := range []string{
		"jetmon_bridge_follower_state", "jetmon_bridge_follower_lag_seconds", "jetmon_bridge_replica_lag_seconds",
		"jetmon_bridge_publish_last_error_timestamp_seconds", "jetmon_bridge_service_restart_limit_crossed",
		"jetmon_bridge_http_request_duration_seconds", "jetmon_bridge_service_restarts_total",
		"jetmon_bridge_journal_oldest_event_timestamp_seconds", "jetmon_bridge_journal_trimmed_events_total",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s: %v", want, names)
		}
	}
}
