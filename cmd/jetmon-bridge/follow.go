package main

import (
	"context"
	"log/slog"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/nats"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/gorilla/mux"
)

// follower is the daemon's following (journal, follower, primary pool,
// reconciler) with the services the flags turn on.
type follower struct {
	*binlog.Following
	// publisher publishes the journal to NATS (-publish); nil when off.
	publisher *nats.Publisher
	// retain trims the journal (-retain); nil when off.
	retain *journal.Retainer
}

// followingConfig is binlog.OpenFollowing's configuration from the flags.
func followingConfig(c *serveConfig, replica *store.DB, log *slog.Logger) binlog.FollowingConfig {
	fc := binlog.FollowingConfig{
		JournalPath: c.journalPath, Replica: replica, ServerID: uint32(c.serverID),
		Timeout: c.readTimeout, Heartbeat: c.heartbeat, Reconcile: c.reconcile,
		StoreOptions: c.dbTLS.options(), Logger: log,
	}
	fc.PrimaryFlag, fc.PrimaryDSN = primaryFlag(c)
	return fc
}

// primaryFlag names the DSN of Jetmon's primary for the exact coverage
// proof: -primary-dsn, else -write-dsn; "" when neither is given.
func primaryFlag(c *serveConfig) (flag, dsn string) {
	if c.primaryDSN != "" {
		return "-primary-dsn", c.primaryDSN
	}
	if c.writeDSN != "" {
		return "-write-dsn", c.writeDSN
	}
	return "", ""
}

// metricSources says where /metrics reads from; f may be nil (no journal).
func (f *follower) metricSources(router *mux.Router, sup *supervisor.Supervisor) metrics.Sources {
	src := metrics.Sources{
		Version:   version,
		Router:    router,
		Services:  []string{supervisor.CallsignReplica},
		ServiceUp: sup.Operational,

		RestartLimitCrossed: sup.RestartLimitCrossed,
	}
	if f == nil {
		return src
	}
	fol := f.Follower
	src.Services = append(src.Services, supervisor.CallsignFollower, supervisor.CallsignJournal)
	src.Journal = f.Journal
	src.Replication = func() (metrics.Replication, bool) {
		st, ok, _ := fol.Replication()
		return metrics.Replication{
			IORunning: st.IORunning(), SQLRunning: st.SQLRunning(),
			IOErrno: st.IOErrno, SQLErrno: st.SQLErrno,
			Lag: st.Lag, LagKnown: st.LagKnown,
			Filtered: st.Filtered != nil,
		}, ok && st.IOThread != ""
	}
	src.CoverageProof = fol.ProofName
	src.CoverageHeld = func() bool { _, held := fol.Hold(); return held }
	if f.publisher != nil {
		src.Services = append(src.Services, supervisor.CallsignPublisher)
		src.Publisher = publisherStats(f.publisher)
	}
	if f.retain != nil {
		src.Services = append(src.Services, supervisor.CallsignRetention)
	}
	src.Retention = f.retentionStats()
	src.FollowerState = func() bridge.FollowerState { return fol.Status().State }
	src.Reconcile = func() metrics.ReconcileStats {
		st := f.Reconciler.Stats()
		return metrics.ReconcileStats{Runs: st.Runs, Differences: st.Differences, LastSuccess: st.LastSuccess, LastSeconds: st.LastSeconds}
	}
	src.Behind = func(ctx context.Context) (uint64, bool) {
		_, behind, known, err := fol.Behind(ctx)
		return uint64(behind), known && err == nil
	}
	return src
}
