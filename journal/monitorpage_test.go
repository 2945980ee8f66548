package journal

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// TestMonitorPagesMatchAModel commits random inserts, updates, deletions
// and snapshots of rows spread over a few pages and checks the stored rows
// against a map after each commit.
func TestMonitorPagesMatchAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	j, _ := openTemp(t)
	model := map[uint64]bridge.Monitor{}
	row := func(site uint64) bridge.Monitor {
		return bridge.Monitor{SiteID: site, BlogID: 1 + rng.Uint64N(50), URL: "https://" + strconv.Itoa(rng.IntN(1000)) + ".example.com",
			Active: rng.IntN(2) == 0, Status: bridge.Status(rng.IntN(3)), LastStatusChange: sec(rng.Int64N(1 << 31))}
	}
	for round := range 200 {
		b := &Batch{}
		if round%50 == 49 {
			b.ResetMonitors = true
			clear(model)
		}
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
		if err := j.Commit(b); err != nil {
			t.Fatal(err)
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
