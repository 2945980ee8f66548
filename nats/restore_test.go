package nats

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/natstest"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestRestoreRebuildsTheJournal publishes a journal with a coverage gap,
// rebuilds a journal from the stream and compares the two.
func TestRestoreRebuildsTheJournal(t *testing.T) {
	srv := natstest.Start(t)
	j := openJournal(t)
	src := newSource(7)
	src.grow(100)
	first := time.Unix(src.txns[0].events[0].CreatedAt.Unix()-60, 0).UTC()
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: first}}); err != nil {
		t.Fatal(err)
	}
	src.feed(t, j, 0, 100, 8, true)
	// The follower lost its place: coverage starts again an hour later.
	src.at += 3600
	gap := time.Unix(src.at-30, 0).UTC()
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: gap, GapReason: "binlog purged"}}); err != nil {
		t.Fatal(err)
	}
	src.grow(150)
	src.feed(t, j, 100, 250, 11, true)

	r := start(t, j, testConfig(srv.URL()))
	waitStream(t, srv.URL(), "T", int(j.LastSeq()), r)
	r.stop()

	dst := filepath.Join(t.TempDir(), "restored.journal")
	res, err := Restore(context.Background(), testConfig(srv.URL()), dst)
	if err != nil {
		t.Fatal(err)
	}
	got, err := journal.Open(dst, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()

	want, _ := j.EventsAfter(0, int(j.LastSeq()))
	have, err := got.EventsAfter(0, int(j.LastSeq())+1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != j.LastSeq() || len(have) != len(want) {
		t.Fatalf("restored %d events (%d read back), the journal has %d", res.Events, len(have), len(want))
	}
	for i := range want {
		if have[i].Event != want[i].Event || have[i].GTID != want[i].GTID || have[i].Ordinal != want[i].Ordinal {
			t.Errorf("event %d: restored %+v, want %+v", i+1, have[i], want[i])
		}
	}
	if id, _ := j.Identity(); res.Identity != id {
		t.Errorf("restored identity %s, want the publishing journal's %s", res.Identity, id)
	}

	// Coverage: the two spans, the first closed at the gap, the second
	// reaching the last event.
	spans := got.Spans(time.Time{})
	last := want[len(want)-1].CreatedAt
	for _, e := range want {
		if e.CreatedAt.After(last) {
			last = e.CreatedAt
		}
	}
	if len(spans) != 2 || !spans[0].Start.Equal(first) || !spans[1].Start.Equal(gap) || !spans[1].End.Equal(last) || spans[0].End.After(gap) {
		t.Errorf("restored spans %+v; want %s.. and %s..%s", spans, first, gap, last)
	}

	// The checkpoint names the last transaction: the follower resumes
	// right after it.
	cp, ok := got.Checkpoint()
	if !ok || res.Checkpoint == nil || cp.Flavor != "mariadb" {
		t.Fatalf("restored checkpoint %+v (ok %v)", cp, ok)
	}
	set, err := mysql.ParseGTIDSet("mariadb", cp.GTIDSet)
	if err != nil {
		t.Fatal(err)
	}
	lastTxn, _ := mysql.ParseGTIDSet("mariadb", src.txns[249].gtid)
	if !set.Contain(lastTxn) || strings.Contains(cp.GTIDSet, ",") {
		t.Errorf("restored checkpoint %s does not end at %s", cp.GTIDSet, src.txns[249].gtid)
	}

	// A second restore never overwrites.
	if _, err := Restore(context.Background(), testConfig(srv.URL()), dst); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("restore over an existing file: %v", err)
	}
}
