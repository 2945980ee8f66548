package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/server"
)

// tableOf is a fake jetpack_monitor_sites: the replica's or the primary's
// active monitors by URL, counting the lookups made in it.
type tableOf struct {
	mu      sync.Mutex
	rows    map[string]bridge.Monitor
	lookups int
}

func (f *tableOf) ActiveMonitor(_ context.Context, u string) (bridge.Monitor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if m, ok := f.rows[u]; ok && m.Active {
		return m, nil
	}
	return bridge.Monitor{}, bridge.ErrNotFound
}

func (f *tableOf) set(m bridge.Monitor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows[m.URL] = m
}

func (f *tableOf) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// primaryOf is a fake primary: its table, and the writes a bridge makes.
type primaryOf struct{ *tableOf }

func (p primaryOf) Activate(_ context.Context, u string, _ uint16) (bridge.Monitor, bool, error) {
	m := bridge.Monitor{SiteID: 7, BlogID: 700, URL: u, Active: true, Status: bridge.StatusRunning}
	p.set(m)
	return m, true, nil
}

func (p primaryOf) Deactivate(_ context.Context, u string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.rows[u]
	if !ok {
		return bridge.ErrNotFound
	}
	m.Active = false
	p.rows[u] = m
	return nil
}

// TestGetMonitorsReadsThePrimaryOnlyForItsWrites: in write mode GET
// /monitors answers from the replica, and from the primary only for a URL
// this bridge wrote that the replica has not yet been seen to answer the
// same (read-your-writes); once the two agree the replica answers again.
// Reading the primary for every GET would move the whole read load onto
// Jetmon's primary, which write mode must not do.
func TestGetMonitorsReadsThePrimaryOnlyForItsWrites(t *testing.T) {
	replica := &tableOf{rows: map[string]bridge.Monitor{}}
	primary := primaryOf{&tableOf{rows: map[string]bridge.Monitor{}}}
	// A monitor Jetmon itself changed on the primary: the replica lags
	// behind, and the bridge wrote nothing, so the replica answers.
	const jetmons, written = "https://jetmon-made.example.com", "https://written.example.com"
	replica.set(bridge.Monitor{SiteID: 1, BlogID: 100, URL: jetmons, Active: true, Status: bridge.StatusRunning})
	primary.set(bridge.Monitor{SiteID: 1, BlogID: 100, URL: jetmons, Active: true, Status: bridge.StatusConfirmedDown})

	ts := httptest.NewServer(server.New(server.Config{
		History: &server.History{}, Monitors: replica, Writer: primary,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Handler())
	defer ts.Close()
	get := func(u string) (int, bridge.Status) {
		t.Helper()
		res, err := ts.Client().Get(ts.URL + "/monitors?" + url.Values{"url": {u}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m struct {
			SiteStatus bridge.Status `json:"site_status"`
		}
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m.SiteStatus
	}

	if code, status := get(jetmons); code != 200 || status != bridge.StatusRunning {
		t.Errorf("GET of a URL the bridge never wrote: %d site_status %d, want the replica's 200 and 1", code, status)
	}
	if code, _ := get("https://nowhere.example.com"); code != 404 {
		t.Errorf("GET of an unknown URL: %d, want 404", code)
	}
	if n := primary.count(); n != 0 {
		t.Errorf("GET /monitors of URLs the bridge never wrote read the primary %d times, want 0", n)
	}

	// Written: the replica has not seen it, the primary answers.
	res, err := ts.Client().Post(ts.URL+"/monitors", "application/json", strings.NewReader(`{"url":"`+written+`"}`))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /monitors: %v %v", res, err)
	}
	res.Body.Close()
	before := primary.count()
	if code, _ := get(written); code != 200 {
		t.Errorf("GET right after the create, replica lagging: %d, want 200 from the primary", code)
	}
	if primary.count() == before {
		t.Error("GET right after the create did not read the primary")
	}
	// Replicated: the replica answers the same once, and from then on
	// alone.
	m, _ := primary.ActiveMonitor(context.Background(), written)
	replica.set(m)
	get(written)
	before = primary.count()
	for range 3 {
		if code, _ := get(written); code != 200 {
			t.Errorf("GET after replication: %d, want 200", code)
		}
	}
	if n := primary.count() - before; n != 0 {
		t.Errorf("after the replica agreed, GET read the primary %d more times, want 0", n)
	}
}
