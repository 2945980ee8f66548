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
// expecting the stream's last sequence to be seq.
type position struct {
	event, seq uint64
}

// resume finds where the stream ends in the journal, waiting in standby
// while the stream is ahead of the journal (another bridge published
// events this one has not journaled yet).
func (p *Publisher) resume(ctx context.Context, stream jetstream.Stream, closed <-chan struct{}) (position, error) {
	for {
		changed := p.j.Changed()
		at, ahead, err := p.locate(ctx, stream)
		if err != nil || !ahead {
			if err == nil {
				p.mu.Lock()
				p.position = at.event
				p.mu.Unlock()
			}
			return at, err
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
// reached it yet. It never guesses: a stream it cannot place is an error.
func (p *Publisher) locate(ctx context.Context, stream jetstream.Stream) (at position, ahead bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*p.cfg.AckTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		return at, false, fmt.Errorf("read the stream's state: %w", err)
	}
	at.seq = info.State.LastSeq
	if info.State.Msgs == 0 {
		return at, false, nil // empty (or purged): publish the whole journal
	}
	msg, err := stream.GetMsg(ctx, at.seq)
	if err != nil {
		return at, false, fmt.Errorf("read the stream's last message (sequence %d): %w", at.seq, err)
	}
	name, err := parseMsgID(msg.Header.Get(natsgo.MsgIdHdr))
	if err != nil {
		return at, false, fmt.Errorf("the stream's last message (sequence %d) was not published by jetmon-bridge: %w; give the bridge a stream of its own", at.seq, err)
	}
	last := p.j.LastSeq()
	if name.journal != "" {
		switch {
		case name.journal != p.identity:
			return at, false, fmt.Errorf("the stream ends with event %d of journal %s, not of this journal (%s): without GTIDs two bridges cannot share a stream; give this bridge its own with -publish-stream", name.id, name.journal, p.identity)
		case name.id > last:
			return at, false, fmt.Errorf("the stream holds event %d of this journal, which ends at %d: is the journal older than the stream (a restored backup)? Rebuild it with 'jetmon-bridge journal restore' or publish to a new stream", name.id, last)
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
	// The journal is past that transaction yet holds none of its events:
	// it begins after the stream ends.
	p.log.Warn("the stream ends before this journal begins: publishing the whole journal after it", "stream_last", name.gtid)
	return at, false, nil
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
