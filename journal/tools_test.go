package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

func exportAll(t *testing.T, j *Journal, f ExportFilter) []bridge.Event {
	t.Helper()
	var out []bridge.Event
	if err := j.Export(f, func(e bridge.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStats(t *testing.T) {
	f := buildJournal(t, t.TempDir())
	j := openRO(t, f.path)
	st, err := j.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := sorted(f.events)
	switch {
	case st.Events != uint64(len(f.events)) || st.Seq != st.Events:
		t.Errorf("events %d seq %d, want %d", st.Events, st.Seq, len(f.events))
	case st.Blogs != 3:
		t.Errorf("blogs %d, want 3", st.Blogs)
	case st.Monitors != 6 || st.ActiveMonitors != 4:
		t.Errorf("monitors %d (%d active), want 6 (4 active)", st.Monitors, st.ActiveMonitors)
	case st.FirstEvent == nil || !st.FirstEvent.Equal(want[0].CreatedAt) || !st.LastEvent.Equal(want[len(want)-1].CreatedAt):
		t.Errorf("first %v last %v, want %v %v", st.FirstEvent, st.LastEvent, want[0].CreatedAt, want[len(want)-1].CreatedAt)
	case st.Checkpoint == nil || st.Checkpoint.Pos != 3000:
		t.Errorf("checkpoint %+v", st.Checkpoint)
	case st.FileSize <= 0 || st.BytesPerEvent != float64(st.FileSize)/float64(st.Events):
		t.Errorf("size %d, %f bytes per event", st.FileSize, st.BytesPerEvent)
	}
	wantSpans := []SpanInfo{
		{Start: t0, End: t0.Add(200 * time.Second)},
		{Start: t0.Add(300 * time.Second), End: t0.Add(400 * time.Second), Open: true},
	}
	if !slices.Equal(st.Spans, wantSpans) {
		t.Errorf("spans %+v, want %+v", st.Spans, wantSpans)
	}
	wantGaps := []Gap{{Start: t0.Add(200 * time.Second), End: t0.Add(300 * time.Second), Reason: "binlog purged (error 1236)"}}
	if !slices.Equal(st.Gaps, wantGaps) {
		t.Errorf("gaps %+v, want %+v", st.Gaps, wantGaps)
	}
}

func TestExportOrderAndFilters(t *testing.T) {
	f := buildJournal(t, t.TempDir())
	j := openRO(t, f.path)
	all := sorted(f.events)
	if got := exportAll(t, j, ExportFilter{}); !slices.Equal(got, all) {
		t.Fatalf("export of everything:\n got %v\nwant %v", got, all)
	}
	// A fractional since rounds up to the next whole second, as /events does.
	since, until := t0.Add(50*time.Second+time.Millisecond), t0.Add(320*time.Second)
	for _, filter := range []ExportFilter{
		{BlogID: 102},
		{Since: since},
		{Until: until},
		{Since: since, Until: until},
		{BlogID: 101, Since: since, Until: until},
		{BlogID: 999},
		{Since: until, Until: since},
	} {
		var want []bridge.Event
		for _, e := range all {
			if (filter.BlogID == 0 || e.BlogID == filter.BlogID) &&
				(filter.Since.IsZero() || !e.CreatedAt.Before(filter.Since)) &&
				(filter.Until.IsZero() || e.CreatedAt.Before(filter.Until)) {
				want = append(want, e)
			}
		}
		if got := exportAll(t, j, filter); !slices.Equal(got, want) {
			t.Errorf("export %+v:\n got %v\nwant %v", filter, got, want)
		}
		if filter.BlogID != 0 && !filter.Since.IsZero() && !filter.Until.IsZero() && filter.Since.Before(filter.Until) {
			window, err := j.BlogEvents(filter.BlogID, filter.Since, filter.Until)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(window, want) && len(want) > 0 {
				t.Errorf("export %+v differs from BlogEvents %v", filter, window)
			}
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := j.Export(ExportFilter{}, func(bridge.Event) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Export did not stop at the callback's error: %v after %d", err, n)
	}
}

func TestActiveMonitor(t *testing.T) {
	f := buildJournal(t, t.TempDir())
	j := openRO(t, f.path)
	ctx := context.Background()
	m, err := j.ActiveMonitor(ctx, urlOf(102))
	if err != nil || m.BlogID != 102 || m.SiteID != 1020 || !m.Active {
		t.Errorf("ActiveMonitor(102) = %+v, %v", m, err)
	}
	// 105 is inactive; "old-101" is inactive; a prefix is not the url.
	for _, u := range []string{urlOf(105), "https://old-101.example.com", "https://blog-10", urlOf(999), ""} {
		if m, err := j.ActiveMonitor(ctx, u); !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("ActiveMonitor(%q) = %+v, %v; want bridge.ErrNotFound", u, m, err)
		}
	}
}

func TestStatusAt(t *testing.T) {
	f := buildJournal(t, t.TempDir())
	j := openRO(t, f.path)
	for _, blog := range []uint64{101, 102, 103} {
		var evs []bridge.Event
		for _, e := range sorted(f.events) {
			if e.BlogID == blog {
				evs = append(evs, e)
			}
		}
		check := func(at time.Time, want bridge.Status) {
			t.Helper()
			s, ok, err := j.StatusAt(blog, at)
			if err != nil || !ok || s != want {
				t.Errorf("blog %d StatusAt(%s) = %v %v %v, want %v", blog, at.Format(time.RFC3339Nano), s, ok, err, want)
			}
		}
		check(t0, evs[0].OldStatus) // before the first event
		for i, e := range evs {
			if i > 0 && !e.CreatedAt.Equal(evs[i-1].CreatedAt) {
				check(e.CreatedAt, evs[i-1].NewStatus) // an event at t is not before t
			}
			check(e.CreatedAt.Add(500*time.Millisecond), lastAtOrBefore(evs, e.CreatedAt).NewStatus)
		}
		check(t0.Add(time.Hour), evs[len(evs)-1].NewStatus)
	}
	// No events: the monitor row; nothing at all: not ok.
	if s, ok, err := j.StatusAt(104, t0); err != nil || !ok || s != bridge.StatusRunning {
		t.Errorf("StatusAt(104) = %v %v %v, want the monitor row's running", s, ok, err)
	}
	if _, ok, err := j.StatusAt(999, t0); err != nil || ok {
		t.Errorf("StatusAt(999) = %v %v, want unknown", ok, err)
	}
}

func lastAtOrBefore(evs []bridge.Event, at time.Time) bridge.Event {
	var last bridge.Event
	for _, e := range evs {
		if !e.CreatedAt.After(at) {
			last = e
		}
	}
	return last
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	dst := filepath.Join(dir, "compact.journal")
	before, after, err := Compact(f.path, dst)
	if err != nil {
		t.Fatal(err)
	}
	if after <= 0 || after > before {
		t.Errorf("compacted %d bytes into %d", before, after)
	}
	r, err := Verify(dst)
	if err != nil || !r.OK() {
		t.Fatalf("compacted journal does not verify: %v %+v", err, r)
	}
	if a, b := exportAll(t, openRO(t, f.path), ExportFilter{}), exportAll(t, openRO(t, dst), ExportFilter{}); !slices.Equal(a, b) {
		t.Errorf("compacted journal exports differently")
	}
	if _, _, err := Compact(f.path, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Compact over an existing file: %v", err)
	}
	if _, _, err := Compact(filepath.Join(dir, "missing"), filepath.Join(dir, "x")); err == nil {
		t.Error("Compact of a missing file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Errorf("a failed Compact left its output behind: %v", err)
	}
}

func TestToolsRefuseAHeldJournal(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	held, err := Open(f.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	start := time.Now()
	_, err = Open(f.path, Options{ReadOnly: true})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "stop that process") {
		t.Errorf("Open of a held journal: %v", err)
	}
	if _, err := Verify(f.path); !errors.Is(err, ErrLocked) {
		t.Errorf("Verify of a held journal: %v", err)
	}
	if _, _, err := Compact(f.path, filepath.Join(dir, "c")); !errors.Is(err, ErrLocked) {
		t.Errorf("Compact of a held journal: %v", err)
	}
	// Three opens, each waiting the default 1 s for the lock.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusing took %s", d)
	}
}

func TestSnapshotDuringCommits(t *testing.T) {
	dir := t.TempDir()
	f := buildJournal(t, dir)
	j, err := Open(f.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { // the follower keeps committing
		defer wg.Done()
		at := t0.Add(500 * time.Second)
		s := bridge.StatusRunning
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			n := nextStatus(s)
			b := &Batch{Events: []bridge.Event{{BlogID: 104, OldStatus: s, NewStatus: n, CreatedAt: at.Add(time.Duration(i) * time.Second)}},
				Checkpoint: &Checkpoint{Flavor: "mysql", File: "binlog.000002", Pos: uint32(4 + i)}, CoveredTo: at.Add(time.Duration(i+1) * time.Second)}
			if err := j.Commit(b); err != nil {
				t.Error(err)
				return
			}
			s = n
		}
	}()
	for i := 0; i < 5; i++ {
		var buf bytes.Buffer
		var size int64
		n, err := j.Snapshot(&buf, func(s int64) error { size = s; return nil })
		if err != nil || n != size || int64(buf.Len()) != size {
			t.Fatalf("snapshot: %d bytes written, %d announced, %d received: %v", n, size, buf.Len(), err)
		}
		p := filepath.Join(dir, "snap"+string(rune('0'+i)))
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Verify(p)
		if err != nil || !r.OK() {
			t.Fatalf("snapshot %d does not verify: %v %+v", i, err, r)
		}
		s := openRO(t, p)
		if got := exportAll(t, s, ExportFilter{}); uint64(len(got)) != s.LastID() || len(got) < len(f.events) {
			t.Errorf("snapshot %d holds %d events, seq %d", i, len(got), s.LastID())
		}
	}
	close(done)
	wg.Wait()
	refuse := errors.New("no")
	if _, err := j.Snapshot(&bytes.Buffer{}, func(int64) error { return refuse }); err != refuse {
		t.Errorf("Snapshot ignored size's error: %v", err)
	}
}
