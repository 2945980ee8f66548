package journal

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// t0 is the start of the synthetic journals' first span.
var t0 = time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)

// fixture is a journal built from synthetic batches and what went into it.
type fixture struct {
	path   string
	events []bridge.Event // as committed, with ids, in commit order
}

// nextStatus walks Jetmon's cycle running -> down -> confirmed down -> running.
func nextStatus(s bridge.Status) bridge.Status {
	switch s {
	case bridge.StatusRunning:
		return bridge.StatusDown
	case bridge.StatusDown:
		return bridge.StatusConfirmedDown
	}
	return bridge.StatusRunning
}

// buildJournal writes a journal of blogs 101..105 with two spans and a gap:
// span 1 [t0, t0+200s) over two batches, a purged-binlog gap, span 2 from
// t0+300s still open at t0+400s. Events within a batch are not in time
// order, and several share a second.
func buildJournal(t *testing.T, dir string) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(dir, "test.journal")}
	j, err := Open(f.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	status := map[uint64]bridge.Status{}
	var monitors []bridge.Monitor
	for blog := uint64(101); blog <= 105; blog++ {
		status[blog] = bridge.StatusRunning
		monitors = append(monitors, bridge.Monitor{SiteID: blog * 10, BlogID: blog, URL: urlOf(blog), Active: blog != 105, Status: bridge.StatusRunning})
	}
	// A second, inactive row of blog 101 with another url.
	monitors = append(monitors, bridge.Monitor{SiteID: 1011, BlogID: 101, URL: "https://old-101.example.com", Status: bridge.StatusRunning})
	cp := func(pos uint32) *Checkpoint {
		return &Checkpoint{Flavor: "mariadb", File: "mysql-bin.000001", Pos: pos, Columns: []string{"jetpack_monitor_site_id", "blog_id", "bucket_no", "monitor_url", "monitor_active", "site_status", "last_status_change", "check_interval"}}
	}
	mkEvents := func(from, to int) []bridge.Event {
		var es []bridge.Event
		for s := from; s < to; s += 7 {
			for _, blog := range []uint64{101, 102, 103} {
				if (s/7+int(blog))%3 == 0 {
					continue
				}
				old := status[blog]
				status[blog] = nextStatus(old)
				// Reverse time order inside a pair of seconds.
				at := t0.Add(time.Duration(s+int(blog%2)) * time.Second)
				es = append(es, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: at})
			}
		}
		return es
	}
	batches := []*Batch{
		{NewSpan: &SpanStart{Start: t0}, Monitors: monitors, Events: mkEvents(5, 100), Checkpoint: cp(1000), CoveredTo: t0.Add(100 * time.Second)},
		{Events: mkEvents(100, 200), Checkpoint: cp(2000), CoveredTo: t0.Add(200 * time.Second)},
		{NewSpan: &SpanStart{Start: t0.Add(300 * time.Second), GapReason: "binlog purged (error 1236)"}, Events: mkEvents(300, 400), Checkpoint: cp(3000), CoveredTo: t0.Add(400 * time.Second)},
	}
	for _, b := range batches {
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		f.events = append(f.events, b.Events...)
	}
	return f
}

func urlOf(blog uint64) string {
	return "https://blog-" + strconv.FormatUint(blog, 10) + ".example.com"
}

// sorted returns events in the API's (created_at, id) order.
func sorted(events []bridge.Event) []bridge.Event {
	out := slices.Clone(events)
	slices.SortFunc(out, func(a, b bridge.Event) int {
		if a.Before(b) {
			return -1
		}
		if b.Before(a) {
			return 1
		}
		return 0
	})
	return out
}

// copyFile copies src to a new file in dir and returns its path.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, name)
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func openRO(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// buildLargeJournal writes n events over 40 blogs in batches of 100, enough
// for bbolt to need branch pages and overflowing leaves.
func buildLargeJournal(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "large.journal")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	status := map[uint64]bridge.Status{}
	b := &Batch{NewSpan: &SpanStart{Start: t0}}
	for i := 0; i < n; i++ {
		blog := uint64(1000 + i*7%40)
		old, ok := status[blog]
		if !ok {
			old = bridge.StatusRunning
		}
		status[blog] = nextStatus(old)
		at := t0.Add(time.Duration(i/3) * time.Second)
		b.Events = append(b.Events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: status[blog], CreatedAt: at})
		if len(b.Events) == 100 || i == n-1 {
			b.Checkpoint = &Checkpoint{Flavor: "mysql", File: "binlog.000001", Pos: uint32(4 + i)}
			b.CoveredTo = at.Add(time.Second)
			if err := j.Commit(b); err != nil {
				t.Fatal(err)
			}
			b = &Batch{}
		}
	}
	return path
}
