package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// badRequest is a request the API must refuse without touching the table.
type badRequest struct {
	name   string
	method string
	target string // path and raw query, sent as written
	body   []byte
	code   int
}

func q(v url.Values) string { return v.Encode() }

// badEvents are /events requests that must answer 400.
func badEvents() []badRequest {
	ok := url.Values{"blog_id": {"42"}, "since": {"2026-04-22T14:00:00Z"}, "until": {"2026-04-22T15:00:00Z"}}
	with := func(k string, vs ...string) string {
		v := url.Values{}
		for kk, vv := range ok {
			v[kk] = vv
		}
		if vs == nil {
			delete(v, k)
		} else {
			v[k] = vs
		}
		return "/events?" + q(v)
	}
	var out []badRequest
	add := func(name, target string) {
		out = append(out, badRequest{name: name, method: "GET", target: target, code: 400})
	}
	add("no parameters", "/events")
	add("no query at all but ?", "/events?")
	for _, k := range []string{"blog_id", "since", "until"} {
		add("missing "+k, with(k))
		add("empty "+k, with(k, ""))
		add(k+" twice", with(k, ok[k][0], ok[k][0]))
		add(k+" garbled escape", strings.Replace(with(k), "/events?", "/events?"+k+"=%zz&", 1))
		add(k+" upper-case name", strings.Replace(with(k), "/events?", "/events?"+strings.ToUpper(k)+"="+url.QueryEscape(ok[k][0])+"&", 1))
	}
	for _, b := range []string{"0", "-1", "+1", "-0", "00", "1.5", "1e3", "0x10", "abc", " 1", "1 ", "1_000",
		"18446744073709551616", "99999999999999999999999", "１", "1;DROP TABLE jetpack_monitor_sites", "' OR 1=1 --", "\x00", "NaN"} {
		add(fmt.Sprintf("blog_id %q", b), with("blog_id", b))
	}
	for _, ts := range []string{
		"2026-04-22 14:00:00", "2026-04-22 14:00:00Z", "1776866400", "1776866400.5", "2026-04-22", "2026-04-22T14:00",
		"2026-04-22T14:00:00", "2026-04-22T14:00:00+0500", "2026-04-22T14:00:00 +05:00", "2026-04-22t14:00:00Z",
		"2026-04-22T25:00:00Z", "2026-02-30T00:00:00Z", "2026-04-22T14:00:60Z", "2026-4-22T14:00:00Z",
		"Wed, 22 Apr 2026 14:00:00 GMT", "now", "yesterday", "-1", "0", "2026-04-22T14:00:00.Z",
		"2026-04-22T14:00:00ZZ", " 2026-04-22T14:00:00Z", "2026-04-22T14:00:00Z ", "２０２６-04-22T14:00:00Z",
		"2026-04-22T14:00:00+24:00", "2026-04-22T14:00:00+23:60", "2026-04-22T14:00:00+99:00", "2026-04-22T14:00:00,5Z",
		"2026-04-22T14:00:00.5,Z", "2026-04-22T14:00:00+05", "2026-04-22T14:00:00Z' OR '1'='1",
		"2026-04-22T4:00:00.5Z", "2026-04-22T4:00:00+00:00", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
	} {
		for _, k := range []string{"since", "until"} {
			add(fmt.Sprintf("%s %q", k, ts), with(k, ts))
		}
	}
	window := func(since, until string) string {
		return "/events?" + q(url.Values{"blog_id": {"42"}, "since": {since}, "until": {until}})
	}
	add("since == until", window("2026-04-22T14:00:00Z", "2026-04-22T14:00:00Z"))
	add("since == until in other zones", window("2026-04-22T19:00:00+05:00", "2026-04-22T14:00:00Z"))
	add("since > until", window("2026-04-22T15:00:00Z", "2026-04-22T14:00:00Z"))
	add("since > until by 1ns", window("2026-04-22T14:00:00.000000001Z", "2026-04-22T14:00:00Z"))
	return out
}

// badMonitorURLs are /monitors?url= requests: 400 for a missing url,
// otherwise 404 (no monitor has such a URL), for GET and, in write mode,
// DELETE alike.
func badMonitorURLs(write bool) []badRequest {
	methods := []string{"GET"}
	if write {
		methods = append(methods, "DELETE")
	}
	var out []badRequest
	for _, c := range []struct {
		name, query string
		code        int
	}{
		{"no url", "", 400},
		{"empty url", "url=", 400},
		{"url twice", "url=https%3A%2F%2Fa.example.com&url=https%3A%2F%2Fa.example.com", 400},
		{"garbled escape", "url=%zz", 400},
		{"other name", "URL=https%3A%2F%2Fa.example.com", 400},
		{"ftp", "url=" + url.QueryEscape("ftp://a.example.com"), 404},
		{"credentials", "url=" + url.QueryEscape("http://user:pw@a.example.com"), 404},
		{"sql quote", "url=" + url.QueryEscape("' OR '1'='1"), 404},
		{"sql or", "url=" + url.QueryEscape("https://a.example.com' OR 1=1 -- "), 404},
		{"sql drop", "url=" + url.QueryEscape("x'; DROP TABLE jetpack_monitor_sites; --"), 404},
		{"sql backslash", "url=" + url.QueryEscape(`https://a.example.com\' OR 1=1 #`), 404},
		{"like wildcard", "url=%25", 404},
		{"like wildcard suffix", "url=" + url.QueryEscape("https://a.example.com%"), 404},
		{"underscore", "url=" + url.QueryEscape("https://a_example.com"), 404},
		{"unicode host", "url=" + url.QueryEscape("https://bücher.example"), 404},
		{"emoji", "url=" + url.QueryEscape("https://a.example.com/😀"), 404},
		{"invalid utf-8", "url=%FF%FE", 404},
		{"invalid utf-8 after a prefix", "url=https%3A%2F%2Fa.example.com%FF", 404},
		{"nul byte", "url=https%3A%2F%2Fa.example.com%00", 404},
		{"newline", "url=https%3A%2F%2Fa.example.com%0A", 404},
		{"upper case", "url=" + url.QueryEscape("HTTPS://A.EXAMPLE.COM"), 404},
		{"trailing space", "url=" + url.QueryEscape("https://a.example.com "), 404},
		{"trailing tab", "url=https%3A%2F%2Fa.example.com%09", 404},
		{"very long", "url=" + url.QueryEscape("https://a.example.com/"+strings.Repeat("a", 5000)), 404},
	} {
		for _, m := range methods {
			out = append(out, badRequest{name: m + " " + c.name, method: m, target: "/monitors?" + c.query, code: c.code})
		}
	}
	return out
}

// badBodies are POST /monitors bodies that must answer 400.
func badBodies() []badRequest {
	var out []badRequest
	add := func(name string, body []byte) {
		out = append(out, badRequest{name: "POST " + name, method: "POST", target: "/monitors", body: body, code: 400})
	}
	add("no body", nil)
	add("empty body", []byte{})
	add("whitespace", []byte("  \n"))
	add("null", []byte("null"))
	add("empty object", []byte("{}"))
	add("url null", []byte(`{"url":null}`))
	add("url empty", []byte(`{"url":""}`))
	add("url number", []byte(`{"url":123}`))
	add("url array", []byte(`{"url":["https://a.example.com"]}`))
	add("url object", []byte(`{"url":{"href":"https://a.example.com"}}`))
	add("array", []byte(`[{"url":"https://a.example.com"}]`))
	add("string", []byte(`"https://a.example.com"`))
	add("form encoded", []byte(`url=https%3A%2F%2Fa.example.com`))
	add("truncated", []byte(`{"url":"https://a.example.com"`))
	add("not json", []byte(`not json`))
	add("single quotes", []byte(`{'url':'https://a.example.com'}`))
	add("trailing comma", []byte(`{"url":"https://a.example.com",}`))
	add("unknown field", []byte(`{"url":"https://a.example.com","bucket_no":7}`))
	add("unknown field first", []byte(`{"blog_id":1,"url":"https://a.example.com"}`))
	add("unknown field null", []byte(`{"url":"https://a.example.com","keyword":null}`))
	add("two objects", []byte(`{"url":"https://a.example.com"}{"url":"https://b.example.com"}`))
	add("two objects spaced", []byte(`{"url":"https://a.example.com"} {}`))
	add("trailing bracket", []byte(`{"url":"https://a.example.com"}]`))
	add("trailing garbage", []byte(`{"url":"https://a.example.com"}x`))
	add("invalid utf-8 in string", []byte("{\"url\":\"https://a.example.com/\xff\"}"))
	add("5 MiB", []byte(`{"url":"https://a.example.com/`+strings.Repeat("a", 5<<20)+`"}`))
	add("4097 bytes of valid JSON", []byte(`{"url":"https://a.example.com"}`+strings.Repeat(" ", 4097-len(`{"url":"https://a.example.com"}`))))
	for _, u := range []string{
		"ftp://a.example.com", "http://user:pw@a.example.com", "http://user@a.example.com", "https://@a.example.com",
		"https://a.example.com/#frag", "https://a.example.com/#", "javascript:alert(1)", "file:///etc/passwd",
		"mailto:a@example.com", "//a.example.com/x", "a.example.com", "/relative", "https://", "https:///path",
		"https://:80/", "https://a.example.com:99999/", "https://a.example.com:0/", "https://a.example.com:-1/",
		"https://a.example.com:http/", "https://a example.com", "https://a.example.com/ x", "https://bücher.example",
		"https://a.example.com/😀", "https://a.example.com/\u0000", "https://a.example.com/\t", "\thttps://a.example.com",
		"https://a.example.com/'; DROP TABLE jetpack_monitor_sites; --", "https://[::1/", "https://a.example.com/%zz", "https://a.example.com/%",
		"https://a.example.com/" + strings.Repeat("a", 300-len("https://a.example.com/")+1),
	} {
		b := []byte(`{"url":` + jsonString(u) + `}`)
		add(fmt.Sprintf("url %q", clip(u)), b)
	}
	return out
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// seedBadInput fills a table that bad requests could damage: active and
// inactive rows, one with SQL metacharacters in its URL.
func seedBadInput(t *testing.T, a *api) {
	changed := mustTime(t, "2026-04-22T14:05:33Z")
	insert(t, a.db, 42, "https://a.example.com", true, bridge.StatusConfirmedDown, changed)
	insert(t, a.db, 43, "https://b.example.com", false, bridge.StatusRunning, changed)
	insert(t, a.db, 44, "https://c.example.com/?q=' OR '1'='1", true, bridge.StatusDown, time.Time{})
	insert(t, a.db, 45, "https://a_example.com%", true, bridge.StatusRunning, changed)
}

// TestBadInput sends every bad request, in read and write mode, and checks
// the status, the {"error": ...} body, and that the table is unchanged.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, write := range []bool{false, true} {
		t.Run(fmt.Sprintf("write=%v", write), func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, apiOpts{write: write})
			seedBadInput(t, a)
			before := dump(t, a.db)
			reqs := append(badEvents(), badMonitorURLs(write)...)
			if write {
				reqs = append(reqs, badBodies()...)
			}
			for _, r := range reqs {
				got := a.do(r.method, r.target, r.body)
				wantError(t, r.name, got, r.code)
			}
			if after := dump(t, a.db); after != before {
				t.Fatalf("bad input changed the table:\n%s\nwas\n%s", after, before)
			}
			if write {
				// The API still works, and the boundary body size is accepted.
				body := []byte(`{"url":"https://new.example.com"}`)
				body = append(body, strings.Repeat(" ", 4096-len(body))...)
				wantJSON(t, "4096-byte body", a.do("POST", "/monitors", body), 201)
			}
		})
	}
}

// TestStrangeButValidURLs: a URL the validator accepts is stored and found
// byte for byte, SQL metacharacters and all, and only it.
func TestStrangeButValidURLs(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true})
	seedBadInput(t, a)
	for _, u := range []string{
		"https://a.example.com/';DROP/**/TABLE/**/jetpack_monitor_sites;--",
		"https://a.example.com/?q='%20OR%20'1'='1",
		`https://a.example.com/\'";`,
		"https://a.example.com/%25",
		"https://a.example.com/_",
		"https://xn--bcher-kva.example/",
		"HTTPS://A.EXAMPLE.COM",
		"https://a.example.com:8443/p?x=1&y=2",
		"http://[::1]:8080/",
		"https://a.example.com/" + strings.Repeat("a", 300-len("https://a.example.com/")),
	} {
		before := dump(t, a.db)
		r := a.do("POST", "/monitors", []byte(`{"url":`+jsonString(u)+`}`))
		wantJSON(t, "POST "+u, r, 201)
		if m := decodeMonitor(t, r); m.MonitorURL != u {
			t.Fatalf("POST %q: monitor_url %q", u, m.MonitorURL)
		}
		if rows := rowsFor(t, a.db, u); len(rows) != 1 || rows[0].URL != u {
			t.Fatalf("POST %q: rows %+v", u, rows)
		}
		if n1, n2 := strings.Count(before, "\n"), strings.Count(dump(t, a.db), "\n"); n2 != n1+1 {
			t.Fatalf("POST %q: %d rows -> %d rows, want one more", u, n1-1, n2-1)
		}
		g := a.do("GET", "/monitors?"+url.Values{"url": {u}}.Encode(), nil)
		wantJSON(t, "GET "+u, g, 200)
		if string(g.body) != string(r.body) {
			t.Fatalf("GET %q: %s, POST gave %s", u, g.body, r.body)
		}
	}
	// The seeded rows are as they were.
	wantJSON(t, "seeded row", a.do("GET", "/monitors?"+url.Values{"url": {"https://a.example.com"}}.Encode(), nil), 200)
	wantJSON(t, "seeded row", a.do("GET", "/monitors?"+url.Values{"url": {"https://c.example.com/?q=' OR '1'='1"}}.Encode(), nil), 200)
}
