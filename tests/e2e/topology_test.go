package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// topologyRig is the bridge following the replica of a primary that the
// simulator writes to, as production runs.
type topologyRig struct {
	t     *testing.T
	tp    *testdb.Topology
	db    *testdb.DB // on the primary
	sites []sim.Site
	d     *daemon
	since time.Time
	truth []bridge.Event // the primary's, of every storm so far
}

// TestReplicaFaultsKeepTheInvariant follows a replica of a primary while
// the simulator writes on the primary and replication suffers each fault in
// turn. During every fault /events is asked again and again; every answer
// that says journal must equal the primary's ground truth for its window
// (and at least minJudged of them must say journal, so something is
// judged), and after recovery the whole history is exact. One chain and
// one bridge serve every fault, so the suite stays short; each fault is
// healed even when its check fails, so one failure does not hang the rest.
func TestReplicaFaultsKeepTheInvariant(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	db := tp.NewDB(t)
	rig := &topologyRig{t: t, tp: tp, db: db, sites: setupSites(t, db, 13000, 30)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	rig.d = startBridge(t, "-dsn", tp.Replica().DSN(db.Name), "-journal", journal, "-read-timeout", "1s", "-monitor-interval", "200ms")
	rig.since = coveredFrom()
	if !contains(rig.d.log.String(), "coverage_proof=replica-status") {
		t.Fatalf("the bridge did not choose the replica-status proof:\n%s", rig.d.log)
	}
	r := tp.Replica()
	seed := uint64(100)
	fault := func(name string, apply, heal func() error, stopped bool, during func(*testing.T, time.Time)) {
		t.Run(name, func(t *testing.T) {
			seed++
			rig.underFault(t, seed, apply, heal, stopped, during)
		})
	}
	var sqlStoppedAt time.Time
	stopSQL := func() error { sqlStoppedAt = time.Now(); return r.StopSQLThread() }
	fault("sql thread stopped", stopSQL, r.StartSQLThread, true, func(t *testing.T, covered time.Time) {
		rig.expectTimelineHatchedFrom(t, sqlStoppedAt, covered)
	})
	fault("io thread stopped", r.StopIOThread, r.StartIOThread, true, nil)
	fault("replication broken", func() error { return r.Break(context.Background()) }, r.Repair, true, nil)
	fault("replica restarted", func() error { r.Stop(); return nil }, r.Restart, false, nil)
	fault("primary restarted", func() error { tp.Primary.Stop(); return nil }, tp.Primary.Restart, false, nil)
	rig.d.stop()
}

// minJudged is how many answers during each fault must say journal (and be
// judged): windows the journal vouched for before the fault always do.
const minJudged = 5

// underFault runs a storm on the primary, applies the fault, asks /events
// throughout, heals it, and judges every answer; stopped faults also show
// in /healthz, /metrics and the Monitor's Replica observable. during, when
// not nil, runs once the storm has ended, while the fault goes on, given
// the instant the journal was seen to vouch for before the fault.
func (rig *topologyRig) underFault(t *testing.T, seed uint64, apply, heal func() error, stopped bool, during func(*testing.T, time.Time)) {
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 300, 150, seed
	blogs := make([]uint64, len(rig.sites))
	for i, site := range rig.sites {
		blogs[i] = site.BlogID
	}
	asker := bridgetest.NewAsker(rig.d.proc, blogs, rig.since, seed)

	// Before the fault the journal vouches for the past up to now: windows
	// ending by then say journal throughout the fault, and are judged.
	covered := time.Now()
	waitFor(t, "the journal to vouch for the time before the fault", time.Minute, func() bool {
		_, cov := rig.d.events(blogs[0], rig.since, covered)
		return cov == string(bridge.CoverageJournal)
	})

	if err := apply(); err != nil {
		t.Fatal(err)
	}
	healed := false
	defer func() {
		if !healed {
			if err := heal(); err != nil {
				t.Errorf("healing the fault after a failure: %v", err)
			}
		}
	}()
	// The storm runs on the primary, which may itself be down: the
	// primary-restart fault heals it before the storm starts.
	if !stopped && rig.tp.Primary.Exec("SELECT 1") != nil {
		for range 5 {
			asker.Ask()
		}
		if err := heal(); err != nil {
			t.Fatal(err)
		}
		healed = true
	}
	wait := runStormInBackground(t, rig.db, rig.sites, o)
	done := make(chan []sim.Transition, 1)
	go func() { done <- wait() }()
	if stopped {
		rig.expectReplicaDown(t)
	}
	// Three askers at once: a mixed answer waits -read-timeout.
	asker.Start(3)
	truth := <-done
	asker.Stop()
	if during != nil {
		during(t, covered)
	}
	for range minJudged {
		asker.Ask() // the storm is over, the fault is not
		asker.AskCovered(covered)
	}
	answers, _ := asker.Stop()
	if !healed {
		healed = true
		if err := heal(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rig.tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tr := range truth {
		rig.truth = append(rig.truth, tr.Event())
	}

	v := bridgetest.JudgeJournalAnswers(answers, rig.truth)
	for _, p := range v.Problems {
		t.Error(p)
	}
	t.Logf("%d answers during the fault, %d said journal, %d transitions", v.Answers, v.Journal, len(truth))
	if err := v.Enough(minJudged); err != nil {
		t.Error(err)
	}
	if stopped && v.Journal == v.Answers {
		t.Errorf("every answer during a stopped replication said journal: coverage never stopped at the replica's applied time")
	}
	rig.expectReplicaUp(t)

	// After recovery: the exact truth, vouched for by the journal. The
	// window ends now, after every transition the storm committed (a window
	// ending earlier would leave the storm's last ones out of the count).
	until := time.Now()
	waitFor(t, "coverage to pass the storm", time.Minute, func() bool {
		_, cov := rig.d.events(rig.sites[0].BlogID, rig.since, until)
		return cov == string(bridge.CoverageJournal)
	})
	n := 0
	for _, s := range rig.sites {
		got, cov := rig.d.events(s.BlogID, rig.since, until)
		want := bridgetest.TruthFor(rig.truth, s.BlogID, rig.since, until)
		if cov != string(bridge.CoverageJournal) || !bridgetest.SameEvents(got, want) {
			t.Errorf("after recovery blog %d: coverage %s, %d events, truth %d\n got: %v\nwant: %v", s.BlogID, cov, len(got), len(want), got, want)
		}
		n += len(got)
	}
	if n != len(rig.truth) {
		t.Errorf("after recovery %d events in all, the primary committed %d", n, len(rig.truth))
	}
}

// expectReplicaDown waits until /healthz, /metrics and the Monitor say
// replication is not running, with the reason.
func (rig *topologyRig) expectReplicaDown(t *testing.T) {
	t.Helper()
	waitFor(t, "/healthz to report the replication problem", time.Minute, func() bool {
		var h struct{ Replication map[string]any }
		_, body, err := authGet(rig.d, "/healthz", "")
		return err == nil && json.Unmarshal(body, &h) == nil && h.Replication["problem"] != nil
	})
	waitFor(t, "/metrics to show a replication thread down", time.Minute, func() bool {
		_, body, err := authGet(rig.d, "/metrics", "")
		return err == nil && (bytes.Contains(body, []byte(`jetmon_bridge_replica_thread_running{thread="sql"} 0`)) ||
			bytes.Contains(body, []byte(`jetmon_bridge_replica_thread_running{thread="io"} 0`)))
	})
	waitFor(t, "the Monitor's Replica to stop being operational", time.Minute, func() bool {
		op, _ := replicaObservable(rig.d)
		return op == "false"
	})
}

// expectTimelineHatchedFrom draws the timeline of a window from the rig's
// start to a minute ahead while replication has been stopped since
// stoppedAt, the journal having vouched up to covered before: the replica's
// recent past and the future must be hatched as one stretch from between
// covered and stoppedAt to the window's end, and /events must agree
// (journal up to the stretch, not journal into it).
func (rig *topologyRig) expectTimelineHatchedFrom(t *testing.T, stoppedAt, covered time.Time) {
	t.Helper()
	// Let the present move past the stop, so a recent past exists to hatch.
	waitFor(t, "two seconds to pass since replication stopped", time.Minute, func() bool {
		return time.Since(stoppedAt) > 2*time.Second
	})
	blog := rig.sites[0].BlogID
	until := time.Now().Add(time.Minute)
	q := url.Values{"blog_id": {strconv.FormatUint(blog, 10)}, "since": {rig.since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
	code, svg, _ := getBody(t, rig.d.addr, "/events/timeline.svg?"+q.Encode())
	if code != http.StatusOK {
		t.Fatalf("timeline.svg: %d %s", code, svg)
	}
	stretches, err := bridgetest.Hatched([]byte(svg))
	if err != nil {
		t.Fatal(err)
	}
	if len(stretches) != 1 || stretches[0].Start.After(stoppedAt) || stretches[0].Start.Before(covered) || !stretches[0].End.Equal(until) {
		t.Fatalf("timeline with replication stopped at %s, the journal vouching up to %s before: hatched %+v, want one stretch from between the two to %s",
			stoppedAt.Format(time.RFC3339Nano), covered.Format(time.RFC3339Nano), stretches, until.Format(time.RFC3339))
	}
	vouched := stretches[0].Start
	t.Logf("replication stopped at %s; the timeline hatches from %s", stoppedAt.Format(time.RFC3339Nano), vouched.Format(time.RFC3339))
	if _, cov := rig.d.events(blog, rig.since, vouched); cov != string(bridge.CoverageJournal) {
		t.Errorf("/events up to where the timeline's hatching begins: %s, want journal", cov)
	}
	if _, cov := rig.d.events(blog, rig.since, time.Now()); cov == string(bridge.CoverageJournal) {
		t.Errorf("/events into the hatched recent past says journal")
	}
}

// expectReplicaUp waits until the Monitor's Replica is operational again.
func (rig *topologyRig) expectReplicaUp(t *testing.T) {
	t.Helper()
	waitFor(t, "the Monitor's Replica to be operational again", time.Minute, func() bool {
		op, _ := replicaObservable(rig.d)
		return op == "true"
	})
}

// replicaObservable reads Monitor.1.status@Replica over HTTP POST: whether
// it is operational, and the whole entry.
func replicaObservable(d *daemon) (string, string) {
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "Monitor.1.status@Replica"})
	resp, err := http.Post("http://"+d.addr+"/jsonrpc", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", ""
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var reply struct {
		Result []struct {
			Measurements struct {
				Operational *bool `json:"operational"`
			} `json:"measurements"`
		} `json:"result"`
	}
	if json.Unmarshal(raw, &reply) != nil || len(reply.Result) != 1 || reply.Result[0].Measurements.Operational == nil {
		return "", string(raw)
	}
	if *reply.Result[0].Measurements.Operational {
		return "true", string(raw)
	}
	return "false", string(raw)
}
