package promnames

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="jetmon-bridge"} == 0`, []string{"up"}},
		{`sum by (route, code) (rate(jetmon_bridge_http_requests_total{instance=~"$instance"}[$__rate_interval]))`,
			[]string{"jetmon_bridge_http_requests_total"}},
		{`histogram_quantile(0.99, sum without (method) (rate(jetmon_bridge_http_request_duration_seconds_bucket[5m])))`,
			[]string{"jetmon_bridge_http_request_duration_seconds_bucket"}},
		{`min without (thread) (jetmon_bridge_replica_thread_running) == 0 or max without(thread) (jetmon_bridge_replica_last_errno) > 0`,
			[]string{"jetmon_bridge_replica_last_errno", "jetmon_bridge_replica_thread_running"}},
		{`time() - jetmon_bridge_journal_coverage_end_timestamp_seconds > 5m`, []string{"jetmon_bridge_journal_coverage_end_timestamp_seconds"}},
		{`a / on (instance) group_left (version) b offset 1h`, []string{"a", "b"}},
		{`{__name__="x", job="y"} + bool z`, []string{"x", "z"}},
		{`count(x{l="by (y) \" }"}) by (l)`, []string{"x"}},
		{`1e3 * 0x1f + 2.5`, nil},
	} {
		got, err := MetricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `x[5m`, `{__name__=~"x.*"}`, `x{a="b}`} {
		if got, err := MetricNames(bad); err == nil {
			t.Errorf("%s: read as %v", bad, got)
		}
	}
}
