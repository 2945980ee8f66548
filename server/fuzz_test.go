package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/server"
)

// eventsCases are /events raw queries and whether ParseEventsQuery accepts
// them. They are the fuzz corpus's seeds too.
var eventsCases = []struct {
	query string
	ok    bool
}{
	{"blog_id=1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", true},
	{"blog_id=12345&since=2026-04-22T14:00:00.5Z&until=2026-04-22T14:00:00.500000001Z", true},
	{"blog_id=18446744073709551615&since=1970-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999999Z", true},
	{"blog_id=007&since=2026-04-22T19:00:00%2B05:00&until=2026-04-22T15:00:00Z", true},
	{"blog_id=1&since=2026-04-22T14:00:00-23:59&until=2026-04-22T14:00:00%2B23:59", false}, // since is after until
	{"blog_id=1&since=2026-04-22T14:00:00%2B23:59&until=2026-04-22T14:00:00-23:59", true},
	{"until=2026-04-22T15:00:00Z&since=2026-04-22T14:00:00Z&blog_id=2&extra=1", true},
	{"blog_id=1&since=2026-04-22T14:00:00.123456789123Z&until=2026-04-22T15:00:00Z", true},
	{"", false},
	{"blog_id=1", false},
	{"blog_id=1&since=2026-04-22T14:00:00Z", false},
	{"blog_id=0&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=-1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=%2B1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1e3&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=0x1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=18446744073709551616&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&blog_id=1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=%zz&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=2026-04-22T14:00:00Z&until=2026-04-22T14:00:00Z", false},
	{"blog_id=1&since=2026-04-22T15:00:00Z&until=2026-04-22T14:00:00Z", false},
	{"blog_id=1&since=2026-04-22+14:00:00&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=1776866400&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=2026-04-22&until=2026-04-23", false},
	{"blog_id=1&since=2026-04-22T14:00:00&until=2026-04-22T15:00:00", false},
	{"blog_id=1&since=2026-04-22T14:00:00%2B24:00&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=2026-04-22T14:00:00,5Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=2026-04-22t14:00:00Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=2026-04-22T14:00:00z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1;since=2026-04-22T14:00:00Z;until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=0000-01-01T0:00:00%2B00:00&until=0000-01-01T0:00:00-00:01", false}, // found by fuzzing
	{"blog_id=1&since=2026-04-22T1:00:00.5Z&until=2026-04-22T15:00:00Z", false},
	{"blog_id=1&since=0000-01-01T00:00:00%2B01:00&until=0000-01-01T00:00:00Z", false}, // found by fuzzing
	{"blog_id=1&since=0000-01-01T00:00:00Z&until=0000-01-01T00:00:01%2B00:00", true},
	{"blog_id=1&since=9999-12-31T23:00:00Z&until=9999-12-31T23:59:00-01:00", false},
}

func TestParseEventsQueryTable(t *testing.T) {
	for _, c := range eventsCases {
		q, _ := url.ParseQuery(c.query)
		_, err := server.ParseEventsQuery(q)
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v, want ok=%v", c.query, err, c.ok)
		}
		checkEventsQuery(t, c.query)
	}
}

// FuzzParseEventsQuery feeds raw query strings, parsed the way the server
// parses them, to ParseEventsQuery.
func FuzzParseEventsQuery(f *testing.F) {
	for _, c := range eventsCases {
		f.Add(c.query)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkEventsQuery(t, raw) })
}

// rfc3339 is RFC 3339's date-time grammar (section 5.6) with upper-case T
// and Z.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// checkEventsQuery asserts ParseEventsQuery's invariants on one raw query:
// it never panics; a refusal says why in a bounded message; an accepted
// query has blog_id > 0 given once in plain decimal, since < until in UTC,
// each given once as RFC 3339, and formatting the result back parses to the
// same query.
func checkEventsQuery(t *testing.T, raw string) {
	t.Helper()
	q, _ := url.ParseQuery(raw) // the server ignores malformed pairs too
	eq, err := server.ParseEventsQuery(q)
	if err != nil {
		if msg := err.Error(); msg == "" || len(msg) > 512 {
			t.Fatalf("%q: error message %q", raw, msg)
		}
		return
	}
	for _, k := range []string{"blog_id", "since", "until"} {
		if len(q[k]) != 1 || q[k][0] == "" {
			t.Fatalf("%q accepted with %s = %q", raw, k, q[k])
		}
	}
	if eq.BlogID == 0 {
		t.Fatalf("%q accepted with blog_id 0", raw)
	}
	if strings.TrimLeft(q["blog_id"][0], "0") != strconv.FormatUint(eq.BlogID, 10) {
		t.Fatalf("%q: blog_id %q read as %d", raw, q["blog_id"][0], eq.BlogID)
	}
	if !eq.Since.Before(eq.Until) {
		t.Fatalf("%q accepted with since %v >= until %v", raw, eq.Since, eq.Until)
	}
	if eq.Since.Location() != time.UTC || eq.Until.Location() != time.UTC {
		t.Fatalf("%q: times not in UTC: %v %v", raw, eq.Since, eq.Until)
	}
	for _, k := range []string{"since", "until"} {
		s := q[k][0]
		if !rfc3339.MatchString(s) {
			t.Fatalf("%q: %s %q accepted though not RFC 3339", raw, k, s)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Fatalf("%q: %s %q accepted though time.Parse refuses it: %v", raw, k, s, err)
		}
	}
	back := url.Values{
		"blog_id": {strconv.FormatUint(eq.BlogID, 10)},
		"since":   {eq.Since.Format(time.RFC3339Nano)},
		"until":   {eq.Until.Format(time.RFC3339Nano)},
	}
	again, err := server.ParseEventsQuery(back)
	if err != nil {
		t.Fatalf("%q: formatted back as %q, refused: %v", raw, back.Encode(), err)
	}
	if again != eq {
		t.Fatalf("%q: round trip %+v != %+v", raw, again, eq)
	}
}

// bodyCases are POST /monitors bodies and the URL ParseMonitorBody returns
// ("" for a refusal). They are the fuzz corpus's seeds too.
var bodyCases = []struct{ body, url string }{
	{`{"url":"https://a.example.com"}`, "https://a.example.com"},
	{` { "url" : "http://a.example.com:8080/p?q=1" } ` + "\n", "http://a.example.com:8080/p?q=1"},
	{`{"url":"https:\/\/a.example.com\/x"}`, "https://a.example.com/x"},
	{`{"url":"https://a.example.com/\u0041"}`, "https://a.example.com/A"},
	{`{"url":"http://[::1]/"}`, "http://[::1]/"},
	{`{"url":"HTTPS://A.EXAMPLE.COM"}`, "HTTPS://A.EXAMPLE.COM"},
	{`{"url":"https://a.example.com/';DROP/**/TABLE/**/x;--"}`, "https://a.example.com/';DROP/**/TABLE/**/x;--"},
	{``, ""},
	{`null`, ""},
	{`{}`, ""},
	{`{"url":null}`, ""},
	{`{"url":""}`, ""},
	{`{"url":1}`, ""},
	{`{"url":"https://a.example.com","x":1}`, ""},
	{`{"url":"https://a.example.com"}{}`, ""},
	{`{"url":"https://a.example.com"}]`, ""},
	{`[{"url":"https://a.example.com"}]`, ""},
	{`{"url":"ftp://a.example.com"}`, ""},
	{`{"url":"http://u:p@a.example.com"}`, ""},
	{`{"url":"https://a.example.com/#x"}`, ""},
	{`{"url":"https://a.example.com/#"}`, ""},
	{`{"url":"https://"}`, ""},
	{`{"url":"//a.example.com"}`, ""},
	{`{"url":"https://a.example.com:0"}`, ""},
	{`{"url":"https://a.example.com:65536"}`, ""},
	{`{"url":"https://a example.com"}`, ""},
	{`{"url":"https://bücher.example"}`, ""},
	{`{"url":"https://a.example.com/\u0000"}`, ""},
	{"{\"url\":\"https://a.example.com/\xff\"}", ""},
	{`{"url":"https://a.example.com/%zz"}`, ""},
	{`{"url":"https://a.example.com/` + strings.Repeat("a", 279) + `"}`, ""},
}

func TestParseMonitorBodyTable(t *testing.T) {
	for _, c := range bodyCases {
		u, err := server.ParseMonitorBody([]byte(c.body))
		if c.url == "" && err == nil {
			t.Errorf("%q: accepted as %q", c.body, u)
		}
		if c.url != "" && (err != nil || u != c.url) {
			t.Errorf("%q: got %q, %v; want %q", c.body, u, err, c.url)
		}
		checkMonitorBody(t, []byte(c.body))
	}
}

// FuzzParseMonitorBody feeds arbitrary bodies to ParseMonitorBody.
func FuzzParseMonitorBody(f *testing.F) {
	for _, c := range bodyCases {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkMonitorBody(t, body) })
}

// checkMonitorBody asserts ParseMonitorBody's invariants on one body: it
// never panics; a refusal says why; an accepted body is valid JSON whose URL
// validates, fits monitor_url, is printable ASCII, http(s) with a host and
// without credentials or fragment, and re-encoding it parses back to itself.
func checkMonitorBody(t *testing.T, body []byte) {
	t.Helper()
	u, err := server.ParseMonitorBody(body)
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("%q: empty error", body)
		}
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%q: accepted though not JSON", body)
	}
	if err := server.ValidateMonitorURL(u); err != nil {
		t.Fatalf("%q: accepted %q, which does not validate: %v", body, u, err)
	}
	if u == "" || len(u) > 300 {
		t.Fatalf("%q: accepted %q of length %d", body, u, len(u))
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] >= 0x7f {
			t.Fatalf("%q: accepted %q with byte %#x", body, u, u[i])
		}
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("%q: accepted %q, which does not parse: %v", body, u, err)
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() == "" || p.User != nil || strings.Contains(u, "#") {
		t.Fatalf("%q: accepted %q (scheme %q host %q user %v)", body, u, p.Scheme, p.Hostname(), p.User)
	}
	again, _ := json.Marshal(map[string]string{"url": u})
	back, err := server.ParseMonitorBody(again)
	if err != nil || back != u {
		t.Fatalf("%q: accepted %q, but %s parses to %q, %v", body, u, again, back, err)
	}
}
