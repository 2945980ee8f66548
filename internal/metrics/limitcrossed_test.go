package metrics_test

import (
	"sync/atomic"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/metrics"
)

// jetmon_bridge_service_restart_limit_crossed follows the supervisor's
// answer for each service, on every scrape.
func TestRestartLimitCrossedMetric(t *testing.T) {
	var crossed atomic.Bool
	m := metrics.New(metrics.Sources{
		Services:            []string{"BinlogFollower", "Replica"},
		RestartLimitCrossed: func(c string) bool { return c == "BinlogFollower" && crossed.Load() },
	})
	const name = "jetmon_bridge_service_restart_limit_crossed"
	for _, want := range []float64{0, 1, 0} {
		crossed.Store(want == 1)
		fams := scrape(t, m.Handler())
		if v, ok := value(fams, name, map[string]string{"callsign": "BinlogFollower"}); !ok || v != want {
			t.Fatalf("BinlogFollower: %v (present %v), want %v", v, ok, want)
		}
		if v, ok := value(fams, name, map[string]string{"callsign": "Replica"}); !ok || v != 0 {
			t.Fatalf("Replica: %v (present %v), want 0", v, ok)
		}
	}
	if fams := scrape(t, metrics.New(metrics.Sources{Services: []string{"Replica"}}).Handler()); fams[name] != nil {
		t.Fatalf("%s exported without a source", name)
	}
}
