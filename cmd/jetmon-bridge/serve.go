package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/logbridge"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/nats"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// serveConfig is the daemon's command line.
type serveConfig struct {
	dsn, addr, writeDSN, token string
	primaryDSN                 string
	tokenFile                  string
	allowOrigin                string
	allowOrigins               []string
	readTimeout                time.Duration
	write, showVersion         bool
	insecure                   bool
	bucket                     uint

	journalPath     string
	serverID        uint
	heartbeat       time.Duration
	monitorInterval time.Duration
	reconcile       time.Duration

	publish publishFlags
	dbTLS   dbTLSFlags
	retain  retentionFlags
}

func parseServeFlags(args []string) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("jetmon-bridge", "jetmon-bridge [serve] -dsn DSN [flags]")
	fs.StringVar(&c.dsn, "dsn", "", "MySQL DSN of the Jetmon read replica (required)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7400", "listen address (host:port)")
	fs.DurationVar(&c.readTimeout, "read-timeout", 5*time.Second, "bound on every database query a request makes")
	fs.BoolVar(&c.write, "write", false, "enable POST and DELETE /monitors")
	fs.StringVar(&c.writeDSN, "write-dsn", "", "MySQL DSN of Jetmon's primary; required with -write")
	fs.StringVar(&c.primaryDSN, "primary-dsn", "", "read-only DSN of Jetmon's database on its primary (REPLICATION CLIENT, and SELECT on the table) for the exact coverage proof when -dsn is a replica, and to compare the replica's table with the primary's (reconcile, and lifting a hold after a replication filter); -write-dsn serves when unset")
	fs.StringVar(&c.token, "token", "", "bearer token every request must carry; empty disables auth (prefer -token-file or JETMON_TOKEN: flags show in ps)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token (surrounding whitespace ignored)")
	fs.StringVar(&c.allowOrigin, "allow-origin", "", allowOriginUsage)
	fs.BoolVar(&c.insecure, "insecure", false, "allow -write on a non-loopback -addr without a token")
	fs.UintVar(&c.bucket, "bucket", 0, "bucket_no given to monitors created in write mode (0..511)")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.journalPath, "journal", "jetmon-bridge.journal", "bbolt journal file; empty turns the binlog follower off (pure v1 synthesis)")
	fs.UintVar(&c.serverID, "server-id", 0, "replication server id, unique among the replica's replicas; 0 chooses one once and keeps it in the journal")
	fs.DurationVar(&c.heartbeat, "heartbeat", 30*time.Second, "replication heartbeat period; a silent connection is dropped after 3")
	fs.DurationVar(&c.monitorInterval, "monitor-interval", 10*time.Second, "Monitor sampling and health-check interval")
	fs.DurationVar(&c.reconcile, "reconcile", binlog.DefaultReconcileInterval, "interval of the self-check that compares the journal's rows with the table at a consistent point; a difference takes coverage back and restarts it; 0 turns it off")
	c.publish.add(fs)
	c.dbTLS.add(fs)
	c.retain.add(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if c.showVersion {
		return c, nil
	}
	switch {
	case c.dsn == "":
		return nil, usageError{errors.New("-dsn is required: give the replica's DSN, e.g. -dsn 'user:password@tcp(replica:3306)/jetmon_db' or JETMON_DSN")}
	case c.write && c.writeDSN == "":
		return nil, usageError{errors.New("-write needs -write-dsn: give the DSN of Jetmon's primary, where monitors are created")}
	case !c.write && c.writeDSN != "":
		return nil, usageError{errors.New("-write-dsn is set but -write is not: add -write to enable the write endpoints, or drop -write-dsn")}
	case c.bucket > 511:
		return nil, usageError{fmt.Errorf("-bucket %d is out of range: Jetmon buckets are 0..511", c.bucket)}
	case c.readTimeout <= 0:
		return nil, usageError{errors.New("-read-timeout must be positive")}
	case c.serverID > math.MaxUint32:
		return nil, usageError{fmt.Errorf("-server-id %d does not fit in 32 bits", c.serverID)}
	case c.heartbeat < 100*time.Millisecond:
		return nil, usageError{errors.New("-heartbeat must be at least 100ms")}
	case c.monitorInterval < 10*time.Millisecond:
		return nil, usageError{errors.New("-monitor-interval must be at least 10ms")}
	case c.reconcile < 0 || (c.reconcile > 0 && c.reconcile < 100*time.Millisecond):
		return nil, usageError{errors.New("-reconcile must be 0 (off) or at least 100ms")}
	}
	if err := c.publish.check(c.journalPath); err != nil {
		return nil, err
	}
	if err := c.retain.check(c.journalPath); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("-addr %q is not host:port: %v", c.addr, err)}
	}
	if c.token, err = resolveToken(c.token, c.tokenFile); err != nil {
		return nil, err
	}
	if c.allowOrigins, err = resolveAllowedOrigins(c.allowOrigin); err != nil {
		return nil, err
	}
	if err := c.dbTLS.load(); err != nil {
		return nil, err
	}
	if c.write && c.token == "" && !c.insecure && !isLoopback(host) {
		return nil, usageError{fmt.Errorf("-write on %s without a token would let anyone on the network create monitors: set -token-file (or JETMON_TOKEN), listen on 127.0.0.1, or pass -insecure", c.addr)}
	}
	return c, nil
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runServe(args []string) error {
	c, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	if c.showVersion {
		fmt.Println(versionString())
		return nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	logbridge.Route(log) // before any DSN is parsed: go-sql-driver's lines join the daemon's

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup, stopHangup := notifyHangup()
	defer stopHangup()

	replica, err := store.Open("-dsn", c.dsn, c.readTimeout, c.dbTLS.options()...)
	if err != nil {
		return err
	}
	defer replica.Close()
	if err := replica.Ping(ctx); err != nil {
		return fmt.Errorf("replica (-dsn): %w", err)
	}

	sup := supervisor.New(supervisor.Options{Interval: c.monitorInterval, Logger: log})
	limits := supervisor.Limits{Limit: 0, Window: 60}
	var g runGroup
	history := &server.History{Synthesizer: replica}
	health := func(ctx context.Context) (server.Health, error) { return server.Health{}, replica.Ping(ctx) }
	replicaPing := replica.Ping
	var f *follower
	if c.journalPath != "" {
		fl, err := binlog.OpenFollowing(ctx, followingConfig(c, replica, log))
		if err != nil {
			return err
		}
		defer fl.Close()
		f = &follower{Following: fl}
		replicaPing = fl.Follower.PingReplica
		history.Journal = fl.Journal
		sup.Add(supervisor.CallsignFollower, fl.Follower, limits)
		sup.Add(supervisor.CallsignJournal, journal.Service{Journal: fl.Journal, Interval: c.monitorInterval}, limits)
		if c.reconcile > 0 {
			g.addContext(ctx, func(ctx context.Context) error { fl.Reconciler.Run(ctx); return nil })
		}
		if c.publish.url != "" {
			// A service of its own: the follower never waits for NATS.
			if f.publisher, err = nats.New(fl.Journal, c.publish.config(log)); err != nil {
				return err
			}
			sup.Add(supervisor.CallsignPublisher, f.publisher, limits)
		}
		if f.retain = f.retainer(c.retain, log); f.retain != nil {
			sup.Add(supervisor.CallsignRetention, f.retain, limits)
		}
		health = server.DaemonHealth{Following: fl, Publisher: f.publisher, Retainer: f.retain}.Func()
	} else {
		log.Warn("-journal is empty: the binlog follower is off and /events only synthesizes, as the v1 bridge did")
	}

	// Replica is in operation while it answers and, when it replicates,
	// while replication runs: stopped or broken, it is Deactivated with why.
	sup.Add(supervisor.CallsignReplica, supervisor.PingService{Ping: replicaPing, Interval: c.monitorInterval, Timeout: c.readTimeout}, limits)

	cfg := server.Config{
		History:      history,
		Monitors:     replica,
		Bucket:       uint16(c.bucket),
		Token:        c.token,
		AllowOrigins: c.allowOrigins,
		Logger:       log,
		Health:       health,
	}
	if c.write {
		primary, err := store.Open("-write-dsn", c.writeDSN, c.readTimeout, c.dbTLS.options()...)
		if err != nil {
			return err
		}
		defer primary.Close()
		if err := primary.CheckWritable(ctx); err != nil {
			return err
		}
		cfg.Writer = primary
		sup.Add(supervisor.CallsignPrimary, supervisor.PingService{Ping: primary.Ping, Interval: c.monitorInterval, Timeout: c.readTimeout}, limits)
	}
	var j *journal.Journal
	var reconcile, resynced server.ActionFunc
	if f != nil {
		j, reconcile, resynced = f.Journal, server.ReconcileNow(ctx, f.Reconciler), server.ResyncedNow(ctx, f.Follower)
	}
	api, rpc := newAPI(cfg, j, reconcile, resynced, sup, log)
	src := f.metricSources(api.Router, sup)
	if c.write {
		src.Services = append(src.Services, supervisor.CallsignPrimary)
	}
	m := metrics.New(src)
	sup.Subscribe(func(n supervisor.Notification) {
		if n.Action == supervisor.Deactivate {
			m.ServiceRestarted(n.Callsign)
		}
	})

	g.add(func() error { <-ctx.Done(); return nil }, func(error) { stop() })
	g.addContext(ctx, sup.Run)
	rl := reloader{tokenFile: c.tokenFile, api: api, dbTLS: c.dbTLS.tls, log: log}
	g.addContext(ctx, func(ctx context.Context) error { rl.run(ctx, hup); return nil })
	addAPI(&g, c.addr, c.readTimeout, api, m, log, rpc.Close)
	log.Info("jetmon-bridge started", "addr", c.addr, "write", c.write, "version", version)
	err = g.run()
	log.Info("jetmon-bridge stopped")
	return err
}

// newAPI builds the daemon's routes: the API, the journal's routes when
// there is a journal (GET /journal/snapshot, /events/timeline.svg, with
// reconcile POST /journal/reconcile, with resynced POST /journal/resynced),
// and the Monitor interface (with its reconcile and resynced methods when
// those are set); addAPI adds /metrics. docs/openapi.yaml describes them
// all (TestOpenAPIDescribesEveryRoute).
func newAPI(cfg server.Config, j *journal.Journal, reconcile, resynced server.ActionFunc, monitor server.MonitorAPI, log *slog.Logger) (*server.Server, *server.JSONRPC) {
	api := server.New(cfg)
	if j != nil {
		server.MountJournal(api.Router, j, log)
	}
	rpc := server.MountJSONRPC(api.Router, monitor, log)
	if j != nil && reconcile != nil {
		server.MountReconcile(api.Router, reconcile)
		rpc.ServeReconcile(reconcile)
	}
	if j != nil && resynced != nil {
		server.MountResynced(api.Router, resynced)
		rpc.ServeResynced(resynced)
	}
	return api, rpc
}

// mountMetrics serves m on GET /metrics, behind the API's access rules.
func mountMetrics(api *server.Server, m *metrics.Metrics) {
	api.Router.Handle("/metrics", m.Handler()).Methods(http.MethodGet)
}

// addAPI serves api on addr with the wiring the daemon and replay share:
// /metrics from m, the access rules (token, origins, CORS) in front of every
// route, request metrics, and the server's bounds (server.NewHTTPServer).
func addAPI(g *runGroup, addr string, readTimeout time.Duration, api *server.Server, m *metrics.Metrics, log *slog.Logger, onShutdown func()) {
	mountMetrics(api, m)
	addHTTPServer(g, server.NewHTTPServer(addr, m.Instrument(api.Handler()), readTimeout, log), onShutdown)
}

// addHTTPServer serves srv until interrupted, then drains in-flight
// requests for up to server.DrainTimeout; onShutdown closes what Shutdown
// does not (hijacked WebSocket connections).
func addHTTPServer(g *runGroup, srv *http.Server, onShutdown func()) {
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}
	ln, lnErr := net.Listen("tcp", srv.Addr)
	g.add(func() error {
		if lnErr != nil {
			return fmt.Errorf("listen on %s (-addr): %w", srv.Addr, lnErr)
		}
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), server.DrainTimeout)
		defer cancel()
		srv.Shutdown(ctx)
	})
}
