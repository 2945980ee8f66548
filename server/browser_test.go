package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/internal/testenv"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/chromedp/chromedp"
)

// examplePage is docs/monitor.md's example Monitor page, which the browser test
// loads as it is.
const examplePage = "../docs/monitor.html"

// newBrowser starts Debian's chromium headless, with a fresh profile and
// nothing that reaches beyond loopback, and returns its context; a missing
// chromium is a skip, or a failure under CI=true.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium is not installed (.ci/run installs it: apt-get install chromium): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root here
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil { // the first run starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// servePage serves the example page from its own origin: another loopback
// port than the bridge's.
func servePage(t *testing.T) string {
	t.Helper()
	page, err := filepath.Abs(examplePage)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/monitor.html", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, page) })
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

// startBrowserBridge serves the read API and the Monitor interface on the
// replica, watched by a Replica health check, as the daemon does.
func startBrowserBridge(t *testing.T, replica *store.DB, token string, allowOrigins []string) string {
	t.Helper()
	sup := supervisor.New(supervisor.Options{Interval: 50 * time.Millisecond, Logger: rpcQuietLogger()})
	sup.Add("Replica", supervisor.PingService{Ping: replica.Ping, Interval: 50 * time.Millisecond, Timeout: 5 * time.Second},
		supervisor.Limits{})
	api := server.New(server.Config{
		History:      &server.History{Synthesizer: replica},
		Monitors:     replica,
		Token:        token,
		AllowOrigins: allowOrigins,
		Logger:       rpcQuietLogger(),
	})
	endpoint := server.MountJSONRPC(api.Router, sup, rpcQuietLogger())
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(endpoint.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	rpcEventually(t, "Replica in operation", func() bool { return sup.Operational("Replica") })
	return ts.URL
}

// pageResults is window.monitorResults of the example page.
type pageResults struct {
	State string
	Steps []string
	RPC   struct {
		Status int
		Body   json.RawMessage
		Failed string
	}
	Events struct {
		Status   int
		Body     json.RawMessage
		Coverage string
		Failed   string
	}
	Open *struct {
		Protocol string
	}
	Status     *rpcOutcome
	Registered *rpcOutcome
	Closed     *struct {
		Code int
	}
	Notifications []actionParams
}

// rpcOutcome is a call's result or error as the page records it.
type rpcOutcome struct {
	Result json.RawMessage
	Error  *struct {
		Code    int
		Message string
	}
}

// browserPage is one tab showing the example page.
type browserPage struct {
	t   *testing.T
	ctx context.Context
}

// openPage opens the example page in a new tab, pointed at the bridge.
func openPage(t *testing.T, browser context.Context, pageOrigin, bridgeURL, token string) *browserPage {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	target := pageOrigin + "/monitor.html#bridge=" + bridgeURL
	if token != "" {
		target += "&token=" + token
	}
	if err := chromedp.Do(tab, chromedp.Navigate(target)); err != nil {
		t.Fatalf("open %s: %v", target, err)
	}
	return &browserPage{t: t, ctx: tab}
}

// results reads the page's results through the DevTools protocol.
func (p *browserPage) results() pageResults {
	p.t.Helper()
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.monitorResults || {})`))
	if err != nil {
		p.t.Fatalf("read the page's results: %v", err)
	}
	var r pageResults
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		p.t.Fatalf("the page's results %s: %v", raw, err)
	}
	return r
}

// await waits until the page's results satisfy cond and returns them.
func (p *browserPage) await(what string, cond func(pageResults) bool) pageResults {
	p.t.Helper()
	var r pageResults
	rpcEventually(p.t, what, func() bool {
		r = p.results()
		return cond(r)
	})
	return r
}

// TestBrowserMonitorPage loads the example page in headless Chromium from
// another origin than the bridge's. With the token it reads status and
// /events over fetch (preflights included), opens the WebSocket with
// ?token=, registers for action and shows the Deactivate of the replica the
// test stops. Without a token, the same page is refused unless
// -allow-origin lists its origin.
func TestBrowserMonitorPage(t *testing.T) {
	browser := newBrowser(t)
	dbServer := testdb.Dedicated(t, testdb.Options{})
	db := testdb.NewDBOn(t, dbServer)
	insert(t, db, 1, "https://browser.example.com", true, bridge.StatusRunning, time.Time{})
	replica, err := store.Open("-dsn", db.DSN(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	pageOrigin := servePage(t)

	refusedEverywhere := func(r pageResults) bool {
		return r.State == "closed"
	}
	t.Run("no token, origin not allowed", func(t *testing.T) {
		bridgeURL := startBrowserBridge(t, replica, "", nil)
		r := openPage(t, browser, pageOrigin, bridgeURL, "").await("the refused page to finish", refusedEverywhere)
		if r.RPC.Failed == "" || r.Events.Failed == "" {
			t.Fatalf("fetch from a foreign origin got through: rpc %+v, events %+v", r.RPC, r.Events)
		}
		if r.Open != nil || r.Closed == nil {
			t.Fatalf("the WebSocket from a foreign origin opened: %+v", r)
		}
	})
	t.Run("token bridge, page without token", func(t *testing.T) {
		bridgeURL := startBrowserBridge(t, replica, "browser-token", nil)
		r := openPage(t, browser, pageOrigin, bridgeURL, "").await("the refused page to finish", refusedEverywhere)
		if r.RPC.Status != http.StatusUnauthorized || r.Events.Status != http.StatusUnauthorized {
			t.Fatalf("without the token: rpc %+v, events %+v, want 401 the page can read", r.RPC, r.Events)
		}
		if r.Open != nil || r.Closed == nil {
			t.Fatalf("the WebSocket without the token opened: %+v", r)
		}
	})
	t.Run("no token, origin allowed", func(t *testing.T) {
		allowed, err := server.ParseAllowedOrigins(pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		bridgeURL := startBrowserBridge(t, replica, "", allowed)
		r := openPage(t, browser, pageOrigin, bridgeURL, "").await("the page to watch", func(r pageResults) bool {
			return r.State == "watching" || r.State == "closed"
		})
		checkWatchingPage(t, r)
	})
	t.Run("token", func(t *testing.T) {
		const token = "browser-token"
		bridgeURL := startBrowserBridge(t, replica, token, nil)
		page := openPage(t, browser, pageOrigin, bridgeURL, token)
		r := page.await("the page to watch", func(r pageResults) bool { return r.State == "watching" || r.State == "closed" })
		checkWatchingPage(t, r)

		dbServer.Stop()
		r = page.await("the Deactivate on the page", func(r pageResults) bool {
			return len(r.Notifications) > 0 || r.State == "closed"
		})
		if len(r.Notifications) == 0 {
			t.Fatalf("the page's WebSocket closed before any notification: %+v", r)
		}
		n := r.Notifications[0]
		t.Logf("the page shows: %+v", n)
		if n.Callsign != "Replica" || n.Action != "Deactivate" || !strings.Contains(n.Reason, dbServer.Addr()) {
			t.Fatalf("the page's first notification %+v, want Replica's Deactivate naming %s", n, dbServer.Addr())
		}
	})
}

// checkWatchingPage checks a page that was let in: its fetches answered
// (the coverage header readable across origins), its WebSocket open with
// the notification subprotocol, status read, and registered for action.
func checkWatchingPage(t *testing.T, r pageResults) {
	t.Helper()
	if r.State != "watching" {
		t.Fatalf("the page did not get to watch: %+v", r)
	}
	if r.RPC.Status != http.StatusOK || r.RPC.Failed != "" {
		t.Fatalf("POST /jsonrpc from the page: %+v", r.RPC)
	}
	wantRPCResult(t, "status over fetch", decodeRPCMessage(t, r.RPC.Body), "")
	if r.Events.Status != http.StatusOK || r.Events.Coverage == "" {
		t.Fatalf("GET /events from the page: %+v, want 200 with a readable X-Bridge-Coverage", r.Events)
	}
	if r.Open == nil || r.Open.Protocol != "notification" {
		t.Fatalf("WebSocket: %+v", r.Open)
	}
	if r.Status == nil || r.Status.Error != nil || len(r.Status.Result) == 0 {
		t.Fatalf("status over the WebSocket: %+v", r.Status)
	}
	if r.Registered == nil || r.Registered.Error != nil || string(r.Registered.Result) != "null" {
		t.Fatalf("register over the WebSocket: %+v", r.Registered)
	}
}
