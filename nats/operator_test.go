package nats

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// operator connects to the server at url as an operator's nats CLI would,
// and opens the stream name.
func operator(t *testing.T, url, name string) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return js, s
}

// restoreWithin restores the stream into a new journal, failing the test
// when Restore takes longer than a minute: it must end with a journal or
// an error, never wait for a message the stream no longer holds.
func restoreWithin(t *testing.T, url, stream string) (RestoreResult, *journal.Journal, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(url)
	cfg.Stream = stream
	dst := filepath.Join(t.TempDir(), "restored.journal")
	res, err := Restore(ctx, cfg, dst)
	if ctx.Err() != nil {
		t.Fatalf("journal restore waited for a minute: %v", err)
	}
	if err != nil {
		return res, nil, err
	}
	j, err := journal.Open(dst, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return res, j, nil
}

// TestOperatorActions gives each thing an operator may do to the stream
// its outcome (docs/publishing.md, "What operators do to the stream"):
// the publisher puts back what the stream lost at its end, never repeats
// what it holds, and says what it cannot do; journal restore ends with a
// journal that vouches for nothing past a missing message, or with a
// sentence.
func TestOperatorActions(t *testing.T) {
	t.Run("last message deleted", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		cfg.DedupWindow = 300 * time.Millisecond
		j := openJournal(t)
		src := newSource(31)
		src.grow(60)
		src.feed(t, j, 0, 50, 7, true)
		r := start(t, j, cfg)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		_, s := operator(t, srv.URL(), "T")
		last := s.CachedInfo().State.LastSeq
		if err := s.DeleteMsg(context.Background(), last); err != nil {
			t.Fatal(err)
		}
		// A restore meanwhile ends with the messages the stream holds.
		res, got, err := restoreWithin(t, srv.URL(), "T")
		if err != nil || res.Events != j.LastID()-1 || got.LastID() != res.Events {
			t.Fatalf("restore after the last message was deleted: %+v, %v", res, err)
		}
		// The journal grows: the publisher first takes the deleted event
		// again (once the duplicate window has passed), then the new ones.
		src.feed(t, j, 50, 60, 3, true)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
		// Now a message is missing from the middle: a restore holds every
		// event, and vouches for nothing after the hole.
		res, got, err = restoreWithin(t, srv.URL(), "T")
		if err != nil || res.Events != j.LastID() || res.Checkpoint != nil || !strings.Contains(res.Missing, "messages ") {
			t.Fatalf("restore with a message deleted from the middle: %+v, %v", res, err)
		}
		for _, s := range got.Spans(time.Time{}) {
			if s.End.After(s.Start) {
				t.Errorf("the restored journal vouches for %s..%s, after a message it lacks", s.Start, s.End)
			}
		}
	})

	t.Run("subject purged", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		cfg.DedupWindow = 300 * time.Millisecond
		j := openJournal(t)
		src := newSource(32)
		src.grow(70)
		src.feed(t, j, 0, 60, 7, true)
		r := start(t, j, cfg)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		_, s := operator(t, srv.URL(), "T")
		events, _ := j.EventsAfter(0, int(j.LastID()))
		purged := events[len(events)-1].BlogID
		if err := s.Purge(context.Background(), jetstream.WithPurgeSubject(subject(DefaultSubject, purged))); err != nil {
			t.Fatal(err)
		}
		// The purged blog's events after the last message left are put
		// back; those before it are gone from the stream for good.
		var kept uint64
		for _, e := range events {
			if e.BlogID != purged {
				kept = e.ID
			}
		}
		src.feed(t, j, 60, 70, 3, true)
		var want []string
		identity, _ := j.Identity()
		all, _ := j.EventsAfter(0, int(j.LastID()))
		for _, e := range all {
			if e.ID > kept || e.BlogID != purged {
				want = append(want, msgID(e, identity))
			}
		}
		waitStream(t, srv.URL(), "T", len(want), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkNames(t, natstest.Messages(t, srv.URL(), "T"), want)
		if res, _, err := restoreWithin(t, srv.URL(), "T"); err != nil || res.Events != uint64(len(want)) || res.Missing == "" {
			t.Errorf("restore after a subject purge: %+v, %v", res, err)
		}
	})

	t.Run("stream purged", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		cfg.DedupWindow = 300 * time.Millisecond
		j := openJournal(t)
		src := newSource(33)
		src.grow(60)
		src.feed(t, j, 0, 50, 7, true)
		r := start(t, j, cfg)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		_, s := operator(t, srv.URL(), "T")
		if err := s.Purge(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := restoreWithin(t, srv.URL(), "T"); err == nil || !strings.Contains(err.Error(), "holds no messages") {
			t.Errorf("restore of a purged stream: %v", err)
		}
		// The whole journal is published again, once.
		src.feed(t, j, 50, 60, 3, true)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
	})

	t.Run("stream deleted and recreated", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		j := openJournal(t)
		src := newSource(34)
		src.grow(60)
		src.feed(t, j, 0, 50, 7, true)
		r := start(t, j, cfg)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		js, _ := operator(t, srv.URL(), "T")
		if err := js.DeleteStream(context.Background(), "T"); err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{DefaultSubject + ".>"}, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
		src.feed(t, j, 50, 60, 3, true)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
		info, _ := natstest.StreamInfo(srv.URL(), "T")
		if !strings.Contains(info.Config.Description, sourcePrefix+"mariadb gtid_domain 0; first g/0-1-1/0") {
			t.Errorf("the recreated stream does not record its source: %q", info.Config.Description)
		}
	})

	t.Run("duplicate window changed", func(t *testing.T) {
		// The window the stream has now decides: shortened from a minute,
		// the deleted last message's event is taken again within seconds.
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		cfg.DedupWindow = time.Minute
		j := openJournal(t)
		src := newSource(35)
		src.grow(60)
		src.feed(t, j, 0, 50, 7, true)
		r := start(t, j, cfg)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		js, s := operator(t, srv.URL(), "T")
		if err := s.DeleteMsg(context.Background(), s.CachedInfo().State.LastSeq); err != nil {
			t.Fatal(err)
		}
		src.feed(t, j, 50, 55, 3, true)
		waitState(t, r, StateHeld)
		if st := r.p.Status(); !strings.Contains(st.Error, "within its duplicate window of 1m0s") {
			t.Errorf("the held publisher's reason: %s", st.Error)
		}
		c := s.CachedInfo().Config
		c.Duplicates = 300 * time.Millisecond
		if _, err := js.UpdateStream(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		src.feed(t, j, 55, 60, 3, true)
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
	})

	t.Run("limits discard old messages", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		nc, _ := natsgo.Connect(srv.URL())
		defer nc.Close()
		ops, _ := jetstream.New(nc)
		if _, err := ops.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{DefaultSubject + ".>"}, MaxMsgs: 40, Discard: jetstream.DiscardOld}); err != nil {
			t.Fatal(err)
		}
		j := openJournal(t)
		src := newSource(36)
		src.grow(60)
		src.feed(t, j, 0, 60, 7, true)
		r := start(t, j, cfg)
		waitPlaced(t, r, j.LastID())
		r.stop()
		msgs := natstest.Messages(t, srv.URL(), "T")
		identity, _ := j.Identity()
		all, _ := j.EventsAfter(0, int(j.LastID()))
		var want []string
		for _, e := range all[len(all)-40:] {
			want = append(want, msgID(e, identity))
		}
		checkNames(t, msgs, want)
		res, got, err := restoreWithin(t, srv.URL(), "T")
		if err != nil || res.Events != 40 || res.Checkpoint != nil || !strings.HasPrefix(res.Missing, "messages 1 to ") || res.Identity == identity {
			t.Fatalf("restore of a stream whose oldest messages were discarded: %+v, %v", res, err)
		}
		if spans := got.Spans(time.Time{}); len(spans) != 0 {
			t.Errorf("the restored journal vouches for %+v although the stream lost its oldest messages", spans)
		}
	})

	t.Run("max age empties the stream", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		nc, _ := natsgo.Connect(srv.URL())
		defer nc.Close()
		ops, _ := jetstream.New(nc)
		if _, err := ops.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{DefaultSubject + ".>"}, MaxAge: time.Second, Duplicates: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		j := openJournal(t)
		src := newSource(37)
		src.grow(60)
		src.feed(t, j, 0, 30, 7, true)
		r := start(t, j, cfg)
		waitPlaced(t, r, j.LastID())
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if info, err := natstest.StreamInfo(srv.URL(), "T"); err == nil && info.State.Msgs == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the stream never aged its messages out")
			}
		}
		src.feed(t, j, 30, 40, 3, true)
		waitState(t, r, StateHeld)
		st := r.p.Status()
		for _, want := range []string{"discarded every message", "max age is 1s", "nats stream edit T --max-age 0", "nats stream purge T"} {
			if !strings.Contains(st.Error, want) {
				t.Errorf("the held publisher's reason lacks %q: %s", want, st.Error)
			}
		}
		if info, _ := natstest.StreamInfo(srv.URL(), "T"); info.State.Msgs != 0 {
			t.Fatalf("the publisher published into a stream it could not place: %+v", info.State)
		}
		// The operator does as told: the whole journal is published again.
		_, s := operator(t, srv.URL(), "T")
		c := s.CachedInfo().Config
		c.MaxAge = 0
		if _, err := ops.UpdateStream(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitStream(t, srv.URL(), "T", int(j.LastID()), r)
		waitPlaced(t, r, j.LastID())
		r.stop()
		checkStream(t, natstest.Messages(t, srv.URL(), "T"), j, DefaultSubject)
	})
}
