// Package bench measures jetmon-bridge against a throwaway MariaDB and the
// approaches it replaces, and writes docs/BENCHMARKS.md.
//
// Nothing here runs under `go test`: the suite is heavy (a million binlog
// transitions, a ten-million-event journal) and its figures are benchmarks,
// never pass/fail thresholds. cmd/jetmon-bench runs it (make bench); the
// package's own tests only check the measuring tools on tiny inputs.
//
// Every ratio is measured within one run, both sides on the same data:
// the catch-up decoders read the same binlog, both /events paths answer
// the same request list, and the completeness comparison scores every
// approach against the same simulated ground truth.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// Config shapes a run.
type Config struct {
	// Scale multiplies every size and duration; 1 is the full suite, 0.1 a
	// quick look.
	Scale float64
	// Dir receives journals, profiles and raw results.
	Dir string
	// Self is the path of the jetmon-bench binary, started again as the
	// /events server (jetmon-bench serve).
	Self string
	// Only, when non-empty, names the parts to run (catchup, shared, live,
	// events, completeness, chain, publish, growth).
	Only []string
	// Log receives progress lines.
	Log io.Writer
	// MicroFile, when set, is `go test -bench` output to include.
	MicroFile string
	// GrowthSizes, when set, are the journal sizes part 8 builds (events,
	// before scaling) instead of 1M, 10M and 100M; NoSteady and NoFormer
	// leave out its steady state and its catch-up without the commit pages
	// bound. A run of the largest size alone can go beside a run of the
	// others, and merge joins them (Merge).
	GrowthSizes        []int
	NoSteady, NoFormer bool
}

// Results is everything a run measured.
type Results struct {
	Started, Finished time.Time
	Machine           Machine
	Scale             float64
	Disk              *DiskSync
	Catchup           *CatchupResult
	CatchupSingle     *CatchupResult
	CatchupShared     *CatchupResult
	Live              []*LiveResult
	Events            *EventsResult
	Completeness      *CompletenessResult
	Chain             *ChainResult
	Publish           *PublishResult
	Growth            *GrowthResult
	Micro             string
	Notes             []string
	// Runs, in a merged report (Merge), are the runs its parts come from;
	// empty for one run.
	Runs []PartRun `json:",omitempty"`
}

// Run runs the suite.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Scale <= 0 || math.IsNaN(cfg.Scale) {
		cfg.Scale = 1
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	r := &Results{Started: time.Now().UTC(), Scale: cfg.Scale, Machine: ReadMachine()}
	logf(cfg, "machine: %d CPUs (%s), %s memory, load average %s", r.Machine.CPUs, r.Machine.CPUModel, mib(r.Machine.MemoryBytes), r.Machine.LoadAvg)

	if cfg.MicroFile != "" {
		if b, err := os.ReadFile(cfg.MicroFile); err == nil {
			r.Micro = string(b)
		}
	}
	d, err := MeasureDiskSync(cfg.Dir, 300)
	if err != nil {
		return nil, err
	}
	r.Disk = d
	logf(cfg, "disk: fdatasync p50 %s p99 %s", ms(d.P50), ms(d.P99))

	// The chain part starts servers of its own; the others share one.
	var srv *testdb.Server
	if cfg.wantAny("catchup", "shared", "live", "events", "completeness", "publish", "growth") {
		logf(cfg, "starting MariaDB")
		if srv, err = StartMariaDB(); err != nil {
			return nil, err
		}
		defer srv.Close()
	}

	if cfg.want("catchup") {
		if r.Catchup, r.CatchupSingle, err = RunCatchup(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("catch-up: %w", err)
		}
	}
	if cfg.want("shared") {
		if r.CatchupShared, err = RunShared(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("shared replica catch-up: %w", err)
		}
	}
	if cfg.want("live") {
		for _, place := range []struct{ name, dir string }{{"disk", cfg.Dir}, {"tmpfs", "/dev/shm"}} {
			if fi, err := os.Stat(place.dir); err != nil || !fi.IsDir() {
				r.Notes = append(r.Notes, "live lag on "+place.name+" skipped: no "+place.dir)
				continue
			}
			lr, err := RunLive(ctx, cfg, srv, place.name, place.dir)
			if err != nil {
				return r, fmt.Errorf("live lag (%s): %w", place.name, err)
			}
			r.Live = append(r.Live, lr)
		}
	}
	if cfg.want("events") {
		if r.Events, err = RunEvents(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("/events under load: %w", err)
		}
	}
	if cfg.want("completeness") {
		if r.Completeness, err = RunCompleteness(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("completeness: %w", err)
		}
	}
	if cfg.want("chain") {
		if r.Chain, err = RunChain(ctx, cfg); err != nil {
			return r, fmt.Errorf("completeness on a lagging replica: %w", err)
		}
	}
	if cfg.want("publish") {
		if r.Publish, err = RunPublish(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("publishing to NATS: %w", err)
		}
	}
	if cfg.want("growth") {
		if r.Growth, err = RunGrowth(ctx, cfg, srv); err != nil {
			return r, fmt.Errorf("growth: %w", err)
		}
	}
	r.Finished = time.Now().UTC()
	r.Machine.LoadAvgEnd = readLoadAvg()
	return r, nil
}

func (c Config) want(part string) bool {
	if len(c.Only) == 0 {
		return true
	}
	for _, p := range c.Only {
		if strings.EqualFold(strings.TrimSpace(p), part) {
			return true
		}
	}
	return false
}

func (c Config) wantAny(parts ...string) bool {
	for _, p := range parts {
		if c.want(p) {
			return true
		}
	}
	return false
}

// scaled is n times the scale, at least min.
func (c Config) scaled(n int, min int) int {
	v := int(math.Round(float64(n) * c.Scale))
	if v < min {
		return min
	}
	return v
}

// scaledDur is d times the scale, at least min.
func (c Config) scaledDur(d, min time.Duration) time.Duration {
	v := time.Duration(float64(d) * c.Scale)
	if v < min {
		return min
	}
	return v
}

func (c Config) path(name string) string { return filepath.Join(c.Dir, name) }

func logf(c Config, format string, args ...any) {
	fmt.Fprintf(c.Log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// quietLogger drops the product's informational logs during measurements.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// StartMariaDB starts the throwaway server the suite runs against, with a
// buffer pool large enough to hold every table it creates.
func StartMariaDB() (*testdb.Server, error) {
	return testdb.Start(testdb.Options{Args: []string{
		"--innodb-buffer-pool-size=1G",
		"--innodb-log-file-size=512M",
		"--innodb-log-buffer-size=64M",
		"--binlog-cache-size=4M",
		"--max-binlog-size=1G",
		"--table-open-cache=400",
		"--max-connections=1000",
	}})
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
