package nats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RestoreResult says what Restore rebuilt.
type RestoreResult struct {
	// Events is the number of events written.
	Events uint64
	// Spans is the number of coverage spans.
	Spans int
	// Checkpoint is the position the follower resumes from, when the
	// stream carried GTIDs; nil otherwise (the follower then starts a new
	// coverage span at the replica's current position).
	Checkpoint *journal.Checkpoint
	// Identity is the rebuilt journal's identity: the publishing
	// journal's when the stream holds that journal's events 1..N alone,
	// so that its publisher continues the same stream; a new one otherwise.
	Identity string
}

// restoreBatch bounds the events committed at once.
const restoreBatch = 20000

// Restore rebuilds a journal at dst, which must not exist, from the
// stream's messages: the events in stream order (so with the ids they had
// when one journal published them all from its start), coverage as far as
// the stream vouches for it, and with GTIDs a checkpoint the follower can
// resume from. The rebuilt journal holds no monitor rows (the stream has
// none). It is checked with journal.Verify before Restore returns.
func Restore(ctx context.Context, cfg Config, dst string) (res RestoreResult, err error) {
	if cfg, err = cfg.withDefaults(); err != nil {
		return res, err
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("%s already exists: restore never overwrites a file; remove it or give another -o", dst)
	}
	nc, err := natsgo.Connect(cfg.URL, cfg.options(make(chan struct{}))...)
	if err != nil {
		return res, fmt.Errorf("connect to %s: %w", cfg.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*cfg.AckTimeout)
	stream, err := js.Stream(sctx, cfg.Stream)
	cancel()
	if err != nil {
		return res, fmt.Errorf("open stream %s: %w", cfg.Stream, err)
	}
	info := stream.CachedInfo()
	if info.State.Msgs == 0 {
		return res, fmt.Errorf("stream %s holds no messages: nothing to restore", cfg.Stream)
	}
	j, err := journal.Open(dst, journal.Options{})
	if err != nil {
		return res, err
	}
	closed := false
	defer func() {
		if !closed {
			j.Close()
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	r := &rebuild{j: j, batch: &journal.Batch{}, sameJournal: true}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return res, fmt.Errorf("read stream %s: %w", cfg.Stream, err)
	}
	for seq := uint64(0); seq < info.State.LastSeq; {
		want := int(min(1000, info.State.LastSeq-seq))
		msgs, err := cons.Fetch(want, jetstream.FetchMaxWait(2*cfg.AckTimeout))
		if err != nil {
			return res, fmt.Errorf("read stream %s after sequence %d: %w", cfg.Stream, seq, err)
		}
		n := 0
		for m := range msgs.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return res, err
			}
			seq = md.Sequence.Stream
			if seq > info.State.LastSeq {
				break // published after the restore began
			}
			if err := r.add(m.Headers(), m.Data()); err != nil {
				return res, fmt.Errorf("stream %s message %d: %w", cfg.Stream, seq, err)
			}
			n++
		}
		if err := msgs.Error(); err != nil {
			return res, fmt.Errorf("read stream %s after sequence %d: %w", cfg.Stream, seq, err)
		}
		if n == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if err := r.finish(); err != nil {
		return res, err
	}
	res = RestoreResult{Events: j.LastSeq(), Spans: len(j.Spans(time.Time{})), Checkpoint: r.checkpoint}
	if r.sameJournal && r.journalID != "" {
		err = j.AdoptIdentity(r.journalID) // fails unless the journal keeps it
		res.Identity = r.journalID
	} else {
		res.Identity, err = j.Identity()
	}
	if err != nil {
		return res, err
	}
	closed = true
	if err := j.Close(); err != nil {
		return res, err
	}
	report, err := journal.Verify(dst)
	if err != nil {
		return res, err
	}
	if !report.OK() {
		return res, fmt.Errorf("the restored journal %s fails verification: %s", dst, report.Problems[0])
	}
	return res, nil
}

// rebuild accumulates the stream's messages into journal batches.
type rebuild struct {
	j     *journal.Journal
	batch *journal.Batch
	count uint64

	spanStart   time.Time // the open span's start; zero before the first event
	lastCreated time.Time

	sameJournal bool   // every message so far is event count of journalID
	journalID   string // the first message's publishing journal

	flavor, base string
	gtids        []string // every transaction's GTID, in order
	checkpoint   *journal.Checkpoint
}

// add takes one message.
func (r *rebuild) add(h natsgo.Header, data []byte) error {
	e, err := decodePayload(data)
	if err != nil {
		return err
	}
	name, err := parseMsgID(h.Get(natsgo.MsgIdHdr))
	if err != nil {
		return err
	}
	if len(r.batch.Events) >= restoreBatch && name.ordinal == 0 {
		// Batches end between transactions, so each names all its events.
		if err := r.commit(); err != nil {
			return err
		}
	}
	r.count++
	id, _ := strconv.ParseUint(h.Get(HeaderEventID), 10, 64)
	if r.journalID == "" {
		r.journalID = h.Get(HeaderJournal)
	}
	r.sameJournal = r.sameJournal && h.Get(HeaderJournal) == r.journalID && id == r.count && e.ID == r.count

	start := e.CreatedAt
	if s := h.Get(HeaderSpanStart); s != "" {
		if start, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("header %s %q: %w", HeaderSpanStart, s, err)
		}
	}
	switch {
	case r.spanStart.IsZero():
		r.spanStart = start
		r.batch.NewSpan = &journal.SpanStart{Start: start}
	case !start.Equal(r.spanStart) && start.After(r.lastCreated):
		// The publishing journal's coverage began anew after the last
		// event: a gap the stream cannot vouch for.
		if err := r.commit(); err != nil {
			return err
		}
		r.spanStart = start
		r.batch.NewSpan = &journal.SpanStart{Start: start, GapReason: "not vouched for by the NATS stream: the publishing journal had a coverage gap here"}
	}
	if e.CreatedAt.After(r.lastCreated) {
		r.lastCreated = e.CreatedAt
	}

	if name.gtid != "" {
		if name.ordinal == 0 || len(r.batch.Txns) == 0 || r.batch.Txns[len(r.batch.Txns)-1].GTID != name.gtid {
			r.batch.Txns = append(r.batch.Txns, journal.SourceTxn{First: len(r.batch.Events), GTID: name.gtid})
			r.gtids = append(r.gtids, name.gtid)
		}
		r.batch.Txns[len(r.batch.Txns)-1].Count++
		if f := h.Get(HeaderFlavor); f != "" {
			r.flavor = f
		}
		r.base = h.Get(HeaderGTIDBase)
	}
	r.batch.Events = append(r.batch.Events, e)
	return nil
}

// commit writes the batch, its coverage reaching the last event's time:
// every transaction committed before it was published before that event.
func (r *rebuild) commit() error {
	r.batch.CoveredTo = r.lastCreated
	err := r.j.Commit(r.batch)
	r.batch = &journal.Batch{}
	return err
}

// finish commits the rest with the checkpoint: with GTIDs, the base set of
// the last message's commit plus every GTID the stream holds, a set the
// source had executed, from which the follower resumes without a gap (it
// re-reads at most a few transactions without events).
func (r *rebuild) finish() error {
	if len(r.gtids) > 0 && r.flavor != "" {
		set, err := mysql.ParseGTIDSet(r.flavor, r.base)
		if err != nil {
			return fmt.Errorf("the last message's %s %q: %w", HeaderGTIDBase, r.base, err)
		}
		for _, g := range r.gtids { // each transaction's, once
			one, err := mysql.ParseGTIDSet(r.flavor, g)
			if err != nil {
				return fmt.Errorf("GTID %q: %w", g, err)
			}
			if !set.Contain(one) {
				if err := set.Update(g); err != nil {
					return fmt.Errorf("GTID %q: %w", g, err)
				}
			}
		}
		r.checkpoint = &journal.Checkpoint{Flavor: r.flavor, GTIDSet: set.String()}
		r.batch.Checkpoint = r.checkpoint
	}
	return r.commit()
}
