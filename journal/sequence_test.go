package journal

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// TestEventsAfterFollowsIDOrder commits events whose created_at runs
// against their ids (a long transaction commits after a short one that
// began later) and reads them back in id order, with their transactions.
func TestEventsAfterFollowsIDOrder(t *testing.T) {
	j, _ := openTemp(t)
	commits := []*Batch{
		{Events: []bridge.Event{ev(1, 1, 0, 200), ev(2, 1, 0, 150), ev(3, 1, 0, 150)},
			Txns:       []SourceTxn{{First: 0, Count: 1, GTID: "0-1-7"}, {First: 1, Count: 2, GTID: "0-1-8"}},
			Checkpoint: &Checkpoint{Flavor: "mariadb", GTIDSet: "0-1-8"}},
		// No GTID for the first event of this one; a new origin for the next.
		{Events: []bridge.Event{ev(1, 0, 1, 120), ev(4, 1, 0, 300), ev(5, 1, 0, 90)},
			Txns:       []SourceTxn{{First: 1, Count: 1, GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"}, {First: 2, Count: 1, GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:24"}},
			Checkpoint: &Checkpoint{Flavor: "mariadb", GTIDSet: "0-1-10"}},
		{Events: []bridge.Event{ev(6, 1, 0, 400)}}, // no sources at all
	}
	for _, b := range commits {
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	want := []SourcedEvent{
		{Event: ev(1, 1, 0, 200), GTID: "0-1-7"},
		{Event: ev(2, 1, 0, 150), GTID: "0-1-8"},
		{Event: ev(3, 1, 0, 150), GTID: "0-1-8", Ordinal: 1},
		{Event: ev(1, 0, 1, 120), BaseGTIDSet: "0-1-8"},
		{Event: ev(4, 1, 0, 300), GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23", BaseGTIDSet: "0-1-8"},
		{Event: ev(5, 1, 0, 90), GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:24", BaseGTIDSet: "0-1-8"},
		{Event: ev(6, 1, 0, 400), BaseGTIDSet: "0-1-10"},
	}
	for i := range want {
		want[i].ID = uint64(i + 1)
	}
	for after := 0; after <= len(want); after++ {
		for limit := 1; limit <= len(want)+1; limit++ {
			got, err := j.EventsAfter(uint64(after), limit)
			if err != nil {
				t.Fatal(err)
			}
			w := want[after:min(after+limit, len(want))]
			if len(got) != len(w) {
				t.Fatalf("after %d limit %d: %d events, want %d", after, limit, len(got), len(w))
			}
			for i := range w {
				if got[i] != w[i] {
					t.Errorf("after %d limit %d: event %d is %+v, want %+v", after, limit, i, got[i], w[i])
				}
			}
		}
	}
	for gtid, wantFirst := range map[string]uint64{"0-1-7": 1, "0-1-8": 2, "3e11fa47-71ca-11e1-9e33-c80aa9429562:24": 6} {
		first, _, ok, err := j.FindGTID(gtid)
		if err != nil || !ok || first != wantFirst {
			t.Errorf("FindGTID(%s) = %d, %v, %v; want %d", gtid, first, ok, err, wantFirst)
		}
	}
	if _, _, ok, err := j.FindGTID("0-1-9"); ok || err != nil {
		t.Errorf("FindGTID of a transaction without events: ok %v, err %v", ok, err)
	}
}

// TestEventsAfterWithoutSources reads a journal whose events have no
// sources records (written before the bucket existed): a scan from the
// start still finds them in id order.
func TestEventsAfterWithoutSources(t *testing.T) {
	j, _ := openTemp(t)
	for _, b := range []*Batch{
		{Events: []bridge.Event{ev(1, 1, 0, 200), ev(2, 1, 0, 100)}},
		{Events: []bridge.Event{ev(3, 1, 0, 50)}},
	} {
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketSources) }); err != nil {
		t.Fatal(err)
	}
	got, err := j.EventsAfter(1, 10)
	if err != nil || len(got) != 2 || got[0].ID != 2 || got[1].ID != 3 || got[1].BlogID != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestIdentityIsKeptAndAdoptedOnce(t *testing.T) {
	j, path := openTemp(t)
	id, err := j.Identity()
	if err != nil || len(id) != 32 {
		t.Fatalf("identity %q, %v", id, err)
	}
	if again, _ := j.Identity(); again != id {
		t.Errorf("identity changed from %s to %s", id, again)
	}
	if err := j.AdoptIdentity("other"); err == nil {
		t.Error("adopting an identity over a kept one succeeded")
	}
	j.Close()
	j2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if got, _ := j2.Identity(); got != id {
		t.Errorf("reopened identity %s, want %s", got, id)
	}
}

func FuzzDecodeSource(f *testing.F) {
	j, err := Open(filepath.Join(f.TempDir(), "j"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer j.Close()
	b := &Batch{Events: []bridge.Event{ev(1, 1, 0, 200), ev(2, 1, 0, 100)},
		Txns: []SourceTxn{{First: 0, Count: 1, GTID: "0-1-7"}, {First: 1, Count: 1, GTID: "0-1-8"}}}
	if err := j.Commit(b); err != nil {
		f.Fatal(err)
	}
	j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
			f.Add(bytes.Clone(k), bytes.Clone(v))
			return nil
		})
	})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		r, err := decodeSource(k, v)
		if err != nil {
			return
		}
		if r.count == 0 || r.first == 0 {
			t.Fatalf("decoded an impossible record %+v", r)
		}
		for _, tx := range r.txns {
			if tx.first < r.first || tx.first+tx.count > r.first+r.count || tx.gtid == "" {
				t.Fatalf("transaction %+v outside record %+v", tx, r)
			}
		}
	})
}

// readInBatches reads the journal's events after after the way the
// publisher does, limit at a time, each call continuing after the last.
func readInBatches(t *testing.T, j *Journal, after uint64, limit int) []SourcedEvent {
	t.Helper()
	var all []SourcedEvent
	for {
		got, err := j.EventsAfter(after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		after = got[len(got)-1].ID
	}
}

// largeCommit returns a commit of n events, a transaction each, whose
// created_at rises with their order (as in a catch-up) a hundred to a
// second.
func largeCommit(n int) *Batch {
	b := &Batch{Checkpoint: &Checkpoint{Flavor: "mariadb", GTIDSet: fmt.Sprintf("0-1-%d", n)}}
	for i := range n {
		b.Events = append(b.Events, ev(uint64(i%997+1), 1, 0, int64(1000+i/100)))
		b.Txns = append(b.Txns, SourceTxn{First: i, Count: 1, GTID: fmt.Sprintf("0-1-%d", i+1)})
	}
	return b
}

// TestEventsAfterReadsALargeCommitInLinearCost reads one large commit an
// event at a time (the publisher's worst case) and counts what
// EventsAfter decodes: events of the events bucket and transactions of the
// sources record. Each call used to start from the commit's first event
// and first transaction, so the count grew with the square of the commit's
// size; continuing where the previous call stopped, it grows with its size.
func TestEventsAfterReadsALargeCommitInLinearCost(t *testing.T) {
	reads := func(n, limit int) uint64 {
		j, _ := openTemp(t)
		if err := j.Commit(&Batch{Events: []bridge.Event{ev(1, 1, 0, 999)}}); err != nil {
			t.Fatal(err) // an earlier commit, so the large one's ids start at 2
		}
		if err := j.Commit(largeCommit(n)); err != nil {
			t.Fatal(err)
		}
		before := j.eventsAfterReads.Load()
		got := readInBatches(t, j, 1, limit)
		if len(got) != n {
			t.Fatalf("read %d events of the commit's %d", len(got), n)
		}
		for i, e := range got {
			if e.ID != uint64(i+2) || e.GTID != fmt.Sprintf("0-1-%d", i+1) || e.Ordinal != 0 {
				t.Fatalf("event %d read as id %d, GTID %q, ordinal %d", i, e.ID, e.GTID, e.Ordinal)
			}
		}
		return j.eventsAfterReads.Load() - before
	}
	for _, limit := range []int{1, 64} {
		small, large := reads(2000, limit), reads(8000, limit)
		t.Logf("limit %d: %d reads for 2000 events, %d for 8000", limit, small, large)
		// Linear: 4 times the events cost about 4 times the reads;
		// quadratic: 16 times.
		if large > 5*small {
			t.Errorf("limit %d: reading 8000 events cost %d reads, %.1f times the %d of 2000: more than linear", limit, large, float64(large)/float64(small), small)
		}
		if per := large / 8000; per > 300 {
			t.Errorf("limit %d: %d reads per event", limit, per)
		}
	}
}

// TestEventsAfterInBatchesAcrossDisorderedCommits reads commits whose
// events' created_at runs against their ids, with transactions of several
// events, in batches of many sizes: each continuation, started from the
// previous call's hint, returns the same events as reading them whole.
func TestEventsAfterInBatchesAcrossDisorderedCommits(t *testing.T) {
	j, _ := openTemp(t)
	var want []SourcedEvent
	gtid := 0
	for c, n := range []int{50, 300, 7, 1000} {
		b := &Batch{}
		base := fmt.Sprintf("0-1-%d", gtid)
		for i := range n {
			// created_at falls and rises within the commit and overlaps
			// the other commits' times.
			b.Events = append(b.Events, ev(uint64(i%13+1), 1, 0, int64(5000+((i*7919+c*31)%211))))
		}
		for first := 0; first < n; {
			count := min(1+first%4, n-first)
			if first%5 != 3 { // some events without a GTID
				gtid++
				b.Txns = append(b.Txns, SourceTxn{First: first, Count: count, GTID: fmt.Sprintf("0-1-%d", gtid)})
			}
			for k := range count {
				e := SourcedEvent{Event: b.Events[first+k], BaseGTIDSet: base}
				if first%5 != 3 {
					e.GTID, e.Ordinal = fmt.Sprintf("0-1-%d", gtid), k
				}
				if c == 0 {
					e.BaseGTIDSet = "" // the first commit has no set before it
				}
				want = append(want, e)
			}
			first += count
		}
		b.Checkpoint = &Checkpoint{Flavor: "mariadb", GTIDSet: fmt.Sprintf("0-1-%d", gtid)}
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want {
		want[i].ID = uint64(i + 1)
	}
	for _, limit := range []int{1, 2, 3, 5, 64, 299, 5000} {
		for _, after := range []int{0, 49, 51, 356, 357} {
			got := readInBatches(t, j, uint64(after), limit)
			if len(got) != len(want)-after {
				t.Fatalf("limit %d after %d: %d events, want %d", limit, after, len(got), len(want)-after)
			}
			for i := range got {
				if got[i] != want[after+i] {
					t.Fatalf("limit %d after %d: event %d is %+v, want %+v", limit, after, after+i+1, got[i], want[after+i])
				}
			}
		}
	}
}
