package nats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
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
	// stream carried GTIDs, holds every message up to its last and that
	// one carries a coverage claim; nil otherwise (the follower then starts
	// a new coverage span at the replica's current position).
	Checkpoint *journal.Checkpoint
	// Missing names the first messages the stream no longer holds (deleted,
	// purged, or discarded by its limits), "" when it holds all up to its
	// last: no coverage is restored after them.
	Missing string
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
// the messages' claims prove it (coverage.go), and with GTIDs a checkpoint
// the follower can resume from. It ends with a journal or an error, never
// waiting for a message the stream no longer holds. The rebuilt journal holds no monitor rows (the stream has
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
	if err := r.read(ctx, stream, cfg, info.State.LastSeq); err != nil {
		return res, err
	}
	if err := r.finish(); err != nil {
		return res, err
	}
	res = RestoreResult{Events: j.LastID(), Spans: len(j.Spans(time.Time{})), Checkpoint: r.checkpoint, Missing: r.hole}
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

	// seq is the stream sequence of the last message read; hole names the
	// first messages missing before a message read (deleted, purged, or
	// discarded by the stream's limits), "" while none is.
	seq  uint64
	hole string
	// claims are the coverage claims of the messages before the first
	// hole (coverage.go); lastClaims: the last message read carried claims.
	claims     []bridge.Span
	lastClaims bool

	sameJournal bool   // every message so far is event count of journalID
	journalID   string // the first message's publishing journal

	flavor, base string
	gtids        []string // every transaction's GTID, in order
	checkpoint   *journal.Checkpoint
}

// read takes the stream's messages up to sequence last (the stream's last
// when the restore began) in order, and ends when it has read the last one
// the stream holds: at last, or at a message with nothing pending after it
// (the messages after it were deleted), or when the stream yields nothing
// more within the wait. It never waits for a sequence the stream no longer
// holds.
func (r *rebuild) read(ctx context.Context, stream jetstream.Stream, cfg Config, last uint64) error {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", cfg.Stream, err)
	}
	for done := false; !done; {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := cons.Fetch(int(min(1000, last-r.seq)), jetstream.FetchMaxWait(2*cfg.AckTimeout))
		if err != nil {
			return fmt.Errorf("read stream %s after sequence %d: %w", cfg.Stream, r.seq, err)
		}
		n := 0
		for m := range msgs.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if md.Sequence.Stream > last {
				done = true // published after the restore began
				break
			}
			if err := r.add(md.Sequence.Stream, m.Headers(), m.Data()); err != nil {
				return fmt.Errorf("stream %s message %d: %w", cfg.Stream, md.Sequence.Stream, err)
			}
			n++
			if md.Sequence.Stream == last || md.NumPending == 0 {
				done = true
				break
			}
		}
		if err := msgs.Error(); err != nil && !done {
			return fmt.Errorf("read stream %s after sequence %d: %w", cfg.Stream, r.seq, err)
		}
		if n == 0 && !done {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if r.count == 0 {
				return fmt.Errorf("stream %s yielded no message within %s although it reported some: were they deleted or purged meanwhile? Nothing to restore", cfg.Stream, 2*cfg.AckTimeout)
			}
			done = true // its last messages went away while we read
		}
	}
	return nil
}

// add takes message seq.
func (r *rebuild) add(seq uint64, h natsgo.Header, data []byte) error {
	switch {
	case r.hole != "":
	case seq != r.seq+1 && r.seq == 0:
		r.hole = fmt.Sprintf("messages 1 to %d", seq-1)
	case seq != r.seq+1:
		r.hole = fmt.Sprintf("messages %d to %d", r.seq+1, seq-1)
	}
	r.seq = seq
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

	// A claim holds only if no message before it is missing: the missing
	// one may be a change it vouches for.
	values := h.Values(HeaderCoverage)
	r.lastClaims = len(values) > 0
	for _, v := range values {
		c, err := parseClaim(v)
		if err != nil {
			return err
		}
		if r.hole == "" {
			r.claims = append(r.claims, c)
		}
	}

	if name.gtid != "" {
		if name.ordinal == 0 || len(r.batch.Txns) == 0 || r.batch.Txns[len(r.batch.Txns)-1].GTID != name.gtid {
			r.batch.Txns = append(r.batch.Txns, journal.SourceTxn{First: len(r.batch.Events), GTID: name.gtid})
			r.gtids = append(r.gtids, name.gtid)
		}
		r.batch.Txns[len(r.batch.Txns)-1].Count++
		r.base = h.Get(HeaderGTIDBase)
	}
	if f := h.Get(HeaderFlavor); f == "mysql" || f == "mariadb" {
		r.flavor = f
	}
	r.batch.Events = append(r.batch.Events, e)
	return nil
}

// commit writes the batch's events.
func (r *rebuild) commit() error {
	err := r.j.Commit(r.batch)
	r.batch = &journal.Batch{}
	return err
}

// finish commits the rest, then the coverage the claims prove, one span
// for each stretch they cover together, with a gap between stretches. With
// GTIDs and a stream that holds every message and ends with a claim, it
// adds a checkpoint: the base set of the last message's commit plus every
// GTID the stream holds, a set the source had executed, from which the
// follower resumes without a gap (it re-reads at most a few transactions
// without events) and extends the last span. Where a message is missing,
// or the last one vouches for nothing, there is no checkpoint: the follower
// then begins a new span at the replica's position, and nothing it never
// read is vouched for.
func (r *rebuild) finish() error {
	if err := r.commit(); err != nil {
		return err
	}
	spans := unionOf(r.claims)
	for i, s := range spans {
		b := &journal.Batch{NewSpan: &journal.SpanStart{Start: s.Start}, CoveredTo: s.End}
		if i > 0 {
			b.NewSpan.GapReason = "not vouched for by the NATS stream: no journal that published to it covered this stretch"
		}
		if err := r.j.Commit(b); err != nil {
			return err
		}
	}
	if len(r.gtids) == 0 || r.flavor == "" || r.hole != "" || !r.lastClaims || len(spans) == 0 {
		// A checkpoint without a position: the follower begins a new span
		// at the replica's current position (binlog.Follower, planResume).
		// The flavor is the stream's, or any: the follower reads none of it.
		flavor := r.flavor
		if flavor == "" {
			flavor = "mysql"
		}
		r.batch.Checkpoint = &journal.Checkpoint{Flavor: flavor}
		return r.commit()
	}
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
	return r.commit()
}
