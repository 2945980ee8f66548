package nats

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPairPublishesEachTransitionOnce runs two bridges' publishers on one
// stream, their journals fed the same transactions (as two replicas of one
// primary would) in different batches. Each in turn leads and publishes,
// then falls behind the other by more than the duplicate window while its
// publisher waits to publish more: only the expected last sequence then
// keeps its copies of what the other stored out of the stream. The stream
// holds each transition once, in the source's order, and each bridge
// stored some.
func TestPairPublishesEachTransitionOnce(t *testing.T) {
	srv := natstest.Start(t)
	cfg := testConfig(srv.URL())
	cfg.DedupWindow = 200 * time.Millisecond
	a, b := openJournal(t), openJournal(t)
	src := newSource(6)
	src.grow(400)

	// B leads and publishes; A starts behind the stream and stands by.
	src.feed(t, b, 0, 60, 5, true)
	rb := start(t, b, cfg)
	waitStream(t, srv.URL(), "T", src.events(0, 60), rb)
	src.feed(t, a, 0, 40, 7, true)
	ra := start(t, a, cfg)
	waitState(t, ra, StateStandby)

	// A overtakes and publishes what B has not journaled yet. B's
	// publisher waits for its journal, expecting the stream to end where
	// B left it.
	src.feed(t, a, 40, 200, 9, true)
	waitStream(t, srv.URL(), "T", src.events(0, 200), ra)
	waitPlaced(t, ra, a.LastID())
	// B falls past the window: everything it journals now, the stream has
	// held for longer than that.
	time.Sleep(2 * cfg.DedupWindow)
	src.feed(t, b, 60, 200, 4, true)
	waitPlaced(t, rb, b.LastID())

	// The same the other way round: B leads, A falls past the window.
	src.feed(t, b, 200, 300, 6, true)
	waitStream(t, srv.URL(), "T", src.events(0, 300), rb)
	waitPlaced(t, rb, b.LastID())
	time.Sleep(2 * cfg.DedupWindow)
	src.feed(t, a, 200, 300, 13, true)
	waitPlaced(t, ra, a.LastID())

	// Both journal the rest, in their own batches, and publish at once.
	done := make(chan struct{})
	go func() { defer close(done); src.feed(t, a, 300, 400, 3, true) }()
	src.feed(t, b, 300, 400, 11, true)
	<-done
	waitStream(t, srv.URL(), "T", src.events(0, 400), rb)
	waitPlaced(t, ra, a.LastID())
	waitPlaced(t, rb, b.LastID())
	ra.stop()
	rb.stop()

	msgs := natstest.Messages(t, srv.URL(), "T")
	want := src.names(0, 400)
	if len(msgs) != len(want) {
		t.Errorf("the stream holds %d messages, the source %d transitions", len(msgs), len(want))
	}
	for i := range min(len(msgs), len(want)) {
		if got := msgs[i].Header.Get(natsgo.MsgIdHdr); got != want[i] {
			t.Fatalf("message %d is %s, want %s", msgs[i].Sequence, got, want[i])
		}
	}
	first, second := ra.p.Status(), rb.p.Status()
	if first.Published < uint64(src.events(60, 200)) || second.Published < uint64(src.events(0, 60)+src.events(200, 300)) {
		t.Errorf("A should have stored at least transactions 60..199 (%d events), B 0..59 and 200..299 (%d): A %+v, B %+v",
			src.events(60, 200), src.events(0, 60)+src.events(200, 300), first, second)
	}
	t.Logf("%d transitions: stored by A %d, by B %d; acknowledged as duplicates A %d, B %d; placed again after being overtaken A %d, B %d times",
		len(want), first.Published, second.Published, first.Duplicates, second.Duplicates, first.Overtaken, second.Overtaken)
}

// waitPlaced waits until the publisher knows the stream to hold its
// journal up to event id.
func waitPlaced(t *testing.T, r *running, id uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for st := r.p.Status(); st.Position != id || st.Pending != 0; st = r.p.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never placed itself at event %d: %+v", id, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStandbyNeverTakesTheJournalForYounger: a bridge stands by because
// the stream ends with a transaction its journal has not reached, and its
// follower commits that transaction while the publisher is placing the
// stream's end in the journal. The publisher must find the transaction in
// the journal, not conclude from the newer checkpoint that the journal
// began after the stream ended and publish the whole journal again, which
// beyond the duplicate window stores every event a second time.
func TestStandbyNeverTakesTheJournalForYounger(t *testing.T) {
	srv := natstest.Start(t)
	cfg := testConfig(srv.URL())
	cfg.DedupWindow = 200 * time.Millisecond
	a, b := openJournal(t), openJournal(t)
	src := newSource(9)
	src.grow(100)
	src.feed(t, a, 0, 100, 10, true)
	ra := start(t, a, cfg)
	waitStream(t, srv.URL(), "T", src.events(0, 100), ra)
	ra.stop()

	src.feed(t, b, 0, 40, 10, true)
	time.Sleep(2 * cfg.DedupWindow) // b's copies are beyond the window
	p, err := New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The rest, with the stream's last transaction, commits while the
	// publisher reads the journal to place the stream's end.
	var once sync.Once
	p.betweenReads = func() { once.Do(func() { src.feed(t, b, 40, 100, 60, true) }) }
	rb := run(t, p)
	waitStream(t, srv.URL(), "T", src.events(0, 100), rb)
	waitState(t, rb, StatePublishing)
	waitPlaced(t, rb, b.LastID())
	rb.stop()
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), a, DefaultSubject)
	if st := rb.p.Status(); st.Published != 0 {
		t.Errorf("the second bridge stored %d messages; the stream held all its events already: %+v", st.Published, st)
	}
}

// events counts the transitions of transactions from..to-1.
func (s *source) events(from, to int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.txns[from:to] {
		n += len(t.events)
	}
	return n
}

// names are the message ids of transactions from..to-1's transitions.
func (s *source) names(from, to int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.txns[from:to] {
		for i := range t.events {
			out = append(out, fmt.Sprintf("g/%s/%d", t.gtid, i))
		}
	}
	return out
}

// TestPairWithAGapNeverRepublishes is the pair of the issue: bridge B is
// down long enough for its replica to purge the binlogs it needed (a
// coverage gap in B's journal), bridge A publishes through that stretch
// and dies, B comes back beyond the duplicate window. The stream ends with
// a transaction B's source executed but B never read: B must neither
// publish its journal again (everything up to its gap is in the stream)
// nor continue after the gap (what A alone held would be skipped). It
// holds, saying why and what ends it, until A returns and publishes past
// the gap; then B continues, and the stream holds every transition once.
// A second stream shows the way out when A is gone for good:
// -publish-accept-gap, after which the stream lacks only what A alone held.
func TestPairWithAGapNeverRepublishes(t *testing.T) {
	srv := natstest.Start(t)
	cfg := testConfig(srv.URL())
	cfg.DedupWindow = 200 * time.Millisecond
	a, b := openJournal(t), openJournal(t)
	src := newSource(22)
	src.grow(300)

	// Both journal and publish the first 80 transactions.
	src.feed(t, a, 0, 80, 7, true)
	src.feed(t, b, 0, 80, 5, true)
	ra, rb := start(t, a, cfg), start(t, b, cfg)
	waitStream(t, srv.URL(), "T", src.events(0, 80), ra)
	waitPlaced(t, ra, a.LastID())
	waitPlaced(t, rb, b.LastID())
	rb.stop()

	// B is down; A journals and publishes up to transaction 200, then dies.
	src.feed(t, a, 80, 200, 9, true)
	waitStream(t, srv.URL(), "T", src.events(0, 200), ra)
	ra.stop()

	// B's replica purged the binlogs after transaction 80: B resumes at its
	// replica's position, transaction 210, with a gap, and journals on.
	gap(t, b, src, 210, "binlog from bin.000001:4 can no longer be read (purged)")
	src.feed(t, b, 210, 300, 6, true)
	time.Sleep(2 * cfg.DedupWindow) // what B would repeat, the stream took long ago

	// B runs under the daemon's supervisor, as the Publisher service.
	rb, sup, notes := supervised(t, b, cfg)
	held := waitNote(notes, supervisor.Deactivate, "never read")
	st := rb.p.Status()
	if !held || sup.Operational(callsignPublisher) || st.State != StateHeld {
		t.Errorf("B's Publisher service was never reported not in operation with the reason (%v), or is in operation (%v), or in state %s",
			held, sup.Operational(callsignPublisher), st.State)
	}
	for _, want := range []string{"0-1-200", "never read", "between this journal's event", "-publish-accept-gap 0-1-200"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("the held publisher's reason lacks %q: %s", want, st.Error)
		}
	}
	if msgs := natstest.Messages(t, srv.URL(), "T"); len(msgs) != src.events(0, 200) || st.Published != 0 {
		t.Fatalf("B published while its journal could not be placed: the stream holds %d messages for %d transitions; B: %+v", len(msgs), src.events(0, 200), st)
	}

	// A returns, journals on and publishes past B's gap; B then finds the
	// stream's end in its journal and both go on.
	ra = start(t, a, cfg)
	src.feed(t, a, 200, 250, 4, true)
	waitStream(t, srv.URL(), "T", src.events(0, 250), ra)
	waitPlaced(t, rb, b.LastID())
	if !waitNote(notes, supervisor.Activate, "") {
		t.Errorf("B's Publisher service was never reported in operation again")
	}
	src.grow(50)
	src.feed(t, b, 300, 350, 8, true)
	src.feed(t, a, 250, 350, 12, true)
	waitStream(t, srv.URL(), "T", src.events(0, 350), rb)
	waitPlaced(t, ra, a.LastID())
	waitPlaced(t, rb, b.LastID())
	ra.stop()
	rb.stop()
	checkNames(t, natstest.Messages(t, srv.URL(), "T"), src.names(0, 350))

	// A gone for good: B, told to accept the gap, publishes its journal
	// after it; the stream lacks transactions 201..210, which only A held.
	c := openJournal(t)
	src.feed(t, c, 0, 200, 10, true)
	rc := start(t, c, Config{URL: srv.URL(), Stream: "T2", Subject: "t2", AckTimeout: time.Second, InFlight: 64, Logger: quiet})
	waitStream(t, srv.URL(), "T2", src.events(0, 200), rc)
	rc.stop()
	cfg2 := Config{URL: srv.URL(), Stream: "T2", Subject: "t2", AckTimeout: time.Second, InFlight: 64, Logger: quiet, AcceptGapAfter: "0-1-200"}
	rb = start(t, b, cfg2)
	want := append(src.names(0, 200), src.names(210, 350)...)
	waitStream(t, srv.URL(), "T2", len(want), rb)
	waitPlaced(t, rb, b.LastID())
	rb.stop()
	checkNames(t, natstest.Messages(t, srv.URL(), "T2"), want)
}

// callsignPublisher is the publisher's callsign in the daemon's Monitor.
const callsignPublisher = "Publisher"

// supervised runs j's publisher under a supervisor as the daemon does,
// until the test ends, and returns the supervisor's notifications.
func supervised(t *testing.T, j *journal.Journal, cfg Config) (*running, *supervisor.Supervisor, <-chan supervisor.Notification) {
	t.Helper()
	p, err := New(j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sup := supervisor.New(supervisor.Options{Interval: time.Second, Logger: quiet})
	notes := make(chan supervisor.Notification, 1024)
	sup.Subscribe(func(n supervisor.Notification) {
		if n.Callsign == callsignPublisher {
			select {
			case notes <- n:
			default: // a test that stopped reading loses the rest
			}
		}
	})
	sup.Add(callsignPublisher, p, supervisor.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); sup.Run(ctx) }()
	t.Cleanup(r.stop)
	return r, sup, notes
}

// waitNote waits up to 30 seconds for a notification of action whose
// reason holds reason.
func waitNote(notes <-chan supervisor.Notification, action supervisor.Action, reason string) bool {
	deadline := time.After(30 * time.Second)
	for {
		select {
		case n := <-notes:
			if n.Action == action && strings.Contains(n.Reason, reason) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// gap commits to j what a follower commits when it cannot resume: the
// open span closed with reason, a new one starting at transaction at's
// time, and the checkpoint at the replica's position, after at.
func gap(t *testing.T, j *journal.Journal, src *source, at int, reason string) {
	t.Helper()
	src.mu.Lock()
	start := time.Unix(src.txns[at].at, 0).UTC()
	src.mu.Unlock()
	err := j.Commit(&journal.Batch{
		NewSpan:    &journal.SpanStart{Start: start, GapReason: reason},
		Checkpoint: &journal.Checkpoint{Flavor: src.flavor, File: "bin.000002", Pos: 4, GTIDSet: src.executed(at)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkNames checks that the stream holds exactly the names want, in order.
func checkNames(t *testing.T, msgs []*jetstream.RawStreamMsg, want []string) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Errorf("the stream holds %d messages, want %d", len(msgs), len(want))
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		id := m.Header.Get(natsgo.MsgIdHdr)
		if seen[id] {
			t.Errorf("message %d (%s) is in the stream twice", m.Sequence, id)
		}
		seen[id] = true
		if i < len(want) && id != want[i] {
			t.Fatalf("message %d is %s, want %s", m.Sequence, id, want[i])
		}
	}
}
