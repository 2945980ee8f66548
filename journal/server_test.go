package journal

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestServerIdentitySame(t *testing.T) {
	replicaA := ServerIdentity{Addr: "10.0.0.2:3306", ServerID: 2}
	for _, c := range []struct {
		name string
		a, b ServerIdentity
		same bool
	}{
		{"identical", replicaA, replicaA, true},
		{"another server id", replicaA, ServerIdentity{Addr: "10.0.0.2:3306", ServerID: 3}, false},
		{"another address", replicaA, ServerIdentity{Addr: "10.0.0.3:3306", ServerID: 2}, false},
		{"another GTID domain", replicaA, ServerIdentity{Addr: "10.0.0.2:3306", ServerID: 2, GTIDDomain: 1}, false},
		{"one uuid, moved", ServerIdentity{Addr: "a:3306", ServerID: 2, UUID: "3E11FA47-71CA-11E1-9E33-C80AA9429562"},
			ServerIdentity{Addr: "b:3306", ServerID: 2, UUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"}, true},
		{"two uuids", ServerIdentity{Addr: "a:3306", ServerID: 2, UUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"},
			ServerIdentity{Addr: "a:3306", ServerID: 2, UUID: "4e11fa47-71ca-11e1-9e33-c80aa9429562"}, false},
		{"uuid on one side only", ServerIdentity{Addr: "a:3306", ServerID: 2, UUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"},
			ServerIdentity{Addr: "a:3306", ServerID: 2}, false},
	} {
		if got := c.a.Same(c.b); got != c.same {
			t.Errorf("%s: Same = %v, want %v", c.name, got, c.same)
		}
		if got := c.b.Same(c.a); got != c.same {
			t.Errorf("%s (reversed): Same = %v, want %v", c.name, got, c.same)
		}
	}
}

func TestSpanEncodingKeepsServerAndReadsOldSpans(t *testing.T) {
	for _, s := range []spanRecord{
		{Span: spanOf(sec(100), sec(200))},
		{Span: spanOf(sec(100), sec(200)), Server: "127.0.0.1:3307 server_id 2 gtid_domain 0"},
		{Span: spanOf(sec(100), sec(200)), Closed: true, Reason: "followed server changed", Server: "db:3306 server_id 9 gtid_domain 0"},
	} {
		got, err := decodeSpan(encodeSpan(s))
		if err != nil || got != s {
			t.Errorf("round trip of %+v: %+v, %v", s, got, err)
		}
	}
	// A span written before servers were recorded: end | closed | reason.
	old := append(append(u64(uint64(sec(200).UnixNano())), 1), "binlog purged"...)
	got, err := decodeSpan(u64(uint64(sec(100).UnixNano())), old)
	if err != nil || got.Reason != "binlog purged" || got.Server != "" || !got.Closed {
		t.Errorf("old span decoded as %+v, %v", got, err)
	}
	// A NUL in a reason (quoted from a server's error) cannot pose as the
	// separator.
	k, v := encodeSpan(spanRecord{Span: spanOf(sec(1), sec(2)), Reason: "bad\x00name", Server: "s"})
	if got, err := decodeSpan(k, v); err != nil || got.Reason != "badname" || got.Server != "s" {
		t.Errorf("reason with NUL: %+v, %v", got, err)
	}
	if _, err := decodeSpan(k, append(append(u64(uint64(sec(2).UnixNano())), 0), 'r', 0)); err == nil {
		t.Error("a separator without a server decoded")
	}
}

// TestOldCheckpointGetsServerOnNextCommit opens a journal whose checkpoint
// was written without a server (as every format-2 journal before this
// build) and checks it is accepted and takes the server at the next commit.
func TestOldCheckpointGetsServerOnNextCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(&Batch{NewSpan: &SpanStart{Start: sec(100)}, CoveredTo: sec(150)}); err != nil {
		t.Fatal(err)
	}
	j.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyCheckpoint, []byte(`{"flavor":"mariadb","file":"binlog.000002","pos":1234,"gtid_set":"0-1-42"}`))
	})
	j.Close()

	j, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("an old checkpoint is refused: %v", err)
	}
	defer j.Close()
	cp, ok := j.Checkpoint()
	if !ok || cp.Server != nil || cp.File != "binlog.000002" || cp.GTIDSet != "0-1-42" {
		t.Fatalf("old checkpoint read as %+v", cp)
	}
	if st, _ := j.Stats(); len(st.Spans) != 1 || st.Spans[0].Server != "" {
		t.Errorf("old span in stats: %+v", st.Spans)
	}
	id := ServerIdentity{Addr: "127.0.0.1:3307", ServerID: 2}
	cp.Server, cp.Pos = &id, 2000
	if err := j.Commit(&Batch{Checkpoint: &cp}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if j, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Checkpoint()
	if got.Server == nil || *got.Server != id || got.Pos != 2000 {
		t.Errorf("checkpoint after the commit: %+v", got)
	}
}

// TestServerSwitchSplitsSpans commits what the follower commits when it
// changes servers: by GTID, a span starting exactly where the previous one
// ended; without, a gap. Stats shows each span's server and the reasons,
// and verify accepts a checkpoint that holds a GTID set alone.
func TestServerSwitchSplitsSpans(t *testing.T) {
	j, path := openTemp(t)
	a := ServerIdentity{Addr: "127.0.0.1:1", ServerID: 2}
	b := ServerIdentity{Addr: "127.0.0.1:2", ServerID: 3}
	c := ServerIdentity{Addr: "127.0.0.1:3", ServerID: 9}
	commit := func(batch *Batch) {
		t.Helper()
		if err := j.Commit(batch); err != nil {
			t.Fatal(err)
		}
	}
	commit(&Batch{NewSpan: &SpanStart{Start: sec(100), Server: a.String()}, CoveredTo: sec(150),
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 400, GTIDSet: "0-1-10", Server: &a}})
	// By GTID: Start is a fallback only; the span continues at 150.
	commit(&Batch{NewSpan: &SpanStart{Start: sec(170), Contiguous: true, GapReason: "followed server changed; resumed by GTID", Server: b.String()},
		Checkpoint: &Checkpoint{Flavor: "mariadb", GTIDSet: "0-1-10", Server: &b}})
	commit(&Batch{CoveredTo: sec(190)})
	commit(&Batch{NewSpan: &SpanStart{Start: sec(300), GapReason: "followed server changed", Server: c.String()}, CoveredTo: sec(320),
		Checkpoint: &Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 900, GTIDSet: "0-9-3", Server: &c}})

	st, err := j.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := []SpanInfo{
		{Start: sec(100), End: sec(150), Server: a.String()},
		{Start: sec(150), End: sec(190), Server: b.String()},
		{Start: sec(300), End: sec(320), Open: true, Server: c.String()},
	}
	if len(st.Spans) != len(want) {
		t.Fatalf("spans %+v", st.Spans)
	}
	for i := range want {
		if st.Spans[i] != want[i] {
			t.Errorf("span %d: %+v, want %+v", i, st.Spans[i], want[i])
		}
	}
	if len(st.Gaps) != 2 || st.Gaps[0].Start != st.Gaps[0].End || st.Gaps[0].Reason != "followed server changed; resumed by GTID" ||
		st.Gaps[1].Reason != "followed server changed" || !st.Gaps[1].Start.Equal(sec(190)) {
		t.Errorf("gaps %+v", st.Gaps)
	}
	out, _ := json.Marshal(st.Spans[0])
	if !strings.Contains(string(out), `"server":"127.0.0.1:1 server_id 2 gtid_domain 0"`) {
		t.Errorf("span JSON %s", out)
	}

	// The GTID-only checkpoint in between is sound.
	commit(&Batch{Checkpoint: &Checkpoint{Flavor: "mariadb", GTIDSet: "0-9-3", Server: &c}})
	j.Close()
	rep, err := Verify(path)
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

// TestSpanThatCoveredNothingIsReplaced: a span that ends where it starts
// (closed before coverage advanced) shares its key with a span opened
// where it ends; the new span replaces it in the file and in memory, and
// the journal stays sound.
func TestSpanThatCoveredNothingIsReplaced(t *testing.T) {
	j, path := openTemp(t)
	for _, b := range []*Batch{
		{NewSpan: &SpanStart{Start: sec(100), Server: "a"}, CoveredTo: sec(150)},
		{NewSpan: &SpanStart{Start: sec(200), GapReason: "purged", Server: "b"}},
		{NewSpan: &SpanStart{Start: sec(300), Contiguous: true, GapReason: "switched", Server: "c"}, CoveredTo: sec(220)},
	} {
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	spans := j.Spans(time.Time{})
	if len(spans) != 2 || !spans[1].Start.Equal(sec(200)) || !spans[1].End.Equal(sec(220)) {
		t.Fatalf("spans in memory %+v", spans)
	}
	j.Close()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := j.Stats()
	j.Close()
	if len(st.Spans) != 2 || st.Spans[1].Server != "c" || !st.Spans[1].Open || st.Gaps[0].Reason != "purged" {
		t.Errorf("stored spans %+v gaps %+v", st.Spans, st.Gaps)
	}
	if rep, err := Verify(path); err != nil || len(rep.Problems) > 0 {
		t.Errorf("verify: %v %+v", err, rep)
	}
}
