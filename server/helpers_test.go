package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// apiOpts shape a test API.
type apiOpts struct {
	write   bool
	token   string
	bucket  uint16
	server  *testdb.Server // nil: the shared server
	timeout time.Duration  // 0: 5s
	now     func() time.Time
}

// api is an httptest server wired to real store.DB instances on a fresh
// database, the way cmd/jetmon-bridge wires it.
type api struct {
	t       *testing.T
	db      *testdb.DB
	replica *store.DB
	primary *store.DB
	url     string
	token   string
}

func newAPI(t *testing.T, o apiOpts) *api {
	t.Helper()
	var db *testdb.DB
	if o.server != nil {
		db = testdb.NewDBOn(t, o.server)
	} else {
		db = testdb.NewDB(t)
	}
	return newAPIOn(t, db, o)
}

func newAPIOn(t *testing.T, db *testdb.DB, o apiOpts) *api {
	t.Helper()
	timeout := o.timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	replica, err := store.Open("-dsn", db.DSN(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	cfg := server.Config{
		History:  &server.History{Synthesizer: replica},
		Monitors: replica,
		Bucket:   o.bucket,
		Token:    o.token,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      o.now,
		Health: func(ctx context.Context) (server.Health, error) {
			return server.Health{}, replica.Ping(ctx)
		},
	}
	a := &api{t: t, db: db, replica: replica, token: o.token}
	if o.write {
		primary, err := store.Open("-write-dsn", db.DSN(), timeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { primary.Close() })
		if err := primary.CheckWritable(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg.Writer = primary
		a.primary = primary
	}
	ts := httptest.NewServer(server.New(cfg).Handler())
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

// resp is a response read in full.
type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) String() string {
	return fmt.Sprintf("%d %s %q", r.code, r.header.Get("Content-Type"), clip(string(r.body)))
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// noRedirects shows a redirect as the response it is.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// noAuth as the auth argument of send sends no Authorization header.
const noAuth = "\x00none"

// do sends a request with the API's token (if any).
func (a *api) do(method, target string, body []byte) resp {
	a.t.Helper()
	auth := noAuth
	if a.token != "" {
		auth = "Bearer " + a.token
	}
	return a.send(method, target, body, auth)
}

// send sends a request with the given Authorization header (noAuth: none).
func (a *api) send(method, target string, body []byte, auth string) resp {
	a.t.Helper()
	r, err := a.trySend(method, target, body, auth)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, clip(target), err)
	}
	return r
}

// try is do for other goroutines than the test's: it returns errors.
func (a *api) try(method, target string, body []byte) (resp, error) {
	auth := noAuth
	if a.token != "" {
		auth = "Bearer " + a.token
	}
	return a.trySend(method, target, body, auth)
}

func (a *api) trySend(method, target string, body []byte, auth string) (resp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+target, rd)
	if err != nil {
		return resp{}, err
	}
	if auth != noAuth {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, fmt.Errorf("read body: %w", err)
	}
	return resp{code: res.StatusCode, header: res.Header, body: b}, nil
}

// wantJSON fails t unless r has code, a JSON Content-Type and a body that
// is one JSON value.
func wantJSON(t *testing.T, what string, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: got %v, want status %d", what, r, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q, want application/json (%v)", what, ct, r)
	}
	if !json.Valid(r.body) {
		t.Fatalf("%s: body is not JSON: %v", what, r)
	}
}

// wantError fails t unless r is code with the body {"error": "<non-empty>"}
// and nothing else.
func wantError(t *testing.T, what string, r resp, code int) string {
	t.Helper()
	wantJSON(t, what, r, code)
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%s: error body is not an object: %v", what, r)
	}
	msg, ok := body["error"].(string)
	if len(body) != 1 || !ok || msg == "" {
		t.Fatalf(`%s: body %s, want exactly {"error": "<message>"}`, what, r.body)
	}
	return msg
}

// wantBody fails t unless r is code with exactly the JSON body want
// (compared as values, so key order and spacing do not matter).
func wantBody(t *testing.T, what string, r resp, code int, want string) {
	t.Helper()
	wantJSON(t, what, r, code)
	var got, exp any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	gb, _ := json.Marshal(got)
	eb, _ := json.Marshal(exp)
	if !bytes.Equal(gb, eb) {
		t.Fatalf("%s: body\n  %s\nwant\n  %s", what, r.body, want)
	}
}

// insert adds a monitor row with last_status_change at the instant changed
// (NULL when zero). FROM_UNIXTIME and the TIMESTAMP column convert through
// the same session zone, so the stored instant is exact whatever it is.
func insert(t *testing.T, db *testdb.DB, blogID uint64, url string, active bool, status bridge.Status, changed time.Time) int64 {
	t.Helper()
	var ts any
	if !changed.IsZero() {
		ts = changed.Unix()
	}
	res := db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change) VALUES (?, 3, ?, ?, ?, FROM_UNIXTIME(?))",
		blogID, url, active, uint8(status), ts)
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dump returns the table's full contents, one line per row, with
// last_status_change as epoch seconds, so two dumps are equal exactly when
// the table is unchanged.
func dump(t *testing.T, db *testdb.DB) string {
	t.Helper()
	rows, err := db.SQL.Query("SELECT jetpack_monitor_site_id, blog_id, bucket_no, HEX(monitor_url), monitor_active, site_status, COALESCE(UNIX_TIMESTAMP(last_status_change), 'NULL'), check_interval FROM jetpack_monitor_sites ORDER BY jetpack_monitor_site_id")
	if err != nil {
		t.Fatalf("dump table: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var cols [8]string
		if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7]); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(cols[:], "|"))
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var checksum string
	var name string
	if err := db.SQL.QueryRow("CHECKSUM TABLE jetpack_monitor_sites").Scan(&name, &checksum); err != nil {
		t.Fatalf("checksum table: %v", err)
	}
	return b.String() + "checksum " + checksum + "\n"
}

// row is one table row as the tests inspect it.
type row struct {
	SiteID   int64
	BlogID   uint64
	Bucket   int
	URL      string
	Active   bool
	Status   int
	Interval int
}

func rowsFor(t *testing.T, db *testdb.DB, url string) []row {
	t.Helper()
	rows, err := db.SQL.Query("SELECT jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status, check_interval FROM jetpack_monitor_sites WHERE BINARY monitor_url = ? ORDER BY 1", url)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.SiteID, &r.BlogID, &r.Bucket, &r.URL, &r.Active, &r.Status, &r.Interval); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func countRows(t *testing.T, db *testdb.DB) int {
	t.Helper()
	var n int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// decodeMonitor decodes a monitor answer into its wire form strictly: exactly
// the six fields of bridge.MonitorJSON, keyword "" and redirect_policy "follow".
func decodeMonitor(t *testing.T, r resp) bridge.MonitorJSON {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("monitor body %s: %v", r.body, err)
	}
	keys := []string{"blog_id", "monitor_url", "site_status", "monitor_active", "keyword", "redirect_policy"}
	if len(raw) != len(keys) {
		t.Fatalf("monitor body %s has %d fields, want exactly %v", r.body, len(raw), keys)
	}
	for _, k := range keys {
		if _, ok := raw[k]; !ok {
			t.Fatalf("monitor body %s lacks %q", r.body, k)
		}
	}
	var m bridge.MonitorJSON
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("monitor body %s: %v", r.body, err)
	}
	if m.Keyword != "" || m.RedirectPolicy != "follow" {
		t.Fatalf("monitor body %s: keyword must be \"\" and redirect_policy \"follow\"", r.body)
	}
	return m
}
