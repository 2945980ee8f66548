package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	j        *journal.Journal
	log      *slog.Logger
	identity string
	flavor   string // the journal's source flavor (publish's goroutine only)
	// betweenReads, when set (by tests), runs between locate's two reads
	// of the journal, where a follower's commit may land.
	betweenReads func()

	mu        sync.Mutex
	state     string
	position  uint64 // the last journal id the stream is known to hold
	published uint64 // messages the stream stored from this bridge
	dups      uint64 // messages it acknowledged as already stored
	errors    uint64
	lastErr   error
	lastErrAt time.Time
}

// States of the Publisher (Status.State).
const (
	StateConnecting = "connecting"
	StatePublishing = "publishing"
	// StateStandby: the stream holds events this journal has not reached
	// yet (another bridge publishes them); it waits for its journal.
	StateStandby = "standby"
	StateFailed  = "failed"
	StateStopped = "stopped"
)

// New returns a publisher of j's events; Run starts it.
func New(j *journal.Journal, cfg Config) (*Publisher, error) {
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
	// Errors counts failed runs; Error is the last failure and ErrorAt
	// when it happened.
	Errors  uint64    `json:"errors"`
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitzero"`
}

// Status reports where the publisher is.
func (p *Publisher) Status() Status {
	last := p.j.LastSeq()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		State: p.state, URL: p.cfg.URL, Stream: p.cfg.Stream, Position: p.position,
		Published: p.published, Duplicates: p.dups, Errors: p.errors, ErrorAt: p.lastErrAt,
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
	err = fmt.Errorf("publish to NATS stream %s at %s: %w", p.cfg.Stream, p.cfg.URL, err)
	p.mu.Lock()
	p.state, p.lastErr, p.lastErrAt = StateFailed, err, time.Now().UTC()
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
	ready()
	for {
		at, err := p.resume(ctx, stream, closed)
		if err != nil || ctx.Err() != nil {
			return err
		}
		err = p.publish(ctx, js, at, closed)
		if !errors.Is(err, errOvertaken) {
			return err
		}
		// Another bridge stored messages after ours: find where the
		// stream ends now.
	}
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
	ack jetstream.PubAckFuture
	id  uint64 // journal id
	seq uint64 // the stream sequence it must get
}

// publish sends the journal's events after at.event, each expecting the
// stream to end with the one before, until ctx ends or something fails.
func (p *Publisher) publish(ctx context.Context, js jetstream.JetStream, at position, closed <-chan struct{}) error {
	p.setState(StatePublishing)
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
	// acknowledgement, and the window is filled from it.
	var read []journal.SourcedEvent
	var spans []bridge.Span
	for {
		changed := p.j.Changed()
		for room := p.cfg.InFlight - len(queue); room > 0; room = p.cfg.InFlight - len(queue) {
			if len(read) == 0 {
				events, err := p.j.EventsAfter(next, readAhead)
				if err != nil {
					return err
				}
				if len(events) == 0 {
					break
				}
				read, spans = events, p.j.Spans(time.Time{})
				if cp, ok := p.j.Checkpoint(); ok {
					p.flavor = cp.Flavor
				}
				next = events[len(events)-1].ID
			}
			for _, e := range read[:min(room, len(read))] {
				ack, err := js.PublishMsgAsync(p.message(e, spans),
					jetstream.WithMsgID(msgID(e, p.identity)),
					jetstream.WithExpectLastSequence(seq))
				if err != nil {
					settle()
					return fmt.Errorf("publish event %d: %w", e.ID, err)
				}
				seq++
				queue = append(queue, inflight{ack: ack, id: e.ID, seq: seq})
				read = read[1:]
			}
		}
		if len(queue) == 0 {
			select {
			case <-changed:
				continue
			case <-closed:
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
				if ack.Duplicate {
					// The stream holds this event elsewhere than after its
					// predecessor: its history and this journal's disagree
					// in order here; resuming finds where they agree.
					p.log.Warn("the stream holds an event out of this journal's order", "event", head.id, "stream_seq", ack.Sequence, "expected_seq", head.seq)
					return errOvertaken
				}
				return fmt.Errorf("event %d was stored at sequence %d, not %d as expected", head.id, ack.Sequence, head.seq)
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
		case err := <-head.ack.Err():
			settle()
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
				apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
				return errOvertaken
			}
			return fmt.Errorf("event %d was not acknowledged: %w", head.id, err)
		case <-closed:
			return errors.New("the connection closed")
		case <-ctx.Done():
			settle()
			return nil
		}
	}
}
