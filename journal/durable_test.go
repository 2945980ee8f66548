package journal

import (
	"testing"
)

// TestCommitsReachTheDisk holds Commit to its promise that a committed
// batch survives a power cut: bbolt fsyncs each transaction unless NoSync
// is set, so NoSync must be off when the journal opens and when each commit
// returns (a crash after an unsynced commit would lose batches the follower
// already settled past, and exactly once with them).
func TestCommitsReachTheDisk(t *testing.T) {
	var syncOff []bool
	path := t.TempDir() + "/j"
	j, err := Open(path, Options{OnCommit: func(CommitStats) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.opts.OnCommit = func(CommitStats) { syncOff = append(syncOff, j.db.NoSync) }
	if j.db.NoSync {
		t.Fatal("the journal opened bbolt with NoSync: commits would not be fsynced")
	}
	for i := int64(1); i <= 3; i++ {
		b := &Batch{CoveredTo: sec(100 + i), Checkpoint: &Checkpoint{Flavor: "mariadb", File: "b.1", Pos: uint32(i)}}
		if i == 1 {
			b.NewSpan = &SpanStart{Start: sec(100)}
		}
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		if j.db.NoSync {
			t.Fatalf("commit %d returned with bbolt's NoSync set: it was not fsynced", i)
		}
	}
	if len(syncOff) != 3 {
		t.Fatalf("OnCommit ran %d times for 3 commits", len(syncOff))
	}
	for i, off := range syncOff {
		if off {
			t.Errorf("commit %d ran with bbolt's NoSync set: it was not fsynced", i+1)
		}
	}
}
