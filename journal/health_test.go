package journal

import (
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
)

// TestHealthyKeepsAFailedChange checks that a commit which only advances
// coverage, and so may still fit on a full disk, does not hide the failure
// of a commit that carried the follower's changes.
func TestHealthyKeepsAFailedChange(t *testing.T) {
	j, _ := openTemp(t)
	cp := &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 400}
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, Checkpoint: cp, CoveredTo: sec(110)}); err != nil {
		t.Fatal(err)
	}
	// A batch that cannot be written (an event before 1970 stands in for a
	// full disk: both fail inside the bbolt transaction).
	bad := &Batch{Events: []bridge.Event{ev(1, 1, 0, -5)}, Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 900}}
	if err := j.Commit(bad); err == nil {
		t.Fatal("an event before 1970 was committed")
	}
	failure := j.CommitErr()
	if failure == nil {
		t.Fatal("CommitErr is nil after a failed commit")
	}
	if err := j.Commit(&Batch{CoveredTo: sec(120)}); err != nil {
		t.Fatal(err)
	}
	if err := j.CommitErr(); err != failure {
		t.Fatalf("after a coverage-only commit CommitErr is %v, want the earlier failure %v", err, failure)
	}
	if err := j.Commit(&Batch{Events: []bridge.Event{ev(1, 1, 0, 115)}, Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 900}}); err != nil {
		t.Fatal(err)
	}
	if err := j.CommitErr(); err != nil {
		t.Fatalf("after a commit of changes CommitErr is %v", err)
	}
}
