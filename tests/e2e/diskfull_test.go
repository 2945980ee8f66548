package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// nextNote waits for callsign's next notification with action and returns
// its reason, dropping the other notifications read on the way.
func (c *thunderClient) nextNote(callsign, action string) string {
	c.t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		select {
		case n := <-c.notes:
			if n["callsign"] == callsign && n["action"] == action {
				reason, _ := n["reason"].(string)
				return reason
			}
		case <-deadline:
			c.t.Fatalf("no %s notification for %s", action, callsign)
			return ""
		}
	}
}

// operational reads status@callsign's operational flag.
func (c *thunderClient) operational(callsign string) bool {
	c.t.Helper()
	var status []struct {
		Measurements struct {
			Operational bool `json:"operational"`
		} `json:"measurements"`
	}
	raw := c.call("Monitor.1.status@"+callsign, nil)
	if err := json.Unmarshal(raw, &status); err != nil || len(status) != 1 {
		c.t.Fatalf("status@%s: %s (%v)", callsign, raw, err)
	}
	return status[0].Measurements.Operational
}

// TestDiskFullStopsThenResumes puts the journal on a small filesystem of
// its own and fills it while the simulator commits transitions. The
// follower must stop short of what it cannot write (never skip it), the
// Monitor and /healthz must say why, and once space returns the bridge must
// resume by itself with the exact truth.
func TestDiskFullStopsThenResumes(t *testing.T) {
	disk := mountTmpfs(t, 8<<20)
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 7000, 40)
	journal := filepath.Join(disk, "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal, "-monitor-interval", "200ms")
	since := coveredFrom()
	c := dialActions(t, d)
	o := stormOptions
	o.Transitions, o.Seed = 300, 61
	truth := storm(t, db, sites, o)
	waitFor(t, "the follower to catch up", time.Minute, func() bool {
		h, code, ok := d.health()
		return ok && code == 200 && h.Follower.BehindBytes != nil && *h.Follower.BehindBytes == 0
	})

	filler := filepath.Join(disk, "filler")
	n := fillDisk(t, filler)
	t.Logf("filled the journal's filesystem with %d bytes", n)
	o.Transitions, o.Seed = 3000, 62
	truth = append(truth, storm(t, db, sites, o)...)

	reason := c.nextNote("Journal", "Deactivate")
	t.Logf("Journal deactivated: %s", reason)
	if !strings.Contains(reason, "no space left on device") {
		t.Errorf("the Journal's Deactivate reason does not name the error: %q", reason)
	}
	if c.operational("Journal") {
		t.Errorf("status@Journal says operational with the disk full")
	}
	// The follower stops short of the server's end and stays there while
	// it is restarted again and again: it never skips what it cannot write.
	var stuck string
	for restarts, rounds := 0, 0; restarts < 3; restarts, rounds = restarts+1, rounds+1 {
		if rounds == 20 {
			t.Fatalf("the follower kept advancing with the disk full (at %s)", stuck)
		}
		c.nextNote("BinlogFollower", "Deactivate")
		h, _, ok := d.health()
		if !ok {
			t.Fatal("/healthz did not answer with the disk full")
		}
		if !strings.Contains(h.Journal.Error, "no space left on device") {
			t.Errorf("/healthz journal error %q does not name the full disk", h.Journal.Error)
		}
		if h.Follower.Position == "" || h.Follower.Position == h.Follower.ServerPosition {
			t.Fatalf("with the disk full the follower reports position %q, the server is at %q", h.Follower.Position, h.Follower.ServerPosition)
		}
		if stuck != "" && h.Follower.Position != stuck {
			// A commit that fit in bbolt's free pages may still have
			// landed; what matters is that it stops.
			t.Logf("position moved from %s to %s while full", stuck, h.Follower.Position)
			restarts = -1
		}
		stuck = h.Follower.Position
	}
	t.Logf("follower stuck at %s with the disk full", stuck)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.nextNote("Journal", "Activate")
	waitFor(t, "the follower to catch up after space returned", 2*time.Minute, func() bool {
		h, code, ok := d.health()
		return ok && code == 200 && h.Journal.Error == "" && h.Follower.State == "following" &&
			h.Follower.BehindBytes != nil && *h.Follower.BehindBytes == 0
	})
	if !c.operational("Journal") {
		t.Errorf("status@Journal not operational after space returned")
	}

	o.Transitions, o.Seed = 300, 63
	truth = append(truth, storm(t, db, sites, o)...)
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	d.stop()
}
