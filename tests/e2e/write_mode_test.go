package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// post sends POST /monitors with url and returns the status and the body.
func (d *daemon) post(u string) (int, []byte) {
	d.t.Helper()
	body, _ := json.Marshal(map[string]string{"url": u})
	resp, err := http.Post("http://"+d.addr+"/monitors", "application/json", strings.NewReader(string(body)))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.StatusCode, got
}

// monitor sends GET /monitors?url=u and returns the status and the body.
func (d *daemon) monitor(u string) (int, []byte) {
	d.t.Helper()
	resp, body, err := d.proc.Get(context.Background(), "/monitors?"+url.Values{"url": {u}}.Encode())
	if err != nil {
		d.t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestWriteModeReadsItsWrites: in write mode the bridge writes the primary
// and reads the replica. With the replica's SQL thread stopped (a lagging
// replica), GET /monitors right after a create or a reactivation answers
// the monitor as written, from the primary, where it used to answer 404.
// Right after a deactivation it answers 404, not the monitor as still
// active. The reactivation of a confirmed-down monitor resets it to running; once
// replicated, the journal holds that transition as an event.
func TestWriteModeReadsItsWrites(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{})
	db := tp.NewDB(t)
	replica := tp.Replica()
	const reactivated, created = "https://benchmarked-before.example.com", "https://new-target.example.com"
	longAgo := time.Date(2026, 4, 22, 14, 5, 33, 0, time.UTC)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change) VALUES (8001, 0, ?, 0, 2, FROM_UNIXTIME(?))",
		reactivated, longAgo.Unix())
	const deactivated = "https://retired-target.example.com"
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (8002, 0, ?)", deactivated)
	ctx := context.Background()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	d := startBridge(t, "-dsn", replica.DSN(db.Name), "-journal", filepath.Join(t.TempDir(), "bridge.journal"),
		"-write", "-write-dsn", tp.Primary.DSN(db.Name))
	if err := replica.StopSQLThread(); err != nil {
		t.Fatal(err)
	}

	code, posted := d.post(created)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", created, code, posted)
	}
	if code, got := d.monitor(created); code != http.StatusOK || string(got) != string(posted) {
		t.Fatalf("GET right after the create, replica lagging: %d %s, want 200 %s", code, got, posted)
	}

	before := time.Now().Add(-time.Second)
	code, posted = d.post(reactivated)
	var m struct {
		BlogID     uint64        `json:"blog_id"`
		SiteStatus bridge.Status `json:"site_status"`
	}
	if json.Unmarshal(posted, &m); code != http.StatusCreated || m.BlogID != 8001 || m.SiteStatus != bridge.StatusRunning {
		t.Fatalf("POST %s (reactivation): %d %s, want 201 and site_status 1", reactivated, code, posted)
	}
	if code, got := d.monitor(reactivated); code != http.StatusOK || string(got) != string(posted) {
		t.Fatalf("GET right after the reactivation, replica lagging: %d %s, want 200 %s", code, got, posted)
	}
	// A deactivation the replica has not applied is not answered as still active.
	req, _ := http.NewRequest(http.MethodDelete, "http://"+d.addr+"/monitors?"+url.Values{"url": {deactivated}}.Encode(), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE %s: %v %v", deactivated, resp, err)
	} else {
		resp.Body.Close()
	}
	if code, got := d.monitor(deactivated); code != http.StatusNotFound {
		t.Errorf("GET right after the deactivation, replica lagging: %d %s, want 404", code, got)
	}
	if code, _ := d.monitor("https://never-written.example.com"); code != http.StatusNotFound {
		t.Errorf("GET of a URL never written: %d, want 404", code)
	}

	if err := replica.StartSQLThread(); err != nil {
		t.Fatal(err)
	}
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	var reset []bridge.Event
	waitFor(t, "the reactivation's reset to reach the journal", time.Minute, func() bool {
		evs, _ := d.events(8001, before, time.Now().Add(time.Hour))
		reset = evs
		return len(evs) > 0
	})
	if len(reset) != 1 || reset[0].OldStatus != bridge.StatusConfirmedDown || reset[0].NewStatus != bridge.StatusRunning || reset[0].CreatedAt.Before(before.Truncate(time.Second)) {
		t.Errorf("blog 8001 after the reactivation: %+v, want one transition 2 -> 1 at the reactivation", reset)
	}
	// Replicated: the replica answers the same.
	var replicaStatus int
	if err := mustDB(t, replica.DSN(db.Name)).QueryRow("SELECT site_status FROM jetpack_monitor_sites WHERE blog_id = 8001").Scan(&replicaStatus); err != nil || replicaStatus != 1 {
		t.Errorf("the replica's site_status %d, %v: want 1", replicaStatus, err)
	}
	if code, got := d.monitor(reactivated); code != http.StatusOK || string(got) != string(posted) {
		t.Errorf("GET after replication: %d %s", code, got)
	}
	d.stop()
}
