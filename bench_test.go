package bridge

import (
	"encoding/json"
	"testing"
	"time"
)

// wireEvent is the event's wire form as encoding/json would produce it from
// a tagged struct: the alternative to the hand-written AppendJSON.
type wireEvent struct {
	ID        uint64    `json:"id"`
	BlogID    uint64    `json:"blog_id"`
	EventType string    `json:"event_type"`
	Source    string    `json:"source"`
	HTTPCode  *int      `json:"http_code"`
	OldStatus Status    `json:"old_status"`
	NewStatus Status    `json:"new_status"`
	Detail    *string   `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

// benchEvents is a typical /events answer: ten events of one blog.
func benchEvents() []Event {
	evs := make([]Event, 10)
	t := time.Unix(1_700_000_000, 0).UTC()
	st := []Status{StatusDown, StatusConfirmedDown, StatusRunning}
	for i := range evs {
		evs[i] = Event{ID: uint64(9_000_000 + i), BlogID: 123456, OldStatus: st[(i+2)%3], NewStatus: st[i%3], CreatedAt: t.Add(time.Duration(i) * time.Minute)}
	}
	return evs
}

func BenchmarkAppendEventsJSON(b *testing.B) {
	evs := benchEvents()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEventsJSON(buf[:0], evs)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkEncodingJSONEvents encodes the same answer with encoding/json
// from a tagged struct, for comparison.
func BenchmarkEncodingJSONEvents(b *testing.B) {
	evs := benchEvents()
	wire := make([]wireEvent, len(evs))
	var n int
	b.ReportAllocs()
	for b.Loop() {
		for i, e := range evs {
			wire[i] = wireEvent{ID: e.ID, BlogID: e.BlogID, EventType: EventTypeStatusTransition, Source: e.NewStatus.Source(),
				OldStatus: e.OldStatus, NewStatus: e.NewStatus, CreatedAt: e.CreatedAt}
		}
		out, err := json.Marshal(wire)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.SetBytes(int64(n))
}

// TestWireFormsAgree keeps the comparison honest: both encoders produce the
// same bytes.
func TestWireFormsAgree(t *testing.T) {
	evs := benchEvents()
	wire := make([]wireEvent, len(evs))
	for i, e := range evs {
		wire[i] = wireEvent{ID: e.ID, BlogID: e.BlogID, EventType: EventTypeStatusTransition, Source: e.NewStatus.Source(),
			OldStatus: e.OldStatus, NewStatus: e.NewStatus, CreatedAt: e.CreatedAt}
	}
	std, err := json.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendEventsJSON(nil, evs)); got != string(std) {
		t.Fatalf("AppendEventsJSON and encoding/json differ:\n%s\n%s", got, std)
	}
}
