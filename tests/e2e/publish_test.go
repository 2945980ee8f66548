package e2e

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
)

// TestPublishThroughCrashesAndRestore runs the bridge with -publish during
// a storm, SIGKILLs it three times and nats-server once, then checks that
// the stream holds every journal event once, in order, as /events JSON;
// that 'journal restore' rebuilds a journal that verifies; and that
// 'replay' answers /events from it exactly as from the original.
func TestPublishThroughCrashesAndRestore(t *testing.T) {
	db := testdb.NewDB(t)
	nats := natstest.Start(t)
	sites := setupSites(t, db, 3000, 40)
	path := filepath.Join(t.TempDir(), "bridge.journal")
	args := []string{"-dsn", db.DSN(), "-journal", path, "-publish", nats.URL(), "-publish-stream", "E2E"}
	d := startBridge(t, args...)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 2500, 1500, 17
	wait := runStormInBackground(t, db, sites, o)
	for i, pause := range []time.Duration{300 * time.Millisecond, 400 * time.Millisecond, 250 * time.Millisecond} {
		time.Sleep(pause)
		if i == 1 {
			nats.Kill()
			t.Log("SIGKILL nats-server")
		}
		d.kill()
		t.Logf("SIGKILL %d of the bridge after %s", i+1, pause)
		d = startBridge(t, args...)
		if i == 1 {
			nats.Restart()
		}
	}
	truth := wait()
	if n := compare(t, d, truth, since, time.Now().Add(time.Hour), "journal"); n != len(truth) {
		t.Fatalf("compared %d events, truth has %d", n, len(truth))
	}
	waitCaughtUp(t, d)
	d.stop()

	// The stream against the journal, event by event.
	j, err := journal.OpenForTools(path)
	if err != nil {
		t.Fatal(err)
	}
	events, err := j.EventsAfter(0, int(j.LastID()))
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	msgs := natstest.Messages(t, nats.URL(), "E2E")
	if len(msgs) != len(events) || len(events) < len(truth) {
		t.Fatalf("the stream holds %d messages, the journal %d events, the truth %d transitions", len(msgs), len(events), len(truth))
	}
	t.Logf("%d messages, the first named %s", len(msgs), msgs[0].Header.Get(natsgo.MsgIdHdr))
	seen := map[string]bool{}
	for i, m := range msgs {
		id := m.Header.Get(natsgo.MsgIdHdr)
		if seen[id] {
			t.Errorf("message %d (%s) is in the stream twice", m.Sequence, id)
		}
		seen[id] = true
		if want := string(events[i].AppendJSON(nil)); string(m.Data) != want {
			t.Fatalf("message %d carries %s, journal event %d is %s", m.Sequence, m.Data, i+1, want)
		}
		if want := "jetmon.transitions." + strconv.FormatUint(events[i].BlogID, 10); m.Subject != want {
			t.Errorf("message %d is on %s, want %s", m.Sequence, m.Subject, want)
		}
	}

	// Restore on a "new host", verify, and replay both journals.
	restored := filepath.Join(t.TempDir(), "restored.journal")
	if code, out, errOut := runTool(t, "journal", "restore", "-from", nats.URL(), "-stream", "E2E", "-o", restored); code != 0 {
		t.Fatalf("journal restore exited %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runTool(t, "journal", "verify", "-journal", restored); code != 0 {
		t.Fatalf("journal verify of the restored journal exited %d: %s%s", code, out, errOut)
	}
	orig, again := startReplay(t, path), startReplay(t, restored)
	last := since
	for _, e := range events {
		if e.CreatedAt.After(last) {
			last = e.CreatedAt
		}
	}
	for _, s := range sites {
		for _, until := range []time.Time{last, time.Now().Add(time.Hour)} {
			a, b := fetchWindow(t, orig.addr, s.BlogID, since, until), fetchWindow(t, again.addr, s.BlogID, since, until)
			if a.body != b.body {
				t.Errorf("blog %d until %s: the restored journal answers\n%s\nthe original\n%s", s.BlogID, until, b.body, a.body)
			}
			if until.Equal(last) && a.coverage != b.coverage {
				t.Errorf("blog %d until the last event: coverage %q restored, %q original", s.BlogID, b.coverage, a.coverage)
			}
		}
	}
	orig.stop(t)
	again.stop(t)
}
