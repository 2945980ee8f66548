package server_test

import (
	"fmt"
	"net/url"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
)

// TestAuth sends every route every kind of Authorization header: only the
// right bearer token gets through; everything else is 401
// {"error":"unauthorized"} and changes nothing.
func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cret-Tok3n"
	a := newAPI(t, apiOpts{write: true, token: token, bucket: 9})
	insert(t, a.db, 42, "https://a.example.com", true, bridge.StatusConfirmedDown, mustTime(t, "2026-04-22T14:05:33Z"))

	wrong := []string{
		noAuth,
		"",
		"Bearer",
		"Bearer ",
		"Bearer" + token,
		"Basic " + token,
		"Token " + token,
		token,
		"Bearer wrong",
		"Bearer " + token[:len(token)-1],
		"Bearer " + token + "x",
		"Bearer x" + token,
		"Bearer S3CRET-TOK3N",
		"Bearer " + token + " " + token,
		"Basic czNjcmV0LVRvazNu", // base64 of the token
	}
	right := []string{
		"Bearer " + token,
		"bearer " + token, // the scheme is case-insensitive (RFC 9110 §11.1)
		"BEARER " + token,
	}

	type route struct {
		method, target string
		body           []byte
		code           int // with the right token
	}
	routes := []route{
		{"GET", "/time", nil, 200},
		{"GET", "/healthz", nil, 200},
		{"GET", "/health", nil, 200},
		{"GET", "/monitors?url=" + url.QueryEscape("https://a.example.com"), nil, 200},
		{"GET", "/monitors?url=" + url.QueryEscape("https://none.example.com"), nil, 404},
		{"GET", "/monitors", nil, 400},
		{"GET", eventsPath(42, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"), nil, 200},
		{"GET", "/events?blog_id=0", nil, 400},
		{"POST", "/monitors", []byte(`{"url":"https://new.example.com"}`), 201},
		{"POST", "/monitors", []byte(`{`), 400},
		{"DELETE", "/monitors?url=" + url.QueryEscape("https://none.example.com"), nil, 404},
		{"PUT", "/time", nil, 405},
		{"GET", "/no-such-route", nil, 404},
	}

	before := dump(t, a.db)
	for _, rt := range routes {
		for _, h := range wrong {
			r := a.send(rt.method, rt.target, rt.body, h)
			what := fmt.Sprintf("%s %s with Authorization %q", rt.method, rt.target, h)
			wantBody(t, what, r, 401, `{"error":"unauthorized"}`)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%s: 401 without WWW-Authenticate", what)
			}
		}
	}
	if after := dump(t, a.db); after != before {
		t.Fatalf("unauthorized requests changed the table:\n%s\nwas\n%s", after, before)
	}

	for i, h := range right {
		for _, rt := range routes {
			code := rt.code
			if rt.method == "POST" && code == 201 && i > 0 {
				code = 200 // created by the first accepted header already
			}
			r := a.send(rt.method, rt.target, rt.body, h)
			what := fmt.Sprintf("%s %s with Authorization %q", rt.method, rt.target, h)
			if code == 200 || code == 201 {
				wantJSON(t, what, r, code)
			} else {
				wantError(t, what, r, code)
			}
		}
	}
	if rows := rowsFor(t, a.db, "https://new.example.com"); len(rows) != 1 || rows[0].Bucket != 9 {
		t.Fatalf("authorized POSTs: rows %+v, want one in bucket 9", rows)
	}
	r := a.send("DELETE", "/monitors?url="+url.QueryEscape("https://new.example.com"), nil, "Bearer "+token)
	if r.code != 204 {
		t.Fatalf("authorized DELETE: %v", r)
	}
	r = a.send("DELETE", "/monitors?url="+url.QueryEscape("https://a.example.com"), nil, "Bearer nope")
	wantBody(t, "unauthorized DELETE", r, 401, `{"error":"unauthorized"}`)
	if rows := rowsFor(t, a.db, "https://a.example.com"); len(rows) != 1 || !rows[0].Active {
		t.Fatalf("unauthorized DELETE deactivated: %+v", rows)
	}
}

// TestNoTokenNoAuth: without -token, any or no Authorization header is fine.
func TestNoTokenNoAuth(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{})
	for _, h := range []string{noAuth, "", "Bearer anything", "Basic x"} {
		wantJSON(t, fmt.Sprintf("GET /time with %q", h), a.send("GET", "/time", nil, h), 200)
		wantJSON(t, fmt.Sprintf("GET /healthz with %q", h), a.send("GET", "/healthz", nil, h), 200)
	}
}
