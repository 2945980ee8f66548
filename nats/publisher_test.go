package nats

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/internal/netstall"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPublishesEveryEventOnceInOrder publishes a journal that grows while
// it is published, some of it without GTIDs, stops and starts the
// publisher, and finds each event once, in order.
func TestPublishesEveryEventOnceInOrder(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(1)
	src.grow(300)
	src.feed(t, j, 0, 100, 30, false) // a journal from before GTIDs
	src.feed(t, j, 100, 200, 9, true)
	r := start(t, j, testConfig(srv.URL()))
	src.feed(t, j, 200, 300, 1, true)
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()
	if st := r.p.Status(); st.Pending != 0 || st.Position != j.LastID() || st.Published != j.LastID() {
		t.Errorf("status after publishing everything: %+v", st)
	}

	before := j.LastID()
	src.grow(50)
	src.feed(t, j, 300, 350, 5, true)
	// A publisher stopped within a transaction: the stream ends with the
	// first event of one that has more, and the restart must go on with
	// the transaction's next event.
	before += publishIntoATransaction(t, srv.URL(), j, before)
	r = start(t, j, testConfig(srv.URL()))
	// Waiting for the publisher, not for the stream: a publisher that
	// skipped events reaches the journal's end with the stream short.
	deadline := time.Now().Add(60 * time.Second)
	for r.p.Status().Position != j.LastID() {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never reached the journal's end: %+v", r.p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing more arrives: the publisher waits for the journal.
	waitState(t, r, StatePublishing)
	r.stop()
	if st := r.p.Status(); st.Published != j.LastID()-before || st.Duplicates != 0 {
		t.Errorf("after a restart the publisher sent %d messages (%d duplicates), want the %d events the stream lacked", st.Published, st.Duplicates, j.LastID()-before)
	}
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
}

func waitState(t *testing.T, r *running, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.p.Status().State != state {
		if time.Now().After(deadline) {
			t.Fatalf("publisher never reached state %s: %+v", state, r.p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerKilledAndRestarted kills nats-server (SIGKILL) twice while the
// journal grows and the publisher publishes, restarting it on its store.
func TestServerKilledAndRestarted(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(2)
	stop := make(chan struct{})
	wait := src.storm(t, j, stop)
	r := start(t, j, testConfig(srv.URL()))
	for range 2 {
		waitPublished(t, r, j.LastID()/2+1)
		srv.Kill()
		mark := j.LastID()
		for j.LastID() < mark+50 { // the journal goes on without NATS
			time.Sleep(10 * time.Millisecond)
		}
		srv.Restart()
	}
	close(stop)
	wait()
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
	if st := r.p.Status(); st.Errors == 0 || st.Error == "" {
		t.Errorf("the publisher never reported the outage: %+v", st)
	}
}

// waitPublished waits until the publisher has reached journal event id.
func waitPublished(t *testing.T, r *running, id uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.p.Status().Position < id {
		if time.Now().After(deadline) {
			t.Fatalf("publisher never reached event %d: %+v", id, r.p.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNetworkCut cuts the network between publisher and server (nothing
// passes, nothing is refused) for longer than the client's buffers and
// timeouts hold out, while the journal keeps growing.
func TestNetworkCut(t *testing.T) {
	srv := natstest.Start(t)
	proxy := netstall.NewProxy(t, srv.Addr())
	j := openJournal(t)
	src := newSource(3)
	stop := make(chan struct{})
	wait := src.storm(t, j, stop)
	r := start(t, j, testConfig("nats://"+proxy.Addr()))
	waitPublished(t, r, 200)
	proxy.Cut()
	errorsBefore := r.p.Status().Errors
	// Held until the publisher has given up on the connection, and more:
	// a publish window's worth of events is written into the void.
	deadline := time.Now().Add(30 * time.Second)
	for r.p.Status().Errors < errorsBefore+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never noticed the cut: %+v", r.p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	proxy.Heal()
	close(stop)
	wait()
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	r.stop()
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
}

// TestClusterNodeKilled publishes to an R3 stream on a three-node cluster
// and kills the stream's leader mid-run.
func TestClusterNodeKilled(t *testing.T) {
	nodes := natstest.StartCluster(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.URL())
	}
	cfg := testConfig(strings.Join(urls, ","))
	cfg.Replicas = 3
	cfg.AckTimeout = 2 * time.Second
	j := openJournal(t)
	src := newSource(4)
	stop := make(chan struct{})
	wait := src.storm(t, j, stop)
	r := start(t, j, cfg)
	waitPublished(t, r, 300)
	leader := streamLeader(t, urls[0], "T")
	var survivor string
	for _, n := range nodes {
		if n.Name == leader {
			n.Kill()
		} else {
			survivor = n.URL()
		}
	}
	mark := r.p.Status().Position
	waitPublished(t, r, mark+300)
	close(stop)
	wait()
	waitStream(t, survivor, "T", int(j.LastID()), r)
	r.stop()
	checkStream(t, natstest.Messages(t, survivor, "T"), j, DefaultSubject)
}

// streamLeader names the cluster node leading the stream.
func streamLeader(t *testing.T, url, name string) string {
	t.Helper()
	info, err := natstest.StreamInfo(url, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s is not replicated on three nodes: %+v", name, info.Cluster)
	}
	return info.Cluster.Leader
}

// TestForeignJournalRefused: without GTIDs two journals cannot share a
// stream; the second publisher says so and publishes nothing.
func TestForeignJournalRefused(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openJournal(t), openJournal(t)
	src := newSource(5)
	src.grow(20)
	src.feed(t, a, 0, 20, 5, false)
	src.feed(t, b, 0, 20, 5, false)
	ra := start(t, a, testConfig(srv.URL()))
	waitStream(t, srv.URL(), "T", int(a.LastID()), ra)
	ra.stop()
	p, err := New(b, testConfig(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background(), func() {})
	if err == nil || !strings.Contains(err.Error(), "without GTIDs two bridges cannot share a stream") {
		t.Fatalf("second journal's publisher: %v", err)
	}
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), a, DefaultSubject)
}

// publishIntoATransaction publishes the journal's events after event
// after as the publisher names them, up to and including the first event
// of the first transaction with more than one, and returns how many it
// published.
func publishIntoATransaction(t *testing.T, url string, j *journal.Journal, after uint64) uint64 {
	t.Helper()
	events, err := j.EventsAfter(after, int(j.LastID()-after))
	if err != nil {
		t.Fatal(err)
	}
	identity, _ := j.Identity()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, e := range events {
		m := natsgo.NewMsg(subject(DefaultSubject, e.BlogID))
		m.Data = e.AppendJSON(nil)
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID(e, identity))); err != nil {
			t.Fatal(err)
		}
		if i+1 < len(events) && e.GTID != "" && events[i+1].GTID == e.GTID {
			return uint64(i + 1)
		}
	}
	t.Fatal("the journal's new events hold no transaction of more than one event")
	return 0
}
