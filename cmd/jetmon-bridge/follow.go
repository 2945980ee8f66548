package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/metrics"
	"github.com/automattic/jetmon-bridge/nats"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/automattic/jetmon-bridge/supervisor"
	"github.com/gorilla/mux"
)

// follower is the journal and the binlog follower that feeds it.
type follower struct {
	journal  *journal.Journal
	follower *binlog.Follower
	info     binlog.ServerInfo
	log      *slog.Logger
	// publisher publishes the journal to NATS (-publish); nil when off.
	publisher *nats.Publisher
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
	f, err := binlog.New(binlog.Config{
		Replica: replica, Journal: j, Info: info,
		ServerID: serverID, Heartbeat: c.heartbeat, Logger: log,
	})
	if err != nil {
		j.Close()
		return nil, err
	}
	log.Info("journal open", "path", c.journalPath, "events", j.LastSeq(), "flavor", info.Flavor, "version", info.Version, "server_id", serverID)
	return &follower{journal: j, follower: f, info: info, log: log}, nil
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
		if st.Error != "" {
			fol["error"] = st.Error
		}
		if c := f.journal.Confirmed(); !c.IsZero() {
			fol["caught_up_at"] = c.UTC().Format(time.RFC3339Nano)
		}
		jour := map[string]any{"path": f.journal.Path(), "events": f.journal.LastSeq()}
		if spans := f.journal.Spans(time.Now()); len(spans) > 0 {
			last := spans[len(spans)-1]
			jour["coverage"] = map[string]any{"spans": len(spans), "start": last.Start, "end": last.End}
		}
		extra := map[string]any{"follower": fol, "journal": jour}
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

// metricSources says where /metrics reads from; f may be nil (no journal).
func (f *follower) metricSources(router *mux.Router, sup *supervisor.Supervisor, replica *store.DB) metrics.Sources {
	src := metrics.Sources{
		Version:   version,
		Router:    router,
		Services:  []string{"Replica"},
		ServiceUp: sup.Operational,
	}
	if f == nil {
		return src
	}
	src.Services = append(src.Services, "BinlogFollower", "Journal")
	src.Journal = f.journal
	if f.publisher != nil {
		src.Services = append(src.Services, "Publisher")
		src.Publisher = publisherStats(f.publisher)
	}
	src.FollowerState = func() string { return f.follower.Status().State }
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
