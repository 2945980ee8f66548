package nats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMessageOverMaxPayload: a server whose max_payload is smaller than
// an event's message (here a commit whose GTID set spans many domains).
// The publisher fails with a sentence naming the event, the sizes and the
// fix, publishes nothing after it and skips nothing: once the server takes
// larger messages, the stream holds every event once, in order.
func TestMessageOverMaxPayload(t *testing.T) {
	srv := natstest.StartWith(t, "max_payload: 2048")
	j := openJournal(t)
	src := newSource(41)
	src.grow(40)
	src.feed(t, j, 0, 20, 5, true)
	// The replica's GTID position then spans 200 domains: the next
	// commit's events carry it as their base set.
	var domains []string
	for d := range 200 {
		domains = append(domains, fmt.Sprintf("%d-1-%d", d, 1000+d))
	}
	domains[0] = src.executed(20)
	if err := j.Commit(&journal.Batch{Checkpoint: &journal.Checkpoint{Flavor: "mariadb", File: "bin.000001", Pos: 500, GTIDSet: strings.Join(domains, ",")}}); err != nil {
		t.Fatal(err)
	}
	big := j.LastID() + 1
	src.feed(t, j, 20, 40, 5, true)
	r := start(t, j, testConfig(srv.URL()))
	waitPublished(t, r, big-1)
	deadline := time.Now().Add(30 * time.Second)
	for st := r.p.Status(); !strings.Contains(st.Error, "max_payload"); st = r.p.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("the publisher never reported the oversized message: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := r.p.Status()
	for _, want := range []string{fmt.Sprintf("event %d makes a message of about", big), "max_payload of 2048", "raise max_payload", "skips nothing"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("the publisher's error lacks %q: %s", want, st.Error)
		}
	}
	if info, _ := natstest.StreamInfo(srv.URL(), "T"); info.State.Msgs != big-1 {
		t.Errorf("the stream holds %d messages; the publisher must stop before event %d", info.State.Msgs, big)
	}
	srv.Kill()
	srv.Reconfigure("max_payload: 65536")
	srv.Restart()
	waitStream(t, srv.URL(), "T", int(j.LastID()), r)
	waitPlaced(t, r, j.LastID())
	r.stop()
	checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
}

// TestFullStreamRefusesWithLimits: a stream at its limits with discard new
// refuses the next message. The publisher fails with a sentence naming the
// event, the limits and the fix, and skips nothing: once the limit is
// raised, the stream holds every event once, in order.
func TestFullStreamRefusesWithLimits(t *testing.T) {
	for _, limit := range []string{"messages", "bytes"} {
		t.Run(limit, func(t *testing.T) {
			srv := natstest.Start(t)
			nc, err := natsgo.Connect(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ops, _ := jetstream.New(nc)
			sc := jetstream.StreamConfig{Name: "T", Subjects: []string{DefaultSubject + ".>"}, Discard: jetstream.DiscardNew}
			if limit == "messages" {
				sc.MaxMsgs = 30
			} else {
				sc.MaxBytes = 30 * 800
			}
			s, err := ops.CreateStream(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			j := openJournal(t)
			src := newSource(42)
			src.grow(40)
			src.feed(t, j, 0, 40, 5, true)
			r := start(t, j, testConfig(srv.URL()))
			deadline := time.Now().Add(30 * time.Second)
			for st := r.p.Status(); !strings.Contains(st.Error, "refused event"); st = r.p.Status() {
				if time.Now().After(deadline) {
					t.Fatalf("the publisher never reported the full stream: %+v", st)
				}
				time.Sleep(20 * time.Millisecond)
			}
			info, _ := natstest.StreamInfo(srv.URL(), "T")
			st := r.p.Status()
			for _, want := range []string{fmt.Sprintf("refused event %d: maximum %s exceeded", info.State.Msgs+1, limit), "discard new", "nats stream edit T", "skipping nothing"} {
				if !strings.Contains(st.Error, want) {
					t.Errorf("the publisher's error lacks %q: %s", want, st.Error)
				}
			}
			checkNames(t, natstest.Messages(t, srv.URL(), "T"), src.names(0, 40)[:info.State.Msgs])
			c := s.CachedInfo().Config
			c.MaxMsgs, c.MaxBytes = -1, -1
			if _, err := ops.UpdateStream(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			waitStream(t, srv.URL(), "T", int(j.LastID()), r)
			waitPlaced(t, r, j.LastID())
			r.stop()
			checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
		})
	}
}
