package server_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// TestReadTimeout: while another session holds a write lock on the table,
// every route that reads it gives up at the read timeout with a JSON 504
// and writes nothing; routes that do not need the table still answer; all
// of it works again once the lock is gone.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true, timeout: time.Second})
	insert(t, a.db, 42, "https://a.example.com", true, bridge.StatusDown, mustTime(t, "2026-04-22T14:05:33Z"))
	before := dump(t, a.db)

	ctx := context.Background()
	locker, err := a.db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, "LOCK TABLES jetpack_monitor_sites WRITE"); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	defer func() {
		if !unlocked {
			locker.ExecContext(ctx, "UNLOCK TABLES")
		}
	}()

	get := "/monitors?" + url.Values{"url": {"https://a.example.com"}}.Encode()
	events := eventsPath(42, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z")
	for _, req := range []struct{ method, target, body string }{
		{"GET", get, ""},
		{"GET", events, ""},
		{"POST", "/monitors", `{"url":"https://new.example.com"}`},
		{"DELETE", get, ""},
	} {
		var body []byte
		if req.body != "" {
			body = []byte(req.body)
		}
		wantError(t, req.method+" "+req.target+" while the table is locked", a.do(req.method, req.target, body), 504)
	}
	wantBody(t, "healthz while the table is locked", a.do("GET", "/healthz", nil), 200, `{"status":"ok"}`)
	wantJSON(t, "time while the table is locked", a.do("GET", "/time", nil), 200)

	if _, err := locker.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	unlocked = true
	if after := dump(t, a.db); after != before {
		t.Fatalf("timed-out requests changed the table:\n%s\nwas\n%s", after, before)
	}
	wantJSON(t, "GET after unlock", a.do("GET", get, nil), 200)
	if es := a.getEvents(t, 42, "2026-04-22T14:00:00Z", "2026-04-22T15:00:00Z"); len(es) != 1 {
		t.Fatalf("events after unlock: %+v", es)
	}
	wantJSON(t, "POST after unlock", a.do("POST", "/monitors", []byte(`{"url":"https://new.example.com"}`)), 201)
}
