package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/nats"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/gorilla/mux"
)

// follower is the journal and the binlog follower that feeds it.
type follower struct {
	journal  *journal.Journal
	follower *binlog.Follower
	info     binlog.ServerInfo
	log      *slog.Logger
	// primary is the -primary-dsn (or -write-dsn) pool of the exact proof.
	primary *store.DB
	// publisher publishes the journal to NATS (-publish); nil when off.
	publisher *nats.Publisher
	// reconciler compares the journal with the table (-reconcile, and on
	// demand).
	reconciler *binlog.Reconciler
	// retain trims the journal (-retain); nil when off.
	retain *journal.Retainer
}

// close closes the journal and the primary pool.
func (f *follower) close() {
	f.journal.Close()
	if f.primary != nil {
		f.primary.Close()
	}
}

// openFollower opens the journal and the follower (binlog.Open runs the
// replica preflight and derives the coverage proof at every connection).
// Any failure here stops start-up with a sentence naming the fix.
func openFollower(ctx context.Context, c *serveConfig, replica *store.DB, log *slog.Logger) (*follower, error) {
	j, err := journal.Open(c.journalPath, journal.Options{WaitLimit: c.readTimeout})
	if err != nil {
		return nil, err
	}
	serverID, err := j.ServerID(uint32(c.serverID), func() uint32 {
		// Away from the small ids operators hand out by hand.
		return 1<<30 + rand.Uint32N(1<<30)
	})
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("keep the server id in %s: %w", c.journalPath, err)
	}
	fl := &follower{journal: j, log: log}
	cfg := binlog.Config{Replica: replica, Journal: j, ServerID: serverID, Heartbeat: c.heartbeat, Logger: log}
	if flag, dsn := primaryFlag(c); dsn != "" {
		if fl.primary, err = store.Open(flag, dsn, c.readTimeout, c.dbTLS.options()...); err != nil {
			fl.close()
			return nil, err
		}
		cfg.Primary, cfg.PrimaryFlag = fl.primary, flag
	}
	pctx, cancel := context.WithTimeout(ctx, c.readTimeout*4)
	defer cancel()
	if fl.follower, err = binlog.Open(pctx, cfg); err != nil {
		fl.close()
		return nil, err
	}
	fl.info = fl.follower.Info()
	fl.reconciler = binlog.NewReconciler(fl.follower, binlog.ReconcileOptions{Interval: c.reconcile, Logger: log})
	log.Info("journal open", "path", c.journalPath, "events", j.LastSeq(), "flavor", fl.info.Flavor, "version", fl.info.Version,
		"server_id", serverID, "replica", fl.info.Replica)
	return fl, nil
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

// replicaPing is the Replica service's health check: the replica answers
// and, when it replicates, replication runs without a filter that leaves
// the table out (stopped, broken or filtered, the service is Deactivated
// with the reason).
func (f *follower) replicaPing(replica *store.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := replica.Ping(ctx); err != nil {
			return err
		}
		return f.follower.ReplicaProblem()
	}
}

// journalService is the Journal as the supervisor watches it: in operation
// while its last commit succeeded. A failing commit (a full disk, an I/O
// error) stops the follower from advancing, never from being exact; this
// service says why, and recovers once a commit succeeds again.
type journalService struct {
	j        *journal.Journal
	interval time.Duration
}

func (s journalService) Run(ctx context.Context, ready func()) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.j.Healthy(); err != nil {
			return err
		}
		ready()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// health reports the replica, the follower and the journal for /healthz.
func (f *follower) health(replica *store.DB) func(context.Context) (map[string]any, error) {
	return func(ctx context.Context) (map[string]any, error) {
		st := f.follower.Status()
		fol := map[string]any{"state": st.State, "position": st.Position}
		if st.Server != "" {
			fol["server"] = st.Server
		}
		if st.Error != "" {
			fol["error"] = st.Error
		}
		if c := f.journal.Confirmed(); !c.IsZero() {
			fol["caught_up_at"] = c.UTC().Format(time.RFC3339Nano)
		}
		jour := map[string]any{"path": f.journal.Path(), "events": f.journal.LastSeq()}
		now := f.journal.Now() // the followed server's clock, as coverage is
		if spans := f.journal.Spans(now); len(spans) > 0 {
			last := spans[len(spans)-1]
			jour["coverage"] = map[string]any{"spans": len(spans), "start": last.Start, "end": last.End}
			jour["coverage_trail_seconds"] = coverageTrail(spans, now).Seconds()
		}
		extra := map[string]any{"follower": fol, "journal": jour, "reconcile": f.reconcileHealth()}
		fol["coverage_proof"] = f.follower.ProofName()
		if p := f.follower.ProofProblem(); p != "" {
			fol["coverage_proof_problem"] = p
		}
		if rep, ok := f.replicationHealth(); ok {
			extra["replication"] = rep
		}
		f.holdHealth(extra)
		if err := f.journal.Healthy(); err != nil {
			jour["error"] = err.Error()
		}
		if err := replica.Ping(ctx); err != nil {
			return extra, err
		}
		if end, err := binlog.CurrentPosition(ctx, replica.SQL(), f.info.Flavor); err == nil {
			fol["server_position"] = end.Position.String()
			if pos, ok := f.follower.Settled(); ok && pos.File == end.File && end.Pos >= pos.Pos {
				fol["behind_bytes"] = end.Pos - pos.Pos
			}
		}
		return extra, nil
	}
}

// replicationHealth is /healthz's view of the followed replica's
// replication; ok is false while the followed server is the primary.
func (f *follower) replicationHealth() (map[string]any, bool) {
	st, ok, err := f.follower.Replication()
	if !ok {
		return nil, false
	}
	rep := map[string]any{}
	if err != nil {
		rep["error"] = err.Error()
	}
	if st.IOThread == "" {
		return rep, true
	}
	rep["io_thread"], rep["sql_thread"] = st.IOThread, st.SQLThread
	rep["running"] = st.Running()
	rep["applied_all_received"] = st.AppliedAll
	if st.LagKnown {
		rep["lag_seconds"] = st.Lag.Seconds()
	}
	if st.IOError != "" {
		rep["io_error"] = st.IOError
	}
	if st.SQLError != "" {
		rep["sql_error"] = st.SQLError
	}
	if p := st.Problem(); p != "" {
		rep["problem"] = p
	}
	rep["filtered"] = st.Filtered != nil
	if v := f.follower.ReplicationVouched(); !v.IsZero() {
		rep["vouched_to"] = v.UTC().Format(time.RFC3339Nano)
	}
	return rep, true
}

// coverageTrail is how far the journal's coverage ends before now (zero
// when it reaches now).
func coverageTrail(spans []bridge.Span, now time.Time) time.Duration {
	if len(spans) == 0 {
		return 0
	}
	return max(0, now.Sub(spans[len(spans)-1].End))
}

// metricSources says where /metrics reads from; f may be nil (no journal).
func (f *follower) metricSources(router *mux.Router, sup *supervisor.Supervisor, replica *store.DB) metrics.Sources {
	src := metrics.Sources{
		Version:   version,
		Router:    router,
		Services:  []string{serviceReplica},
		ServiceUp: sup.Operational,

		RestartLimitCrossed: sup.RestartLimitCrossed,
	}
	if f == nil {
		return src
	}
	src.Services = append(src.Services, serviceFollower, serviceJournal)
	src.Journal = f.journal
	src.Replication = func() (metrics.Replication, bool) {
		st, ok, _ := f.follower.Replication()
		return metrics.Replication{
			IORunning: st.IORunning(), SQLRunning: st.SQLRunning(),
			IOErrno: st.IOErrno, SQLErrno: st.SQLErrno,
			Lag: st.Lag, LagKnown: st.LagKnown,
			Filtered: st.Filtered != nil,
		}, ok && st.IOThread != ""
	}
	src.CoverageProof = f.follower.ProofName
	src.CoverageHeld = f.coverageHeld
	if f.publisher != nil {
		src.Services = append(src.Services, servicePublisher)
		src.Publisher = publisherStats(f.publisher)
	}
	if f.retain != nil {
		src.Services = append(src.Services, serviceRetention)
	}
	src.Retention = f.retentionStats()
	src.FollowerState = func() bridge.FollowerState { return f.follower.Status().State }
	src.Reconcile = f.reconcileStats
	src.Behind = func(ctx context.Context) (uint64, bool) {
		end, err := binlog.CurrentPosition(ctx, replica.SQL(), f.info.Flavor)
		pos, ok := f.follower.Settled()
		if err != nil || !ok || pos.File != end.File || end.Pos < pos.Pos {
			return 0, false
		}
		return uint64(end.Pos - pos.Pos), true
	}
	return src
}
