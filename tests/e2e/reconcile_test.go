package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// reconcileHealth is /healthz's reconcile section.
type reconcileHealth struct {
	Runs       map[string]uint64 `json:"runs"`
	Difference uint64            `json:"differences_total"`
	Last       *struct {
		Outcome       string   `json:"outcome"`
		Rows          int      `json:"rows"`
		Differences   int      `json:"differences"`
		Sites         []uint64 `json:"sites"`
		TakenBackFrom string   `json:"coverage_taken_back_from"`
	} `json:"last"`
}

func (d *daemon) reconcileHealth(t *testing.T) reconcileHealth {
	t.Helper()
	_, body, err := authGet(d, "/healthz", d.proc.Token)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Reconcile *reconcileHealth `json:"reconcile"`
		Journal   struct {
			Coverage struct{ Spans int }
		}
	}
	if err := json.Unmarshal(body, &h); err != nil || h.Reconcile == nil {
		t.Fatalf("/healthz has no reconcile section: %v: %s", err, body)
	}
	return *h.Reconcile
}

// unloggedWrite changes a row on server with sql_log_bin=0: the table
// changes, its binlog never shows it. It returns the row's site id and its
// new last_status_change.
func unloggedWrite(t *testing.T, server *testdb.Server, dbName string, blog uint64, status bridge.Status) (uint64, time.Time) {
	t.Helper()
	db := mustDB(t, server.DSN(dbName))
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION sql_log_bin = 0"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "UPDATE jetpack_monitor_sites SET site_status = ?, last_status_change = NOW() WHERE blog_id = ?", uint8(status), blog); err != nil {
		t.Fatal(err)
	}
	var site uint64
	var at time.Time
	if err := conn.QueryRowContext(ctx, "SELECT jetpack_monitor_site_id, last_status_change FROM jetpack_monitor_sites WHERE blog_id = ?", blog).Scan(&site, &at); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 1"); err != nil {
		t.Fatal(err)
	}
	return site, at.UTC()
}

// TestReconcileTakesBackADivergedJournal follows a real replica while the
// simulator writes on the primary, with -reconcile every second. Under the
// live load every run agrees. Then, the simulator still writing, a row is
// changed on the replica with sql_log_bin=0, a change its binlog never
// shows and no preflight can see: the first run after it finds the row, the span ends where the journal last
// agreed with the reason "journal diverged from the table", answers over
// the stretch after that say mixed (with the replica's row synthesized),
// a fresh span follows, and answers inside it are exact again. Throughout,
// every answer that says journal equals the primary's truth, and each case
// (live writes, the divergence, after the fresh span, and windows inside
// it) has at least minJudged such answers of its own.
func TestReconcileTakesBackADivergedJournal(t *testing.T) {
	tp := testdb.SharedTopology(t)
	db := tp.NewDB(t)
	sites := setupSites(t, db, 21000, 12)
	const victim = 21999 // a row the simulator leaves alone
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES (?, 0, 'https://victim.example', 1, NOW() - INTERVAL 1 HOUR)", victim)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", tp.Replica().DSN(db.Name), "-journal", path, "-read-timeout", "1s", "-reconcile", "1s")
	since := coveredFrom()
	blogs := []uint64{victim}
	for _, s := range sites {
		blogs = append(blogs, s.BlogID)
	}
	asker := bridgetest.NewAsker(d.proc, blogs, since, 2121)
	asker.Start(2)
	// Each case of the test is judged on its own: the answers that arrive
	// during it must include at least minJudged that say journal.
	cases := []string{"live writes, every run agrees"}
	caseStarts := []time.Time{time.Now()}
	newCase := func(name string) {
		cases = append(cases, name)
		caseStarts = append(caseStarts, time.Now())
	}
	var truth []bridge.Event
	var truthMu sync.Mutex
	runStorm := func(seed uint64, transitions int) {
		t.Helper()
		for _, tr := range storm(t, db, sites, sim.Options{Rate: 40, Transitions: transitions, Seed: seed, MultiRow: 0.2, Flap: 0.1, Noise: 0.3}) {
			truthMu.Lock()
			truth = append(truth, tr.Event())
			truthMu.Unlock()
		}
	}

	// Under a live write load, every run agrees.
	runStorm(1, 160)
	waitFor(t, "three reconcile runs to agree", 2*time.Minute, func() bool { return d.reconcileHealth(t).Runs["agreed"] >= 3 })
	if h := d.reconcileHealth(t); h.Runs["diverged"] != 0 || h.Difference != 0 {
		t.Fatalf("a clean journal under live writes diverged: %+v %+v\n%s", h, h.Last, d.log)
	}
	// Windows the journal vouched for before the unlogged write.
	covered := time.Now()
	waitCovered(t, d, blogs[1], since, covered)
	for range minJudged {
		asker.AskCovered(covered)
	}

	// A change the replica's binlog never shows, while the primary goes on
	// writing: coverage moves past it before a run finds it.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan error, 1)
	go func() {
		_, err := sim.Run(loadCtx, db.SQL, sim.Options{Sites: sites, Rate: 20, Seed: 3, Noise: 0.3}, func(tr sim.Transition) error {
			truthMu.Lock()
			truth = append(truth, tr.Event())
			truthMu.Unlock()
			return nil
		})
		loadDone <- err
	}()
	agreedBefore := d.reconcileHealth(t).Runs["agreed"]
	newCase("an unlogged write found, coverage taken back")
	site, at := unloggedWrite(t, tp.Replica().Server, db.Name, victim, bridge.StatusConfirmedDown)
	var h reconcileHealth
	waitFor(t, "a reconcile to find the unlogged write", 2*time.Minute, func() bool {
		h = d.reconcileHealth(t)
		return h.Runs["diverged"] > 0
	})
	stopLoad()
	if err := <-loadDone; err != nil {
		t.Fatalf("simulator: %v", err)
	}
	// Within one interval: a run whose snapshot came before the write may
	// still have agreed; no later one did.
	if h.Runs["agreed"] > agreedBefore+1 {
		t.Fatalf("%d runs agreed after the write before one found it", h.Runs["agreed"]-agreedBefore)
	}
	if h.Last.Outcome != "diverged" || h.Last.Differences != 1 || !slices.Equal(h.Last.Sites, []uint64{site}) || h.Last.TakenBackFrom == "" {
		t.Fatalf("reconcile after the unlogged write: %+v", h.Last)
	}
	if d.log.Count("JOURNAL DIVERGED") == 0 || !contains(d.log.String(), fmt.Sprintf("site %d (site_status, last_status_change)", site)) {
		t.Fatalf("no JOURNAL DIVERGED line naming site %d:\n%s", site, d.log.Tail(30))
	}
	takenBack, err := time.Parse(time.RFC3339, h.Last.TakenBackFrom)
	if err != nil || takenBack.After(at) {
		t.Fatalf("coverage taken back from %q, want an instant no later than the write at %s", h.Last.TakenBackFrom, at)
	}
	// The journal still vouches for the time before the taken-back stretch.
	for range minJudged {
		asker.AskCovered(takenBack)
	}

	// Answers over the stretch are mixed: the victim's with the replica's
	// row synthesized, the simulator's blogs' too.
	events, coverage := d.events(victim, since, at.Add(time.Second))
	if coverage != "mixed" || len(events) != 1 || events[0].ID != 0 || events[0].NewStatus != bridge.StatusConfirmedDown || !events[0].CreatedAt.Equal(at) {
		t.Fatalf("victim over the stretch: %s %v, want mixed with the synthesized change at %s", coverage, events, at)
	}
	for _, blog := range blogs[1:] {
		if _, coverage := d.events(blog, since, at.Add(time.Second)); coverage == "journal" {
			t.Fatalf("blog %d over the taken-back stretch answers journal", blog)
		}
	}

	// A fresh span follows, recorded with the reason.
	var spanStart time.Time
	waitFor(t, "the fresh span", time.Minute, func() bool {
		st := journalStats(t, snapshotCopy(t, d))
		if len(st.Gaps) != 1 {
			return false
		}
		if st.Gaps[0].Reason != "journal diverged from the table" || !st.Gaps[0].Start.Equal(takenBack) {
			t.Fatalf("gap %+v, want one from %s with the reason", st.Gaps[0], takenBack)
		}
		spanStart = st.Gaps[0].End
		return true
	})
	// Later answers are exact, and later runs agree again.
	newCase("after the fresh span")
	runStorm(2, 80)
	until := time.Now().Add(2 * time.Second)
	for _, blog := range blogs[1:] {
		waitCovered(t, d, blog, spanStart, until)
	}
	// All the truth from the span's start, the background load's too: the
	// fresh span may begin before the poll above sees the divergence and
	// stops the load, and then the load's last transitions are in it.
	later := compare(t, d, toTransitions(truth, spanStart), spanStart, until, "journal")
	if later == 0 {
		t.Fatal("no transitions after the fresh span to compare")
	}
	// Windows from the asker's start cross the taken-back stretch, so they
	// say mixed now, but for those before it; windows inside the fresh span
	// say journal, and are judged as a case of their own.
	inSpan := bridgetest.NewAsker(d.proc, blogs[1:], spanStart, 2122)
	for range minJudged {
		asker.AskCovered(takenBack)
		inSpan.AskCovered(until)
	}
	inSpanAnswers, _ := inSpan.Stop()
	diverged := d.reconcileHealth(t).Runs["diverged"]
	agreed := d.reconcileHealth(t).Runs["agreed"]
	waitFor(t, "runs to agree after the fresh span", time.Minute, func() bool { return d.reconcileHealth(t).Runs["agreed"] >= agreed+2 })
	if now := d.reconcileHealth(t).Runs["diverged"]; now != diverged {
		t.Fatalf("the fresh span diverged again (%d runs)", now-diverged)
	}

	answers, _ := asker.Stop()
	parts := append(bridgetest.SplitByArrival(answers, caseStarts), inSpanAnswers)
	cases = append(cases, "windows inside the fresh span")
	var all bridgetest.JournalVerdict
	for i, part := range parts {
		v := bridgetest.JudgeJournalAnswers(part, truth)
		if len(v.Problems) > 0 {
			t.Errorf("%s: %d of %d journal answers differ from the primary's truth:\n%s", cases[i], len(v.Problems), v.Journal, strings.Join(v.Problems[:min(5, len(v.Problems))], "\n"))
		}
		if err := v.Enough(minJudged); err != nil {
			t.Errorf("%s: %v", cases[i], err)
		}
		t.Logf("%s: %d answers, %d journal", cases[i], v.Answers, v.Journal)
		all.Answers += v.Answers
		all.Journal += v.Journal
	}
	if all.Journal == 0 {
		t.Fatal("no answer said journal")
	}
	t.Logf("%d answers, %d journal; %d transitions after the fresh span exact", all.Answers, all.Journal, later)
	d.stop()
}

// toTransitions keeps the truth's events at or after since as the
// simulator's transitions, for compare.
func toTransitions(events []bridge.Event, since time.Time) []sim.Transition {
	var out []sim.Transition
	for _, e := range events {
		if !e.CreatedAt.Before(since) {
			out = append(out, sim.Transition{BlogID: e.BlogID, Old: e.OldStatus, New: e.NewStatus, CreatedAt: e.CreatedAt})
		}
	}
	return out
}

// snapshotCopy fetches GET /journal/snapshot into a file the tools can open.
func snapshotCopy(t *testing.T, d *daemon) string {
	t.Helper()
	resp, body, err := authGet(d, "/journal/snapshot", d.proc.Token)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("snapshot: %v %v", resp, err)
	}
	path := filepath.Join(t.TempDir(), "copy.journal")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReconcileOnDemand asks a running daemon (the periodic check off) to
// reconcile with `jetmon-bridge journal reconcile` and with the Monitor's
// reconcile call, behind a token: both agree on a clean journal, and both
// report a row changed with sql_log_bin=0, the command exiting 1. /metrics
// counts the runs.
func TestReconcileOnDemand(t *testing.T) {
	srv := testdb.Shared(t)
	db := testdb.NewDBOn(t, srv)
	setupSites(t, db, 22000, 20)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("rec0ncile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := launch(t, "rec0ncile", "-dsn", db.DSN(), "-journal", filepath.Join(t.TempDir(), "bridge.journal"), "-reconcile", "0", "-token-file", tokenFile)

	code, stdout, stderr := runTool(t, "journal", "reconcile", "-addr", d.addr, "-token-file", tokenFile)
	if code != 0 || !contains(stdout, ": agreed") || !contains(stdout, "20 rows compared") {
		t.Fatalf("journal reconcile on a clean journal: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runTool(t, "journal", "reconcile", "-addr", d.addr); code != 1 || !contains(stderr, "401") {
		t.Fatalf("journal reconcile without the token: exit %d: %s", code, stderr)
	}
	rep := monitorReconcile(t, d)
	if rep.Outcome != "agreed" || rep.Rows != 20 {
		t.Fatalf("Monitor.1.reconcile on a clean journal: %+v", rep)
	}

	site, _ := unloggedWrite(t, srv, db.Name, 22007, bridge.StatusDown)
	rep = monitorReconcile(t, d)
	if rep.Outcome != "diverged" || rep.Differences != 1 || len(rep.Examples) != 1 || rep.Examples[0].Site != site {
		t.Fatalf("Monitor.1.reconcile after an unlogged write: %+v", rep)
	}
	// The span restarts from a fresh snapshot; the command agrees again.
	waitFor(t, "the journal to agree again", time.Minute, func() bool {
		code, stdout, _ := runTool(t, "journal", "reconcile", "-addr", d.addr, "-token-file", tokenFile, "-json")
		return code == 0 && contains(stdout, `"outcome":"agreed"`)
	})
	// And a diverged run exits 1 naming the row.
	unloggedWrite(t, srv, db.Name, 22008, bridge.StatusDown)
	code, stdout, stderr = runTool(t, "journal", "reconcile", "-addr", d.addr, "-token-file", tokenFile)
	if code != 1 || !contains(stdout, ": diverged") || !contains(stdout, "differs: site") || !contains(stderr, "diverged from the table in 1 row") {
		t.Fatalf("journal reconcile after an unlogged write: exit %d\n%s%s", code, stdout, stderr)
	}
	_, metrics, err := authGet(d, "/metrics", "rec0ncile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`jetmon_bridge_reconcile_runs_total{outcome="diverged"} 2`, "jetmon_bridge_reconcile_differences_total 2", "jetmon_bridge_reconcile_last_success_timestamp_seconds", "jetmon_bridge_reconcile_duration_seconds"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	d.stop()
}

// monitorReport is the part of a reconcile report the tests read.
type monitorReport struct {
	Outcome     string `json:"outcome"`
	Rows        int    `json:"rows"`
	Differences int    `json:"differences"`
	Examples    []struct {
		Site uint64 `json:"site_id"`
	} `json:"examples"`
}

// monitorReconcile calls Monitor.1.reconcile over JSON-RPC.
func monitorReconcile(t *testing.T, d *daemon) monitorReport {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/jsonrpc", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"Monitor.1.reconcile"}`))
	req.Header.Set("Authorization", "Bearer "+d.proc.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var reply struct {
		Result *monitorReport   `json:"result"`
		Error  *json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil || reply.Result == nil {
		t.Fatalf("Monitor.1.reconcile: %v: %s", err, raw)
	}
	return *reply.Result
}
