package soak_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/internal/testenv"
	"github.com/automattic/jetmon-bridge/tests/soak"
)

var binary string

// The bridge under soak is built with the race detector: a data race under
// faults is a broken promise too.
func TestMain(m *testing.M) {
	bridgetest.Main(&binary, func() int { return testdb.Main(m) })
}

// TestSoak runs the fault soak. SOAK_DURATION sets how long faults are
// injected (default 25s here, for CI; `make soak` runs 3m), SOAK_SEED
// replays a run (default: a fresh seed, printed).
func TestSoak(t *testing.T) {
	duration := 25 * time.Second
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("SOAK_DURATION=%q: want a positive Go duration such as 3m", s)
		}
		duration = d
	}
	seed := uint64(time.Now().UnixNano()) % 1_000_000_000
	if s := os.Getenv("SOAK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: want an unsigned integer", s)
		}
		seed = v
	}
	t.Logf("soak seed %d (reproduce with SOAK_SEED=%d), faults for %s", seed, seed, duration)
	sum, err := soak.Run(context.Background(), soak.Config{
		Binary:   binary,
		Dir:      t.TempDir(),
		Duration: duration,
		Seed:     seed,
		Logf:     t.Logf,
	})
	if sum != nil {
		t.Logf("\n%s", sum)
	}
	if errors.Is(err, soak.ErrNoDatabase) {
		testdb.Unavailable(t, err)
	}
	if err != nil {
		t.Fatalf("soak (seed %d): %v", seed, err)
	}
	for _, f := range soak.AllFaults {
		if _, skipped := sum.Skipped[f]; !skipped && sum.Counts()[f] == 0 {
			t.Errorf("fault %s was never injected", f)
		}
	}
	if sum.Failed() {
		t.Fatalf("the bridge broke its promise under faults (seed %d); see the summary above", seed)
	}
	// Last, so that a skip on a developer's machine hides no failure.
	if reason, ok := sum.Skipped[soak.FaultDiskFull]; ok {
		testenv.Missing(t, "the disk-full fault was skipped: %s", reason)
	}
}
