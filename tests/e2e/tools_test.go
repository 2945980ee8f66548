package e2e

import (
	"bytes"
	bin "encoding/binary"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// The operator tools (jetmon-bridge journal ..., replay, GET
// /journal/snapshot, GET /events/timeline.svg) against a journal the real
// daemon wrote while the simulator stormed the replica.

// runTool runs the binary to its end and returns its exit status, stdout
// and stderr.
func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JETMON_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// liveWindow is one /events answer, kept to compare the tools against.
type liveWindow struct {
	blog         uint64
	since, until time.Time
	body         string // the response body, byte for byte
	coverage     string
}

func (w liveWindow) query() string {
	return "/events?" + url.Values{"blog_id": {fmt.Sprint(w.blog)}, "since": {w.since.Format(time.RFC3339Nano)}, "until": {w.until.Format(time.RFC3339Nano)}}.Encode()
}

// getBody GETs addr+path and returns the status, body and coverage header.
func getBody(t *testing.T, addr, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func fetchWindow(t *testing.T, addr string, blog uint64, since, until time.Time) liveWindow {
	t.Helper()
	w := liveWindow{blog: blog, since: since, until: until}
	code, body, h := getBody(t, addr, w.query())
	if code != 200 {
		t.Fatalf("%s: %d %s", w.query(), code, body)
	}
	w.body, w.coverage = body, h.Get("X-Bridge-Coverage")
	return w
}

// elements splits an /events body into its objects, byte for byte.
func elements(t *testing.T, body string) []string {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

// exportByBlog runs journal export and groups its lines by blog, in order.
func exportByBlog(t *testing.T, args ...string) (map[uint64][]string, int) {
	t.Helper()
	code, stdout, stderr := runTool(t, append([]string{"journal", "export"}, args...)...)
	if code != 0 {
		t.Fatalf("journal export %q: exit %d: %s", args, code, stderr)
	}
	by := map[uint64][]string{}
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			BlogID uint64 `json:"blog_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		by[e.BlogID] = append(by[e.BlogID], line)
		n++
	}
	return by, n
}

func TestOperatorToolsOnALiveJournal(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 5000, 40)
	dir := t.TempDir()
	journal := filepath.Join(dir, "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	o := stormOptions
	o.Transitions, o.Rate, o.Seed = 2000, 800, 41
	wait := runStormInBackground(t, db, sites, o)

	// Hot backups in the middle of the storm.
	var snapshots []string
	for i := 0; i < 3; i++ {
		time.Sleep(400 * time.Millisecond)
		resp, err := http.Get("http://" + d.addr + "/journal/snapshot")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("snapshot %d: %d %v %s", i, resp.StatusCode, err, resp.Header)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Fatalf("snapshot %d: Content-Length %s, %d bytes received", i, cl, len(body))
		}
		p := filepath.Join(dir, fmt.Sprintf("snapshot-%d.journal", i))
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		snapshots = append(snapshots, p)
	}
	truth := wait()
	t.Logf("storm of %d transitions", len(truth))
	stormEnd := time.Now()

	// While the daemon holds the file, every tool refuses it at once.
	for _, args := range [][]string{{"journal", "stats", "-journal", journal}, {"journal", "export", "-journal", journal}, {"journal", "verify", "-journal", journal}} {
		code, _, stderr := runTool(t, args...)
		if code != 1 || !strings.Contains(stderr, "is in use") || !strings.Contains(stderr, "/journal/snapshot") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q on a held journal: exit %d, %q", args, code, stderr)
		}
	}

	// The /events answers of the live daemon, to compare everything with:
	// the whole history of every blog (from before coverage began, so live
	// it is "mixed"), and a window inside coverage.
	mid := since.Add(stormEnd.Sub(since) / 3).Truncate(time.Second)
	midEnd := since.Add(2 * stormEnd.Sub(since) / 3).Add(500 * time.Millisecond)
	whole := map[uint64]liveWindow{}
	inner := map[uint64]liveWindow{}
	total := 0
	for _, s := range sites {
		w := fetchWindow(t, d.addr, s.BlogID, since.Add(-time.Hour), stormEnd.Add(time.Hour))
		whole[s.BlogID] = w
		total += len(elements(t, w.body))
		inner[s.BlogID] = fetchWindow(t, d.addr, s.BlogID, mid, midEnd)
		if inner[s.BlogID].coverage != "journal" {
			t.Errorf("blog %d: live coverage %q inside the journal", s.BlogID, inner[s.BlogID].coverage)
		}
	}
	if total != len(truth) {
		t.Fatalf("the live daemon serves %d events, the simulator made %d", total, len(truth))
	}

	// The timeline route on the live daemon: one band per status interval.
	svgBlogs := []uint64{sites[0].BlogID, sites[1].BlogID, sites[2].BlogID}
	q := url.Values{"blog_id": {fmt.Sprintf("%d,%d,%d", svgBlogs[0], svgBlogs[1], svgBlogs[2])}, "since": {mid.Format(time.RFC3339Nano)}, "until": {midEnd.Format(time.RFC3339Nano)}}
	code, svg, h := getBody(t, d.addr, "/events/timeline.svg?"+q.Encode())
	if code != 200 || h.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("timeline.svg: %d %s", code, svg)
	}
	wantBands := 0
	for _, b := range svgBlogs {
		wantBands += len(elements(t, inner[b].body)) + 1
	}
	if out := os.Getenv("E2E_TIMELINE_OUT"); out != "" {
		os.WriteFile(out, []byte(svg), 0o644)
	}
	t.Logf("timeline of %d blogs over %s: %d status intervals", len(svgBlogs), midEnd.Sub(mid), wantBands)
	if bands, _ := countBands(t, []byte(svg)); bands != wantBands {
		t.Errorf("live timeline: %d bands, want %d (one per status interval)", bands, wantBands)
	}
	d.stop()

	t.Run("export", func(t *testing.T) {
		all, n := exportByBlog(t, "-journal", journal)
		if n != total {
			t.Errorf("export holds %d events, /events %d", n, total)
		}
		for blog, w := range whole {
			if got, want := strings.Join(all[blog], ","), strings.Join(elements(t, w.body), ","); got != want {
				t.Errorf("blog %d: export differs from /events:\n got %s\nwant %s", blog, got, want)
			}
		}
		window, _ := exportByBlog(t, "-journal", journal, "-since", mid.Format(time.RFC3339Nano), "-until", midEnd.Format(time.RFC3339Nano))
		for blog, w := range inner {
			if got, want := strings.Join(window[blog], ","), strings.Join(elements(t, w.body), ","); got != want {
				t.Errorf("blog %d window: export differs from /events:\n got %s\nwant %s", blog, got, want)
			}
		}
		for _, blog := range svgBlogs {
			one, _ := exportByBlog(t, "-journal", journal, "-blog-id", fmt.Sprint(blog), "-since", mid.Format(time.RFC3339Nano), "-until", midEnd.Format(time.RFC3339Nano))
			if len(one) > 1 || strings.Join(one[blog], ",") != strings.Join(elements(t, inner[blog].body), ",") {
				t.Errorf("-blog-id %d: %v, want %s", blog, one, inner[blog].body)
			}
		}
		// CSV: the same events, field for field.
		code, out, stderr := runTool(t, "journal", "export", "-journal", journal, "-format", "csv", "-blog-id", fmt.Sprint(svgBlogs[0]))
		if code != 0 {
			t.Fatalf("csv: exit %d: %s", code, stderr)
		}
		records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("csv does not parse: %v", err)
		}
		objs := elements(t, whole[svgBlogs[0]].body)
		if len(records) != len(objs)+1 {
			t.Fatalf("csv has %d records, want %d and a header", len(records), len(objs))
		}
		header := records[0]
		for i, obj := range objs {
			var m map[string]any
			json.Unmarshal([]byte(obj), &m)
			for c, name := range header {
				want := ""
				if v := m[name]; v != nil {
					want = fmt.Sprint(v)
				}
				if records[i+1][c] != want {
					t.Errorf("csv record %d %s = %q, JSON has %q", i, name, records[i+1][c], want)
				}
			}
		}
	})

	t.Run("replay", func(t *testing.T) {
		r := startReplay(t, journal)
		for blog, w := range whole {
			got := fetchWindow(t, r.addr, blog, w.since, w.until)
			if got.body != w.body {
				t.Errorf("blog %d: replay body differs:\n got %s\nwant %s", blog, got.body, w.body)
			}
			if got.coverage != "incomplete" {
				t.Errorf("blog %d: replay coverage %q for a window reaching outside the journal", blog, got.coverage)
			}
			in := fetchWindow(t, r.addr, blog, inner[blog].since, inner[blog].until)
			if in.body != inner[blog].body || in.coverage != "journal" {
				t.Errorf("blog %d inside coverage: replay %q %s, live %s", blog, in.coverage, in.body, inner[blog].body)
			}
		}
		code, body, _ := getBody(t, r.addr, "/monitors?url="+url.QueryEscape(sites[3].URL))
		var m struct {
			BlogID     uint64 `json:"blog_id"`
			SiteStatus int    `json:"site_status"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil || m.BlogID != sites[3].BlogID {
			t.Errorf("replay /monitors: %d %s", code, body)
		}
		if code, body, _ := getBody(t, r.addr, "/time"); code != 200 || !strings.Contains(body, `"time"`) {
			t.Errorf("replay /time: %d %s", code, body)
		}
		// The daemon's wiring: /metrics, counting the requests just made.
		if code, body, _ := getBody(t, r.addr, "/metrics"); code != 200 || !strings.Contains(body, `jetmon_bridge_http_requests_total{code="200",method="GET",route="/time"} 1`) ||
			!strings.Contains(body, "jetmon_bridge_journal_transitions_total") {
			t.Errorf("replay /metrics: %d %s", code, body)
		}
		resp, err := http.Post("http://"+r.addr+"/monitors", "application/json", strings.NewReader(`{"url":"https://x.example"}`))
		if err != nil {
			t.Fatal(err)
		}
		refusal, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(refusal), "replay of a journal file") {
			t.Errorf("replay POST /monitors: %d %s", resp.StatusCode, refusal)
		}
		r.stop(t)
	})

	t.Run("snapshots", func(t *testing.T) {
		final, _ := exportByBlog(t, "-journal", journal)
		finalByID := map[string]string{}
		for _, lines := range final {
			for _, l := range lines {
				finalByID[idOf(t, l)] = l
			}
		}
		for _, snap := range snapshots {
			if code, out, stderr := runTool(t, "journal", "verify", "-journal", snap); code != 0 {
				t.Fatalf("%s does not verify: %s%s", snap, out, stderr)
			}
			// A snapshot is a cut at a commit: exactly the events 1..n of
			// the final journal.
			by, n := exportByBlog(t, "-journal", snap)
			for _, lines := range by {
				for _, l := range lines {
					id := idOf(t, l)
					if n64, _ := strconv.Atoi(id); n64 < 1 || n64 > n {
						t.Errorf("%s: event id %s outside 1..%d", snap, id, n)
					}
					if finalByID[id] != l {
						t.Errorf("%s: event %s is %s, the final journal has %s", snap, id, l, finalByID[id])
					}
				}
			}
			t.Logf("%s: %d events", filepath.Base(snap), n)
			// Replayed, it answers /events with the final history cut at n.
			r := startReplay(t, snap)
			for _, s := range sites[:8] {
				w := whole[s.BlogID]
				var want []string
				for _, e := range elements(t, w.body) {
					if id, _ := strconv.Atoi(idOf(t, e)); id <= n {
						want = append(want, e)
					}
				}
				got := fetchWindow(t, r.addr, s.BlogID, w.since, w.until)
				if got.body != "["+strings.Join(want, ",")+"]\n" {
					t.Errorf("%s blog %d: replay %s, want %v", snap, s.BlogID, got.body, want)
				}
			}
			r.stop(t)
		}
	})

	t.Run("verify", func(t *testing.T) {
		code, out, stderr := runTool(t, "journal", "verify", "-journal", journal)
		if code != 0 || !strings.Contains(out, "is sound") || !strings.Contains(out, groupedCount(total)+" events") {
			t.Fatalf("verify of the daemon's journal: exit %d\n%s%s", code, out, stderr)
		}
		data, err := os.ReadFile(journal)
		if err != nil {
			t.Fatal(err)
		}
		used := usedLength(t, data)
		cut := filepath.Join(dir, "cut.journal")
		os.WriteFile(cut, data[:used/2], 0o600)
		code, _, stderr = runTool(t, "journal", "verify", "-journal", cut)
		if code != 1 || !strings.Contains(stderr, "truncated") || !strings.Contains(stderr, "failed verification") {
			t.Errorf("verify of a truncated copy: exit %d\n%s", code, stderr)
		}
		// Change the status of a blog's first event where the blogs bucket
		// keeps it: the blog's first run, keyed blog|created|id, whose value
		// starts with that status (superseded copies linger in free pages).
		var e struct {
			ID        uint64 `json:"id"`
			BlogID    uint64 `json:"blog_id"`
			Old       uint8  `json:"old_status"`
			New       uint8  `json:"new_status"`
			CreatedAt string `json:"created_at"`
		}
		json.Unmarshal([]byte(final0(t, journal)), &e)
		_, first, _ := runTool(t, "journal", "export", "-journal", journal, "-blog-id", fmt.Sprint(e.BlogID))
		json.Unmarshal([]byte(strings.SplitN(first, "\n", 2)[0]), &e)
		at, _ := time.Parse(time.RFC3339, e.CreatedAt)
		record := bin.BigEndian.AppendUint64(nil, e.BlogID)
		record = bin.BigEndian.AppendUint64(record, uint64(at.Unix()))
		record = bin.BigEndian.AppendUint64(record, e.ID)
		record = append(record, e.Old<<4|e.New)
		flipped := bytes.Clone(data)
		hits := 0
		for i := 0; ; {
			k := bytes.Index(flipped[i:], record)
			if k < 0 {
				break
			}
			if i+k >= 2*4096 {
				flipped[i+k+len(record)-1] = e.New<<4 | e.Old // still a valid transition, but not this event's
				hits++
			}
			i += k + 1
		}
		if hits == 0 {
			t.Fatalf("blog %d's first run (event %d) not found in a data page", e.BlogID, e.ID)
		}
		bad := filepath.Join(dir, "flipped.journal")
		os.WriteFile(bad, flipped, 0o600)
		code, _, stderr = runTool(t, "journal", "verify", "-journal", bad)
		if code != 1 || !strings.Contains(stderr, fmt.Sprintf("event %d", e.ID)) {
			t.Errorf("verify of a copy with event %d's status flipped: exit %d\n%s", e.ID, code, stderr)
		}
	})

	t.Run("compact", func(t *testing.T) {
		out := filepath.Join(dir, "compacted.journal")
		if code, _, stderr := runTool(t, "journal", "compact", "-journal", journal, "-o", out); code != 0 {
			t.Fatalf("compact: exit %d: %s", code, stderr)
		}
		if code, _, stderr := runTool(t, "journal", "compact", "-journal", journal, "-o", out); code != 1 || !strings.Contains(stderr, "already exists") {
			t.Errorf("compact over an existing file: exit %d: %s", code, stderr)
		}
		if code, _, stderr := runTool(t, "journal", "verify", "-journal", out); code != 0 {
			t.Errorf("the compacted journal does not verify: %s", stderr)
		}
		_, a, _ := runTool(t, "journal", "export", "-journal", journal)
		_, b, _ := runTool(t, "journal", "export", "-journal", out)
		if a != b || a == "" {
			t.Errorf("the compacted journal exports differently")
		}
	})

	t.Run("stats and timeline", func(t *testing.T) {
		code, out, stderr := runTool(t, "journal", "stats", "-journal", journal, "-json")
		var st struct {
			Events uint64 `json:"events"`
			Blogs  uint64 `json:"blogs"`
			Spans  []struct {
				Open bool `json:"open"`
			} `json:"spans"`
			Checkpoint *struct{ File string } `json:"checkpoint"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Events != uint64(total) || len(st.Spans) != 1 || st.Checkpoint == nil || st.Checkpoint.File == "" {
			t.Errorf("stats: exit %d %+v\n%s%s", code, st, out, stderr)
		}
		if code, out, _ := runTool(t, "journal", "stats", "-journal", journal); code != 0 || !strings.Contains(out, "checkpoint") || !strings.Contains(out, "span") {
			t.Errorf("stats: exit %d\n%s", code, out)
		}
		svgPath := filepath.Join(dir, "timeline.svg")
		code, _, stderr = runTool(t, "journal", "timeline", "-journal", journal, "-blog-id", q.Get("blog_id"), "-since", mid.Format(time.RFC3339Nano), "-until", midEnd.Format(time.RFC3339Nano), "-o", svgPath)
		if code != 0 {
			t.Fatalf("timeline: exit %d: %s", code, stderr)
		}
		raw, _ := os.ReadFile(svgPath)
		if bands, uncovered := countBands(t, raw); bands != wantBands || uncovered != 0 {
			t.Errorf("timeline: %d bands and %d uncovered stretches, want %d and 0", bands, uncovered, wantBands)
		}
	})
}

// replayer is a running "jetmon-bridge replay".
type replayer struct {
	cmd  *exec.Cmd
	addr string
	log  *bridgetest.LogBuffer
	done chan struct{}
}

func startReplay(t *testing.T, journal string) *replayer {
	t.Helper()
	r := &replayer{addr: freeAddr(t), log: &bridgetest.LogBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(binary, "replay", "-journal", journal, "-addr", r.addr)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { r.cmd.Process.Kill(); <-r.done })
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-r.done:
			t.Fatalf("replay exited during start-up: %s", r.log)
		default:
		}
		if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay did not become healthy: %s", r.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *replayer) stop(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("replay did not exit on SIGTERM: %s", r.log)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("replay exited %d on SIGTERM: %s", code, r.log)
	}
}

// countBands counts the status bands and uncovered stretches of a
// timeline SVG, which must be well-formed XML.
func countBands(t *testing.T, svg []byte) (bands, uncovered int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return bands, uncovered
		}
		if err != nil {
			t.Fatalf("timeline SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "rect" {
			continue
		}
		for _, a := range se.Attr {
			switch {
			case a.Name.Local == "class" && strings.HasPrefix(a.Value, "band "):
				bands++
			case a.Name.Local == "class" && a.Value == "uncovered":
				uncovered++
			}
		}
	}
}

func idOf(t *testing.T, obj string) string {
	t.Helper()
	var e struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(obj), &e); err != nil || e.ID == 0 {
		t.Fatalf("event %q: %v", obj, err)
	}
	return strconv.FormatUint(e.ID, 10)
}

// final0 returns the middle event of the journal's export.
func final0(t *testing.T, journal string) string {
	t.Helper()
	_, out, _ := runTool(t, "journal", "export", "-journal", journal)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)/2]
}

// usedLength is the length of a bbolt file's pages: page size times the
// high water mark of its newer meta page (bbolt grows files ahead of use).
func usedLength(t *testing.T, data []byte) int {
	t.Helper()
	le := bin.LittleEndian
	pageSize := int(le.Uint32(data[16+8:]))
	best, pgid := uint64(0), uint64(0)
	for i := 0; i < 2; i++ {
		meta := data[i*pageSize+16:]
		if txid := le.Uint64(meta[48:]); txid >= best {
			best, pgid = txid, le.Uint64(meta[40:])
		}
	}
	return int(pgid) * pageSize
}

// groupedCount writes n as the tools do: 1,234.
func groupedCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
