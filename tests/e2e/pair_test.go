package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/nats"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPairOnTwoReplicasPublishesTheTruthOnce runs the active–active pair of
// docs/publishing.md: bridge A follows replica 1 and bridge B replica 2 of
// one primary the simulator writes to, both publishing to one stream whose
// duplicate window (1s) is shorter than the lag it is put through.
//
//   - Both live: each transition reaches the stream from whichever bridge
//     is first.
//   - Replica 2 lags: its SQL thread stops while the primary writes, then
//     applies only part of the backlog. Its bridge's copies are older than
//     the duplicate window, so the expected-last-sequence check refuses
//     them; it finds the stream ahead of its journal and stands by until
//     replication resumes in full.
//   - Bridge A is SIGKILLed mid-storm: B stores what A no longer publishes;
//     A restarts and rejoins.
//
// At the end the stream holds every transition the primary committed
// exactly once, in the primary's commit order, each message's payload the
// ground truth's.
func TestPairOnTwoReplicasPublishesTheTruthOnce(t *testing.T) {
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{Replicas: 2})
	db := tp.NewDB(t)
	sites := setupSites(t, db, 17000, 40)
	ctx := context.Background()
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	const stream, window = "PAIR", time.Second
	argsOf := func(r *testdb.Replica) []string {
		return []string{"-dsn", r.DSN(db.Name), "-journal", filepath.Join(t.TempDir(), "bridge.journal"),
			"-publish", srv.URL(), "-publish-stream", stream, "-publish-dedup-window", window.String()}
	}
	replica2 := tp.Replicas[1]
	argsA, argsB := argsOf(tp.Replicas[0]), argsOf(replica2)
	a, b := startBridge(t, argsA...), startBridge(t, argsB...)

	// Each storm's truth, in commit order.
	var storms [][]sim.Transition
	committed := func() int { return total(storms) }
	o := stormOptions
	next := func(transitions int, rate float64) sim.Options {
		o.Transitions, o.Rate, o.Seed = transitions, rate, o.Seed+1
		return o
	}
	run := func(transitions int, rate float64) {
		storms = append(storms, storm(t, db, sites, next(transitions, rate)))
	}

	// Both live.
	run(600, 600)

	// Replica 2 lags: the primary writes 400 transitions and then 600 more
	// (for longer than the duplicate window) while it applies nothing.
	if err := replica2.StopSQLThread(); err != nil {
		t.Fatal(err)
	}
	run(400, 800)
	partial, err := tp.PrimaryPos()
	if err != nil {
		t.Fatal(err)
	}
	run(600, 300)
	waitStreamHolds(t, srv.URL(), stream, committed())
	// It applies the first 400 and stops again: bridge B's journal ends
	// there, its copies are refused, and the stream is ahead of it.
	if err := replica2.ReplicateUntil(partial); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bridge B to stand by", time.Minute, func() bool {
		st, _ := publisherOf(b)
		return st.State == nats.StateStandby
	})
	if st, events := publisherOf(b); st.Pending == 0 || events == 0 {
		t.Errorf("bridge B stands by with %d events journaled and %d pending: it should hold the first part of the backlog, unpublished", events, st.Pending)
	}
	if err := replica2.StartReplication(); err != nil {
		t.Fatal(err)
	}
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, b)

	// Bridge A dies mid-storm; B carries on alone until A is back.
	wait := runStormInBackground(t, db, sites, next(1500, 500))
	waitFor(t, "bridge A to publish part of the storm", time.Minute, func() bool {
		info, err := natstest.StreamInfo(srv.URL(), stream)
		return err == nil && info.State.Msgs > uint64(committed()+100)
	})
	a.kill()
	stored, _ := publisherOf(b)
	waitFor(t, "bridge B to store what bridge A no longer publishes", time.Minute, func() bool {
		st, _ := publisherOf(b)
		return st.Published > stored.Published
	})
	a = startBridge(t, argsA...)
	storms = append(storms, wait())
	if err := tp.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	waitStreamHolds(t, srv.URL(), stream, committed())
	waitCaughtUp(t, a)
	waitCaughtUp(t, b)
	a.stop()
	b.stop()

	msgs := natstest.Messages(t, srv.URL(), stream)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge A's log ends:\n%s\nbridge B's log ends:\n%s", a.log.Tail(3000), b.log.Tail(3000))
		}
	})
	checkStreamIsTruth(t, msgs, storms)
	journals := map[string]int{}
	for _, m := range msgs {
		journals[m.Header.Get(nats.HeaderJournal)]++
	}
	if len(journals) != 2 {
		t.Errorf("messages by publishing journal: %v; both bridges should have stored some", journals)
	}
	t.Logf("%d messages, by publishing journal %v", len(msgs), journals)
}

// checkStreamIsTruth checks that msgs, the whole stream, are the storms'
// transitions exactly once in the primary's commit order: consecutive
// messages of one source transaction (Jetmon-Gtid) are one statement of the
// simulator, transactions come in the order of their GTIDs' sequence numbers
// and in the order the statements committed, and every message is named
// g/<gtid>/<place in the transaction>, on its blog's subject, with the
// transition's blog, statuses and created_at as payload.
func checkStreamIsTruth(t *testing.T, msgs []*jetstream.RawStreamMsg, storms [][]sim.Transition) {
	t.Helper()
	var want [][]sim.Transition // the statements, in commit order
	for _, s := range storms {
		for i, tr := range s {
			if i == 0 || tr.Stmt != s[i-1].Stmt {
				want = append(want, nil)
			}
			want[len(want)-1] = append(want[len(want)-1], tr)
		}
	}
	names := map[string]uint64{}
	var lastGTIDSeq uint64
	next := 0 // the next message
	for i, stmt := range want {
		if next >= len(msgs) {
			t.Fatalf("the stream ends after %d messages, %d statements of %d; the primary committed %d transitions", len(msgs), i, len(want), total(want))
		}
		gtid := msgs[next].Header.Get(nats.HeaderGTID)
		seq, err := gtidSeq(gtid)
		if err != nil {
			t.Fatalf("message %d: %v", msgs[next].Sequence, err)
		}
		if seq <= lastGTIDSeq {
			t.Fatalf("message %d starts transaction %s after one with sequence number %d: out of the primary's order", msgs[next].Sequence, gtid, lastGTIDSeq)
		}
		lastGTIDSeq = seq
		var got []sim.Transition
		for place := 0; next < len(msgs) && msgs[next].Header.Get(nats.HeaderGTID) == gtid; place, next = place+1, next+1 {
			m := msgs[next]
			name := m.Header.Get(natsgo.MsgIdHdr)
			if first, ok := names[name]; ok {
				t.Errorf("messages %d and %d are both %s", first, m.Sequence, name)
			}
			names[name] = m.Sequence
			if want := fmt.Sprintf("g/%s/%d", gtid, place); name != want {
				t.Errorf("message %d is named %s, want %s", m.Sequence, name, want)
			}
			tr, err := transitionOf(m)
			if err != nil {
				t.Fatalf("message %d: %v", m.Sequence, err)
			}
			got = append(got, tr)
		}
		// Within a statement, the truth lists the rows by blog; the
		// binlog by primary key.
		byBlog := func(x, y sim.Transition) int { return cmp.Compare(x.BlogID, y.BlogID) }
		slices.SortFunc(got, byBlog)
		slices.SortFunc(stmt, byBlog)
		if !slices.EqualFunc(got, stmt, sameTransition) {
			t.Fatalf("transaction %s (statement %d in commit order) in the stream: %v, the primary committed %v", gtid, i+1, got, stmt)
		}
	}
	if next != len(msgs) {
		t.Fatalf("the stream holds %d messages after the %d transitions the primary committed, from message %d (%s)",
			len(msgs)-next, total(want), msgs[next].Sequence, msgs[next].Header.Get(natsgo.MsgIdHdr))
	}
}

// transitionOf reads a message back as a transition: its payload, checked
// against its subject and headers.
func transitionOf(m *jetstream.RawStreamMsg) (sim.Transition, error) {
	var p struct {
		ID        uint64    `json:"id"`
		BlogID    uint64    `json:"blog_id"`
		Source    string    `json:"source"`
		OldStatus *uint8    `json:"old_status"`
		NewStatus *uint8    `json:"new_status"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(m.Data, &p); err != nil || p.OldStatus == nil || p.NewStatus == nil {
		return sim.Transition{}, fmt.Errorf("payload %s is not an event's JSON (%v)", m.Data, err)
	}
	tr := sim.Transition{BlogID: p.BlogID, Old: bridge.Status(*p.OldStatus), New: bridge.Status(*p.NewStatus), CreatedAt: p.CreatedAt.UTC()}
	switch {
	case m.Subject != "jetmon.transitions."+strconv.FormatUint(p.BlogID, 10):
		return tr, fmt.Errorf("blog %d's event is on subject %s", p.BlogID, m.Subject)
	case p.Source != tr.New.Source():
		return tr, fmt.Errorf("payload %s: source %q for new status %d", m.Data, p.Source, tr.New)
	case m.Header.Get(nats.HeaderEventID) != strconv.FormatUint(p.ID, 10):
		return tr, fmt.Errorf("payload id %d, header %s %s", p.ID, nats.HeaderEventID, m.Header.Get(nats.HeaderEventID))
	}
	return tr, nil
}

func sameTransition(x, y sim.Transition) bool {
	return x.BlogID == y.BlogID && x.Old == y.Old && x.New == y.New && x.CreatedAt.Equal(y.CreatedAt)
}

// total counts the transitions of a list of lists.
func total(stmts [][]sim.Transition) int {
	n := 0
	for _, s := range stmts {
		n += len(s)
	}
	return n
}

// gtidSeq is the sequence number of a MariaDB GTID domain-server-seq.
func gtidSeq(gtid string) (uint64, error) {
	parts := strings.Split(gtid, "-")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%s %q is not a MariaDB GTID", nats.HeaderGTID, gtid)
	}
	return strconv.ParseUint(parts[2], 10, 64)
}

// publisherState is the publisher's part of /healthz.
type publisherState struct {
	State     string
	Position  uint64
	Pending   uint64
	Published uint64
}

// publisherOf reads the publisher's state and the journal's event count
// from /healthz; the zero values when it does not answer.
func publisherOf(d *daemon) (publisherState, uint64) {
	var h struct {
		Journal   struct{ Events uint64 }
		Publisher *publisherState
	}
	_, body, err := authGet(d, "/healthz", "")
	if err != nil || json.Unmarshal(body, &h) != nil || h.Publisher == nil {
		return publisherState{}, 0
	}
	return *h.Publisher, h.Journal.Events
}

// waitCaughtUp waits until the bridge's publisher is publishing and the
// stream holds every event of its journal.
func waitCaughtUp(t *testing.T, d *daemon) {
	t.Helper()
	waitFor(t, "the publisher to catch up", time.Minute, func() bool {
		st, events := publisherOf(d)
		return st.State == nats.StatePublishing && st.Pending == 0 && st.Position == events && events > 0
	})
}

// waitStreamHolds waits until the stream holds n messages.
func waitStreamHolds(t *testing.T, url, stream string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("stream %s to hold %d messages", stream, n), time.Minute, func() bool {
		info, err := natstest.StreamInfo(url, stream)
		return err == nil && info.State.Msgs >= uint64(n)
	})
}
