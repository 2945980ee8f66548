package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// noMonitors answers every lookup with store.ErrNotFound.
type noMonitors struct{}

func (noMonitors) ActiveMonitor(context.Context, string) (bridge.Monitor, error) {
	return bridge.Monitor{}, store.ErrNotFound
}

var jr0 = time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)

// journalServer serves a small journal with the journal routes mounted,
// behind token "t".
func journalServer(t *testing.T) (*httptest.Server, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "routes.journal"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	at := func(s int) time.Time { return jr0.Add(time.Duration(s) * time.Second) }
	R, D, C := bridge.StatusRunning, bridge.StatusDown, bridge.StatusConfirmedDown
	err = j.Commit(&journal.Batch{
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
	if c.LastSeq() != j.LastSeq() || c.LastSeq() != 4 {
		t.Errorf("snapshot holds seq %d, the journal %d", c.LastSeq(), j.LastSeq())
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
// loses its connection once it has made no progress for snapshotStall,
// which frees the snapshot slot for the next one.
func TestStalledSnapshotIsCutOff(t *testing.T) {
	old := snapshotStall
	snapshotStall = 300 * time.Millisecond
	defer func() { snapshotStall = old }()
	ts, j := journalServer(t)
	// A journal far larger than the socket buffers.
	b := &journal.Batch{}
	for i := 0; i < 40000; i++ {
		b.Events = append(b.Events, bridge.Event{BlogID: uint64(100 + i%500), OldStatus: bridge.Status(i % 2), NewStatus: bridge.Status(1 - i%2), CreatedAt: jr0.Add(time.Duration(1000+i) * time.Second)})
	}
	b.CoveredTo = jr0.Add(time.Duration(50000) * time.Second)
	if err := j.Commit(b); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /journal/snapshot HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer t\r\n\r\n")
	// Read the status line, then stop reading.
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("stalled snapshot: %q %v", line, err)
	}
	resp, _ := get(t, ts, "/journal/snapshot", "t")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second snapshot while the first is stalled: %d, want 429 (the first must still be sending)", resp.StatusCode)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, body := get(t, ts, "/journal/snapshot", "t")
		if resp.StatusCode == 200 {
			if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s, %d bytes", resp.Header.Get("Content-Length"), len(body))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled snapshot never gave up its slot")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
