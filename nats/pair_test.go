package nats

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	natsgo "github.com/nats-io/nats.go"
)

// TestPairPublishesEachTransitionOnce runs two bridges' publishers on one
// stream, their journals fed the same transactions (as two replicas of one
// primary would) in different batches, one journal starting later than the
// other. The stream holds each transition once, in the source's order:
// while the second lags far beyond the duplicate window, after the first
// stops, and while both publish at once.
func TestPairPublishesEachTransitionOnce(t *testing.T) {
	srv := natstest.Start(t)
	cfg := testConfig(srv.URL())
	cfg.DedupWindow = 200 * time.Millisecond
	a, b := openJournal(t), openJournal(t)
	src := newSource(6)
	src.grow(400)

	src.feed(t, a, 0, 200, 13, true)
	ra := start(t, a, cfg)
	waitStream(t, srv.URL(), "T", int(a.LastSeq()), ra)

	// The second bridge started later and lags: its journal ends before
	// the stream does, so it stands by.
	src.feed(t, b, 30, 100, 4, true)
	rb := start(t, b, cfg)
	waitState(t, rb, StateStandby)
	// Let the duplicate window pass: from now on only the expected last
	// sequence keeps the second bridge from storing a copy.
	time.Sleep(2 * cfg.DedupWindow)

	// The first bridge goes away; the second catches up past it and
	// publishes what only it has.
	ra.stop()
	firstRun := ra.p.Status()
	src.feed(t, b, 100, 250, 6, true)
	waitStream(t, srv.URL(), "T", src.events(0, 250), rb)

	// Both journal the rest, in their own batches, and publish at once.
	ra = start(t, a, cfg)
	done := make(chan struct{})
	go func() { defer close(done); src.feed(t, a, 200, 400, 3, true) }()
	src.feed(t, b, 250, 400, 11, true)
	<-done
	waitStream(t, srv.URL(), "T", src.events(0, 400), rb)
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
	if second := rb.p.Status(); firstRun.Published != uint64(src.events(0, 200)) || second.Published < uint64(src.events(200, 250)) {
		t.Errorf("the first bridge should have stored the first 200 transactions' %d events, the second at least the next 50's %d: first %+v, second %+v",
			src.events(0, 200), src.events(200, 250), firstRun, second)
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
	deadline := time.Now().Add(30 * time.Second)
	for st := rb.p.Status(); st.Position != b.LastSeq() || st.Pending != 0; st = rb.p.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never placed itself at its journal's end %d: %+v", b.LastSeq(), st)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
