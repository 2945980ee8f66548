package main

import (
	"context"
	"errors"
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
	// watch reads the followed server's replication status; nil when it
	// is the primary itself.
	watch *binlog.ReplicationWatch
	// proof is what coverage rests on (binlog.Proof's Name).
	proof string
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

// replicationPollInterval paces the replication-status reads behind the
// replica-status proof: a claim trails the present by about this plus the
// replica's heartbeat period.
const replicationPollInterval = 500 * time.Millisecond

// close closes the journal and the primary pool.
func (f *follower) close() {
	f.journal.Close()
	if f.primary != nil {
		f.primary.Close()
	}
}

// openFollower runs the replica preflight, opens the journal and prepares
// the follower. Any failure here stops start-up with a sentence naming the fix.
func openFollower(ctx context.Context, c *serveConfig, replica *store.DB, log *slog.Logger) (*follower, error) {
	pctx, cancel := context.WithTimeout(ctx, c.readTimeout*4)
	defer cancel()
	info, err := binlog.Preflight(pctx, replica.SQL())
	if err != nil {
		return nil, fmt.Errorf("replica preflight: %w", err)
	}
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
	fl := &follower{journal: j, info: info, log: log}
	proof, err := fl.chooseProof(ctx, c, replica)
	if err != nil {
		fl.close()
		return nil, err
	}
	fl.proof = proof.Name()
	f, err := binlog.New(binlog.Config{
		Replica: replica, Journal: j, Info: info,
		ServerID: serverID, Heartbeat: c.heartbeat, Logger: log, Proof: proof,
	})
	if err != nil {
		fl.close()
		return nil, err
	}
	fl.follower = f
	fl.reconciler = binlog.NewReconciler(f, binlog.ReconcileOptions{Interval: c.reconcile, Logger: log})
	log.Info("journal open", "path", c.journalPath, "events", j.LastSeq(), "flavor", info.Flavor, "version", info.Version,
		"server_id", serverID, "replica", info.Replica, "coverage_proof", fl.proof)
	return fl, nil
}

// chooseProof picks what coverage rests on (docs/guarantees.md,
// "Coverage on a replica"): the followed server itself when it is the primary; else the
// primary's GTID position when -primary-dsn (or -write-dsn) is given; else
// the replica's own replication status.
func (f *follower) chooseProof(ctx context.Context, c *serveConfig, replica *store.DB) (binlog.Proof, error) {
	if !f.info.Replica {
		if c.primaryDSN != "" {
			f.log.Warn("-primary-dsn is ignored: the followed server (-dsn) is not a replica, so its own binlog proves coverage")
		}
		return binlog.SelfProof{}, nil
	}
	f.watch = binlog.NewReplicationWatch(replica.SQL(), f.info.Flavor, replicationPollInterval, nil, f.log)
	flag, dsn := "-primary-dsn", c.primaryDSN
	if dsn == "" {
		flag, dsn = "-write-dsn", c.writeDSN
	}
	if dsn == "" {
		return f.watch, nil
	}
	if !f.info.GTID {
		return nil, usageError{fmt.Errorf("%s needs GTIDs on the replica to compare positions across servers: turn on gtid_mode (MySQL), or drop %s to use the replica-status proof", flag, flag)}
	}
	primary, err := store.Open(flag, dsn, c.readTimeout, c.dbTLS.options()...)
	if err != nil {
		return nil, err
	}
	f.primary = primary
	pctx, cancel := context.WithTimeout(ctx, c.readTimeout*4)
	defer cancel()
	proof := binlog.PrimaryProof{DB: primary.SQL(), Flavor: f.info.Flavor, Interval: replicationPollInterval}
	if _, err := proof.Vouch(pctx); err != nil {
		return nil, fmt.Errorf("%s: %w (grant REPLICATION CLIENT ON *.* to its user)", flag, err)
	}
	return proof, nil
}

// replicaPing is the Replica service's health check: the replica answers
// and, when it replicates, replication runs (stopped or broken, the service
// is Deactivated with the reason).
func (f *follower) replicaPing(replica *store.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := replica.Ping(ctx); err != nil {
			return err
		}
		if f.watch == nil {
			return nil
		}
		st, have, err := f.watch.Status()
		switch {
		case err != nil:
			return fmt.Errorf("cannot read the replica's replication status: %w", err)
		case have && st.Problem() != "":
			return errors.New(st.Problem())
		}
		return nil
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
		now := time.Now()
		if spans := f.journal.Spans(now); len(spans) > 0 {
			last := spans[len(spans)-1]
			jour["coverage"] = map[string]any{"spans": len(spans), "start": last.Start, "end": last.End}
			jour["coverage_trail_seconds"] = coverageTrail(spans, now).Seconds()
		}
		extra := map[string]any{"follower": fol, "journal": jour, "reconcile": f.reconcileHealth()}
		fol["coverage_proof"] = f.proof
		if f.watch != nil {
			extra["replication"] = f.replicationHealth()
		}
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

// replicationHealth is /healthz's view of the followed replica's replication.
func (f *follower) replicationHealth() map[string]any {
	st, have, err := f.watch.Status()
	rep := map[string]any{}
	if err != nil {
		rep["error"] = err.Error()
	}
	if !have {
		return rep
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
	if v, _ := f.watch.Vouch(context.Background()); !v.At.IsZero() {
		rep["vouched_to"] = v.At.UTC().Format(time.RFC3339Nano)
	}
	return rep
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
	if f.watch != nil {
		src.Replication = func() (metrics.Replication, bool) {
			st, have, _ := f.watch.Status()
			return metrics.Replication{
				IORunning: st.IORunning(), SQLRunning: st.SQLRunning(),
				IOErrno: st.IOErrno, SQLErrno: st.SQLErrno,
				Lag: st.Lag, LagKnown: st.LagKnown,
			}, have
		}
	}
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
