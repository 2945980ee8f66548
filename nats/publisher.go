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
	last := p.j.LastSeq()
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

// publish sends the journal's events after at.event, each expecting the
// stream to end with the one before, until ctx ends or something fails.
func (p *Publisher) publish(ctx context.Context, r *publishRun, at position) error {
	p.setState(StatePublishing)
	js := r.js
	next, seq := at.event, at.seq
	var queue []inflight
	// settle waits for every message in flight, so that none is stored
	// behind the back of the next resume.
	settle := func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(2 * p.cfg.AckTimeout):
		}
	}
	// read holds events read from the journal and not yet published: the
	// journal is read readAhead events at a time, not one event for each
	// acknowledgement, and the window is filled from it. spans and last
	// were read before them, in that order (the coverage claims, coverage.go).
	var read []journal.SourcedEvent
	var spans []bridge.Span
	var last uint64
	claims := newClaimer()
	idle := false // nothing was in flight while the publisher waited for the journal
	for {
		changed := p.j.Changed()
		for room := p.cfg.InFlight - len(queue); room > 0; room = p.cfg.InFlight - len(queue) {
			if len(read) == 0 {
				s, l := p.j.Spans(time.Time{}), p.j.LastSeq()
				if l <= next {
					break
				}
				events, err := p.j.EventsAfter(next, int(min(readAhead, l-next)))
				if err != nil {
					return err
				}
				if len(events) == 0 {
					break
				}
				// A stream that holds nothing (new, or purged) begins with
				// the journal's first event, which after retention is not 1
				// (journal/trim.go); any other stream must go on with the
				// event after its last.
				if events[0].ID != next+1 && (next != 0 || at.present != 0) {
					settle()
					return fmt.Errorf("the journal no longer holds events %d to %d, which the stream lacks (it ends with event %d): the publisher never skips an event; publish to a new stream, which then begins with event %d",
						next+1, events[0].ID-1, next, events[0].ID)
				}
				read, spans, last = events, s, l
				if cp, ok := p.j.Checkpoint(); ok {
					p.flavor = cp.Flavor
				}
				next = events[len(events)-1].ID
			}
			if idle && len(queue) == 0 {
				// The stream's end may have been deleted or purged while
				// the publisher waited: continuing after it would leave its
				// event out for good.
				if err := p.endIntact(ctx, r, seq); err != nil {
					return err
				}
			}
			idle = false
			for _, e := range read[:min(room, len(read))] {
				all, closed := claims.claims(e.ID, last, spans)
				m := p.message(e, spans, all)
				ack, err := js.PublishMsgAsync(m,
					jetstream.WithMsgID(msgID(e, p.identity)),
					jetstream.WithExpectLastSequence(seq))
				if err != nil {
					settle()
					if errors.Is(err, natsgo.ErrMaxPayload) {
						return fmt.Errorf("event %d makes a message of about %d bytes, more than the NATS server's max_payload of %d: raise max_payload in the server's configuration; the publisher publishes nothing after the event until then, and skips nothing",
							e.ID, messageSize(m), r.maxPayload)
					}
					return fmt.Errorf("publish event %d: %w", e.ID, err)
				}
				seq++
				queue = append(queue, inflight{ack: ack, id: e.ID, seq: seq, closed: closed})
				read = read[1:]
			}
		}
		if len(queue) == 0 {
			idle = true
			select {
			case <-changed:
				continue
			case <-r.closed:
				return errors.New("the connection closed")
			case <-ctx.Done():
				return nil
			}
		}
		head := queue[0]
		select {
		case ack := <-head.ack.Ok():
			if ack.Sequence != head.seq {
				settle()
				if ack.Duplicate && ack.Sequence > at.present && ack.Sequence <= at.seq {
					p.mu.Lock()
					window := p.window
					p.mu.Unlock()
					return heldError{fmt.Errorf("stream %s stored event %d (%s) as message %d and dropped it since (deleted or purged) within its duplicate window of %s: JetStream takes a name again only once that window has passed since it stored it; the publisher tries again then and publishes nothing after the event meanwhile",
						p.cfg.Stream, head.id, head.ack.Msg().Header.Get(natsgo.MsgIdHdr), ack.Sequence, window)}
				}
				if ack.Duplicate {
					// The stream holds this event elsewhere than after its
					// predecessor: its history and this journal's disagree
					// in order here; resuming finds where they agree.
					p.log.Warn("the stream holds an event out of this journal's order", "event", head.id, "stream_seq", ack.Sequence, "expected_seq", head.seq)
					return errOvertaken
				}
				return fmt.Errorf("event %d was stored at sequence %d, not %d as expected", head.id, ack.Sequence, head.seq)
			}
			if ack.Duplicate {
				claims.forget(head.closed) // the stored copy is another bridge's
			}
			p.mu.Lock()
			p.position = head.id
			if ack.Duplicate {
				p.dups++
			} else {
				p.published++
			}
			p.mu.Unlock()
			queue = queue[1:]
			if !r.sourceKnown {
				if err := p.knowSource(ctx, r); err != nil {
					settle()
					return err
				}
			}
		case err := <-head.ack.Err():
			settle()
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				switch apiErr.ErrorCode {
				case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
					return errOvertaken
				case jsErrStoreFailed, jetstream.JSErrCodeStreamMessageExceedsMaximum:
					return fmt.Errorf("stream %s refused event %d: %s; its limits (%s) are reached: raise them (nats stream edit %s) or remove its oldest messages. The publisher resumes from this event, skipping nothing",
						p.cfg.Stream, head.id, apiErr.Description, p.limits(ctx, r.stream), p.cfg.Stream)
				}
			}
			return fmt.Errorf("event %d was not acknowledged: %w", head.id, err)
		case <-r.closed:
			return errors.New("the connection closed")
		case <-ctx.Done():
			settle()
			return nil
		}
	}
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
