package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/promnames"
	"github.com/automattic/jetmon-bridge/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// The alerting rules, their promtool unit tests, and the Grafana dashboard
// the repository ships (docs/operations.md, "Alerting rules and the
// dashboard").
const (
	rulesPath     = "prometheus/jetmon-bridge.rules.yml"
	rulesTestPath = "prometheus/jetmon-bridge.rules.test.yml"
	dashboardPath = "grafana/jetmon-bridge.dashboard.json"
)

// promtool finds Debian's promtool (package prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool is not installed (apt-get install prometheus): the alerting rules were not checked")
	}
	return p
}

// TestPrometheusRules checks the rules with promtool, runs their unit tests,
// requires every alert to be tested both firing and not firing, and every
// expression to name only metrics the bridge exports.
func TestPrometheusRules(t *testing.T) {
	tool := promtool(t)
	if out, err := run(t, root, tool, "check", "rules", rulesPath); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := run(t, filepath.Join(root, "prometheus"), tool, "test", "rules", filepath.Base(rulesTestPath)); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(read(t, rulesPath)), &rules); err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	if err := yaml.Unmarshal([]byte(read(t, rulesTestPath)), &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, c := range tests.Tests {
		for _, a := range c.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	known := knownMetrics()
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: %s is not unit-tested both firing (%v) and not firing (%v)", rulesTestPath, r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			checkNames(t, rulesPath+" "+r.Alert, r.Expr, known)
		}
	}
	if alerts < 10 {
		t.Errorf("%s holds %d alerts: has its form changed?", rulesPath, alerts)
	}
}

// TestGrafanaDashboard checks that every query of the dashboard names only
// metrics the bridge exports and parses as PromQL (promtool, with Grafana's
// variables replaced), and that every panel uses the dashboard's data source
// variable. tests/e2e/TestAlertsOnARealPrometheus also runs every query on a
// real Prometheus scraping a real bridge.
func TestGrafanaDashboard(t *testing.T) {
	d, err := promnames.ReadDashboard([]byte(read(t, dashboardPath)))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Queries) < 20 {
		t.Fatalf("%s holds %d queries: has its form changed?", dashboardPath, len(d.Queries))
	}
	known := knownMetrics()
	for _, q := range d.Queries {
		checkNames(t, dashboardPath+" panel "+q.Panel, q.Expr, known)
		if q.Datasource != "${datasource}" {
			t.Errorf("%s: panel %q does not use the ${datasource} variable", dashboardPath, q.Panel)
		}
	}
	for _, q := range d.Templates {
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: template query %q is not label_values(metric, label)", dashboardPath, q)
			continue
		}
		checkNames(t, dashboardPath+" template", m[1], known)
	}

	// promtool parses them as recording rules.
	tool := promtool(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range d.Queries {
		q, _ := json.Marshal(promnames.Instantiate(e.Expr))
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, ".", tool, "check", "rules", file); err != nil {
		t.Fatalf("a dashboard query does not parse: %v\n%s", err, out)
	}
}

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// knownMetrics are the names an expression may select: every family the
// bridge can export (histograms with their series' suffixes) and
// Prometheus's own up.
func knownMetrics() map[string]bool {
	known := map[string]bool{"up": true}
	for _, n := range metrics.Names() {
		known[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			known[n+suffix] = true
		}
	}
	return known
}

// checkNames fails t for each metric expr selects that known lacks, or
// for an expression that selects none.
func checkNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	names, err := promnames.MetricNames(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q names %s, which the bridge does not export (internal/metrics.Names)", where, expr, n)
		}
	}
}
