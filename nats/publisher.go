package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes the journal's events to a JetStream stream. It is a
// supervisor.Service: Run publishes until its context ends or something
// fails, and the supervisor runs it again after a back-off.
type Publisher struct {
	cfg      Config
	j        Journal
	log      *slog.Logger
	identity string
	flavor   string // the journal's source flavor (publish's goroutine only)
	// anchorChecked is the stream's first transition once compared with
	// the journal (checkSource; Run's goroutine only).
	anchorChecked string
	// betweenReads, when set (by tests), runs between locate's two reads
	// of the journal, where a follower's commit may land.
	betweenReads func()

	mu        sync.Mutex
	state     string
	position  uint64 // the last journal id the stream is known to hold
	published uint64 // messages the stream stored from this bridge
	dups      uint64 // messages it acknowledged as already stored
	overtaken uint64 // times the stream's end moved under the publisher
	errors    uint64
	lastErr   error
	lastErrAt time.Time
	window    time.Duration // the stream's duplicate window, as last read
}

// States of the Publisher (Status.State).
const (
	StateConnecting = "connecting"
	StatePublishing = "publishing"
	// StateStandby: the stream holds events this journal has not reached
	// yet (another bridge publishes them); it waits for its journal.
	StateStandby = "standby"
	// StateHeld: the publisher cannot place the stream's end in its
	// journal, or waits for the stream's duplicate window, and publishes
	// nothing; the error says why and what ends it (held.go). Each run
	// fails with that sentence and the next one looks afresh.
	StateHeld    = "held"
	StateFailed  = "failed"
	StateStopped = "stopped"
)

// New returns a publisher of j's events; Run starts it.
func New(j Journal, cfg Config) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id, err := j.Identity()
	if err != nil {
		return nil, err
	}
	return &Publisher{cfg: cfg, j: j, log: cfg.Logger, identity: id, state: StateConnecting}, nil
}

// Status is the publisher's state for /healthz and the Monitor.
type Status struct {
	State  string `json:"state"`
	URL    string `json:"url"`
	Stream string `json:"stream"`
	// Position is the last journal event the stream is known to hold.
	Position uint64 `json:"position"`
	// Pending counts the journal's events after Position.
	Pending uint64 `json:"pending"`
	// Published counts the messages the stream stored from this bridge
	// since start, Duplicates those it already held.
	Published  uint64 `json:"published"`
	Duplicates uint64 `json:"duplicates"`
	// Overtaken counts the times the publisher found the stream's end
	// moved under it and placed itself again: another bridge stored
	// messages after its last (its next was refused by the expected last
	// sequence), or its last message was deleted.
	Overtaken uint64 `json:"overtaken"`
	// Errors counts failed runs; Error is the last failure and ErrorAt
	// when it happened.
	Errors  uint64    `json:"errors"`
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
}

// KeepFrom is the first journal event the stream is not known to hold:
// retention (journal.Retainer.KeepFrom) keeps it and every later event, so
// nothing is trimmed before it is published.
func (p *Publisher) KeepFrom() uint64 { return p.Status().Position + 1 }

// Status reports where the publisher is.
func (p *Publisher) Status() Status {
	last := p.j.LastID()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		State: p.state, URL: p.cfg.URL, Stream: p.cfg.Stream, Position: p.position,
		Published: p.published, Duplicates: p.dups, Overtaken: p.overtaken, Errors: p.errors, ErrorAt: p.lastErrAt,
	}
	if last > p.position {
		s.Pending = last - p.position
	}
	if p.lastErr != nil {
		s.Error = p.lastErr.Error()
	}
	return s
}

func (p *Publisher) setState(state string) {
	p.mu.Lock()
	if p.state != state {
		p.log.Info("publisher "+state, "stream", p.cfg.Stream, "position", p.position)
	}
	p.state = state
	p.mu.Unlock()
}

// Run publishes until ctx ends (nil) or a failure (the error says why). It
// calls ready once connected to the stream.
func (p *Publisher) Run(ctx context.Context, ready func()) error {
	err := p.run(ctx, ready)
	if ctx.Err() != nil {
		p.setState(StateStopped)
		return nil
	}
	if err == nil {
		err = errors.New("publisher stopped without a reason")
	}
	state := StateFailed
	if errors.As(err, new(heldError)) {
		state = StateHeld
	}
	err = fmt.Errorf("publish to NATS stream %s at %s: %w", p.cfg.Stream, p.cfg.URL, err)
	p.mu.Lock()
	p.state, p.lastErr, p.lastErrAt = state, err, time.Now().UTC()
	p.errors++
	p.mu.Unlock()
	return err
}

func (p *Publisher) run(ctx context.Context, ready func()) error {
	p.setState(StateConnecting)
	closed := make(chan struct{})
	nc, err := natsgo.Connect(p.cfg.URL, p.cfg.options(closed)...)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(p.cfg.InFlight),
		jetstream.WithPublishAsyncTimeout(p.cfg.AckTimeout))
	if err != nil {
		return err
	}
	stream, err := ensureStream(ctx, js, p.cfg)
	if err != nil {
		return err
	}
	r := &publishRun{js: js, stream: stream, closed: closed, maxPayload: nc.MaxPayload()}
	if err := p.knowSource(ctx, r); err != nil {
		return err
	}
	for {
		at, err := p.resume(ctx, stream, closed, ready)
		if err != nil || ctx.Err() != nil {
			return err
		}
		err = p.publish(ctx, r, at)
		if !errors.Is(err, errOvertaken) {
			return err
		}
		p.mu.Lock()
		p.overtaken++
		p.mu.Unlock()
		// Another bridge stored messages after ours: find where the
		// stream ends now.
	}
}

// publishRun is what one run holds of its connection.
type publishRun struct {
	js         jetstream.JetStream
	stream     jetstream.Stream
	closed     <-chan struct{}
	maxPayload int64
	// sourceKnown: the stream's source was read (and checked); false
	// while the stream is empty, until the first message is stored.
	sourceKnown bool
}

// knowSource reads the stream's source, recording it when the stream
// holds messages and no source yet, and refuses a journal of another.
func (p *Publisher) knowSource(ctx context.Context, r *publishRun) error {
	src, ok, err := p.readSource(ctx, r.js, r.stream)
	if err != nil || !ok {
		return err
	}
	r.sourceKnown = true
	return p.checkSource(src)
}

// readAhead is how many events the publisher reads from the journal at
// once: enough that a catch-up's reads cost little per event, few enough
// that the events read and not yet published stay a few hundred KiB.
const readAhead = 4096

// errOvertaken reports that the stream no longer ends where the
// publisher's messages expected it to.
var errOvertaken = errors.New("the stream's end moved under the publisher")

// inflight is a published message awaiting its acknowledgement.
type inflight struct {
	ack    jetstream.PubAckFuture
	id     uint64        // journal id
	seq    uint64        // the stream sequence it must get
	closed []bridge.Span // closed spans it claims for the first time
}

// Error codes of the JetStream API the publisher explains.
const (
	// jsErrStoreFailed: the stream at its limits with discard new
	// ("maximum messages exceeded", "maximum bytes exceeded").
	jsErrStoreFailed jetstream.ErrorCode = 10077
)

// publishState is where the publish loop is (docs/ARCHITECTURE.md, "The
// publisher's states"). Each state has a method that does what it does and
// names the next; every way out passes through pubStopped with the error
// to return (nil when ctx ended).
type publishState int

const (
	// pubFilling: fill the window of messages in flight from the journal,
	// readAhead events read at a time.
	pubFilling publishState = iota
	// pubWaiting: nothing in flight and nothing more in the journal: wait
	// for the journal to change.
	pubWaiting
	// pubAwaitingAck: wait for the oldest message in flight to be
	// acknowledged, at the sequence it expected.
	pubAwaitingAck
	// pubStopped: publish returns.
	pubStopped
)

// publishing is one publish loop: where it is in the journal and in the
// stream, and what is in flight.
type publishing struct {
	p  *Publisher
	r  *publishRun
	at position // where resume placed the publisher
	// next is the last journal event read; seq the stream sequence the
	// last message sent must get.
	next, seq uint64
	queue     []inflight
	// read holds events read from the journal and not yet published: the
	// journal is read readAhead events at a time, not one event for each
	// acknowledgement, and the window is filled from it. spans and last
	// were read before them, in that order (the coverage claims,
	// coverage.go).
	read   []journal.SourcedEvent
	spans  []bridge.Span
	last   uint64
	claims *claimer
	// waited: nothing was in flight while the publisher waited for the
	// journal; changed is the journal's signal taken before the last fill.
	waited  bool
	changed <-chan struct{}
}

// publish sends the journal's events after at.event, each expecting the
// stream to end with the one before, until ctx ends or something fails.
func (p *Publisher) publish(ctx context.Context, r *publishRun, at position) error {
	p.setState(StatePublishing)
	l := &publishing{p: p, r: r, at: at, next: at.event, seq: at.seq, claims: newClaimer()}
	state := pubFilling
	for {
		var err error
		switch state {
		case pubFilling:
			state, err = l.fill(ctx)
		case pubWaiting:
			state, err = l.wait(ctx)
		case pubAwaitingAck:
			state, err = l.awaitAck(ctx)
		}
		if state == pubStopped {
			return err
		}
	}
}

// drainInFlight waits for every message in flight, so that none is stored
// behind the back of the next resume.
func (l *publishing) drainInFlight() {
	select {
	case <-l.r.js.PublishAsyncComplete():
	case <-time.After(2 * l.p.cfg.AckTimeout):
	}
}

func (l *publishing) fill(ctx context.Context) (publishState, error) {
	p := l.p
	l.changed = p.j.Changed() // before reading: no change is missed
	for room := p.cfg.InFlight - len(l.queue); room > 0; room = p.cfg.InFlight - len(l.queue) {
		if len(l.read) == 0 {
			more, err := l.readJournal()
			if err != nil {
				return pubStopped, err
			}
			if !more {
				break
			}
		}
		if l.waited && len(l.queue) == 0 {
			// The stream's end may have been deleted or purged while the
			// publisher waited: continuing after it would leave its event
			// out for good.
			if err := p.endIntact(ctx, l.r, l.seq); err != nil {
				return pubStopped, err
			}
		}
		l.waited = false
		if err := l.send(room); err != nil {
			return pubStopped, err
		}
	}
	if len(l.queue) == 0 {
		return pubWaiting, nil
	}
	return pubAwaitingAck, nil
}

// readJournal reads the next events after l.next into l.read; false when
// the journal has none yet.
func (l *publishing) readJournal() (bool, error) {
	p := l.p
	spans, last := p.j.Spans(time.Time{}), p.j.LastID()
	if last <= l.next {
		return false, nil
	}
	events, err := p.j.EventsAfter(l.next, int(min(readAhead, last-l.next)))
	if err != nil || len(events) == 0 {
		return false, err
	}
	// A stream that holds nothing (new, or purged) begins with the
	// journal's first event, which after retention is not 1
	// (journal/trim.go); any other stream must go on with the event after
	// its last.
	if events[0].ID != l.next+1 && (l.next != 0 || l.at.present != 0) {
		l.drainInFlight()
		return false, fmt.Errorf("the journal no longer holds events %d to %d, which the stream lacks (it ends with event %d): the publisher never skips an event; publish to a new stream, which then begins with event %d",
			l.next+1, events[0].ID-1, l.next, events[0].ID)
	}
	l.read, l.spans, l.last = events, spans, last
	if cp, ok := p.j.Checkpoint(); ok {
		p.flavor = cp.Flavor
	}
	l.next = events[len(events)-1].ID
	return true, nil
}

// send publishes up to room of the events read, each expecting the
// stream to end with the one before.
func (l *publishing) send(room int) error {
	p := l.p
	for _, e := range l.read[:min(room, len(l.read))] {
		all, closed := l.claims.claims(e.ID, l.last, l.spans)
		m := p.message(e, l.spans, all)
		ack, err := l.r.js.PublishMsgAsync(m,
			jetstream.WithMsgID(msgID(e, p.identity)),
			jetstream.WithExpectLastSequence(l.seq))
		if err != nil {
			l.drainInFlight()
			if errors.Is(err, natsgo.ErrMaxPayload) {
				return fmt.Errorf("event %d makes a message of about %d bytes, more than the NATS server's max_payload of %d: raise max_payload in the server's configuration; the publisher publishes nothing after the event until then, and skips nothing",
					e.ID, messageSize(m), l.r.maxPayload)
			}
			return fmt.Errorf("publish event %d: %w", e.ID, err)
		}
		l.seq++
		l.queue = append(l.queue, inflight{ack: ack, id: e.ID, seq: l.seq, closed: closed})
		l.read = l.read[1:]
	}
	return nil
}

func (l *publishing) wait(ctx context.Context) (publishState, error) {
	l.waited = true
	select {
	case <-l.changed:
		return pubFilling, nil
	case <-l.r.closed:
		return pubStopped, errors.New("the connection closed")
	case <-ctx.Done():
		return pubStopped, nil
	}
}

func (l *publishing) awaitAck(ctx context.Context) (publishState, error) {
	p, head := l.p, l.queue[0]
	select {
	case ack := <-head.ack.Ok():
		if err := l.acknowledged(ctx, head, ack); err != nil {
			return pubStopped, err
		}
		return pubFilling, nil
	case err := <-head.ack.Err():
		l.drainInFlight()
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode {
			case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
				return pubStopped, errOvertaken
			case jsErrStoreFailed, jetstream.JSErrCodeStreamMessageExceedsMaximum:
				return pubStopped, fmt.Errorf("stream %s refused event %d: %s; its limits (%s) are reached: raise them (nats stream edit %s) or remove its oldest messages. The publisher resumes from this event, skipping nothing",
					p.cfg.Stream, head.id, apiErr.Description, p.limits(ctx, l.r.stream), p.cfg.Stream)
			}
		}
		return pubStopped, fmt.Errorf("event %d was not acknowledged: %w", head.id, err)
	case <-l.r.closed:
		return pubStopped, errors.New("the connection closed")
	case <-ctx.Done():
		l.drainInFlight()
		return pubStopped, nil
	}
}

// acknowledged records the oldest message's acknowledgement; an error
// when it was stored elsewhere than expected.
func (l *publishing) acknowledged(ctx context.Context, head inflight, ack *jetstream.PubAck) error {
	p := l.p
	if ack.Sequence != head.seq {
		l.drainInFlight()
		if ack.Duplicate && ack.Sequence > l.at.present && ack.Sequence <= l.at.seq {
			p.mu.Lock()
			window := p.window
			p.mu.Unlock()
			return heldError{fmt.Errorf("stream %s stored event %d (%s) as message %d and dropped it since (deleted or purged) within its duplicate window of %s: JetStream takes a name again only once that window has passed since it stored it; the publisher tries again then and publishes nothing after the event meanwhile",
				p.cfg.Stream, head.id, head.ack.Msg().Header.Get(natsgo.MsgIdHdr), ack.Sequence, window)}
		}
		if ack.Duplicate {
			// The stream holds this event elsewhere than after its
			// predecessor: its history and this journal's disagree in
			// order here; resuming finds where they agree.
			p.log.Warn("the stream holds an event out of this journal's order", "event", head.id, "stream_seq", ack.Sequence, "expected_seq", head.seq)
			return errOvertaken
		}
		return fmt.Errorf("event %d was stored at sequence %d, not %d as expected", head.id, ack.Sequence, head.seq)
	}
	if ack.Duplicate {
		l.claims.forget(head.closed) // the stored copy is another bridge's
	}
	p.mu.Lock()
	p.position = head.id
	if ack.Duplicate {
		p.dups++
	} else {
		p.published++
	}
	p.mu.Unlock()
	l.queue = l.queue[1:]
	if !l.r.sourceKnown {
		if err := p.knowSource(ctx, l.r); err != nil {
			l.drainInFlight()
			return err
		}
	}
	return nil
}

// endIntact checks, before the first message after a wait, that the
// stream still holds its message seq, the one the next must follow:
// errOvertaken, so that the publisher places itself again, when an
// operator deleted it (or purged its subject, or the stream). One request
// per wait, so a live publisher pays one round trip per commit it follows.
func (p *Publisher) endIntact(ctx context.Context, r *publishRun, seq uint64) error {
	if seq == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	_, err := r.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		p.log.Warn("the stream's last message was deleted (or its subject, or the stream, purged): placing the publisher again", "stream", p.cfg.Stream, "sequence", seq)
		return errOvertaken
	}
	if err != nil {
		return fmt.Errorf("check the stream's last message (sequence %d): %w", seq, err)
	}
	return nil
}

// limits describes the stream's limits for a refusal.
func (p *Publisher) limits(ctx context.Context, stream jetstream.Stream) string {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.AckTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		return "unknown: " + err.Error()
	}
	c := info.Config
	n := func(v int64) string {
		if v <= 0 {
			return "none"
		}
		return strconv.FormatInt(v, 10)
	}
	discard := "old"
	if c.Discard == jetstream.DiscardNew {
		discard = "new"
	}
	return fmt.Sprintf("max messages %s, max bytes %s, max message size %s, discard %s; it holds %d messages, %d bytes",
		n(c.MaxMsgs), n(c.MaxBytes), n(int64(c.MaxMsgSize)), discard, info.State.Msgs, info.State.Bytes)
}
