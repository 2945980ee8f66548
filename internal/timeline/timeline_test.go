package timeline

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

var t0 = time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)

// later is a request time after every window the tests draw.
var later = t0.Add(100 * 365 * 24 * time.Hour)

// fakeSource serves fixed histories.
type fakeSource struct {
	events  map[uint64][]bridge.Event
	initial map[uint64]bridge.Status
	spans   []bridge.Span
}

func (f *fakeSource) WindowAsOf(_ context.Context, blog uint64, since, until, _ time.Time) ([]bridge.Event, []bridge.Span, error) {
	var out []bridge.Event
	for _, e := range f.events[blog] {
		if !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) {
			out = append(out, e)
		}
	}
	return out, f.spans, nil
}

func (f *fakeSource) StatusAt(blog uint64, _ time.Time) (bridge.Status, bool, error) {
	s, ok := f.initial[blog]
	return s, ok, nil
}

func (f *fakeSource) BlogMonitor(blog uint64) (bridge.Monitor, bool, error) {
	if blog == 1 {
		return bridge.Monitor{BlogID: 1, URL: "https://a-rather-long-site-name-for-blog-one.example.com/path"}, true, nil
	}
	return bridge.Monitor{}, false, nil
}

func ev(blog uint64, old, new bridge.Status, at time.Duration) bridge.Event {
	return bridge.Event{BlogID: blog, OldStatus: old, NewStatus: new, CreatedAt: t0.Add(at)}
}

func source() *fakeSource {
	R, D, C := bridge.StatusRunning, bridge.StatusDown, bridge.StatusConfirmedDown
	return &fakeSource{
		events: map[uint64][]bridge.Event{
			1: {ev(1, R, D, 5*time.Minute), ev(1, D, C, 6*time.Minute), ev(1, C, R, 20*time.Minute),
				ev(1, R, D, 40*time.Minute), ev(1, D, R, 40*time.Minute)}, // a flap within one second
			2: {ev(2, D, R, 10*time.Minute)},
			3: {ev(3, R, D, 50*time.Minute)}, // unknown before its first event
		},
		initial: map[uint64]bridge.Status{1: R, 2: D, 4: C},
		spans:   []bridge.Span{{Start: t0, End: t0.Add(25 * time.Minute)}, {Start: t0.Add(30 * time.Minute), End: t0.Add(55 * time.Minute)}},
	}
}

// svgElement is the part of an SVG element the tests read.
type svgElement struct {
	Class string `xml:"class,attr"`
	Fill  string `xml:"fill,attr"`
	Title string `xml:"title"`
}

// parse decodes the SVG with encoding/xml and returns its rects by class.
func parse(t *testing.T, svg []byte) map[string][]svgElement {
	t.Helper()
	out := map[string][]svgElement{}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	root := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "svg" {
			root = se.Name.Space == "http://www.w3.org/2000/svg"
		}
		if se.Name.Local == "rect" {
			var r svgElement
			if err := dec.DecodeElement(&r, &se); err != nil {
				t.Fatal(err)
			}
			out[r.Class] = append(out[r.Class], r)
		}
	}
	if !root {
		t.Fatal("no <svg> root in the SVG namespace")
	}
	return out
}

func TestChartHasOneBandPerStatusInterval(t *testing.T) {
	src := source()
	c, err := Build(context.Background(), src, []uint64{1, 2, 3, 4}, t0, t0.Add(time.Hour), later)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, c); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("TIMELINE_OUT"); dir != "" {
		os.WriteFile(dir+"/timeline-unit.svg", buf.Bytes(), 0o644)
	}
	rects := parse(t, buf.Bytes())
	bands := 0
	for class, rs := range rects {
		if strings.HasPrefix(class, "band ") {
			bands += len(rs)
		}
	}
	// Blog 1: 5 events -> 6 intervals; 2: 1 -> 2; 3: 1 -> 2; 4: none -> 1.
	if bands != 11 {
		t.Errorf("%d bands, want 11: %v", bands, rects)
	}
	// Blog 1: R D C R D R (the flap's D is 0 s long); 2: D R; 3: unknown D; 4: C.
	want := map[string]int{"band running": 4, "band down": 4, "band confirmed_down": 2, "band unknown": 1}
	for class, n := range want {
		if len(rects[class]) != n {
			t.Errorf("%d %q rects, want %d", len(rects[class]), class, n)
		}
	}
	// Uncovered: [25m, 30m) and [55m, 60m) on each of the 4 rows.
	if n := len(rects["uncovered"]); n != 8 {
		t.Errorf("%d uncovered rects, want 8", n)
	}
	if !strings.Contains(rects["band confirmed_down"][0].Title, "blog 1 confirmed down from 2026-04-22T14:06:00Z to 2026-04-22T14:20:00Z") {
		t.Errorf("title %q", rects["band confirmed_down"][0].Title)
	}
}

func TestBandsOfARow(t *testing.T) {
	r := Row{Initial: bridge.StatusRunning, Known: true, Events: source().events[1]}
	bands := r.Bands(t0, t0.Add(time.Hour))
	if len(bands) != 6 || !bands[0].From.Equal(t0) || !bands[5].To.Equal(t0.Add(time.Hour)) {
		t.Fatalf("bands %+v", bands)
	}
	for i := 1; i < len(bands); i++ {
		if !bands[i].From.Equal(bands[i-1].To) {
			t.Errorf("band %d starts at %s, the previous ends at %s", i, bands[i].From, bands[i-1].To)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	src := source()
	ctx := context.Background()
	many := make([]uint64, MaxBlogs+1)
	for i := range many {
		many[i] = uint64(i + 1)
	}
	for name, err := range map[string]error{
		"no blogs":   func() error { _, err := Build(ctx, src, nil, t0, t0.Add(time.Hour), later); return err }(),
		"many blogs": func() error { _, err := Build(ctx, src, many, t0, t0.Add(time.Hour), later); return err }(),
		"backwards":  func() error { _, err := Build(ctx, src, []uint64{1}, t0, t0, later); return err }(),
	} {
		if !errors.Is(err, ErrRequest) {
			t.Errorf("%s: %v, want ErrRequest", name, err)
		}
	}
}

func TestParseBlogIDs(t *testing.T) {
	ids, err := ParseBlogIDs("12, 34,12,,56")
	if err != nil || len(ids) != 3 || ids[0] != 12 || ids[1] != 34 || ids[2] != 56 {
		t.Errorf("ParseBlogIDs = %v, %v", ids, err)
	}
	for _, bad := range []string{"", ",", "0", "-1", "+3", "abc", "1,x", "99999999999999999999"} {
		if _, err := ParseBlogIDs(bad); !errors.Is(err, ErrRequest) {
			t.Errorf("ParseBlogIDs(%q) = %v, want ErrRequest", bad, err)
		}
	}
}

func TestAxisAcrossScales(t *testing.T) {
	src := source()
	for _, span := range []time.Duration{3 * time.Second, 90 * time.Second, 7 * time.Hour, 50 * time.Hour, 400 * 24 * time.Hour, 30 * 365 * 24 * time.Hour} {
		c, err := Build(context.Background(), src, []uint64{1}, t0, t0.Add(span), later)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Render(&buf, c); err != nil {
			t.Fatal(err)
		}
		parse(t, buf.Bytes())
		if ticks := strings.Count(buf.String(), `stroke="#333333"/>`); ticks < 2 || ticks > maxTicks+2 {
			t.Errorf("window of %s: %d ticks", span, ticks)
		}
	}
}

// TestFutureIsHatched draws a window reaching past the request time from a
// journal that has proved itself caught up (its span reaches far ahead, as
// journal.Spans makes it): the bands stop at the request time and the rest
// of the window is hatched, since nothing after it is known.
func TestFutureIsHatched(t *testing.T) {
	src := source()
	src.spans = []bridge.Span{{Start: t0, End: later}}
	asOf := t0.Add(30*time.Minute + 500*time.Millisecond)
	until := t0.Add(time.Hour)
	c, err := Build(context.Background(), src, []uint64{1, 2}, t0, until, asOf)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range c.Rows {
		if len(row.Uncovered) != 1 || !row.Uncovered[0].Start.Equal(asOf) || !row.Uncovered[0].End.Equal(until) {
			t.Errorf("blog %d: uncovered %+v, want [request time, until)", row.BlogID, row.Uncovered)
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, c); err != nil {
		t.Fatal(err)
	}
	rects := parse(t, buf.Bytes())
	if n := len(rects["uncovered"]); n != 2 {
		t.Fatalf("%d uncovered rects, want one per row", n)
	}
	for _, u := range rects["uncovered"] {
		if !strings.Contains(u.Title, "lies after the chart was drawn (2026-04-22T14:30:00Z)") {
			t.Errorf("uncovered title %q does not say it is the future", u.Title)
		}
	}
	// No band claims a status past the request time: blog 1's last band
	// (running since its 14:20 recovery) ends there.
	for class, rs := range rects {
		for _, r := range rs {
			if strings.HasPrefix(class, "band ") && strings.Contains(r.Title, "to 2026-04-22T15:00:00Z") {
				t.Errorf("band %q reaches the window's end, past the request time", r.Title)
			}
		}
	}
	if !strings.Contains(buf.String(), "blog 1 running from 2026-04-22T14:20:00Z to 2026-04-22T14:30:00Z") {
		t.Errorf("blog 1's last band does not end at the request time:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `<line class="asof"`) {
		t.Error("no marker at the request time")
	}
}

// TestWindowWhollyInTheFuture: no band at all, the whole row hatched.
func TestWindowWhollyInTheFuture(t *testing.T) {
	src := source()
	src.spans = []bridge.Span{{Start: t0, End: later}}
	c, err := Build(context.Background(), src, []uint64{1}, t0.Add(time.Hour), t0.Add(2*time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, c); err != nil {
		t.Fatal(err)
	}
	rects := parse(t, buf.Bytes())
	for class := range rects {
		if strings.HasPrefix(class, "band ") {
			t.Errorf("a window wholly after the request time has bands: %v", rects)
		}
	}
	if u := c.Rows[0].Uncovered; len(u) != 1 || !u[0].Start.Equal(c.Since) || !u[0].End.Equal(c.Until) {
		t.Errorf("uncovered %+v, want the whole window", u)
	}
}
