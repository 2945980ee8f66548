package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// Throwaway probe (not committed): bbolt's NoFreelistSync against today's
// on a journal with many free pages (half trimmed), side by side.
func TestZZProbeFreelist(t *testing.T) {
	n := 5_000_000
	if s := os.Getenv("PROBE_EVENTS"); s != "" {
		fmt.Sscan(s, &n)
	}
	dir := os.Getenv("PROBE_DIR")
	base := dir + "/fl-base.journal"
	os.Remove(base)
	defer os.Remove(base)
	start := time.Unix(1_700_000_000, 0).UTC()
	span, _, err := buildHistory(base, history{events: n, blogs: 100_000, batch: 100_000,
		start: start, length: 30 * 24 * time.Hour,
		checkpoint: journal.Checkpoint{Flavor: "mariadb", File: "x.000001", Pos: 4}, resume: true})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(base, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	res, err := j.Trim(context.Background(), start.Add(15*24*time.Hour), journal.TrimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	fi, _ := os.Stat(base)
	t.Logf("built %d, trimmed %+v in %s; file %d MiB", n, res, time.Since(t0), fi.Size()>>20)
	for round := 0; round < 2; round++ {
		for _, nfs := range []bool{false, true} {
			p := fmt.Sprintf("%s/fl-%v.journal", dir, nfs)
			if err := copyFile(base, p); err != nil {
				t.Fatal(err)
			}
			var log commitLog
			j, err := journal.Open(p, journal.Options{NoFreelistSync: nfs, OnCommit: log.add})
			if err != nil {
				t.Fatal(err)
			}
			at := span.End.Add(time.Hour)
			cpu0 := processCPU()
			t1 := time.Now()
			for c := 0; c < 300; c++ {
				var b journal.Batch
				for k := 0; k < 200; k++ {
					blog := uint64((c*200+k)*7919%100_000 + 1)
					b.AddEvent(bridge.Event{BlogID: blog, OldStatus: bridge.StatusRunning, NewStatus: bridge.StatusDown, CreatedAt: at})
				}
				b.Transactions = 1
				if err := j.Commit(&b); err != nil {
					t.Fatal(err)
				}
			}
			took, cpu := time.Since(t1), processCPU()-cpu0
			j.Close()
			ds, most := log.take()
			var pages []int
			l := Summarize(ds)
			_ = pages
			var opens []time.Duration
			for k := 0; k < 3; k++ {
				t2 := time.Now()
				j, err := journal.Open(p, journal.Options{NoFreelistSync: nfs})
				if err != nil {
					t.Fatal(err)
				}
				opens = append(opens, time.Since(t2))
				j.Close()
			}
			os.Remove(p)
			t.Logf("round %d NoFreelistSync=%v: 300 commits of 200 in %s (%s CPU), commit p50 %s p99 %s, most pages %d; opens %v", round, nfs, took.Round(time.Millisecond), cpu.Round(time.Millisecond), l.P50, l.P99, most, opens)
		}
	}
}
