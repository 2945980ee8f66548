package bridge

import (
	"strconv"
	"time"
)

// EventTypeStatusTransition is the only event type Jetmon 1 can produce.
const EventTypeStatusTransition = "status_transition"

// Event is one site_status transition of one blog.
type Event struct {
	// ID is the journal's sequence number, increasing in commit order.
	// Synthesized events have ID 0.
	ID uint64
	// BlogID is the blog whose monitor row changed.
	BlogID uint64
	// OldStatus and NewStatus are site_status before and after the change.
	OldStatus, NewStatus Status
	// CreatedAt is when the transition happened, in whole seconds (UTC).
	CreatedAt time.Time
}

// Before reports whether e sorts before o in the API's (created_at, id) order.
func (e Event) Before(o Event) bool {
	if !e.CreatedAt.Equal(o.CreatedAt) {
		return e.CreatedAt.Before(o.CreatedAt)
	}
	return e.ID < o.ID
}

// AppendJSON appends e's wire form (README.md, "HTTP API") to b. It is
// hand-written because /events encodes many small objects on its hot path
// and the shape is fixed.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, `,"blog_id":`...)
	b = strconv.AppendUint(b, e.BlogID, 10)
	b = append(b, `,"event_type":"status_transition","source":"`...)
	b = append(b, e.NewStatus.Source()...)
	b = append(b, `","http_code":null,"old_status":`...)
	b = strconv.AppendUint(b, uint64(e.OldStatus), 10)
	b = append(b, `,"new_status":`...)
	b = strconv.AppendUint(b, uint64(e.NewStatus), 10)
	b = append(b, `,"detail":null,"created_at":"`...)
	b = e.CreatedAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `"}`...)
	return b
}

// MarshalJSON implements json.Marshaler with the wire form.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendEventsJSON appends a JSON array of events to b; an empty slice is "[]".
func AppendEventsJSON(b []byte, events []Event) []byte {
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	return append(b, ']')
}
