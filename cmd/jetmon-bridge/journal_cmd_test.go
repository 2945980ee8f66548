package main

import (
	"bytes"
	bin "encoding/binary"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	bolt "go.etcd.io/bbolt"
)

var tj0 = time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)

// toolJournal writes a journal of blogs 501..503 with a gap between two
// spans, and returns its path and events in /events order.
func toolJournal(t *testing.T) (string, []bridge.Event) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tools.journal")
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cycle := map[bridge.Status]bridge.Status{bridge.StatusRunning: bridge.StatusDown, bridge.StatusDown: bridge.StatusConfirmedDown, bridge.StatusConfirmedDown: bridge.StatusRunning}
	status := map[uint64]bridge.Status{501: bridge.StatusRunning, 502: bridge.StatusRunning, 503: bridge.StatusRunning}
	var all []bridge.Event
	batch := func(b *journal.Batch, from, to int) {
		for s := from; s < to; s += 10 {
			blog := uint64(501 + s/10%3)
			old := status[blog]
			status[blog] = cycle[old]
			b.Events = append(b.Events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: tj0.Add(time.Duration(s) * time.Second)})
		}
		b.Checkpoint = &journal.Checkpoint{Flavor: "mysql", File: "binlog.000001", Pos: uint32(4 + to)}
		b.CoveredTo = tj0.Add(time.Duration(to) * time.Second)
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Events...)
	}
	var monitors []bridge.Monitor
	for blog := uint64(501); blog <= 503; blog++ {
		monitors = append(monitors, bridge.Monitor{SiteID: blog, BlogID: blog, URL: "https://site-" + strconv.FormatUint(blog, 10) + ".example.com", Active: true, Status: bridge.StatusRunning})
	}
	batch(&journal.Batch{NewSpan: &journal.SpanStart{Start: tj0}, Monitors: monitors}, 0, 600)
	batch(&journal.Batch{NewSpan: &journal.SpanStart{Start: tj0.Add(900 * time.Second), GapReason: "binlog purged", Server: "127.0.0.1:3307 server_id 2 gtid_domain 0"}}, 900, 1200)
	return path, all
}

func TestJournalStatsCommand(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	code, stdout, stderr := run(t, nil, "journal", "stats", "-journal", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"events       " + strconv.Itoa(len(all)), "blogs        3 with events", "2 span(s), 1 gap(s)", "binlog purged", "mysql binlog.000001:1204", "first event  2026-04-22T14:00:00Z",
		"server not recorded", "server 127.0.0.1:3307 server_id 2 gtid_domain 0  open"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stats output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, []string{"JETMON_JOURNAL=" + path}, "journal", "stats", "-json")
	var st journal.Stats
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || st.Events != uint64(len(all)) || len(st.Gaps) != 1 ||
		len(st.Spans) != 2 || st.Spans[1].Server != "127.0.0.1:3307 server_id 2 gtid_domain 0" {
		t.Errorf("stats -json (journal from JETMON_JOURNAL): exit %d, %+v\n%s", code, st, stdout)
	}
}

func TestJournalExportCommand(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	code, stdout, stderr := run(t, nil, "journal", "export", "-journal", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var want bytes.Buffer
	for _, e := range all {
		want.Write(e.AppendJSON(nil))
		want.WriteByte('\n')
	}
	if stdout != want.String() {
		t.Errorf("export:\n%s\nwant:\n%s", stdout, want.String())
	}
	code, stdout, _ = run(t, nil, "journal", "export", "-journal", path, "-format", "csv", "-blog-id", "502", "-since", "2026-04-22T14:01:00Z", "-until", "2026-04-22T14:16:00.5Z")
	if code != 0 {
		t.Fatalf("csv export: exit %d", code)
	}
	records, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var wantCSV [][]string
	for _, e := range all {
		if e.BlogID == 502 && !e.CreatedAt.Before(tj0.Add(time.Minute)) && e.CreatedAt.Before(tj0.Add(16*time.Minute)) {
			wantCSV = append(wantCSV, []string{strconv.FormatUint(e.ID, 10), "502", "status_transition", e.NewStatus.Source(), "",
				strconv.Itoa(int(e.OldStatus)), strconv.Itoa(int(e.NewStatus)), "", e.CreatedAt.Format(time.RFC3339)})
		}
	}
	if len(records) != len(wantCSV)+1 || strings.Join(records[0], ",")+"\n" != journal.CSVHeader {
		t.Fatalf("csv: %d records, want %d and a header:\n%s", len(records), len(wantCSV)+1, stdout)
	}
	for i, w := range wantCSV {
		if strings.Join(records[i+1], "|") != strings.Join(w, "|") {
			t.Errorf("csv record %d: %q, want %q", i, records[i+1], w)
		}
	}
}

func TestJournalVerifyCompactTimelineCommands(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	dir := filepath.Dir(path)
	code, stdout, stderr := run(t, nil, "journal", "verify", "-journal", path)
	if code != 0 || !strings.Contains(stdout, "is sound") {
		t.Fatalf("verify of a sound journal: exit %d\n%s%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "compact.journal")
	if code, _, stderr := run(t, nil, "journal", "compact", "-journal", path, "-o", out); code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, nil, "journal", "compact", "-journal", path, "-o", out)
	refusal(t, 1, stderr, code, "already exists", "another -o")
	if code, _, _ := run(t, nil, "journal", "verify", "-journal", out); code != 0 {
		t.Errorf("the compacted copy does not verify")
	}
	_, a, _ := run(t, nil, "journal", "export", "-journal", path)
	_, b, _ := run(t, nil, "journal", "export", "-journal", out)
	if a != b || a == "" {
		t.Errorf("the compacted copy exports differently")
	}

	// Damage: a copy cut short.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.journal")
	if err := os.WriteFile(cut, data[:3*4096+100], 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, nil, "journal", "verify", "-journal", cut)
	if code != 1 || !strings.Contains(stderr, "is damaged:\n  - ") || !strings.Contains(stderr, "failed verification") {
		t.Errorf("verify of a cut copy: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, nil, "journal", "stats", "-journal", cut)
	refusal(t, 1, stderr, code, "damaged", "journal verify")

	svg := filepath.Join(dir, "t.svg")
	code, _, stderr = run(t, nil, "journal", "timeline", "-journal", path, "-blog-id", "501,503", "-o", svg)
	if code != 0 {
		t.Fatalf("timeline: exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	bands, uncovered := 0, 0
	dec := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("timeline SVG is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" && strings.HasPrefix(a.Value, "band ") {
					bands++
				} else if a.Name.Local == "class" && a.Value == "uncovered" {
					uncovered++
				}
			}
		}
	}
	want := 2 // one band per event plus one per row
	for _, e := range all {
		if e.BlogID == 501 || e.BlogID == 503 {
			want++
		}
	}
	// The default window is the journal's extent: the gap is the only
	// uncovered stretch of each row.
	if bands != want || uncovered != 2 {
		t.Errorf("%d bands and %d uncovered stretches, want %d and 2", bands, uncovered, want)
	}
}

func TestJournalCommandsRefuseBadInput(t *testing.T) {
	t.Parallel()
	path, _ := toolJournal(t)
	missing := filepath.Join(t.TempDir(), "missing.journal")
	for _, c := range []struct {
		code  int
		args  []string
		want  []string
		usage bool
	}{
		{2, []string{"journal"}, []string{"needs a subcommand"}, true},
		{2, []string{"journal", "frobnicate"}, []string{`unknown journal subcommand "frobnicate"`}, false},
		{2, []string{"journal", "stats", "-journal", path, "extra"}, []string{`unexpected argument "extra"`}, false},
		{2, []string{"journal", "stats", "-journal", ""}, []string{"-journal is empty"}, false},
		{1, []string{"journal", "stats", "-journal", missing}, []string{"does not exist", "-journal PATH"}, false},
		{1, []string{"journal", "verify", "-journal", missing}, []string{"no such file"}, false},
		{2, []string{"journal", "export", "-journal", path, "-format", "xml"}, []string{`-format "xml"`, "jsonl or csv"}, false},
		{2, []string{"journal", "export", "-journal", path, "-since", "yesterday"}, []string{`-since "yesterday"`, "RFC 3339"}, false},
		{2, []string{"journal", "export", "-journal", path, "-since", "2026-04-22T14:00:00Z", "-until", "2026-04-22T14:00:00Z"}, []string{"-since must be before -until"}, false},
		{2, []string{"journal", "export", "-journal", path, "-blog-id", "-4"}, []string{"-blog-id"}, true},
		{2, []string{"journal", "compact", "-journal", path}, []string{"-o is required"}, false},
		{2, []string{"journal", "timeline", "-journal", path, "-o", "x.svg"}, []string{"-blog-id is required"}, false},
		{2, []string{"journal", "timeline", "-journal", path, "-blog-id", "7,x", "-o", "x.svg"}, []string{"-blog-id", `"x"`}, false},
		{2, []string{"journal", "timeline", "-journal", path, "-blog-id", "7"}, []string{"-o is required"}, false},
		{2, []string{"journal", "timeline", "-journal", path, "-blog-id", "7", "-o", "x.svg", "-since", "2026-04-22T15:00:00Z", "-until", "2026-04-22T14:00:00Z"}, []string{"-since must be before -until"}, false},
		{2, []string{"replay", "-journal", path, "-addr", "7400"}, []string{"-addr", "host:port"}, false},
		{1, []string{"replay", "-journal", missing}, []string{"does not exist"}, false},
	} {
		code, _, stderr := run(t, nil, c.args...)
		refusalAfterUsage(t, c.code, stderr, code, c.usage, c.want...)
	}
}

func TestHelpPrintsUsageAndSucceeds(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"serve", "-h"}, {"journal", "-h"}, {"journal", "stats", "-h"}, {"journal", "export", "-h"}, {"replay", "-h"}} {
		code, _, stderr := run(t, nil, args...)
		if code != 0 || strings.Count(stderr, "usage:") != 1 || strings.Contains(stderr, "jetmon-bridge: ") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
	}
}

func TestToolsRefuseAJournalADaemonHolds(t *testing.T) {
	t.Parallel()
	path, _ := toolJournal(t)
	held, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, args := range [][]string{
		{"journal", "stats", "-journal", path},
		{"journal", "export", "-journal", path},
		{"journal", "verify", "-journal", path},
		{"journal", "compact", "-journal", path, "-o", path + ".compact"},
		{"journal", "timeline", "-journal", path, "-blog-id", "501", "-o", path + ".svg"},
		{"replay", "-journal", path, "-addr", freeAddr(t)},
	} {
		start := time.Now()
		code, _, stderr := run(t, nil, args...)
		refusal(t, 1, stderr, code, "is in use", "stop that process", "/journal/snapshot")
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%q took %s to refuse", args, d)
		}
	}
}

func TestReplayCommand(t *testing.T) {
	t.Parallel()
	path, all := toolJournal(t)
	addr := freeAddr(t)
	cmd, _, stderr := command(t, nil, "replay", "-journal", path, "-addr", addr, "-token", "s3cret")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { cmd.Process.Kill(); <-done }()
	getJSON := func(path string, token string) (int, http.Header, []byte) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, resp.Header, body
			}
			if time.Now().After(deadline) {
				t.Fatalf("replay never answered: %v\n%s", err, stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code, _, _ := getJSON("/healthz", ""); code != http.StatusUnauthorized {
		t.Errorf("/healthz without the token: %d", code)
	}
	code, _, body := getJSON("/healthz", "s3cret")
	if code != 200 || !strings.Contains(string(body), `"mode":"replay"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	window := func(blog uint64, since, until time.Time) ([]bridge.Event, string) {
		var want []bridge.Event
		for _, e := range all {
			if e.BlogID == blog && !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) {
				want = append(want, e)
			}
		}
		code, h, body := getJSON("/events?blog_id="+strconv.FormatUint(blog, 10)+"&since="+since.Format(time.RFC3339)+"&until="+until.Format(time.RFC3339), "s3cret")
		if code != 200 || string(body) != string(bridge.AppendEventsJSON(nil, want))+"\n" {
			t.Errorf("/events %d %s..%s: %d %s\nwant %s", blog, since, until, code, body, bridge.AppendEventsJSON(nil, want))
		}
		return want, h.Get(bridge.CoverageHeader)
	}
	if _, cov := window(502, tj0, tj0.Add(10*time.Minute)); cov != "journal" {
		t.Errorf("inside coverage: %q", cov)
	}
	if _, cov := window(502, tj0, tj0.Add(time.Hour)); cov != "incomplete" {
		t.Errorf("across the gap and past the end: %q", cov)
	}
	if code, _, body := getJSON("/monitors?url=https://site-503.example.com", "s3cret"); code != 200 || !strings.Contains(string(body), `"blog_id":503`) {
		t.Errorf("/monitors: %d %s", code, body)
	}
	if code, _, _ := getJSON("/monitors?url=https://nowhere.example.com", "s3cret"); code != 404 {
		t.Errorf("/monitors of an unknown url: %d", code)
	}
	if code, h, _ := getJSON("/events/timeline.svg?blog_id=501&since=2026-04-22T14:00:00Z&until=2026-04-22T14:30:00Z", "s3cret"); code != 200 || h.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("timeline: %d %s", code, h)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/monitors", strings.NewReader(`{"url":"https://x.example.com"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST /monitors on a replay: %v %v", resp, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("replay did not stop on SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("replay exited %d on SIGTERM:\n%s", code, stderr)
	}
}

// TestJournalUpgradeCommand converts a format 1 journal (one event, laid
// out as the earlier build wrote it) and refuses what it should.
func TestJournalUpgradeCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.journal")
	db, err := bolt.Open(v1, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	u64 := func(v uint64) []byte { return bin.BigEndian.AppendUint64(nil, v) }
	at := uint64(tj0.Unix())
	err = db.Update(func(tx *bolt.Tx) error {
		for name, records := range map[string][][2][]byte{
			"meta":     {{[]byte("version"), u64(1)}, {[]byte("seq"), u64(1)}, {[]byte("checkpoint"), []byte(`{"flavor":"mysql","file":"binlog.000003","pos":99}`)}},
			"events":   {{append(u64(at), u64(1)...), []byte{42, 0x10}}},                 // blog 42: running -> down
			"blogs":    {{append(append(u64(42), u64(at)...), u64(1)...), []byte{0x10}}}, // its index entry
			"monitors": nil,
			"spans":    nil,
		} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for _, kv := range records {
				if err := b.Put(kv[0], kv[1]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, nil, "journal", "stats", "-journal", v1); code != 1 || !strings.Contains(stderr, "journal upgrade -journal "+v1) {
		t.Errorf("stats of a format 1 journal: exit %d: %s", code, stderr)
	}
	v2 := filepath.Join(dir, "v2.journal")
	code, stdout, stderr := run(t, nil, "journal", "upgrade", "-journal", v1, "-o", v2)
	if code != 0 || !strings.Contains(stdout, "1 events, verified") {
		t.Fatalf("upgrade: exit %d: %s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, nil, "journal", "export", "-journal", v2)
	if code != 0 || stdout != `{"id":1,"blog_id":42,"event_type":"status_transition","source":"worker","http_code":null,"old_status":1,"new_status":0,"detail":null,"created_at":"2026-04-22T14:00:00Z"}`+"\n" {
		t.Errorf("export of the upgraded journal: exit %d: %q", code, stdout)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-journal", v1}, 2, "-o is required"},
		{[]string{"-journal", v1, "-o", v2}, 1, "already exists"},
		{[]string{"-journal", v2, "-o", filepath.Join(dir, "v3")}, 1, "nothing to upgrade"},
	} {
		if code, _, stderr := run(t, nil, append([]string{"journal", "upgrade"}, c.args...)...); code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("upgrade %q: exit %d: %s", c.args, code, stderr)
		}
	}
}
