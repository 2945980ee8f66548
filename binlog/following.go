package binlog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// DefaultReconcileInterval is -reconcile's default. A run over a million
// rows took about 3.5 s on a busy 2-CPU machine (BenchmarkReconcile,
// docs/guarantees.md "What a reconcile costs"): every five minutes that is
// about 1% of the time spent reading the replica in primary-key order, and
// a journal that diverged from the table answers `journal` wrongly for at
// most five minutes and one run.
const DefaultReconcileInterval = 5 * time.Minute

// FollowingConfig is what OpenFollowing needs: the daemon fills it from its
// flags, the benchmarks and the tests from their throwaway servers.
type FollowingConfig struct {
	// JournalPath is the journal file (-journal).
	JournalPath string
	// Replica is the followed server's pool (-dsn).
	Replica *store.DB
	// ServerID is the replication server id (-server-id); 0 chooses one
	// once and keeps it in the journal.
	ServerID uint32
	// PrimaryFlag and PrimaryDSN name Jetmon's primary for the exact
	// coverage proof (-primary-dsn, else -write-dsn); empty DSN: none.
	PrimaryFlag, PrimaryDSN string
	// Timeout bounds every query (-read-timeout); opening may take four.
	Timeout time.Duration
	// Heartbeat is the replication heartbeat period (-heartbeat).
	Heartbeat time.Duration
	// Reconcile is the self-check's interval (-reconcile); 0 turns it off.
	Reconcile time.Duration
	// StoreOptions are the pools' options (-db-tls-*).
	StoreOptions []store.Option
	Logger       *slog.Logger
}

// Following is the journal, the follower that feeds it, the primary's pool
// of the exact proof (nil without one) and the reconcile self-check, opened
// alike for the daemon, the benchmarks and the tests.
type Following struct {
	Journal    *journal.Journal
	Follower   *Follower
	Replica    *store.DB
	Primary    *store.DB
	Reconciler *Reconciler
}

// OpenFollowing opens the journal and the follower (Open runs the replica
// preflight and derives the coverage proof at every connection). Any
// failure stops start-up with a sentence naming the fix.
func OpenFollowing(ctx context.Context, c FollowingConfig) (*Following, error) {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	j, err := journal.Open(c.JournalPath, journal.Options{WaitLimit: c.Timeout})
	if err != nil {
		return nil, err
	}
	serverID, err := j.ServerID(c.ServerID, func() uint32 {
		// Away from the small ids operators hand out by hand.
		return 1<<30 + rand.Uint32N(1<<30)
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("keep the server id in %s: %w", c.JournalPath, err)
	}
	fl := &Following{Journal: j, Replica: c.Replica}
	cfg := Config{Replica: c.Replica, Journal: j, ServerID: serverID, Heartbeat: c.Heartbeat, Logger: log}
	if c.PrimaryDSN != "" {
		if fl.Primary, err = store.Open(c.PrimaryFlag, c.PrimaryDSN, c.Timeout, c.StoreOptions...); err != nil {
			fl.Close()
			return nil, err
		}
		cfg.Primary, cfg.PrimaryFlag = fl.Primary, c.PrimaryFlag
	}
	pctx, cancel := context.WithTimeout(ctx, c.Timeout*4)
	defer cancel()
	if fl.Follower, err = Open(pctx, cfg); err != nil {
		fl.Close()
		return nil, err
	}
	info := fl.Follower.Info()
	fl.Reconciler = NewReconciler(fl.Follower, ReconcileOptions{Interval: c.Reconcile, Logger: log})
	log.Info("journal open", "path", c.JournalPath, "events", j.LastID(), "flavor", info.Flavor, "version", info.Version,
		"server_id", serverID, "replica", info.Replica)
	return fl, nil
}

// Close closes the journal and the primary's pool (the replica's pool is
// its opener's).
func (f *Following) Close() {
	f.Journal.Close()
	if f.Primary != nil {
		f.Primary.Close()
	}
}
