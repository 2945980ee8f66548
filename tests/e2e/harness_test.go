package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

var binary string

func TestMain(m *testing.M) {
	bridgetest.Main(&binary, func() int { return testdb.Main(m) })
}

// daemon is one run of the bridge binary.
type daemon struct {
	t    *testing.T
	proc *bridgetest.Process
	addr string
	log  *bridgetest.LogBuffer
}

func freeAddr(t *testing.T) string {
	addr, err := bridgetest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startBridge runs the binary and waits until /healthz answers 200.
func startBridge(t *testing.T, args ...string) *daemon {
	t.Helper()
	return launch(t, "", args...)
}

// launch runs the binary with a 500ms heartbeat and waits until /healthz,
// asked with token ("" sends none), answers 200 with the follower, if
// there is one, following: with a journal, coverage has begun.
func launch(t *testing.T, token string, args ...string) *daemon {
	t.Helper()
	p := &bridgetest.Process{
		Binary: binary,
		Args:   append([]string{"-heartbeat", "500ms"}, args...),
		Addr:   freeAddr(t),
		Token:  token,
		Output: &bridgetest.LogBuffer{},
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	d := &daemon{t: t, proc: p, addr: p.Addr, log: p.Output}
	waitFor(t, "the bridge to start", time.Minute, func() bool {
		if p.Exited() {
			t.Fatalf("bridge exited during start-up: %s", d.log)
		}
		resp, body, err := authGet(d, "/healthz", token)
		if err != nil || resp.StatusCode != 200 {
			return false
		}
		var h struct {
			Follower *struct{ State string }
		}
		json.Unmarshal(body, &h)
		return h.Follower == nil || h.Follower.State == "following"
	})
	return d
}

func (d *daemon) kill() { d.proc.Kill() }

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	if err := d.proc.Stop(); err != nil {
		d.t.Fatalf("%v: %s", err, d.log)
	}
}

// events calls /events and returns the events and the coverage header.
func (d *daemon) events(blog uint64, since, until time.Time) ([]bridge.Event, string) {
	d.t.Helper()
	events, coverage, err := d.proc.Events(context.Background(), blog, since, until)
	if err != nil {
		d.t.Fatal(err)
	}
	return events, coverage
}

// storm drives the simulator over sites and returns its ground truth.
func storm(t *testing.T, db *testdb.DB, sites []sim.Site, o sim.Options) []sim.Transition {
	t.Helper()
	o.Sites = sites
	var truth []sim.Transition
	var mu sync.Mutex
	_, err := sim.Run(context.Background(), db.SQL, o, func(tr sim.Transition) error {
		mu.Lock()
		truth = append(truth, tr)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	return truth
}

func setupSites(t *testing.T, db *testdb.DB, first uint64, n int) []sim.Site {
	t.Helper()
	sites, err := sim.Setup(context.Background(), db.SQL, first, n)
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

// compare checks that the bridge's history of every blog equals the truth:
// same transitions, same order, ids strictly increasing. It returns the
// number of events compared.
func compare(t *testing.T, d *daemon, truth []sim.Transition, since, until time.Time, wantCoverage string) int {
	t.Helper()
	byBlog := map[uint64][]sim.Transition{}
	for _, tr := range truth {
		byBlog[tr.BlogID] = append(byBlog[tr.BlogID], tr)
	}
	n := 0
	for blog, want := range byBlog {
		got, coverage := d.events(blog, since, until)
		if wantCoverage != "" && coverage != wantCoverage {
			t.Errorf("blog %d: coverage %q, want %q", blog, coverage, wantCoverage)
		}
		if len(got) != len(want) {
			t.Errorf("blog %d: %d events, truth has %d\n got: %v\nwant: %v", blog, len(got), len(want), got, want)
			continue
		}
		for i := range want {
			g, w := got[i], want[i].Event()
			if g.OldStatus != w.OldStatus || g.NewStatus != w.NewStatus || !g.CreatedAt.Equal(w.CreatedAt) || g.BlogID != w.BlogID {
				t.Errorf("blog %d event %d: got %+v, want %+v", blog, i, g, w)
			}
			if g.ID == 0 || (i > 0 && g.ID <= got[i-1].ID) {
				t.Errorf("blog %d event %d: id %d does not increase (previous %d)", blog, i, g.ID, got[max(i-1, 0)].ID)
			}
		}
		n += len(got)
	}
	return n
}

// coveredFrom waits until the bridge started just now covers the present:
// coverage begins at the whole second after following began.
func coveredFrom() time.Time {
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at))
	return at
}

// waitCovered waits until until has passed and the journal vouches for
// blog's window [since, until]. The follower then records that coverage in
// the file at the latest when it stops.
func waitCovered(t *testing.T, d *daemon, blog uint64, since, until time.Time) {
	t.Helper()
	time.Sleep(time.Until(until))
	deadline := time.Now().Add(time.Minute)
	for {
		if _, cov := d.events(blog, since, until); cov == "journal" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal never covered blog %d's window %s..%s", blog, since.Format(time.RFC3339), until.Format(time.RFC3339))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustDB(t *testing.T, dsn string) *sql.DB {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// waitHealth waits until /healthz answers code.
func waitHealth(t *testing.T, d *daemon, code int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + d.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
