package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/sim"
	"github.com/automattic/jetmon-bridge/testdb"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetmon-bridge-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "jetmon-bridge")
	out, err := exec.Command("go", "build", "-race", "-o", binary, "../cmd/jetmon-bridge").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build jetmon-bridge: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testdb.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is one run of the bridge binary.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	log  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBridge runs the binary and waits until /healthz answers 200.
func startBridge(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, addr: freeAddr(t), log: &lockedBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(binary, append([]string{"-addr", d.addr, "-heartbeat", "500ms"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("bridge exited during start-up: %s", d.log)
		default:
		}
		if resp, err := http.Get("http://" + d.addr + "/healthz"); err == nil {
			var health struct {
				Follower *struct{ State string }
			}
			json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			// With a journal, ready means following: coverage has begun.
			if resp.StatusCode == 200 && (health.Follower == nil || health.Follower.State == "following") {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge did not become healthy: %s", d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("bridge did not exit on SIGTERM: %s", d.log)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Fatalf("bridge exited %d on SIGTERM: %s", code, d.log)
	}
}

// events calls /events and returns the events and the coverage header.
func (d *daemon) events(blog uint64, since, until time.Time) ([]bridge.Event, string) {
	d.t.Helper()
	q := url.Values{"blog_id": {fmt.Sprint(blog)}, "since": {since.UTC().Format(time.RFC3339Nano)}, "until": {until.UTC().Format(time.RFC3339Nano)}}
	resp, err := http.Get("http://" + d.addr + "/events?" + q.Encode())
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		d.t.Fatalf("/events: %d %s", resp.StatusCode, body)
	}
	var wire []struct {
		ID        uint64 `json:"id"`
		BlogID    uint64 `json:"blog_id"`
		Source    string `json:"source"`
		OldStatus int    `json:"old_status"`
		NewStatus int    `json:"new_status"`
		CreatedAt string `json:"created_at"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		d.t.Fatalf("/events body %s: %v", body, err)
	}
	out := make([]bridge.Event, 0, len(wire))
	for _, w := range wire {
		at, err := time.Parse(time.RFC3339, w.CreatedAt)
		if err != nil {
			d.t.Fatal(err)
		}
		e := bridge.Event{ID: w.ID, BlogID: w.BlogID, OldStatus: bridge.Status(w.OldStatus), NewStatus: bridge.Status(w.NewStatus), CreatedAt: at}
		if w.Source != e.NewStatus.Source() {
			d.t.Fatalf("event %+v has source %q", e, w.Source)
		}
		out = append(out, e)
	}
	return out, resp.Header.Get(bridge.CoverageHeader)
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

func rootDSN(db *testdb.DB) string { return db.DSN() }

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
