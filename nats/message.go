package nats

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
)

// Headers every published message carries besides Nats-Msg-Id (a message
// id) and Nats-Expected-Last-Sequence. They describe the publishing
// bridge's journal, so in a pair they are the first publisher's.
const (
	// HeaderJournal is the publishing journal's identity.
	HeaderJournal = "Jetmon-Journal"
	// HeaderEventID is the event's id in that journal (also the payload's id).
	HeaderEventID = "Jetmon-Event-Id"
	// HeaderGTID is the source transaction's GTID, when known.
	HeaderGTID = "Jetmon-Gtid"
	// HeaderGTIDBase is a GTID set the source had executed before the
	// transaction's journal commit began (Restore builds a checkpoint from it).
	HeaderGTIDBase = "Jetmon-Gtid-Base"
	// HeaderFlavor is the source's flavor, "mysql" or "mariadb" (with or
	// without GTIDs).
	HeaderFlavor = "Jetmon-Flavor"
	// HeaderSpanStart is the start of the journal's coverage span holding
	// the event (RFC 3339): Restore rebuilds coverage from it.
	HeaderSpanStart = "Jetmon-Span-Start"
)

// msgID names an event in the stream. With a GTID it is "g/<gtid>/<n>",
// n the event's place in its transaction, alike on every bridge that
// follows a replica of the same primary; without, "j/<journal>/<id>".
func msgID(e journal.SourcedEvent, journalID string) string {
	if e.GTID != "" {
		return "g/" + e.GTID + "/" + strconv.Itoa(e.Ordinal)
	}
	return "j/" + journalID + "/" + strconv.FormatUint(e.ID, 10)
}

// eventName is a parsed message id.
type eventName struct {
	gtid    string // set for "g/" names
	ordinal uint64
	journal string // set for "j/" names
	id      uint64
}

// parseMsgID reads what msgID writes.
func parseMsgID(s string) (eventName, error) {
	kind, rest, ok := strings.Cut(s, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i <= 0 {
		return eventName{}, fmt.Errorf("message id %q is not one jetmon-bridge writes (g/GTID/N or j/JOURNAL/ID)", s)
	}
	n, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return eventName{}, fmt.Errorf("message id %q does not end in a number", s)
	}
	switch kind {
	case "g":
		return eventName{gtid: rest[:i], ordinal: n}, nil
	case "j":
		if n == 0 {
			return eventName{}, fmt.Errorf("message id %q names event 0", s)
		}
		return eventName{journal: rest[:i], id: n}, nil
	}
	return eventName{}, fmt.Errorf("message id %q is not one jetmon-bridge writes (g/GTID/N or j/JOURNAL/ID)", s)
}

// subject is the subject of blog's events.
func subject(prefix string, blog uint64) string {
	return prefix + "." + strconv.FormatUint(blog, 10)
}

// message builds the stream message of e, with its coverage claims.
func (p *Publisher) message(e journal.SourcedEvent, spans, claims []bridge.Span) *natsgo.Msg {
	m := natsgo.NewMsg(subject(p.cfg.Subject, e.BlogID))
	m.Data = e.AppendJSON(nil)
	m.Header.Set(HeaderJournal, p.identity)
	m.Header.Set(HeaderEventID, strconv.FormatUint(e.ID, 10))
	if p.flavor != "" {
		m.Header.Set(HeaderFlavor, p.flavor)
	}
	if e.GTID != "" {
		m.Header.Set(HeaderGTID, e.GTID)
		if e.BaseGTIDSet != "" {
			m.Header.Set(HeaderGTIDBase, e.BaseGTIDSet)
		}
	}
	if s, ok := spanOf(spans, e.CreatedAt); ok {
		m.Header.Set(HeaderSpanStart, s.Start.UTC().Format(time.RFC3339Nano))
	}
	for _, c := range claims {
		m.Header.Add(HeaderCoverage, formatClaim(c))
	}
	return m
}

// messageSize is about what m takes against the server's max_payload:
// its data and its headers as NATS writes them.
func messageSize(m *natsgo.Msg) int {
	n := len(m.Data) + len("NATS/1.0\r\n\r\n")
	for k, vs := range m.Header {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	return n + len(natsgo.MsgIdHdr) + 64 + len("Nats-Expected-Last-Sequence: 18446744073709551615\r\n")
}

// spanOf returns the last span starting at or before t, or the first.
func spanOf(spans []bridge.Span, t time.Time) (bridge.Span, bool) {
	if len(spans) == 0 {
		return bridge.Span{}, false
	}
	s := spans[0]
	for _, c := range spans[1:] {
		if c.Start.After(t) {
			break
		}
		s = c
	}
	return s, true
}

// decodePayload reads an event's /events JSON back.
func decodePayload(data []byte) (bridge.Event, error) {
	var w struct {
		ID        uint64    `json:"id"`
		BlogID    uint64    `json:"blog_id"`
		OldStatus *int      `json:"old_status"`
		NewStatus *int      `json:"new_status"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return bridge.Event{}, fmt.Errorf("payload is not an event's JSON: %w", err)
	}
	if w.BlogID == 0 || w.OldStatus == nil || w.NewStatus == nil || w.CreatedAt.IsZero() {
		return bridge.Event{}, errors.New("payload lacks blog_id, old_status, new_status or created_at")
	}
	old, new := *w.OldStatus, *w.NewStatus
	if old < 0 || new < 0 || old == new || !bridge.Status(min(old, 255)).Valid() || !bridge.Status(min(new, 255)).Valid() {
		return bridge.Event{}, fmt.Errorf("payload has statuses %d -> %d, not a transition", old, new)
	}
	return bridge.Event{ID: w.ID, BlogID: w.BlogID, OldStatus: bridge.Status(old), NewStatus: bridge.Status(new), CreatedAt: w.CreatedAt.UTC()}, nil
}
