package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/store"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eventsPath(blogID any, since, until string) string {
	return "/events?" + url.Values{"blog_id": {fmt.Sprint(blogID)}, "since": {since}, "until": {until}}.Encode()
}

func TestTime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 4, 22, 14, 3, 0, 123456789, time.UTC), "2026-04-22T14:03:00.123456789Z"},
		// Trailing zeros are kept: always nine digits.
		{time.Date(2026, 4, 22, 14, 3, 0, 0, time.UTC), "2026-04-22T14:03:00.000000000Z"},
		{time.Date(2026, 4, 22, 14, 3, 0, 1000, time.UTC), "2026-04-22T14:03:00.000001000Z"},
		// Another zone is converted to UTC.
		{time.Date(2026, 4, 22, 19, 3, 0, 5, time.FixedZone("+05", 5*3600)), "2026-04-22T14:03:00.000000005Z"},
	}
	for _, c := range cases {
		a := newAPI(t, apiOpts{now: func() time.Time { return c.now }})
		wantBody(t, "GET /time", a.do("GET", "/time", nil), 200, `{"time":"`+c.want+`"}`)
	}

	// The real clock: nanosecond RFC 3339 in UTC, between before and after.
	a := newAPI(t, apiOpts{})
	before := time.Now()
	r := a.do("GET", "/time", nil)
	after := time.Now()
	wantJSON(t, "GET /time", r, 200)
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 {
		t.Fatalf("body %s: want exactly {\"time\": ...}", r.body)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`).MatchString(body["time"]) {
		t.Fatalf("time %q is not nanosecond RFC 3339 UTC", body["time"])
	}
	got := mustTime(t, body["time"])
	if got.Before(before.Truncate(0)) || got.After(after) {
		t.Fatalf("time %v not within [%v, %v]", got, before, after)
	}
}

func TestGetMonitor(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	changed := mustTime(t, "2026-04-22T14:05:33Z")
	insert(t, a.db, 12345, "https://bench-target-01.example.com", true, bridge.StatusRunning, changed)
	insert(t, a.db, 777, "https://down.example.com/path?q=1", true, bridge.StatusConfirmedDown, changed)
	insert(t, a.db, 778, "https://inactive.example.com", false, bridge.StatusRunning, changed)
	// An inactive and an active row for one URL: the active one answers.
	insert(t, a.db, 800, "https://moved.example.com", false, bridge.StatusRunning, changed)
	insert(t, a.db, 801, "https://moved.example.com", true, bridge.StatusDown, time.Time{})

	get := func(u string) resp { return a.do("GET", "/monitors?"+url.Values{"url": {u}}.Encode(), nil) }

	r := get("https://bench-target-01.example.com")
	wantJSON(t, "GET /monitors", r, 200)
	if got, want := string(r.body), `{"blog_id":12345,"monitor_url":"https://bench-target-01.example.com","site_status":1,"monitor_active":true,"keyword":"","redirect_policy":"follow"}`+"\n"; got != want {
		t.Fatalf("body\n  %s\nwant\n  %s", got, want)
	}
	wantBody(t, "down monitor", get("https://down.example.com/path?q=1"), 200,
		`{"blog_id":777,"monitor_url":"https://down.example.com/path?q=1","site_status":2,"monitor_active":true,"keyword":"","redirect_policy":"follow"}`)
	wantBody(t, "active among inactive", get("https://moved.example.com"), 200,
		`{"blog_id":801,"monitor_url":"https://moved.example.com","site_status":0,"monitor_active":true,"keyword":"","redirect_policy":"follow"}`)
	decodeMonitor(t, get("https://moved.example.com"))

	wantError(t, "inactive only", get("https://inactive.example.com"), 404)
	wantError(t, "no such monitor", get("https://nowhere.example.com"), 404)
	// Exactly U: MySQL's case- and trailing-space-insensitive comparison
	// must not leak through.
	for _, near := range []string{
		"https://BENCH-target-01.example.com",
		"HTTPS://bench-target-01.example.com",
		"https://bench-target-01.example.com ",
		"https://bench-target-01.example.com/",
		" https://bench-target-01.example.com",
		"https://bench-target-01.example.co",
		"https://bench-target-01.example.com%",
		"https://bench-target-01.example.co_",
	} {
		wantError(t, fmt.Sprintf("near miss %q", near), get(near), 404)
	}

	wantError(t, "no url", a.do("GET", "/monitors", nil), 400)
	wantError(t, "empty url", a.do("GET", "/monitors?url=", nil), 400)
	wantError(t, "url twice", a.do("GET", "/monitors?url=https://bench-target-01.example.com&url=https://bench-target-01.example.com", nil), 400)
	wantError(t, "other parameter only", a.do("GET", "/monitors?uri=https://bench-target-01.example.com", nil), 400)
}

// event is the wire form of one event, decoded strictly.
type event struct {
	ID        uint64          `json:"id"`
	BlogID    uint64          `json:"blog_id"`
	EventType string          `json:"event_type"`
	Source    string          `json:"source"`
	HTTPCode  json.RawMessage `json:"http_code"`
	OldStatus int             `json:"old_status"`
	NewStatus int             `json:"new_status"`
	Detail    json.RawMessage `json:"detail"`
	CreatedAt string          `json:"created_at"`
}

// getEvents asks for a window and checks the response's form: 200, JSON,
// an array (never null), the synthesized coverage header.
func (a *api) getEvents(t *testing.T, blogID any, since, until string) []event {
	t.Helper()
	r := a.do("GET", eventsPath(blogID, since, until), nil)
	what := fmt.Sprintf("events blog %v [%s, %s)", blogID, since, until)
	wantJSON(t, what, r, 200)
	if got := r.header.Get(bridge.CoverageHeader); got != string(bridge.CoverageSynthesized) {
		t.Fatalf("%s: %s = %q, want %q", what, bridge.CoverageHeader, got, bridge.CoverageSynthesized)
	}
	if !strings.HasPrefix(string(r.body), "[") {
		t.Fatalf("%s: body %s is not an array", what, r.body)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var out []event
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for i, e := range raw {
		if len(e) != 9 {
			t.Fatalf("%s: event %s has %d fields, want 9", what, r.body, len(e))
		}
		if string(e["http_code"]) != "null" || string(e["detail"]) != "null" {
			t.Fatalf("%s: http_code and detail must be null: %s", what, r.body)
		}
		if out[i].EventType != "status_transition" {
			t.Fatalf("%s: event_type %q", what, out[i].EventType)
		}
	}
	if len(out) > 1 {
		t.Fatalf("%s: synthesis gave %d events, at most 1 allowed: %s", what, len(out), r.body)
	}
	return out
}

func TestEventsSynthesis(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	at := "2026-04-22T14:05:33Z"
	changed := mustTime(t, at)
	insert(t, a.db, 12345, "https://confirmed.example.com", true, bridge.StatusConfirmedDown, changed)
	insert(t, a.db, 12346, "https://unconfirmed.example.com", true, bridge.StatusDown, changed)
	insert(t, a.db, 12347, "https://recovered.example.com", true, bridge.StatusRunning, changed)
	insert(t, a.db, 12348, "https://never.example.com", true, bridge.StatusRunning, time.Time{})
	// Two rows for one blog: the one that changed last speaks.
	insert(t, a.db, 12349, "https://a.example.com", true, bridge.StatusConfirmedDown, changed.Add(-time.Hour))
	insert(t, a.db, 12349, "https://b.example.com", true, bridge.StatusDown, changed)
	// Inactive monitors still have a history.
	insert(t, a.db, 12350, "https://off.example.com", false, bridge.StatusConfirmedDown, changed)

	// The exact wire form of a synthesized event.
	r := a.do("GET", eventsPath(12345, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"), nil)
	wantJSON(t, "events", r, 200)
	if got, want := string(r.body), `[{"id":0,"blog_id":12345,"event_type":"status_transition","source":"veriflier","http_code":null,"old_status":1,"new_status":2,"detail":null,"created_at":"2026-04-22T14:05:33Z"}]`+"\n"; got != want {
		t.Fatalf("body\n  %s\nwant\n  %s", got, want)
	}
	if got := r.header.Get(bridge.CoverageHeader); got != "synthesized" {
		t.Fatalf("X-Bridge-Coverage %q, want synthesized", got)
	}

	// source and old_status follow new_status.
	for _, c := range []struct {
		blog         uint64
		source       string
		oldSt, newSt int
		since, until string
	}{
		{12345, "veriflier", 1, 2, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"},
		{12346, "worker", 1, 0, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"},
		{12347, "jetmon", 2, 1, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"},
		{12349, "worker", 1, 0, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"},
		{12350, "veriflier", 1, 2, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"},
	} {
		es := a.getEvents(t, c.blog, c.since, c.until)
		if len(es) != 1 {
			t.Fatalf("blog %d: %d events, want 1", c.blog, len(es))
		}
		e := es[0]
		if e.ID != 0 || e.BlogID != c.blog || e.Source != c.source || e.OldStatus != c.oldSt || e.NewStatus != c.newSt || e.CreatedAt != at {
			t.Fatalf("blog %d: event %+v, want id 0 source %s %d->%d at %s", c.blog, e, c.source, c.oldSt, c.newSt, at)
		}
	}

	// Window boundaries: since <= created_at < until, with fractional
	// seconds and any offset accepted in the parameters.
	for _, c := range []struct {
		since, until string
		want         int
	}{
		{"2026-04-22T14:05:33Z", "2026-04-22T14:05:34Z", 1}, // since == created_at
		{"2026-04-22T14:05:32Z", "2026-04-22T14:05:33Z", 0}, // until == created_at
		{"2026-04-22T14:05:32.999999999Z", "2026-04-22T14:05:33.000000001Z", 1},
		{"2026-04-22T14:05:33.000000001Z", "2026-04-22T15:00:00Z", 0}, // just after
		{"2026-04-22T14:05:33.5Z", "2026-04-22T14:05:34Z", 0},
		{"2026-04-22T19:05:33+05:00", "2026-04-22T19:05:34+05:00", 1}, // same instant, other zone
		{"2026-04-22T10:05:33-04:00", "2026-04-22T10:05:33.001-04:00", 1},
		{"2026-04-22T19:05:34+05:00", "2026-04-22T20:00:00+05:00", 0},
		{"2026-04-21T00:00:00Z", "2026-04-22T00:00:00Z", 0}, // entirely before
		{"2026-04-23T00:00:00Z", "2026-04-24T00:00:00Z", 0}, // entirely after
		{"1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 1},
	} {
		es := a.getEvents(t, 12345, c.since, c.until)
		if len(es) != c.want {
			t.Fatalf("[%s, %s): %d events, want %d", c.since, c.until, len(es), c.want)
		}
		if c.want == 1 && es[0].CreatedAt != at {
			t.Fatalf("[%s, %s): created_at %s, want %s", c.since, c.until, es[0].CreatedAt, at)
		}
	}

	// No event: `[]`, never null, for an unknown blog, a NULL
	// last_status_change, and the maximum blog_id.
	for _, blog := range []uint64{999999, 12348, 1<<64 - 1} {
		r := a.do("GET", eventsPath(blog, "1970-01-01T00:00:00Z", "2038-01-01T00:00:00Z"), nil)
		wantJSON(t, "empty window", r, 200)
		if string(r.body) != "[]\n" {
			t.Fatalf("blog %d: body %q, want []", blog, r.body)
		}
		if got := r.header.Get(bridge.CoverageHeader); got != "synthesized" {
			t.Fatalf("blog %d: X-Bridge-Coverage %q", blog, got)
		}
	}

}

func TestEventsIgnoresExtraParameters(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	insert(t, a.db, 5, "https://x.example", true, bridge.StatusDown, mustTime(t, "2026-04-22T14:05:33Z"))
	r := a.do("GET", eventsPath(5, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z")+"&verbose=1&source=x", nil)
	wantJSON(t, "extra parameters", r, 200)
	var es []event
	json.Unmarshal(r.body, &es)
	if len(es) != 1 || es[0].Source != "worker" {
		t.Fatalf("body %s", r.body)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	for _, p := range []string{"/healthz", "/health"} {
		wantBody(t, "GET "+p, a.do("GET", p, nil), 200, `{"status":"ok"}`)
	}
}

// TestDatabaseDown stops the server under a running API: health turns 503
// with {"status":"error","error":...}, the routes that need the database
// answer 503 with a JSON error, those that do not still answer, and all of
// it recovers when the server is back.
func TestDatabaseDown(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{})
	a := newAPI(t, apiOpts{server: srv, write: true, timeout: 3 * time.Second})
	insert(t, a.db, 42, "https://up.example.com", true, bridge.StatusDown, mustTime(t, "2026-04-22T14:05:33Z"))
	wantBody(t, "healthz before", a.do("GET", "/healthz", nil), 200, `{"status":"ok"}`)

	srv.Stop()
	for _, p := range []string{"/healthz", "/health"} {
		r := a.do("GET", p, nil)
		wantJSON(t, p+" while down", r, 503)
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		msg, _ := body["error"].(string)
		if len(body) != 2 || body["status"] != "error" || msg == "" {
			t.Fatalf("%s while down: body %s, want {\"status\":\"error\",\"error\":\"...\"}", p, r.body)
		}
	}
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/monitors?url=https://up.example.com", ""},
		{"GET", eventsPath(42, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"), ""},
		{"POST", "/monitors", `{"url":"https://new.example.com"}`},
		{"DELETE", "/monitors?url=https://up.example.com", ""},
	} {
		var body []byte
		if req.body != "" {
			body = []byte(req.body)
		}
		r := a.do(req.method, req.path, body)
		if r.code != 503 && r.code != 504 {
			t.Fatalf("%s %s while down: %v, want 503 or 504", req.method, req.path, r)
		}
		wantError(t, req.method+" "+req.path+" while down", r, r.code)
	}
	// Neither the clock nor parameter checking needs the database.
	wantJSON(t, "GET /time while down", a.do("GET", "/time", nil), 200)
	wantError(t, "bad /events while down", a.do("GET", "/events?blog_id=0", nil), 400)

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	wantBody(t, "healthz after restart", a.do("GET", "/healthz", nil), 200, `{"status":"ok"}`)
	wantBody(t, "monitor after restart", a.do("GET", "/monitors?url=https://up.example.com", nil), 200,
		`{"blog_id":42,"monitor_url":"https://up.example.com","site_status":0,"monitor_active":true,"keyword":"","redirect_policy":"follow"}`)
	if n := countRows(t, a.db); n != 1 {
		t.Fatalf("%d rows after the outage, want 1 (nothing written while down)", n)
	}
}

func TestWriteEndpoints(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true, bucket: 137})
	const u = "https://bench-target-07.example.com/health?x=1"
	post := func() resp { return a.do("POST", "/monitors", []byte(`{"url":"`+u+`"}`)) }
	del := func(u string) resp { return a.do("DELETE", "/monitors?"+url.Values{"url": {u}}.Encode(), nil) }

	// Created: 201 with the monitor, one row in bucket 137.
	r := post()
	wantJSON(t, "create", r, 201)
	m := decodeMonitor(t, r)
	if m.MonitorURL != u || !m.MonitorActive || m.SiteStatus != bridge.StatusRunning {
		t.Fatalf("created monitor %s", r.body)
	}
	if m.BlogID >= 1<<31 || m.BlogID < store.MinCreatedBlogID {
		t.Fatalf("created blog_id %d outside [%d, 2^31)", m.BlogID, store.MinCreatedBlogID)
	}
	rows := rowsFor(t, a.db, u)
	if len(rows) != 1 || rows[0].BlogID != m.BlogID || rows[0].Bucket != 137 || !rows[0].Active || rows[0].Status != 1 || rows[0].Interval != 5 {
		t.Fatalf("rows after create: %+v", rows)
	}
	// The GET route now finds it with the same body.
	g := a.do("GET", "/monitors?"+url.Values{"url": {u}}.Encode(), nil)
	wantJSON(t, "get created", g, 200)
	if string(g.body) != string(r.body) {
		t.Fatalf("GET body %s differs from POST body %s", g.body, r.body)
	}

	// Already active: 200 with the same monitor, no new row.
	r = post()
	wantJSON(t, "already active", r, 200)
	if again := decodeMonitor(t, r); again != m {
		t.Fatalf("already active: %+v, want %+v", again, m)
	}
	if got := rowsFor(t, a.db, u); len(got) != 1 {
		t.Fatalf("rows after second POST: %+v", got)
	}

	// Deactivated: 204, no body, row kept with monitor_active=0.
	r = del(u)
	if r.code != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %v, want 204 with no body", r)
	}
	if got := rowsFor(t, a.db, u); len(got) != 1 || got[0].Active {
		t.Fatalf("rows after delete: %+v", got)
	}
	wantError(t, "get deactivated", a.do("GET", "/monitors?"+url.Values{"url": {u}}.Encode(), nil), 404)
	// Deleting an inactive monitor: it exists, so 204 again.
	if r := del(u); r.code != 204 {
		t.Fatalf("second delete: %v, want 204", r)
	}

	// Reactivated: 201 with the same blog_id, still one row.
	r = post()
	wantJSON(t, "reactivate", r, 201)
	if again := decodeMonitor(t, r); again != m {
		t.Fatalf("reactivated: %+v, want %+v", again, m)
	}
	if got := rowsFor(t, a.db, u); len(got) != 1 || !got[0].Active || got[0].SiteID != rows[0].SiteID {
		t.Fatalf("rows after reactivate: %+v", got)
	}

	// A second URL gets another blog_id below the first.
	r = a.do("POST", "/monitors", []byte(`{"url":"http://other.example"}`))
	wantJSON(t, "create second", r, 201)
	if m2 := decodeMonitor(t, r); m2.BlogID == m.BlogID || m2.BlogID < store.MinCreatedBlogID || m2.BlogID >= 1<<31 {
		t.Fatalf("second blog_id %d (first %d)", m2.BlogID, m.BlogID)
	}

	// Reactivating a row Jetmon created keeps its blog_id and bucket, and
	// starts it afresh: its confirmed-down status is reset to running.
	insert(t, a.db, 31337, "https://jetmon-made.example.com", false, bridge.StatusConfirmedDown, mustTime(t, "2026-04-22T14:05:33Z"))
	before := rowsFor(t, a.db, "https://jetmon-made.example.com")
	wantBody(t, "reactivate Jetmon's row", a.do("POST", "/monitors", []byte(`{"url":"https://jetmon-made.example.com"}`)), 201,
		`{"blog_id":31337,"monitor_url":"https://jetmon-made.example.com","site_status":1,"monitor_active":true,"keyword":"","redirect_policy":"follow"}`)
	after := rowsFor(t, a.db, "https://jetmon-made.example.com")
	before[0].Active, before[0].Status = true, 1
	if len(after) != 1 || after[0] != before[0] {
		t.Fatalf("reactivated row %+v, want %+v", after, before)
	}

	// DELETE deactivates every row with the URL, and only those.
	insert(t, a.db, 900, "https://dup.example.com", true, bridge.StatusRunning, time.Time{})
	insert(t, a.db, 901, "https://dup.example.com", true, bridge.StatusRunning, time.Time{})
	insert(t, a.db, 902, "https://DUP.example.com", true, bridge.StatusRunning, time.Time{})
	if r := del("https://dup.example.com"); r.code != 204 {
		t.Fatalf("delete dup: %v", r)
	}
	for _, r := range rowsFor(t, a.db, "https://dup.example.com") {
		if r.Active {
			t.Fatalf("row %+v still active", r)
		}
	}
	if r := rowsFor(t, a.db, "https://DUP.example.com"); len(r) != 1 || !r[0].Active {
		t.Fatalf("the upper-case URL's row was touched: %+v", r)
	}

	// Unknown URL: 404, nothing changes.
	before2 := dump(t, a.db)
	wantError(t, "delete unknown", del("https://nowhere.example.com"), 404)
	wantError(t, "delete near miss", del("https://dup.example.com/"), 404)
	if after := dump(t, a.db); after != before2 {
		t.Fatalf("404 DELETE changed the table:\n%s\nwas\n%s", after, before2)
	}
}

func TestWriteModeOff(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	insert(t, a.db, 1, "https://a.example.com", true, bridge.StatusRunning, time.Time{})
	before := dump(t, a.db)
	for _, r := range []resp{
		a.do("POST", "/monitors", []byte(`{"url":"https://b.example.com"}`)),
		a.do("POST", "/monitors", []byte(`garbage`)),
		a.do("DELETE", "/monitors?url=https://a.example.com", nil),
		a.do("DELETE", "/monitors", nil),
	} {
		msg := wantError(t, "write route without -write", r, 405)
		if !strings.Contains(msg, "-write") {
			t.Fatalf("405 error %q does not say how to enable writes", msg)
		}
	}
	if after := dump(t, a.db); after != before {
		t.Fatalf("table changed:\n%s\nwas\n%s", after, before)
	}
	wantJSON(t, "GET still works", a.do("GET", "/monitors?url=https://a.example.com", nil), 200)
}

// TestMethodNotAllowed sends every other method to every route, in both
// modes: 405 with a JSON error (and no body for HEAD).
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"}
	// POST and DELETE on /monitors answer 405 only without -write; that
	// case is TestWriteModeOff's.
	routes := map[string][]string{"/time": {"GET"}, "/events": {"GET"}, "/healthz": {"GET"}, "/health": {"GET"}, "/monitors": {"GET", "POST", "DELETE"}}
	for _, write := range []bool{false, true} {
		a := newAPI(t, apiOpts{write: write})
		before := dump(t, a.db)
		for path, allowed := range routes {
			for _, m := range methods {
				if contains(allowed, m) {
					continue
				}
				what := fmt.Sprintf("write=%v %s %s", write, m, path)
				r := a.do(m, path+"?url=https://a.example&blog_id=1", []byte(`{"url":"https://a.example"}`))
				if m == "HEAD" {
					if r.code != 405 || r.header.Get("Content-Type") != "application/json" {
						t.Fatalf("%s: %v, want 405 application/json", what, r)
					}
					continue
				}
				wantError(t, what, r, 405)
			}
		}
		if after := dump(t, a.db); after != before {
			t.Fatalf("write=%v: 405s changed the table", write)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestUnknownRoutes: 404 with a JSON error, whatever the path looks like.
func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	for _, p := range []string{"/", "/nope", "/time/", "/TIME", "/monitors/1", "/events/", "/healthz/x", "//time", "/./time", "/monitors/../time", "/%74ime/x"} {
		r := a.do("GET", p, nil)
		wantError(t, "GET "+p, r, 404)
	}
}

// TestContentTypeEverywhere: every response with a body is JSON, and 204 is
// empty.
func TestContentTypeEverywhere(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true})
	a.do("POST", "/monitors", []byte(`{"url":"https://a.example"}`))
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/time", ""},
		{"GET", "/healthz", ""},
		{"GET", "/health", ""},
		{"GET", "/monitors?url=https://a.example", ""},
		{"GET", "/monitors?url=https://b.example", ""},
		{"GET", "/monitors", ""},
		{"GET", eventsPath(1, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"), ""},
		{"GET", "/events", ""},
		{"POST", "/monitors", `{"url":"https://a.example"}`},
		{"POST", "/monitors", `{"url":"https://c.example"}`},
		{"POST", "/monitors", `{`},
		{"DELETE", "/monitors?url=https://b.example", ""},
		{"DELETE", "/monitors?url=https://c.example", ""},
		{"PUT", "/time", ""},
		{"GET", "/nope", ""},
	} {
		var body []byte
		if req.body != "" {
			body = []byte(req.body)
		}
		r := a.do(req.method, req.path, body)
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: %v: Content-Type %q", req.method, req.path, r, ct)
		}
		if r.code == http.StatusNoContent {
			if len(r.body) != 0 {
				t.Fatalf("%s %s: 204 with a body", req.method, req.path)
			}
			continue
		}
		wantJSON(t, req.method+" "+req.path, r, r.code)
	}
}
