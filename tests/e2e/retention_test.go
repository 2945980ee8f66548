package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// retentionHealth is /healthz's journal.retention.
type retentionHealth struct {
	Journal struct {
		Retention struct {
			Cutoff      time.Time `json:"cutoff"`
			OldestEvent time.Time `json:"oldest_event"`
			Trimmed     uint64    `json:"trimmed"`
			Trims       uint64    `json:"trims"`
			Retain      string    `json:"retain"`
			TrimError   string    `json:"trim_error"`
		} `json:"retention"`
	} `json:"journal"`
}

func (d *daemon) retention() retentionHealth {
	d.t.Helper()
	_, body, err := d.proc.Get(context.Background(), "/healthz")
	if err != nil {
		d.t.Fatal(err)
	}
	var h retentionHealth
	if err := json.Unmarshal(body, &h); err != nil {
		d.t.Fatalf("/healthz %s: %v", body, err)
	}
	return h
}

// pagesInUse is the journal's high-water mark: the length of a consistent
// snapshot, every page bbolt has allocated (free ones included). The file
// is that plus bbolt's growth increment, so it stays flat exactly when
// this does.
func (d *daemon) pagesInUse() int {
	d.t.Helper()
	resp, body, err := d.proc.Get(context.Background(), "/journal/snapshot")
	if err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("/journal/snapshot: %v", err)
	}
	return len(body)
}

// TestRetentionKeepsAWindowAndAFlatFile runs the real binary with
// -retain 20s and a trim every second while the simulator writes in
// cycles for several retention periods: a window from before the
// retention answers without `journal` and without its old events, a window
// inside it exactly, and once the freed pages are in use the journal's
// pages stop growing although every cycle writes as many events again.
func TestRetentionKeepsAWindowAndAFlatFile(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 7000, 40)
	path := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", path, "-retain", "20s", "-trim-interval", "1s")
	start := coveredFrom()

	// Cycles of writes, each about 4 s: the retention holds five of them.
	const cycles = 24
	var truth []sim.Transition
	var sizes []int
	o := sim.Options{Workers: 2, Seed: 31, Flap: 0.2, Noise: 0.1, Rate: 150, Duration: 4 * time.Second}
	for c := range cycles {
		o.Seed++
		truth = append(truth, storm(t, db, sites, o)...)
		sizes = append(sizes, d.pagesInUse())
		if c == 0 {
			t.Logf("the first cycle wrote %d transitions", len(truth))
		}
	}
	end := time.Now()
	// A trim may be under way (the cutoff moves first, the deletions
	// follow): wait for one that has finished.
	var h struct {
		Cutoff, OldestEvent time.Time
		Trimmed, Trims      uint64
		Retain, TrimError   string
	}
	waitFor(t, "a finished trim", 30*time.Second, func() bool {
		r := d.retention().Journal.Retention
		h.Cutoff, h.OldestEvent, h.Trimmed, h.Trims, h.Retain, h.TrimError = r.Cutoff, r.OldestEvent, r.Trimmed, r.Trims, r.Retain, r.TrimError
		return !h.OldestEvent.Before(h.Cutoff)
	})
	t.Logf("%d transitions over %s; retention %+v; pages in use after each cycle: %v", len(truth), end.Sub(start).Round(time.Second), h, sizes)
	if h.Retain != "20s" || h.Trims == 0 || h.Trimmed == 0 || h.TrimError != "" {
		t.Fatalf("/healthz retention %+v: the daemon never trimmed", h)
	}
	if age := time.Since(h.Cutoff); age < 20*time.Second || age > 40*time.Second {
		t.Errorf("the cutoff %s trails the present by %s; -retain 20s with a trim every second", h.Cutoff, age)
	}

	// A window past the retention: no `journal`, no old event of the
	// journal's (a synthesized one, id 0, speaks for the replica's row).
	old := start.Add(8 * time.Second)
	var oldEvents int
	for _, tr := range truth {
		if tr.CreatedAt.Before(old) {
			oldEvents++
		}
	}
	if oldEvents == 0 {
		t.Fatal("the first cycles wrote nothing to look for")
	}
	for _, s := range sites {
		events, coverage := d.events(s.BlogID, start, old)
		if coverage == "journal" {
			t.Fatalf("blog %d's window %s..%s, past the retention, answers journal", s.BlogID, start, old)
		}
		for _, e := range events {
			if e.ID != 0 {
				t.Fatalf("blog %d's window past the retention holds journal event %+v", s.BlogID, e)
			}
		}
	}

	// A window inside the retention: exactly the truth. It ends where the
	// writes ended and starts 14 s inside the cutoff, which moves on
	// every second while the test reads.
	since, until := end.Add(-6*time.Second).Truncate(time.Second), end.Truncate(time.Second)
	waitCovered(t, d, sites[0].BlogID, since, until)
	byBlog := map[uint64][]bridge.Event{}
	for _, tr := range truth {
		if e := tr.Event(); !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) {
			byBlog[tr.BlogID] = append(byBlog[tr.BlogID], e)
		}
	}
	compared := 0
	for _, s := range sites {
		got, coverage := d.events(s.BlogID, since, until)
		want := byBlog[s.BlogID]
		if coverage != "journal" || len(got) != len(want) {
			t.Fatalf("blog %d's window %s..%s inside the retention: %s, %d events, truth has %d", s.BlogID, since, until, coverage, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.OldStatus != w.OldStatus || g.NewStatus != w.NewStatus || !g.CreatedAt.Equal(w.CreatedAt) || g.ID == 0 {
				t.Fatalf("blog %d event %d: got %+v, want %+v", s.BlogID, i, g, w)
			}
		}
		compared += len(got)
	}
	if compared == 0 {
		t.Fatal("the window inside the retention held no event")
	}

	// Flat: once the retention window is full (five cycles) and the freed
	// pages are in use, the journal's high-water mark stays where it got
	// to, though every cycle writes as much again. Untrimmed it would grow
	// by the bytes the second half's events take at the first cycles' rate
	// per event; allow a third of that for the rate's swings on a busy
	// machine and pages a snapshot's read transaction keeps from reuse.
	perCycle := len(truth) / cycles
	perEvent := float64(sizes[5]) / float64(6*perCycle)
	half := cycles / 2
	untrimmed := perEvent * float64((cycles-half)*perCycle)
	grown := sizes[cycles-1] - sizes[half-1]
	t.Logf("over the second half the pages grew by %d bytes; untrimmed, about %.0f", grown, untrimmed)
	if float64(grown) > untrimmed/3 {
		t.Errorf("the journal's pages grew by %d bytes over the last %d cycles, more than a third of the %.0f the same events take untrimmed: %v", grown, cycles-half, untrimmed, sizes)
	}

	if !strings.Contains(d.log.String(), "journal trimmed") {
		t.Errorf("the daemon never logged a trim:\n%s", d.log.Tail(20))
	}
	d.stop()
	out, err := exec.Command(binary, "journal", "verify", "-journal", path).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after the run: %v\n%s", err, out)
	}
}
