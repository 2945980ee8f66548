package bridge

import (
	"encoding/json"
	"testing"
	"time"
)

func at(s int64) time.Time { return time.Unix(s, 0).UTC() }

func TestUncovered(t *testing.T) {
	spans := []Span{{at(10), at(20)}, {at(30), at(40)}}
	cases := []struct {
		since, until int64
		want         []Span
	}{
		{12, 18, nil},
		{10, 20, nil},
		{5, 15, []Span{{at(5), at(10)}}},
		{15, 35, []Span{{at(20), at(30)}}},
		{0, 50, []Span{{at(0), at(10)}, {at(20), at(30)}, {at(40), at(50)}}},
		{20, 30, []Span{{at(20), at(30)}}},
		{22, 25, []Span{{at(22), at(25)}}}, // a gap ends at the window's end, not at the next span
		{41, 45, []Span{{at(41), at(45)}}},
	}
	for _, c := range cases {
		got := Uncovered(spans, at(c.since), at(c.until))
		if len(got) != len(c.want) {
			t.Errorf("[%d,%d): %v, want %v", c.since, c.until, got, c.want)
			continue
		}
		for i := range got {
			if !got[i].Start.Equal(c.want[i].Start) || !got[i].End.Equal(c.want[i].End) {
				t.Errorf("[%d,%d): %v, want %v", c.since, c.until, got, c.want)
			}
		}
	}
	if got := Uncovered(nil, at(1), at(2)); len(got) != 1 {
		t.Errorf("no spans: %v", got)
	}
}

func TestSynthesize(t *testing.T) {
	m := Monitor{BlogID: 7, Status: StatusConfirmedDown, LastStatusChange: at(100)}
	if e, ok := Synthesize(m, at(100), at(101)); !ok || e.OldStatus != StatusRunning || e.NewStatus != StatusConfirmedDown || e.ID != 0 || !e.CreatedAt.Equal(at(100)) {
		t.Errorf("inside: %+v %v", e, ok)
	}
	if _, ok := Synthesize(m, at(90), at(100)); ok {
		t.Error("until is exclusive")
	}
	if _, ok := Synthesize(Monitor{BlogID: 7}, at(0), at(1000)); ok {
		t.Error("NULL last_status_change synthesized an event")
	}
	if e, _ := Synthesize(Monitor{BlogID: 7, Status: StatusRunning, LastStatusChange: at(5)}, at(0), at(10)); e.OldStatus != StatusConfirmedDown || e.NewStatus.Source() != "jetmon" {
		t.Errorf("recovery: %+v", e)
	}
}

func TestTransition(t *testing.T) {
	before := Monitor{BlogID: 3, Status: StatusRunning, LastStatusChange: at(50)}
	after := before
	after.Status, after.LastStatusChange = StatusDown, at(60)
	e, ok := Transition(before, after, at(99))
	if !ok || !e.CreatedAt.Equal(at(60)) || e.OldStatus != StatusRunning || e.NewStatus != StatusDown {
		t.Fatalf("%+v %v", e, ok)
	}
	// last_status_change unchanged (same second): the binlog event's time.
	after.LastStatusChange = at(50)
	if e, _ := Transition(before, after, at(51)); !e.CreatedAt.Equal(at(51)) {
		t.Errorf("unchanged last_status_change: %+v", e)
	}
	if _, ok := Transition(before, before, at(1)); ok {
		t.Error("an update leaving site_status alone is not a transition")
	}
	// Jetmon may rewrite last_status_change alone (a re-check confirming the
	// status): a row update, never an event.
	touched := before
	touched.LastStatusChange = at(70)
	if e, ok := Transition(before, touched, at(70)); ok {
		t.Errorf("an update touching only last_status_change made an event: %+v", e)
	}
}

func TestEventJSONMatchesWireShape(t *testing.T) {
	e := Event{ID: 42, BlogID: 12345, OldStatus: StatusRunning, NewStatus: StatusConfirmedDown, CreatedAt: time.Date(2026, 4, 22, 14, 5, 33, 0, time.FixedZone("x", 3600))}
	var got map[string]any
	if err := json.Unmarshal(e.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": 42.0, "blog_id": 12345.0, "event_type": "status_transition", "source": "veriflier",
		"http_code": nil, "old_status": 1.0, "new_status": 2.0, "detail": nil, "created_at": "2026-04-22T13:05:33Z"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if s := string(AppendEventsJSON(nil, nil)); s != "[]" {
		t.Errorf("empty list encodes as %s", s)
	}
}
