package nats

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testConfig publishes to url with timeouts short enough for tests.
func testConfig(url string) Config {
	return Config{URL: url, Stream: "T", AckTimeout: time.Second, InFlight: 64, Logger: quiet}
}

func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "j"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// running is a publisher run as the supervisor runs it: again after each
// failure, until stopped.
type running struct {
	p      *Publisher
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, j *journal.Journal, cfg Config) *running {
	t.Helper()
	p, err := New(j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, p)
}

// run runs p as the supervisor would, until stopped.
func run(t *testing.T, p *Publisher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			if err := p.Run(ctx, func() {}); err != nil {
				t.Logf("publisher run failed (it is run again): %v", err)
				select {
				case <-time.After(200 * time.Millisecond): // the supervisor's back-off
				case <-ctx.Done():
				}
			}
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// source stands for a primary's history: transactions with GTIDs
// 0-1-1, 0-1-2, ..., each changing one to three blogs' statuses.
type source struct {
	// flavor is "mariadb" (GTIDs 0-1-N) or, with uuid, "mysql" (uuid:N).
	flavor, uuid string

	mu     sync.Mutex
	rng    *rand.Rand
	status map[uint64]bridge.Status
	txns   []txn
	at     int64
}

type txn struct {
	gtid   string
	at     int64 // its commit's time, Unix seconds
	events []bridge.Event
}

func newSource(seed uint64) *source {
	return &source{flavor: "mariadb", rng: rand.New(rand.NewPCG(seed, 1)), status: map[uint64]bridge.Status{}, at: time.Now().Unix() - 3600}
}

// newMySQLSource is a history of a MySQL primary whose server_uuid is uuid.
func newMySQLSource(seed uint64, uuid string) *source {
	s := newSource(seed)
	s.flavor, s.uuid = "mysql", uuid
	return s
}

// gtid names the history's n-th transaction (from 1).
func (s *source) gtid(n int) string {
	if s.flavor == "mysql" {
		return fmt.Sprintf("%s:%d", s.uuid, n)
	}
	return fmt.Sprintf("0-1-%d", n)
}

// executed is the GTID set of the history's first n transactions.
func (s *source) executed(n int) string {
	if s.flavor == "mysql" {
		return fmt.Sprintf("%s:1-%d", s.uuid, n)
	}
	return s.gtid(n)
}

// grow adds n transactions to the history.
func (s *source) grow(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.at += s.rng.Int64N(2)
		t := txn{gtid: s.gtid(len(s.txns) + 1), at: s.at}
		for range 1 + s.rng.IntN(3) {
			blog := 1 + s.rng.Uint64N(40)
			old := s.status[blog]
			if _, ok := s.status[blog]; !ok {
				old = bridge.StatusRunning
			}
			next := bridge.Status((int(old) + 1 + s.rng.IntN(2)) % 3)
			s.status[blog] = next
			// A transaction's timestamp is its start: sometimes earlier
			// than the one committed before it.
			t.events = append(t.events, bridge.Event{BlogID: blog, OldStatus: old, NewStatus: next, CreatedAt: time.Unix(s.at-s.rng.Int64N(3), 0).UTC()})
		}
		s.txns = append(s.txns, t)
	}
}

// feed commits the history's transactions from..to-1 to j in batches of
// up to batch transactions, as a follower would: each batch's coverage
// reaches its last transaction's time; withGTID records their GTIDs.
func (s *source) feed(t *testing.T, j *journal.Journal, from, to, batch int, withGTID bool) {
	t.Helper()
	s.mu.Lock()
	txns := s.txns[from:to]
	s.mu.Unlock()
	for len(txns) > 0 {
		n := min(batch, len(txns))
		b := &journal.Batch{Transactions: n, CoveredTo: time.Unix(txns[n-1].at, 0).UTC()}
		for _, tx := range txns[:n] {
			if withGTID {
				b.Txns = append(b.Txns, journal.SourceTxn{First: len(b.Events), Count: len(tx.events), GTID: tx.gtid})
			}
			b.Events = append(b.Events, tx.events...)
		}
		cp := &journal.Checkpoint{Flavor: s.flavor, File: "bin.000001", Pos: uint32(4 + from + n)}
		if withGTID {
			cp.GTIDSet = s.executed(from + n)
		}
		b.Checkpoint = cp
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		txns, from = txns[n:], from+n
	}
}

// storm grows the history and feeds j until stop is closed, then returns.
func (s *source) storm(t *testing.T, j *journal.Journal, stop <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			s.mu.Lock()
			from := len(s.txns)
			s.mu.Unlock()
			s.grow(1 + rand.IntN(20))
			s.mu.Lock()
			to := len(s.txns)
			s.mu.Unlock()
			s.feed(t, j, from, to, 7, true)
		}
	}()
	return func() { <-done }
}

// waitStream waits until the stream holds n messages.
func waitStream(t *testing.T, url, name string, n int, r *running) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if info, err := natstest.StreamInfo(url, name); err == nil && info.State.Msgs >= uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream never reached %d messages; publisher: %+v", n, r.p.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkStream checks that the stream holds every event of j exactly once,
// in journal order, as /events JSON, named as msgID names it.
func checkStream(t *testing.T, msgs []*jetstream.RawStreamMsg, j *journal.Journal, prefix string) {
	t.Helper()
	events, err := j.EventsAfter(0, int(j.LastID()))
	if err != nil {
		t.Fatal(err)
	}
	identity, _ := j.Identity()
	if len(msgs) != len(events) {
		t.Errorf("the stream holds %d messages, the journal %d events", len(msgs), len(events))
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		id := m.Header.Get(natsgo.MsgIdHdr)
		if seen[id] {
			t.Errorf("message %d (%s) is in the stream twice", m.Sequence, id)
		}
		seen[id] = true
		if i >= len(events) {
			continue
		}
		e := events[i]
		if want := msgID(e, identity); id != want {
			t.Errorf("message %d is named %s, want %s", m.Sequence, id, want)
		}
		if want := string(e.AppendJSON(nil)); string(m.Data) != want {
			t.Errorf("message %d carries %s, want %s", m.Sequence, m.Data, want)
		}
		if want := prefix + "." + strconv.FormatUint(e.BlogID, 10); m.Subject != want {
			t.Errorf("message %d is on %s, want %s", m.Sequence, m.Subject, want)
		}
	}
}
