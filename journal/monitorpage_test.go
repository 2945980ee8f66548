package journal

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// TestMonitorPagesMatchAModel commits random inserts, updates, deletions
// and snapshots of rows spread over a few pages and checks the stored rows
// against a map after each commit. A batch's rows come through Monitors and
// Deleted, through SetMonitor and DeleteMonitor (the compact row set, whose
// records are replaced in place, appended and compacted), or both; some
// change rows after the batch was prepared, and some are discarded.
func TestMonitorPagesMatchAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	j, _ := openTemp(t)
	model := map[uint64]bridge.Monitor{}
	row := func(site uint64) bridge.Monitor {
		// URLs of one to five digits: replacing a record often changes its length.
		return bridge.Monitor{SiteID: site, BlogID: 1 + rng.Uint64N(50), URL: "https://" + strconv.Itoa(rng.IntN(100000)) + ".example.com",
			Active: rng.IntN(2) == 0, Status: bridge.Status(rng.IntN(3)), LastStatusChange: sec(rng.Int64N(1 << 31))}
	}
	for round := range 200 {
		b := &Batch{Discard: round%3 == 0}
		if round%50 == 49 {
			b.ResetMonitors = true
			clear(model)
		}
		fields, methods := round%4 != 1, round%4 != 0
		if fields {
			for range rng.IntN(40) {
				site := rng.Uint64N(300) // pages 0..4
				if rng.IntN(4) == 0 {
					b.Deleted = append(b.Deleted, site)
					delete(model, site)
				}
			}
			for range rng.IntN(40) {
				m := row(rng.Uint64N(300))
				b.Monitors = append(b.Monitors, m)
				model[m.SiteID] = m // a row both deleted and written stays
			}
		}
		change := func() {
			site := rng.Uint64N(300)
			if rng.IntN(4) == 0 {
				b.DeleteMonitor(site)
				delete(model, site)
				return
			}
			m := row(site)
			b.SetMonitor(m)
			model[site] = m
		}
		if methods {
			n := rng.IntN(40)
			if round%10 == 7 {
				n = 5000 // enough replaced records to compact the set
			}
			for range n {
				change()
			}
			if round%5 == 2 {
				b.Prepare()
				for range rng.IntN(20) {
					change() // after the orders were made: the last change still wins
				}
			}
		}
		empty := b.Empty()
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
		}
		if b.Discard && !empty {
			if err := j.Commit(b); err == nil {
				t.Fatalf("round %d: a discarded batch was committed twice", round)
			}
		}
		got := map[uint64]bridge.Monitor{}
		err := j.db.View(func(tx *bolt.Tx) error {
			for r, err := range storedMonitors(tx) {
				if err != nil {
					return err
				}
				m, err := decodeMonitor(r.site, r.rec)
				if err != nil {
					return err
				}
				got[r.site] = m
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, model) {
			t.Fatalf("round %d: %d rows stored, %d in the model; sites %v vs %v", round, len(got), len(model),
				slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(model)))
		}
	}
}

// TestRowSetCompacts: replacing records by ones of another length leaves
// stale bytes, which the set reclaims once they are most of its arena,
// keeping every row's last record.
func TestRowSetCompacts(t *testing.T) {
	var s rowSet
	want := map[uint64]string{}
	compacted := false
	for i := 0; !compacted; i++ {
		if i == 1e6 {
			t.Fatalf("arena %d bytes with %d stale for 100 rows: never compacted", len(s.arena), s.stale)
		}
		site := uint64(i % 100)
		m := bridge.Monitor{SiteID: site, BlogID: site, URL: "https://" + strings.Repeat("x", i%7) + ".example.com"}
		before := len(s.arena)
		s.set(m)
		want[site] = string(appendMonitor(nil, m))
		compacted = len(s.arena) < before
	}
	got := map[uint64]string{}
	for i := range s.slots {
		got[s.slots[i].site] = string(s.record(&s.slots[i]))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the compacted set lost a row's last record")
	}
	if s.stale != 0 || len(s.arena) > 100*64 {
		t.Fatalf("after compacting: %d bytes, %d stale, for 100 rows", len(s.arena), s.stale)
	}
}
