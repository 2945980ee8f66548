package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// position is where publishing continues: after journal event `event`,
// expecting the stream's last sequence to be seq. present is the sequence
// of the stream's last message still held, below seq when the messages
// after it were deleted or purged: the stream remembers their names for its
// duplicate window, so taking their events again waits for it.
type position struct {
	event, seq, present uint64
}

// resume finds where the stream ends in the journal, waiting in standby
// while the stream is ahead of the journal (another bridge published
// events this one has not journaled yet). ready is called once the stream's
// end is placed, so a publisher held by a stream it cannot place is never
// reported in operation.
func (p *Publisher) resume(ctx context.Context, stream jetstream.Stream, closed <-chan struct{}, ready func()) (position, error) {
	for {
		changed := p.j.Changed()
		at, ahead, err := p.locate(ctx, stream)
		if err != nil || ctx.Err() != nil {
			return at, err
		}
		ready()
		if !ahead {
			p.mu.Lock()
			p.position = at.event
			p.mu.Unlock()
			return at, nil
		}
		p.setState(StateStandby)
		select {
		case <-changed:
		case <-time.After(p.cfg.AckTimeout):
		case <-closed:
			return at, errors.New("the connection closed")
		case <-ctx.Done():
			return at, nil
		}
	}
}

// locate reads the stream's last message and finds its event in the
// journal: the position after it, or ahead when the journal has not
// reached it yet. It never guesses: a stream it cannot place is an error,
// a heldError where the stream or the journal may yet change so that it can.
func (p *Publisher) locate(ctx context.Context, stream jetstream.Stream) (at position, ahead bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*p.cfg.AckTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		return at, false, fmt.Errorf("read the stream's state: %w", err)
	}
	p.mu.Lock()
	p.window = info.Config.Duplicates
	p.mu.Unlock()
	at.seq = info.State.LastSeq
	if info.State.Msgs == 0 {
		if at.seq == 0 {
			return at, false, nil // a new stream: publish the whole journal
		}
		return p.emptied(info)
	}
	msg, err := lastMessage(ctx, stream, info.State)
	if err != nil {
		return at, false, fmt.Errorf("read the stream's last message (sequence %d or before): %w", at.seq, err)
	}
	at.present = msg.Sequence
	if at.present < at.seq {
		p.log.Warn("the stream's last messages were deleted (or their subject purged): publishing their events again, once the stream's duplicate window has passed",
			"stream", p.cfg.Stream, "last_sequence", at.seq, "last_message", at.present, "duplicate_window", info.Config.Duplicates)
	}
	if info.State.NumDeleted > 0 {
		p.log.Warn("the stream lacks messages deleted from its middle (or a purged subject's): their events are not in it, and a journal restored from it vouches for no coverage after the first",
			"stream", p.cfg.Stream, "deleted", info.State.NumDeleted)
	}
	id := msg.Header.Get(natsgo.MsgIdHdr)
	name, err := parseMsgID(id)
	if err != nil {
		return at, false, fmt.Errorf("the stream's last message (sequence %d) was not published by jetmon-bridge: %w; give the bridge a stream of its own", at.present, err)
	}
	streamEvent, err := decodePayload(msg.Data)
	if err != nil {
		return at, false, fmt.Errorf("the stream's last message (sequence %d, %s): %w", at.present, id, err)
	}
	last := p.j.LastID()
	if name.journal != "" {
		switch {
		case name.journal != p.identity:
			return at, false, fmt.Errorf("the stream ends with event %d of journal %s, not of this journal (%s): without GTIDs two bridges cannot share a stream; give this bridge its own with -publish-stream", name.id, name.journal, p.identity)
		case name.id > last:
			return at, false, fmt.Errorf("the stream holds event %d of this journal, which ends at %d: is the journal older than the stream (a restored backup)? Rebuild it with 'jetmon-bridge journal restore' or publish to a new stream", name.id, last)
		}
		if err := p.sameAsJournal(id, streamEvent); err != nil {
			return at, false, p.notOurs(id, at.present, err)
		}
		at.event = name.id
		return at, false, nil
	}
	// The checkpoint is read before the transaction is looked up. A
	// follower's commit holding the transaction may land between the two
	// reads: read first, the checkpoint then predates it and the lookup
	// finds it; read second, the checkpoint would contain a transaction the
	// lookup missed, and the journal would look as if it began after it.
	cp, hasCheckpoint := p.j.Checkpoint()
	if p.betweenReads != nil {
		p.betweenReads()
	}
	first, count, ok, err := p.j.FindGTID(name.gtid)
	if err != nil {
		return at, false, err
	}
	if ok {
		if name.ordinal >= count {
			return at, false, fmt.Errorf("the stream's last message is event %d of transaction %s, which has %d events in this journal: the two disagree; publish to a new stream", name.ordinal, name.gtid, count)
		}
		if err := p.sameAsJournal(id, streamEvent); err != nil {
			return at, false, p.notOurs(id, at.present, err)
		}
		at.event = first + name.ordinal
		return at, false, nil
	}
	executed, err := executed(cp, hasCheckpoint, name.gtid)
	if err != nil {
		return at, false, err
	}
	if !executed {
		return at, true, nil
	}
	// The source executed the transaction, yet the journal holds none of
	// its events: the journal never read it (a coverage gap, or before the
	// journal began). What the source committed between it and the
	// journal's next event is in neither: publishing that event after the
	// stream's end would skip it, publishing the journal from an earlier
	// event would repeat what the stream holds.
	pl, err := placeGTID(p.j, cp.Flavor, name.gtid)
	if err != nil {
		return at, false, err
	}
	if p.cfg.AcceptGapAfter != "" && p.cfg.AcceptGapAfter == name.gtid {
		at.event = pl.before.ID
		p.log.Warn("the stream ends in this journal's coverage gap; continuing after it as -publish-accept-gap says: what only the other bridge held stays missing from the stream",
			"stream", p.cfg.Stream, "stream_last", name.gtid, "placed", pl.String(), "next_event", at.event+1)
		return at, false, nil
	}
	return at, false, heldError{fmt.Errorf("the stream ends with transaction %s, which this journal's source executed but this journal never read: it lies %s, in a coverage gap or before the journal began (see 'jetmon-bridge journal stats'). "+
		"The bridge that published it holds what followed it; this bridge waits until the stream reaches an event its journal holds, publishing nothing meanwhile. "+
		"If that bridge is gone for good, restart this one with -publish-accept-gap %s: it then publishes its journal after the stream's end, and what only the other bridge held stays missing from the stream",
		name.gtid, pl, name.gtid)}
}

// notOurs turns a failed content comparison of the stream's last message
// into the refusal an operator reads.
func (p *Publisher) notOurs(id string, seq uint64, err error) error {
	if errors.Is(err, errOtherEvent) {
		return fmt.Errorf("%w: stream %s ends with message %d, %v; this bridge follows %s: two Jetmons need two streams; give this bridge its own with -publish-stream (and its own -publish-subject)",
			errForeignSource, p.cfg.Stream, seq, err, journalSource(p.j, p.identity))
	}
	if errors.Is(err, errNotInJournal) {
		return fmt.Errorf("the stream's last message %s names an event this journal no longer holds: publish to a new stream", id)
	}
	return err
}

// emptied decides what to do with a stream that held messages and holds
// none now. Purged by an operator (no age limit): the journal is published
// again from its start, once the stream's duplicate window has passed (the
// stream drops a name it stored within it, see publish). Emptied by its own
// age limit: which journal events it took cannot be told, and taking them
// again would repeat, every max age, what consumers have read.
func (p *Publisher) emptied(info *jetstream.StreamInfo) (position, bool, error) {
	at := position{seq: info.State.LastSeq}
	if age := info.Config.MaxAge; age > 0 {
		return at, false, heldError{fmt.Errorf("stream %s has discarded every message it held (its max age is %s, last sequence %d): this bridge cannot tell which of its journal's events the stream took, and publishes nothing. "+
			"Keep every message: remove the age limit (nats stream edit %s --max-age 0) and purge the stream (nats stream purge %s) to have the whole journal published again, or publish to a new stream",
			p.cfg.Stream, age, at.seq, p.cfg.Stream, p.cfg.Stream)}
	}
	p.log.Warn("the stream was purged: publishing the whole journal again, once the stream's duplicate window has passed", "stream", p.cfg.Stream, "last_sequence", at.seq, "duplicate_window", info.Config.Duplicates)
	return at, false, nil
}

// lastMessage returns the stream's last message. Its sequence is below
// the stream's last sequence when the messages after it were deleted:
// JetStream keeps the last sequence, and a binary search with "the next
// message at or after" (all JetStream 2.9 offers; it has no "last message"
// across subjects) finds the last one held.
func lastMessage(ctx context.Context, stream jetstream.Stream, state jetstream.StreamState) (*jetstream.RawStreamMsg, error) {
	m, err := stream.GetMsg(ctx, state.LastSeq)
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return m, err
	}
	var found *jetstream.RawStreamMsg
	for lo, hi := state.FirstSeq, state.LastSeq-1; lo <= hi && hi >= state.FirstSeq; {
		mid := lo + (hi-lo)/2
		m, err := stream.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(">"))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && m.Sequence > hi):
			hi = mid - 1
		case err != nil:
			return nil, err
		default:
			found, lo = m, m.Sequence+1
		}
	}
	if found == nil {
		return nil, errors.New("the stream reports messages but holds none between its first and last sequence")
	}
	return found, nil
}

// executed reports whether the journal's checkpoint cp (ok: the journal
// has one) has passed the transaction gtid.
func executed(cp journal.Checkpoint, ok bool, gtid string) (bool, error) {
	if !ok || cp.GTIDSet == "" {
		return false, fmt.Errorf("the stream ends with transaction %s but this journal has no GTID position to place it against: publish to a new stream", gtid)
	}
	set, err := mysql.ParseGTIDSet(cp.Flavor, cp.GTIDSet)
	if err != nil {
		return false, fmt.Errorf("journal checkpoint GTID set %q: %w", cp.GTIDSet, err)
	}
	one, err := mysql.ParseGTIDSet(cp.Flavor, gtid)
	if err != nil {
		return false, fmt.Errorf("the stream's last transaction %q is not a %s GTID: %w", gtid, cp.Flavor, err)
	}
	return set.Contain(one), nil
}
