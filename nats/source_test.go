package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
)

// TestStreamOfAnotherSourceIsRefused: two Jetmons whose MariaDB primaries
// were left at the default server_id and GTID domain name their
// transactions alike (0-1-N). The stream records its source when the first
// bridge publishes; a bridge of the second Jetmon pointed at the same
// stream is refused with a sentence naming the stream and both sources,
// whether its journal holds the stream's first transition or only its
// last, and publishes nothing. A MySQL bridge of another primary (another
// server_uuid) is refused before it reads anything. A bridge of the same
// history is not.
func TestStreamOfAnotherSourceIsRefused(t *testing.T) {
	srv := natstest.Start(t)
	cfg := testConfig(srv.URL())
	first, second := newSource(11), newSource(12) // same GTIDs, other changes
	first.grow(100)
	second.grow(140)
	a := openJournal(t)
	first.feed(t, a, 0, 100, 9, true)
	ra := start(t, a, cfg)
	waitStream(t, srv.URL(), "T", first.events(0, 100), ra)
	ra.stop()
	info, err := natstest.StreamInfo(srv.URL(), "T")
	if err != nil {
		t.Fatal(err)
	}
	if want := "jetmon-bridge source: mariadb gtid_domain 0; first g/0-1-1/0 blog "; !strings.Contains(info.Config.Description, want) {
		t.Errorf("the stream's description %q does not record its source (%q...)", info.Config.Description, want)
	}

	refused := func(t *testing.T, p *Publisher, names ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := p.Run(ctx, func() {})
		if err == nil || !errors.Is(err, errForeignSource) {
			t.Fatalf("a bridge of another source: %v", err)
		}
		for _, want := range append([]string{"stream T ", "two Jetmons need two streams", "-publish-stream"}, names...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal lacks %q: %v", want, err)
			}
		}
		if st := p.Status(); st.Published != 0 || st.State != StateFailed {
			t.Errorf("the refused publisher: %+v", st)
		}
		checkNames(t, natstest.Messages(t, srv.URL(), "T"), first.names(0, 100))
	}

	t.Run("holds the first transition", func(t *testing.T) {
		b := openJournal(t)
		second.feed(t, b, 0, 140, 7, true)
		p, err := New(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, p, "mariadb gtid_domain 0; first g/0-1-1/0", "mariadb at GTID 0-1-140", "another change under the same name")
	})
	t.Run("holds the last transition", func(t *testing.T) {
		b := openJournal(t)
		second.feed(t, b, 90, 140, 7, true)
		p, err := New(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, p, "ends with message", "g/0-1-100/", "another change under the same name", "mariadb at GTID 0-1-140")
	})
	t.Run("another server_uuid", func(t *testing.T) {
		srv := natstest.Start(t)
		cfg := testConfig(srv.URL())
		one, other := newMySQLSource(13, "3e11fa47-71ca-11e1-9e33-c80aa9429562"), newMySQLSource(14, "5a2b9c1d-0000-11e1-9e33-c80aa9429562")
		one.grow(50)
		other.grow(60)
		a := openJournal(t)
		one.feed(t, a, 0, 50, 9, true)
		ra := start(t, a, cfg)
		waitStream(t, srv.URL(), "T", one.events(0, 50), ra)
		ra.stop()
		b := openJournal(t)
		other.feed(t, b, 0, 60, 7, true)
		p, err := New(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = p.Run(ctx, func() {})
		for _, want := range []string{"stream T ", "mysql server_uuid 3e11fa47-71ca-11e1-9e33-c80aa9429562", "mysql at GTID 5a2b9c1d-0000-11e1-9e33-c80aa9429562:1-60", "two Jetmons need two streams"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("a MySQL bridge of another primary: the refusal lacks %q: %v", want, err)
			}
		}
		checkNames(t, natstest.Messages(t, srv.URL(), "T"), one.names(0, 50))

		// Its partner, on the same history, continues the stream.
		c := openJournal(t)
		one.grow(10)
		one.feed(t, c, 20, 60, 4, true)
		rc := start(t, c, cfg)
		waitStream(t, srv.URL(), "T", one.events(0, 60), rc)
		rc.stop()
		checkNames(t, natstest.Messages(t, srv.URL(), "T"), one.names(0, 60))
	})
}
