package nats

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// HeaderCoverage carries coverage claims, one value per span,
// "START/END" (RFC 3339): the publishing journal held, at or before this
// message in its order, every change its source committed in [START, END).
// Restore rebuilds coverage from these claims alone, so a restored journal
// vouches for no more than the publishing journals did (not for the
// largest created_at it read: Jetmon may write a last_status_change in the
// future).
//
// Why a claim holds: the publisher reads the journal's spans first and its
// last event id L second, so every span as read vouches for changes among
// events 1..L; a message of event L or later may carry them all. The
// stream holds the journal's events in its order without gaps up to the
// message (the expected last sequence), so the claim holds for the stream
// too, as long as no message before it was deleted (Restore stops taking
// claims at the first missing sequence).
const HeaderCoverage = "Jetmon-Coverage"

// maxClaims bounds the closed spans one message repeats: a journal with
// many gaps states them over several messages, never in one large header.
const maxClaims = 16

// claimer chooses the claims of the messages of one publisher run.
type claimer struct {
	// stated holds the closed spans claimed by a message the stream
	// stored in this run (by start): a closed span's end never moves, so
	// one claim suffices. A new run states them again.
	stated map[time.Time]time.Time
}

func newClaimer() *claimer { return &claimer{stated: map[time.Time]time.Time{}} }

// claims returns the claims the message of event id may carry, spans and
// last having been read in that order, and which of them are closed spans
// stated for the first time (forget them when the message was not stored).
func (c *claimer) claims(id, last uint64, spans []bridge.Span) (all, closed []bridge.Span) {
	if id < last || len(spans) == 0 {
		return nil, nil
	}
	for _, s := range spans[:len(spans)-1] {
		if len(closed) == maxClaims {
			break
		}
		if end, ok := c.stated[s.Start]; (ok && end.Equal(s.End)) || !s.End.After(s.Start) {
			continue
		}
		c.stated[s.Start] = s.End
		closed = append(closed, s)
	}
	all = closed
	if open := spans[len(spans)-1]; open.End.After(open.Start) {
		all = append(slices.Clip(all), open)
	}
	return all, closed
}

// forget takes back closed claims whose message the stream did not store
// (another bridge's copy was stored first): a later message states them.
func (c *claimer) forget(closed []bridge.Span) {
	for _, s := range closed {
		delete(c.stated, s.Start)
	}
}

func formatClaim(s bridge.Span) string {
	return s.Start.UTC().Format(time.RFC3339Nano) + "/" + s.End.UTC().Format(time.RFC3339Nano)
}

func parseClaim(v string) (bridge.Span, error) {
	a, b, ok := strings.Cut(v, "/")
	start, err1 := time.Parse(time.RFC3339Nano, a)
	end, err2 := time.Parse(time.RFC3339Nano, b)
	if !ok || err1 != nil || err2 != nil || !end.After(start) {
		return bridge.Span{}, fmt.Errorf("header %s %q is not START/END in RFC 3339 with END after START", HeaderCoverage, v)
	}
	return bridge.Span{Start: start.UTC(), End: end.UTC()}, nil
}

// unionOf merges claims into ordered spans that neither overlap nor touch.
func unionOf(claims []bridge.Span) []bridge.Span {
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b bridge.Span) int { return a.Start.Compare(b.Start) })
	var out []bridge.Span
	for _, c := range claims {
		if n := len(out); n > 0 && !c.Start.After(out[n-1].End) {
			if c.End.After(out[n-1].End) {
				out[n-1].End = c.End
			}
			continue
		}
		out = append(out, c)
	}
	return out
}
