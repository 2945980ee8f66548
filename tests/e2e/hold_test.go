package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// coverageHold reads /healthz's coverage_hold (nil while nothing is held).
func (d *daemon) coverageHold(t *testing.T) map[string]any {
	t.Helper()
	_, body, err := authGet(d, "/healthz", "")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Hold        map[string]any `json:"coverage_hold"`
		Replication struct {
			Filtered bool `json:"filtered"`
		} `json:"replication"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, body)
	}
	return h.Hold
}

// TestTheHoldOutlivesADaemonRestart runs the real binary on a real chain: a
// replication filter set while it follows drops a transition; once the
// filter is gone coverage stays held, and /healthz (coverage_hold with the
// fix), /metrics (jetmon_bridge_coverage_held) and the Monitor's Replica
// (not operational, the reason naming the hold) say so, across a restart of
// the daemon, which is no re-synchronization. `jetmon-bridge journal
// resynced` against the running daemon lifts it once the table is
// re-synchronized, and every signal recovers.
func TestTheHoldOutlivesADaemonRestart(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	db := tp.NewDB(t)
	sites := setupSites(t, db, 31000, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	args := []string{"-dsn", tp.Replica().DSN(db.Name), "-journal", journal, "-read-timeout", "1s", "-monitor-interval", "200ms"}
	d := startBridge(t, args...)
	replica, blog := tp.Replica(), sites[0].BlogID
	if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table='" + db.Name + ".jetpack_monitor_sites'; START SLAVE"); err != nil {
		t.Fatal(err)
	}
	primary := mustDB(t, tp.Primary.DSN(db.Name))
	if _, err := primary.Exec("UPDATE jetpack_monitor_sites SET site_status = 1 - LEAST(site_status, 1), last_status_change = NOW() WHERE blog_id = ?", blog); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/healthz to show the hold", time.Minute, func() bool { return d.coverageHold(t) != nil })
	if err := replica.Exec("STOP SLAVE; SET GLOBAL replicate_ignore_table=''; START SLAVE"); err != nil {
		t.Fatal(err)
	}
	expectHeld := func(d *daemon) {
		t.Helper()
		waitFor(t, "the Monitor's Replica to stop being operational", time.Minute, func() bool {
			op, _ := replicaObservable(d)
			return op == "false"
		})
		h := d.coverageHold(t)
		if h == nil || !strings.Contains(h["reason"].(string), "replicate_ignore_table") || !strings.Contains(h["fix"].(string), "jetmon-bridge journal resynced") {
			t.Fatalf("/healthz coverage_hold %v", h)
		}
		_, metrics, err := authGet(d, "/metrics", "")
		if err != nil || !bytes.Contains(metrics, []byte("jetmon_bridge_coverage_held 1")) {
			t.Fatalf("/metrics while held: %v", err)
		}
	}
	expectHeld(d)
	if !contains(d.log.String(), "COVERAGE HELD") {
		t.Errorf("the log does not say coverage is held:\n%s", d.log)
	}

	d.stop()
	d = startBridge(t, args...)
	expectHeld(d)

	// Re-synchronize as pt-table-sync --sync-to-master does: a change on
	// the primary that replicates the whole row.
	for _, q := range []string{"UPDATE jetpack_monitor_sites SET bucket_no = bucket_no + 1 WHERE blog_id = ?", "UPDATE jetpack_monitor_sites SET bucket_no = bucket_no - 1 WHERE blog_id = ?"} {
		if _, err := primary.Exec(q, blog); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runTool(t, "journal", "resynced", "-addr", d.addr)
	if code != 0 || !contains(stdout, "released") {
		t.Fatalf("journal resynced: exit %d\n%s%s", code, stdout, stderr)
	}
	waitFor(t, "the Monitor's Replica to be operational again", time.Minute, func() bool {
		op, _ := replicaObservable(d)
		return op == "true"
	})
	if h := d.coverageHold(t); h != nil {
		t.Errorf("/healthz after the release: coverage_hold %v", h)
	}
	_, metrics, err := authGet(d, "/metrics", "")
	if err != nil || !bytes.Contains(metrics, []byte("jetmon_bridge_coverage_held 0")) {
		t.Errorf("/metrics after the release: %v", err)
	}
	if code, _, stderr := runTool(t, "journal", "resynced", "-addr", d.addr); code != 1 || !contains(stderr, "not held") {
		t.Errorf("journal resynced with nothing held: exit %d: %s", code, stderr)
	}
	waitCovered(t, d, blog, time.Now().Add(2*time.Second), time.Now().Add(3*time.Second))
	d.stop()
}
