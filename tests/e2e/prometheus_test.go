package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/promnames"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/internal/testenv"
)

// The shipped alerting rules and dashboard, from this package's directory.
const (
	shippedRules     = "../../prometheus/jetmon-bridge.rules.yml"
	shippedDashboard = "../../grafana/jetmon-bridge.dashboard.json"
)

// TestAlertsOnARealPrometheus: a real Prometheus (Debian's), scraping a
// real bridge that follows a real replica every second with the token from
// a file and evaluating the shipped rules every second, fires
// JetmonBridgeReplicationNotCurrent when the replica's SQL thread stops and
// resolves it when the thread starts again. Every query of the shipped
// dashboard runs on that Prometheus, and names only metrics the bridge's
// /metrics exposes or its registry describes.
func TestAlertsOnARealPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Missing(t, "prometheus is not installed (apt-get install prometheus): the alerting rules were not run on a real Prometheus")
	}
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	db := tp.NewDB(t)
	setupSites(t, db, 27000, 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const token = "prometheus-scrapes-with-this"
	tokenFile := filepath.Join(dir, "token")
	writeToken(t, tokenFile, token)
	d := launch(t, token, "-dsn", tp.Replica().DSN(db.Name), "-journal", filepath.Join(dir, "bridge.journal"),
		"-token-file", tokenFile, "-monitor-interval", "200ms", "-read-timeout", "1s")

	prom := startPrometheus(t, bin, dir, d.addr, tokenFile)
	waitFor(t, "Prometheus to scrape the bridge's replica metrics", 2*time.Minute, func() bool {
		v := prom.query(t, `jetmon_bridge_replica_thread_running{job="jetmon-bridge",thread="sql"}`)
		return len(v) == 1 && v[0].Value[1] == "1"
	})
	waitFor(t, "Prometheus to evaluate the rules", time.Minute, func() bool {
		return prom.ruleEvaluated(t, "JetmonBridgeReplicationNotCurrent")
	})
	if st := prom.alertState(t, "JetmonBridgeReplicationNotCurrent"); st != "" {
		t.Fatalf("JetmonBridgeReplicationNotCurrent is %s while replication runs", st)
	}
	checkDashboardOnPrometheus(t, prom, d, token)

	r := tp.Replica()
	if err := r.StopSQLThread(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, "JetmonBridgeReplicationNotCurrent to fire", 4*time.Minute, func() bool {
		return prom.alertState(t, "JetmonBridgeReplicationNotCurrent") == "firing"
	})
	t.Logf("JetmonBridgeReplicationNotCurrent fired %s after STOP SLAVE SQL_THREAD", time.Since(stopped).Round(time.Second))
	if err := r.StartSQLThread(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "JetmonBridgeReplicationNotCurrent to resolve", 2*time.Minute, func() bool {
		return prom.alertState(t, "JetmonBridgeReplicationNotCurrent") == ""
	})
	// The Replica service failed its health check while replication was
	// stopped, by design; ReplicationNotCurrent said so, and nothing else
	// may have fired (ServiceRestarting leaves the Replica service out).
	for _, a := range prom.alerts(t) {
		if a.State == "firing" {
			t.Errorf("%s fires: %+v", a.Labels["alertname"], a)
		}
	}
	d.stop()
}

// prometheus is a Prometheus server a test runs.
type prometheus struct {
	url  string
	proc *exec.Cmd
	log  *bridgetest.LogBuffer
}

// startPrometheus runs Prometheus on a loopback port with a storage
// directory under dir, scraping target every second with the bearer token
// in tokenFile, as docs/operations.md's scrape configuration does, and
// evaluating the shipped rules every second.
func startPrometheus(t *testing.T, bin, dir, target, tokenFile string) *prometheus {
	t.Helper()
	rules, err := filepath.Abs(shippedRules)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: jetmon-bridge
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: ['%s']
`, rules, tokenFile, target)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &prometheus{url: "http://" + addr, log: &bridgetest.LogBuffer{}}
	p.proc = exec.Command(bin, "--config.file="+configFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	p.proc.Stdout, p.proc.Stderr = p.log, p.log
	p.proc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.proc.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			p.proc.Process.Kill()
			<-exited
		}
	})
	waitFor(t, "Prometheus to be ready", time.Minute, func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %s", p.log)
		default:
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// api reads a Prometheus HTTP API answer into data.
func (p *prometheus) api(t *testing.T, path string, data any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatalf("Prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("Prometheus %s: %v", path, err)
	}
	if answer.Status != "success" {
		t.Fatalf("Prometheus %s: %s", path, answer.Error)
	}
	if err := json.Unmarshal(answer.Data, data); err != nil {
		t.Fatalf("Prometheus %s: %v", path, err)
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query and returns its samples (a scalar's result is
// one sample without labels).
func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
	if data.ResultType == "scalar" {
		var v [2]any
		json.Unmarshal(data.Result, &v)
		return []sample{{Value: v}}
	}
	var out []sample
	if err := json.Unmarshal(data.Result, &out); err != nil {
		t.Fatalf("query %s: a %s result: %v", q, data.ResultType, err)
	}
	return out
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *prometheus) alerts(t *testing.T) []alert {
	t.Helper()
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", &data)
	return data.Alerts
}

// alertState is the alert's state in /api/v1/alerts: pending, firing, or ""
// when it is not active.
func (p *prometheus) alertState(t *testing.T, name string) string {
	t.Helper()
	for _, a := range p.alerts(t) {
		if a.Labels["alertname"] == name {
			return a.State
		}
	}
	return ""
}

// ruleEvaluated tells whether the alerting rule name was loaded and
// evaluated without error.
func (p *prometheus) ruleEvaluated(t *testing.T, name string) bool {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []struct {
				Name           string `json:"name"`
				Health         string `json:"health"`
				LastError      string `json:"lastError"`
				LastEvaluation string `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules?type=alert", &data)
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			if r.Name != name {
				continue
			}
			if r.Health == "err" {
				t.Fatalf("rule %s: %s", name, r.LastError)
			}
			return r.Health == "ok"
		}
	}
	return false
}

// checkDashboardOnPrometheus runs every query of the shipped dashboard on
// p and checks that each names only metrics the bridge exposes now or its
// registry describes (metrics.Names), and that the bridge exposes nothing
// its registry does not describe.
func checkDashboardOnPrometheus(t *testing.T, p *prometheus, d *daemon, token string) {
	t.Helper()
	model, err := os.ReadFile(shippedDashboard)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := promnames.ReadDashboard(model)
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for _, n := range metrics.Names() {
		described[n] = true
	}
	exposed := exposedFamilies(t, d, token)
	for name := range exposed {
		if !described[name] {
			t.Errorf("/metrics exposes %s, which metrics.Names does not list", name)
		}
	}
	for _, q := range dash.Queries {
		p.query(t, promnames.Instantiate(q.Expr)) // fails t on an error
		names, err := promnames.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("panel %q: %v", q.Panel, err)
			continue
		}
		for _, n := range names {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if !exposed[base] && !described[base] {
				t.Errorf("panel %q queries %s, which the bridge neither exposes nor describes", q.Panel, n)
			}
		}
	}
}

// exposedFamilies are the metric families the bridge's /metrics names in
// its # TYPE lines.
func exposedFamilies(t *testing.T, d *daemon, token string) map[string]bool {
	t.Helper()
	resp, body, err := authGet(d, "/metrics", token)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("/metrics names no family:\n%s", body)
	}
	return out
}
