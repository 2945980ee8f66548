package metrics_test

import (
	"sync/atomic"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/metrics"
)

// TestCoverageHeldMetric: jetmon_bridge_coverage_held follows the hold on
// coverage, and is left out without its source.
func TestCoverageHeldMetric(t *testing.T) {
	var held atomic.Bool
	m := metrics.New(metrics.Sources{Version: "v", CoverageHeld: held.Load})
	mustValue(t, scrape(t, m.Handler()), "jetmon_bridge_coverage_held", nil, 0)
	held.Store(true)
	mustValue(t, scrape(t, m.Handler()), "jetmon_bridge_coverage_held", nil, 1)
	mustAbsent(t, scrape(t, metrics.New(metrics.Sources{Version: "v"}).Handler()), "jetmon_bridge_coverage_held", nil)
}
