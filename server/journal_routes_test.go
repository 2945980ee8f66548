package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/netstall"
	"github.com/automattic/jetmon-bridge/journal"
)

// noMonitors answers every lookup with bridge.ErrNotFound.
type noMonitors struct{}

func (noMonitors) ActiveMonitor(context.Context, string) (bridge.Monitor, error) {
	return bridge.Monitor{}, bridge.ErrNotFound
}

var jr0 = time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)

// journalServer serves a small journal with the journal routes mounted,
// behind token "t".
func journalServer(t *testing.T) (*httptest.Server, *journal.Journal) {
	t.Helper()
	j := openJournal(t)
	at := func(s int) time.Time { return jr0.Add(time.Duration(s) * time.Second) }
	R, D, C := bridge.StatusRunning, bridge.StatusDown, bridge.StatusConfirmedDown
	err := j.Commit(&journal.Batch{
		NewSpan: &journal.SpanStart{Start: jr0},
		Events: []bridge.Event{
			{BlogID: 7, OldStatus: R, NewStatus: D, CreatedAt: at(60)},
			{BlogID: 7, OldStatus: D, NewStatus: C, CreatedAt: at(120)},
			{BlogID: 8, OldStatus: R, NewStatus: D, CreatedAt: at(130)},
			{BlogID: 7, OldStatus: C, NewStatus: R, CreatedAt: at(600)},
		},
		Checkpoint: &journal.Checkpoint{Flavor: "mariadb", File: "mysql-bin.000001", Pos: 400},
		CoveredTo:  at(900),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{History: &History{Journal: j}, Monitors: noMonitors{}, Token: "t"})
	MountJournal(s.Router, j, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, j
}

func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "routes.journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func get(t *testing.T, ts *httptest.Server, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestSnapshotRoute(t *testing.T) {
	ts, j := journalServer(t)
	if resp, _ := get(t, ts, "/journal/snapshot", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d", resp.StatusCode)
	}
	resp, body := get(t, ts, "/journal/snapshot", "t")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("snapshot: %d %s", resp.StatusCode, resp.Header)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
	}
	p := filepath.Join(t.TempDir(), "copy.journal")
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := journal.Verify(p)
	if err != nil || !r.OK() {
		t.Fatalf("the snapshot does not verify: %v %+v", err, r)
	}
	c, err := journal.Open(p, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LastID() != j.LastID() || c.LastID() != 4 {
		t.Errorf("snapshot holds seq %d, the journal %d", c.LastID(), j.LastID())
	}
	// No spool file is left beside the journal.
	entries, _ := os.ReadDir(filepath.Dir(j.Path()))
	if len(entries) != 1 {
		t.Errorf("files beside the journal after a snapshot: %v", entries)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/journal/snapshot", nil)
	req.Header.Set("Authorization", "Bearer t")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /journal/snapshot: %v %v", resp.StatusCode, err)
	}
}

func TestTimelineRoute(t *testing.T) {
	ts, _ := journalServer(t)
	path := "/events/timeline.svg?blog_id=7,8&since=2026-04-22T14:00:00Z&until=2026-04-22T14:20:00Z"
	if resp, _ := get(t, ts, path, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d", resp.StatusCode)
	}
	resp, body := get(t, ts, path, "t")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("timeline: %d %s %s", resp.StatusCode, resp.Header, body)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	bands := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					bands[a.Value]++
				}
			}
		}
	}
	// Blog 7: R, D, C, R; blog 8: R, D. Coverage ends at 14:15.
	want := map[string]int{"band running": 3, "band down": 2, "band confirmed_down": 1, "uncovered": 2}
	for k, n := range want {
		if bands[k] != n {
			t.Errorf("%d %q, want %d (all: %v)", bands[k], k, n, bands)
		}
	}
	for _, bad := range []string{
		"/events/timeline.svg?since=2026-04-22T14:00:00Z&until=2026-04-22T14:20:00Z",
		"/events/timeline.svg?blog_id=0&since=2026-04-22T14:00:00Z&until=2026-04-22T14:20:00Z",
		"/events/timeline.svg?blog_id=7&since=yesterday&until=2026-04-22T14:20:00Z",
		"/events/timeline.svg?blog_id=7&since=2026-04-22T14:20:00Z",
		"/events/timeline.svg?blog_id=7&since=2026-04-22T14:20:00Z&until=2026-04-22T14:00:00Z",
	} {
		resp, body := get(t, ts, bad, "t")
		var e struct{ Error string }
		if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e.Error == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

// TestStalledSnapshotIsCutOff: a client that stops reading a snapshot
// holds the one snapshot slot only until it has made no progress for the
// stall bound; then its connection is cut and the slot is free again.
//
// The server's and the client's socket buffers are the test's own and kept
// small (internal/netstall), so the download really stalls on any kernel.
// Whether the second request lands before the stall bound runs out depends
// on the machine's load, so the bound starts short and doubles until it
// does; every round checks that a download that was not stalled long
// enough to be cut off arrived whole, and one that was, did not.
func TestStalledSnapshotIsCutOff(t *testing.T) {
	j := openJournal(t)
	b := &journal.Batch{NewSpan: &journal.SpanStart{Start: jr0}}
	for i := 0; i < 40000; i++ {
		b.Events = append(b.Events, bridge.Event{BlogID: uint64(100 + i%500), OldStatus: bridge.Status(i % 2), NewStatus: bridge.Status(1 - i%2), CreatedAt: jr0.Add(time.Duration(1000+i) * time.Second)})
	}
	b.CoveredTo = jr0.Add(time.Duration(50000) * time.Second)
	if err := j.Commit(b); err != nil {
		t.Fatal(err)
	}
	for stall := 300 * time.Millisecond; ; stall *= 2 {
		if stall > time.Minute {
			t.Fatal("no second request came in while a stalled snapshot was still held, even with a minute's bound")
		}
		if stalledSnapshotRound(t, j, stall) {
			return
		}
		t.Logf("the stalled download was cut off (after %v) before the second request was answered; trying a longer bound", stall)
	}
}

// stalledSnapshotRound stalls one snapshot download with the given bound
// and reports whether a second request was refused while it was held; it
// then checks the stalled download was cut off and the slot freed.
func stalledSnapshotRound(t *testing.T, j *journal.Journal, stall time.Duration) bool {
	t.Helper()
	s := New(Config{History: &History{Journal: j}, Monitors: noMonitors{}, Token: "t"})
	(&journalRoutes{j: j, log: slog.New(slog.DiscardHandler), stall: stall}).mount(s.Router)
	ts := httptest.NewUnstartedServer(s.Handler())
	l := netstall.NewListener(ts.Listener)
	ts.Listener = l
	ts.Start()
	defer ts.Close()

	conn, rcvbuf, err := netstall.Dial(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /journal/snapshot HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer t\r\n\r\n")
	// Read the header, then stop reading.
	br := bufio.NewReader(conn)
	stalled, err := http.ReadResponse(br, nil)
	if err != nil || stalled.StatusCode != 200 {
		t.Fatalf("stalled snapshot: %v %v", stalled, err)
	}
	if inFlight := int64(2*(l.Granted()+rcvbuf)) + int64(br.Size()); stalled.ContentLength < 4*inFlight {
		t.Fatalf("the snapshot (%d bytes) is not far larger than what the socket buffers hold (%d): it cannot stall", stalled.ContentLength, inFlight)
	}
	second, _ := get(t, ts, "/journal/snapshot", "t")
	refused := second.StatusCode == http.StatusTooManyRequests
	if !refused && second.StatusCode != 200 {
		t.Fatalf("a second snapshot while the first is stalled: %d", second.StatusCode)
	}

	// The slot frees once the first handler ends, which, with a client
	// that reads nothing, only the stall bound can make it do.
	for deadline := time.Now().Add(2*stall + time.Minute); second.StatusCode != 200; {
		if time.Now().After(deadline) {
			t.Fatal("the stalled snapshot never gave up its slot")
		}
		time.Sleep(50 * time.Millisecond)
		var body []byte
		second, body = get(t, ts, "/journal/snapshot", "t")
		if second.StatusCode == 200 && second.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length %s, %d bytes", second.Header.Get("Content-Length"), len(body))
		}
	}
	// Reading on now finds the stalled download cut off short of its length.
	n, err := io.Copy(io.Discard, stalled.Body)
	if err == nil || n >= stalled.ContentLength {
		t.Fatalf("the stalled download ended with %v after %d of %d bytes, want it cut off short", err, n, stalled.ContentLength)
	}
	return refused
}
