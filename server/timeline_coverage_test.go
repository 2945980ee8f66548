package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/journal"
)

// hatched returns the stretches a timeline hatches.
func hatched(t *testing.T, svg []byte) []bridge.Span {
	t.Helper()
	spans, err := bridgetest.Hatched(svg)
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

// TestTimelineHatchesWhatEventsDoesNotVouchFor draws a live journal's
// timeline as /events sees it: with the follower caught up, the future
// (after the request) is hatched while /events says journal for the past;
// with the follower vouching only for a past moment (a lagging replica),
// everything after that moment is hatched and /events for the same window
// does not say journal.
func TestTimelineHatchesWhatEventsDoesNotVouchFor(t *testing.T) {
	j, err := journal.Open(t.TempDir()+"/live.journal", journal.Options{WaitLimit: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	start := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
	err = j.Commit(&journal.Batch{
		NewSpan: &journal.SpanStart{Start: start},
		Events: []bridge.Event{
			{BlogID: 7, OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: start.Add(12 * time.Minute)},
		},
		Checkpoint: &journal.Checkpoint{Flavor: "mariadb", File: "mysql-bin.000001", Pos: 400},
		CoveredTo:  start.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Caught up: every probe proves the follower has applied everything.
	j.Attach(func(context.Context) error {
		j.Confirm(time.Now())
		return nil
	})
	s := New(Config{History: &History{Journal: j}, Monitors: noMonitors{}, Token: "t"})
	MountJournal(s.Router, j, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	draw := func(since, until time.Time) (spans []bridge.Span, before, after time.Time) {
		t.Helper()
		q := url.Values{"blog_id": {"7"}, "since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
		before = time.Now()
		resp, body := get(t, ts, "/events/timeline.svg?"+q.Encode(), "t")
		after = time.Now()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("timeline: %d %s", resp.StatusCode, body)
		}
		return hatched(t, body), before, after
	}
	coverage := func(since, until time.Time) string {
		t.Helper()
		q := url.Values{"blog_id": {"7"}, "since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
		resp, _ := get(t, ts, "/events?"+q.Encode(), "t")
		return resp.Header.Get(bridge.CoverageHeader)
	}

	t.Run("caught up: the future is hatched", func(t *testing.T) {
		since := time.Now().Add(-10 * time.Minute)
		until := time.Now().Add(10 * time.Minute)
		spans, before, after := draw(since, until)
		if len(spans) != 1 || spans[0].Start.Before(before) || spans[0].Start.After(after) || !spans[0].End.Equal(until) {
			t.Errorf("hatched %+v, want one stretch from the request time (%s..%s) to the window's end", spans, before, after)
		}
		if c := coverage(since, before); c != string(bridge.CoverageJournal) {
			t.Errorf("/events for the past of the same window: %s, want journal", c)
		}
	})

	t.Run("lagging: the recent past is hatched", func(t *testing.T) {
		// A replica that stopped applying five minutes ago: probes vouch
		// for that moment and fail.
		lagging := time.Now().Add(-5 * time.Minute)
		j.Detach()
		j.Attach(func(context.Context) error {
			j.Confirm(lagging)
			return errors.New("replication is not current")
		})
		since := time.Now().Add(-10 * time.Minute)
		until := time.Now()
		spans, _, _ := draw(since, until)
		vouched := lagging.Truncate(time.Second)
		if len(spans) != 1 || !spans[0].Start.Equal(vouched) || !spans[0].End.Equal(until) {
			t.Errorf("hatched %+v, want one stretch from what the follower vouched for (%s) to the window's end", spans, vouched)
		}
		if c := coverage(since, until); c == string(bridge.CoverageJournal) {
			t.Errorf("/events for the same window says journal")
		}
		if c := coverage(since, vouched); c != string(bridge.CoverageJournal) {
			t.Errorf("/events up to what was vouched for: %s, want journal", c)
		}
	})
}
