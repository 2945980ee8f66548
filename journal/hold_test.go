package journal

import (
	"strings"
	"testing"
)

// TestAHoldOutlivesARestartAndOpensNoSpan: a hold on coverage is kept in
// the file (a restart is no re-synchronization), keeps its first cause,
// refuses any batch that would open a span while it lasts, and is lifted
// only by a release naming it. EndSpanAt takes back what the span vouched
// for past it.
func TestAHoldOutlivesARestartAndOpensNoSpan(t *testing.T) {
	j, path := openTemp(t)
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(200)}); err != nil {
		t.Fatal(err)
	}
	first, err := j.HoldCoverage(Hold{Since: sec(210), Reason: "replication filter: a"})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := j.HoldCoverage(Hold{Since: sec(220), Reason: "replication filter: b"}); err != nil || h != first {
		t.Fatalf("a second hold replaced the first: %+v, %v", h, err)
	}
	if err := j.Commit(&Batch{CoveredTo: sec(205), EndSpan: "replication filter: a", EndSpanAt: sec(150)}); err != nil {
		t.Fatal(err)
	}
	if s := j.Spans(sec(300)); len(s) != 1 || !s[0].End.Equal(sec(150)) {
		t.Fatalf("spans after EndSpanAt 150: %v", s)
	}
	err = j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(300)}})
	if err == nil || !strings.Contains(err.Error(), "coverage is held") {
		t.Fatalf("a span opened while coverage is held: %v", err)
	}
	if err := j.Commit(&Batch{Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000002", Pos: 4}}); err != nil {
		t.Fatalf("a held journal refuses what opens no span: %v", err)
	}

	j.Close()
	j, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if h, held := j.Held(); !held || h != first {
		t.Fatalf("after reopening: %+v held=%v, want %+v", h, held, first)
	}
	if ok, err := j.ReleaseHold(sec(220)); ok || err != nil {
		t.Fatalf("a release naming another hold lifted it: %v %v", ok, err)
	}
	if ok, err := j.ReleaseHold(first.Since); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	if _, held := j.Held(); held {
		t.Fatal("still held after the release")
	}
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(300)}}); err != nil {
		t.Fatalf("a span after the release: %v", err)
	}
	j.Close()
	if j, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, held := j.Held(); held {
		t.Fatal("the released hold came back after reopening")
	}
}
