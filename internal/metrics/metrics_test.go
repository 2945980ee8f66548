package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeJournal is a journal whose answers the test steers.
type fakeJournal struct {
	mu        sync.Mutex
	path      string
	seq       uint64
	commits   uint64
	confirmed time.Time
	spans     []bridge.Span
	err       error
}

func (j *fakeJournal) LastID() uint64  { j.mu.Lock(); defer j.mu.Unlock(); return j.seq }
func (j *fakeJournal) Commits() uint64 { j.mu.Lock(); defer j.mu.Unlock(); return j.commits }
func (j *fakeJournal) Confirmed() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.confirmed
}
func (j *fakeJournal) Spans(time.Time) []bridge.Span {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]bridge.Span(nil), j.spans...)
}
func (j *fakeJournal) Path() string     { return j.path }
func (j *fakeJournal) CommitErr() error { j.mu.Lock(); defer j.mu.Unlock(); return j.err }

// world is a set of steerable sources.
type world struct {
	mu      sync.Mutex
	state   bridge.FollowerState
	behind  uint64
	behindK bool
	up      map[string]bool
	journal *fakeJournal
	now     time.Time
}

func newWorld(t *testing.T) *world {
	path := filepath.Join(t.TempDir(), "bridge.journal")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	return &world{
		state: "following", behind: 120, behindK: true,
		up:  map[string]bool{"BinlogFollower": true, "Journal": true, "Replica": true},
		now: now,
		journal: &fakeJournal{
			path: path, seq: 7, commits: 5, confirmed: now.Add(-3 * time.Second),
			spans: []bridge.Span{
				{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)},
				{Start: now.Add(-30 * time.Minute), End: now.Add(-3 * time.Second)},
			},
		},
	}
}

func (w *world) sources() metrics.Sources {
	return metrics.Sources{
		Version:       "v1.2.3",
		FollowerState: func() bridge.FollowerState { w.mu.Lock(); defer w.mu.Unlock(); return w.state },
		Behind: func(ctx context.Context) (uint64, bool) {
			if _, ok := ctx.Deadline(); !ok {
				panic("Behind called without a deadline")
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.behind, w.behindK
		},
		Journal:   w.journal,
		Services:  []string{"BinlogFollower", "Journal", "Replica"},
		ServiceUp: func(c string) bool { w.mu.Lock(); defer w.mu.Unlock(); return w.up[c] },
		Now:       func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now },
	}
}

// scrape fetches h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape Content-Type %q, want text/plain", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels include
// want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: missing from the scrape", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func mustAbsent(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) {
	t.Helper()
	if got, ok := value(fams, name, labels); ok {
		t.Errorf("%s%v = %v, want no such series", name, labels, got)
	}
}

func TestScrapeReportsSourcesAndFollowsTheirChanges(t *testing.T) {
	w := newWorld(t)
	m := metrics.New(w.sources())
	fams := scrape(t, m.Handler())

	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}
	mustValue(t, fams, "jetmon_bridge_build_info", map[string]string{"version": "v1.2.3"}, 1)
	mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": "following"}, 1)
	for _, s := range []string{"starting", "snapshotting", "failed", "stopped"} {
		mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": s}, 0)
	}
	mustValue(t, fams, "jetmon_bridge_follower_lag_bytes", nil, 120)
	mustValue(t, fams, "jetmon_bridge_follower_lag_seconds", nil, 3)
	mustValue(t, fams, "jetmon_bridge_journal_transitions_total", nil, 7)
	if got := fams["jetmon_bridge_journal_transitions_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("journal_transitions_total is a %v, want a counter", got)
	}
	mustValue(t, fams, "jetmon_bridge_journal_commits_total", nil, 5)
	mustValue(t, fams, "jetmon_bridge_journal_size_bytes", nil, 4096)
	mustValue(t, fams, "jetmon_bridge_journal_coverage_spans", nil, 2)
	mustValue(t, fams, "jetmon_bridge_journal_coverage_end_timestamp_seconds", nil, float64(w.now.Unix()-3))
	mustValue(t, fams, "jetmon_bridge_journal_healthy", nil, 1)
	for _, c := range []string{"BinlogFollower", "Journal", "Replica"} {
		mustValue(t, fams, "jetmon_bridge_service_restarts_total", map[string]string{"callsign": c}, 0)
		mustValue(t, fams, "jetmon_bridge_service_up", map[string]string{"callsign": c}, 1)
	}

	// Everything moves.
	w.mu.Lock()
	w.state = bridge.FollowerFailed
	w.behindK = false
	w.up["BinlogFollower"] = false
	w.now = w.now.Add(10 * time.Second)
	w.mu.Unlock()
	w.journal.mu.Lock()
	w.journal.seq = 12
	w.journal.err = errors.New("no space left on device")
	w.journal.spans[1].End = w.now.Add(time.Hour) // caught up: vouches for the future
	w.journal.mu.Unlock()
	if err := os.WriteFile(w.journal.path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	m.ServiceRestarted("BinlogFollower")
	m.ServiceRestarted("BinlogFollower")
	m.ServiceRestarted("Primary")

	fams = scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": "following"}, 0)
	mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": "failed"}, 1)
	mustAbsent(t, fams, "jetmon_bridge_follower_lag_bytes", nil)
	mustValue(t, fams, "jetmon_bridge_follower_lag_seconds", nil, 13)
	mustValue(t, fams, "jetmon_bridge_journal_transitions_total", nil, 12)
	mustValue(t, fams, "jetmon_bridge_journal_size_bytes", nil, 8192)
	mustValue(t, fams, "jetmon_bridge_journal_coverage_end_timestamp_seconds", nil, float64(w.now.Unix()))
	mustValue(t, fams, "jetmon_bridge_journal_healthy", nil, 0)
	mustValue(t, fams, "jetmon_bridge_service_restarts_total", map[string]string{"callsign": "BinlogFollower"}, 2)
	mustValue(t, fams, "jetmon_bridge_service_restarts_total", map[string]string{"callsign": "Primary"}, 1)
	mustValue(t, fams, "jetmon_bridge_service_restarts_total", map[string]string{"callsign": "Replica"}, 0)
	mustValue(t, fams, "jetmon_bridge_service_up", map[string]string{"callsign": "BinlogFollower"}, 0)

	// A state outside the known list is still reported; an unconfirmed
	// follower has no lag in seconds.
	w.mu.Lock()
	w.state = "reconnecting"
	w.mu.Unlock()
	w.journal.mu.Lock()
	w.journal.confirmed = time.Time{}
	w.journal.mu.Unlock()
	fams = scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": "reconnecting"}, 1)
	mustValue(t, fams, "jetmon_bridge_follower_state", map[string]string{"state": "failed"}, 0)
	mustAbsent(t, fams, "jetmon_bridge_follower_lag_seconds", nil)
}

func TestWithoutSourcesOnlyTheProcessIsReported(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	fams := scrape(t, m.Handler())
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("go_goroutines missing")
	}
	mustValue(t, fams, "jetmon_bridge_build_info", map[string]string{"version": "unknown"}, 1)
	for _, name := range []string{
		"jetmon_bridge_follower_state", "jetmon_bridge_follower_lag_bytes", "jetmon_bridge_follower_lag_seconds",
		"jetmon_bridge_journal_transitions_total", "jetmon_bridge_journal_commits_total", "jetmon_bridge_journal_size_bytes",
		"jetmon_bridge_journal_coverage_end_timestamp_seconds", "jetmon_bridge_service_up",
	} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s reported without a source", name)
		}
	}
	// A journal file that is gone leaves its size out instead of failing
	// the scrape.
	j := &fakeJournal{path: filepath.Join(t.TempDir(), "missing.journal")}
	fams = scrape(t, metrics.New(metrics.Sources{Journal: j}).Handler())
	mustAbsent(t, fams, "jetmon_bridge_journal_size_bytes", nil)
	mustValue(t, fams, "jetmon_bridge_journal_coverage_spans", nil, 0)
	mustAbsent(t, fams, "jetmon_bridge_journal_coverage_end_timestamp_seconds", nil)
}

// apiRouter is a router shaped like the bridge's, with a token guard in
// front as server.Handler puts one.
func apiRouter(m **metrics.Metrics) *mux.Router {
	r := mux.NewRouter()
	r.SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"no such route"}`, http.StatusNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
	})
	ok := func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{}") }
	r.HandleFunc("/events", ok).Methods(http.MethodGet)
	r.HandleFunc("/monitors", ok).Methods(http.MethodGet)
	r.HandleFunc("/monitors", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}).Methods(http.MethodDelete)
	r.HandleFunc("/jsonrpc/{callsign}", ok).Methods(http.MethodPost)
	upgrader := websocket.Upgrader{}
	r.HandleFunc("/jsonrpc", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if _, msg, err := conn.ReadMessage(); err == nil {
			conn.WriteMessage(websocket.TextMessage, msg)
		}
	}).Methods(http.MethodGet)
	r.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*m).Handler().ServeHTTP(w, r)
	})).Methods(http.MethodGet)
	return r
}

func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func do(t *testing.T, base, method, path string, token bool) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token {
		req.Header.Set("Authorization", "Bearer s3cret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestInstrumentLabelsByRouteTemplate(t *testing.T) {
	for _, placement := range []string{"around the handler", "as router middleware"} {
		t.Run(placement, func(t *testing.T) {
			var m *metrics.Metrics
			var h http.Handler
			r := apiRouter(&m)
			if placement == "around the handler" {
				m = metrics.New(metrics.Sources{Router: r})
				h = m.Instrument(guard(r))
			} else {
				m = metrics.New(metrics.Sources{})
				r.Use(m.Instrument)
				h = guard(r)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()

			for i := 0; i < 3; i++ {
				if code := do(t, srv.URL, http.MethodGet, "/events?blog_id="+strings.Repeat("9", i+1), true); code != 200 {
					t.Fatalf("GET /events: %d", code)
				}
			}
			for _, callsign := range []string{"Monitor", "Other", "Third"} {
				do(t, srv.URL, http.MethodPost, "/jsonrpc/"+callsign, true)
			}
			if code := do(t, srv.URL, http.MethodDelete, "/monitors?url=x", true); code != http.StatusNoContent {
				t.Fatalf("DELETE /monitors: %d", code)
			}
			do(t, srv.URL, http.MethodGet, "/no/such/path/1", true)
			do(t, srv.URL, http.MethodGet, "/no/such/path/2", true)
			do(t, srv.URL, http.MethodPut, "/events", true)
			do(t, srv.URL, http.MethodGet, "/events", false)

			// A WebSocket session through the instrumented handler.
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/jsonrpc",
				http.Header{"Authorization": {"Bearer s3cret"}})
			if err != nil {
				t.Fatalf("WebSocket through Instrument: %v", err)
			}
			if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "ping" {
				t.Fatalf("WebSocket echo: %q, %v", msg, err)
			}
			ws.Close()

			// /metrics sits behind the token like every route.
			if code := do(t, srv.URL, http.MethodGet, "/metrics", false); code != http.StatusUnauthorized {
				t.Errorf("GET /metrics without the token: %d, want 401", code)
			}
			if code := do(t, srv.URL, http.MethodGet, "/metrics", true); code != http.StatusOK {
				t.Errorf("GET /metrics with the token: %d, want 200", code)
			}
			fams := scrape(t, m.Handler())
			mustValue(t, fams, "jetmon_bridge_http_requests_total",
				map[string]string{"route": "/metrics", "method": "GET", "code": "200"}, 1)

			mustValue(t, fams, "jetmon_bridge_http_requests_total",
				map[string]string{"route": "/events", "method": "GET", "code": "200"}, 3)
			timed := 3.0
			if placement == "around the handler" {
				timed = 4 // the 401 too
			}
			mustValue(t, fams, "jetmon_bridge_http_request_duration_seconds",
				map[string]string{"route": "/events", "method": "GET"}, timed)
			mustValue(t, fams, "jetmon_bridge_http_requests_total",
				map[string]string{"route": "/jsonrpc/{callsign}", "method": "POST", "code": "200"}, 3)
			mustValue(t, fams, "jetmon_bridge_http_requests_total",
				map[string]string{"route": "/monitors", "method": "DELETE", "code": "204"}, 1)

			waitFor(t, "the WebSocket session to be counted", func() bool {
				_, ok := value(scrape(t, m.Handler()), "jetmon_bridge_http_requests_total",
					map[string]string{"route": "/jsonrpc", "method": "GET", "code": "101"})
				return ok
			})
			fams = scrape(t, m.Handler())
			mustAbsent(t, fams, "jetmon_bridge_http_request_duration_seconds",
				map[string]string{"route": "/jsonrpc", "method": "GET"})

			if placement == "around the handler" {
				mustValue(t, fams, "jetmon_bridge_http_requests_total",
					map[string]string{"route": metrics.RouteUnmatched, "method": "GET", "code": "404"}, 2)
				mustValue(t, fams, "jetmon_bridge_http_requests_total",
					map[string]string{"route": metrics.RouteUnmatched, "method": "PUT", "code": "405"}, 1)
				mustValue(t, fams, "jetmon_bridge_http_requests_total",
					map[string]string{"route": "/events", "method": "GET", "code": "401"}, 1)
			}
			// No raw path ever becomes a label value.
			for _, m := range fams["jetmon_bridge_http_requests_total"].GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "route" && (strings.Contains(lp.GetValue(), "Monitor") || strings.Contains(lp.GetValue(), "no/such")) {
						t.Errorf("route label %q is a raw path", lp.GetValue())
					}
				}
			}
		})
	}
}

func TestInstrumentWithoutRouterAndOddMethods(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	h := m.Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	do(t, srv.URL, "BREW", "/coffee", false)
	do(t, srv.URL, http.MethodGet, "/anything", false)
	// POST, which the client does not retry when the connection drops.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/panic", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	fams := scrape(t, m.Handler())
	mustValue(t, fams, "jetmon_bridge_http_requests_total",
		map[string]string{"route": metrics.RouteOther, "method": "OTHER", "code": "200"}, 1)
	mustValue(t, fams, "jetmon_bridge_http_requests_total",
		map[string]string{"route": metrics.RouteOther, "method": "GET", "code": "200"}, 1)
	mustValue(t, fams, "jetmon_bridge_http_requests_total",
		map[string]string{"route": metrics.RouteOther, "method": "POST", "code": "500"}, 1)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
