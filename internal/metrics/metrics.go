// Package metrics exposes the bridge's Prometheus metrics on a private
// registry: the binlog follower's state and lag, the journal's size,
// transitions and coverage, restarts of the supervised services, HTTP
// requests by route, and the Go runtime and process collectors.
//
// The package reads its sources through the small interfaces and functions
// of Sources, so it depends on neither the follower nor the supervisor;
// cmd/jetmon-bridge wires them. Every source is optional: metrics whose
// source is nil are not exported (with -journal "" there is no follower and
// no journal to report).
//
// The handler is served under the API's own router, behind the same bearer
// token as every other route.
package metrics

import (
	"context"
	"net/http"
	"os"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the bridge's own.
const Namespace = "jetmon_bridge"

// Journal is what the metrics read from the journal; *journal.Journal
// satisfies it.
type Journal interface {
	// LastID is the id of the newest event, which is also the number of
	// transitions journaled.
	LastID() uint64
	// Commits counts the journal commits that wrote changes since start.
	Commits() uint64
	// Confirmed is when the follower last proved it had applied everything
	// the server had written (zero when never, since it attached).
	Confirmed() time.Time
	// Spans are the coverage spans as they stand for a request at asOf.
	// A journal that also has Now() time.Time (the present in the followed
	// server's clock, journal/clock.go) is read as of it, as coverage
	// instants are in that clock.
	Spans(asOf time.Time) []bridge.Span
	// Path is the journal file, whose size is exported.
	Path() string
	// CommitErr is the last commit's failure, nil when it succeeded.
	CommitErr() error
}

// Sources are where the metrics come from. Each may be nil.
type Sources struct {
	// Version is exported as jetmon_bridge_build_info{version}.
	Version string

	// FollowerState returns the binlog follower's state
	// (f.Status().State).
	FollowerState func() bridge.FollowerState
	// Behind returns how many bytes of binlog the follower has still to
	// apply; ok is false when that is unknown (the follower is on an older
	// file than the server, or the server did not answer). It is called on
	// each scrape with a context bounded by QueryTimeout.
	Behind func(ctx context.Context) (bytes uint64, ok bool)
	// Journal is the open journal.
	Journal Journal
	// Replication returns the followed replica's replication state, ok
	// false before the first reading and while the followed server is the
	// primary itself; nil leaves the replica metrics out.
	Replication func() (r Replication, ok bool)
	// CoverageProof names the coverage proof the follower rests on now
	// (binlog.Follower.ProofName); nil leaves jetmon_bridge_coverage_proof out.
	CoverageProof func() string
	// CoverageHeld reports whether coverage is held until the replica's
	// table is re-synchronized (binlog.Follower.Hold); nil leaves
	// jetmon_bridge_coverage_held out.
	CoverageHeld func() bool
	// Publisher reports the NATS publisher (-publish); nil leaves the
	// jetmon_bridge_publish_* metrics out.
	Publisher func() PublisherStats
	// Reconcile reports the reconcile self-check; nil leaves the
	// jetmon_bridge_reconcile_* metrics out.
	Reconcile func() ReconcileStats
	// Retention reports how far back the journal reaches; nil leaves the
	// oldest-event and retention metrics out.
	Retention func() (RetentionStats, error)

	// Services are the supervised services' callsigns; each gets a
	// jetmon_bridge_service_restarts_total series from the start.
	Services []string
	// ServiceUp reports whether a service is in operation (for example
	// Supervisor.Operational); nil leaves jetmon_bridge_service_up out.
	ServiceUp func(callsign string) bool
	// RestartLimitCrossed reports whether a service was left stopped by
	// its restart limits (Supervisor.RestartLimitCrossed); nil leaves
	// jetmon_bridge_service_restart_limit_crossed out.
	RestartLimitCrossed func(callsign string) bool

	// Router resolves the route template of a request that Instrument sees
	// before the router has matched it (Instrument wrapped around the whole
	// handler). Without it, such requests are labelled route="other".
	Router *mux.Router

	// QueryTimeout bounds Behind on each scrape; default 2s.
	QueryTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Replication is the followed replica's replication as its status shows it.
type Replication struct {
	IORunning, SQLRunning bool
	// IOErrno and SQLErrno are the last errors' numbers, 0 when none.
	IOErrno, SQLErrno int
	// Lag is Seconds_Behind_Master (Source); LagKnown is false while the
	// server reports NULL (a thread stopped).
	Lag      time.Duration
	LagKnown bool
	// Filtered: a replication or binlog filter may leave changes to the
	// table out, so coverage stopped.
	Filtered bool
}

// Metrics is the bridge's registry and the instruments it updates.
type Metrics struct {
	src      Sources
	now      func() time.Time
	registry *prometheus.Registry

	restarts *prometheus.CounterVec
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New registers the bridge's metrics, the Go runtime collector and the
// process collector on a new private registry.
func New(src Sources) *Metrics {
	if src.QueryTimeout <= 0 {
		src.QueryTimeout = 2 * time.Second
	}
	m := &Metrics{src: src, now: src.Now, registry: prometheus.NewRegistry()}
	if m.now == nil {
		m.now = time.Now
	}
	reg := m.registry
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	version := src.Version
	if version == "" {
		version = "unknown"
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "build_info",
		Help:        "Always 1; the version label is the bridge's release.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))

	m.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "service_restarts_total",
		Help:      "Restarts of a supervised service (BinlogFollower, Journal, Publisher, Replica, Primary) after a failure.",
	}, []string{"callsign"})
	for _, callsign := range src.Services {
		m.restarts.WithLabelValues(callsign)
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "http_requests_total",
		Help:      "HTTP requests answered, by route template, method and status code.",
	}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace,
		Name:      "http_request_duration_seconds",
		Help:      "Time to answer an HTTP request, by route template and method (WebSocket sessions excluded).",
		Buckets:   prometheus.DefBuckets,
	}, []string{"route", "method"})
	reg.MustRegister(m.restarts, m.requests, m.duration)

	if src.ServiceUp != nil {
		for _, callsign := range src.Services {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace:   Namespace,
				Name:        "service_up",
				Help:        "1 while a supervised service is in operation, 0 while it is failed, restarting or stopped.",
				ConstLabels: prometheus.Labels{"callsign": callsign},
			}, func() float64 { return boolValue(src.ServiceUp(callsign)) }))
		}
	}
	if src.RestartLimitCrossed != nil {
		for _, callsign := range src.Services {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace:   Namespace,
				Name:        "service_restart_limit_crossed",
				Help:        "1 while a supervised service is left stopped because its failures crossed its restart limits (the Monitor's restartlimits re-arms it), else 0.",
				ConstLabels: prometheus.Labels{"callsign": callsign},
			}, func() float64 { return boolValue(src.RestartLimitCrossed(callsign)) }))
		}
	}
	if src.Journal != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "journal_transitions_total",
			Help:      "site_status transitions in the journal (the newest event's id).",
		}, func() float64 { return float64(src.Journal.LastID()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "journal_commits_total",
			Help:      "Journal commits (one fsync'd bbolt transaction each) that wrote events, monitor rows or a checkpoint since start; while catching up, many binlog transactions share one.",
		}, func() float64 { return float64(src.Journal.Commits()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "journal_healthy",
			Help:      "1 when the journal's last commit succeeded, 0 when it failed (for example a full disk).",
		}, func() float64 { return boolValue(src.Journal.CommitErr() == nil) }))
	}
	if src.Journal != nil || src.FollowerState != nil || src.Behind != nil || src.Replication != nil || src.CoverageProof != nil || src.CoverageHeld != nil {
		reg.MustRegister(&followerCollector{m: m})
	}
	if src.Publisher != nil {
		reg.MustRegister(publisherCollector{stats: src.Publisher})
	}
	if src.Reconcile != nil {
		reg.MustRegister(reconcileCollector{stats: src.Reconcile})
	}
	if src.Retention != nil {
		reg.MustRegister(retentionCollector{stats: src.Retention})
	}
	return m
}

// Registry is the private registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition formats. Mount
// it on the API's router so that the bearer token guards it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:      m.registry, // promhttp_metric_handler_errors_total
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ServiceRestarted counts one restart of the service callsign.
func (m *Metrics) ServiceRestarted(callsign string) {
	m.restarts.WithLabelValues(callsign).Inc()
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// followerCollector reads the follower and the journal on each scrape; a
// value it cannot read is left out of the scrape rather than made up.
type followerCollector struct{ m *Metrics }

var (
	descState = prometheus.NewDesc(Namespace+"_follower_state",
		"1 for the binlog follower's current state, 0 for the others.", []string{"state"}, nil)
	descLagBytes = prometheus.NewDesc(Namespace+"_follower_lag_bytes",
		"Bytes of binlog the follower has still to apply; absent when the follower is on an older binlog file than the server.", nil, nil)
	descLagSeconds = prometheus.NewDesc(Namespace+"_follower_lag_seconds",
		"Seconds since the follower last proved it had applied everything the server had written; absent while it is not following.", nil, nil)
	descJournalSize = prometheus.NewDesc(Namespace+"_journal_size_bytes",
		"Size of the journal file.", nil, nil)
	descCoverageEnd = prometheus.NewDesc(Namespace+"_journal_coverage_end_timestamp_seconds",
		"Unix time up to which the journal's latest coverage span vouches for every change (capped at now).", nil, nil)
	descSpans = prometheus.NewDesc(Namespace+"_journal_coverage_spans",
		"Coverage spans in the journal; each span after the first follows a coverage gap.", nil, nil)
	descCoverageTrail = prometheus.NewDesc(Namespace+"_coverage_trail_seconds",
		"How far the journal's coverage ends before now, in the primary's time: /events for a window ending later answers mixed (0 when coverage reaches now).", nil, nil)
	descReplicaRunning = prometheus.NewDesc(Namespace+"_replica_thread_running",
		"1 while the followed replica's replication thread (io or sql) runs, 0 while it is stopped, connecting or broken.", []string{"thread"}, nil)
	descReplicaErrno = prometheus.NewDesc(Namespace+"_replica_last_errno",
		"The followed replica's last replication error number per thread (io or sql), 0 when none.", []string{"thread"}, nil)
	descReplicaLag = prometheus.NewDesc(Namespace+"_replica_lag_seconds",
		"The followed replica's Seconds_Behind_Master (Seconds_Behind_Source); absent while the server reports NULL (a thread stopped).", nil, nil)
	descReplicaFiltered = prometheus.NewDesc(Namespace+"_replica_filtered",
		"1 while a replication or binlog filter on the followed server may leave changes to jetpack_monitor_sites out (coverage stopped; /healthz replication.problem says which), else 0.", nil, nil)
	descCoverageHeld = prometheus.NewDesc(Namespace+"_coverage_held",
		"1 while coverage is held because a replication filter may have left the replica's rows of jetpack_monitor_sites stale (/healthz coverage_hold says why and how to lift it), else 0.", nil, nil)
	descCoverageProof = prometheus.NewDesc(Namespace+"_coverage_proof",
		"1 for the coverage proof the follower rests on now (self, replica-status or primary-gtid), derived from the followed server's role at every connection.", []string{"proof"}, nil)
)

func (c *followerCollector) Describe(ch chan<- *prometheus.Desc) {
	src := c.m.src
	if src.FollowerState != nil {
		ch <- descState
	}
	if src.Behind != nil {
		ch <- descLagBytes
	}
	if src.Journal != nil {
		ch <- descLagSeconds
		ch <- descJournalSize
		ch <- descCoverageEnd
		ch <- descSpans
		ch <- descCoverageTrail
	}
	if src.Replication != nil {
		ch <- descReplicaRunning
		ch <- descReplicaErrno
		ch <- descReplicaLag
		ch <- descReplicaFiltered
	}
	if src.CoverageProof != nil {
		ch <- descCoverageProof
	}
	if src.CoverageHeld != nil {
		ch <- descCoverageHeld
	}
}

// collectReplication exports the followed replica's replication state.
func collectReplication(src Sources, ch chan<- prometheus.Metric) {
	if src.Replication == nil {
		return
	}
	r, ok := src.Replication()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descReplicaRunning, prometheus.GaugeValue, boolValue(r.IORunning), "io")
	ch <- prometheus.MustNewConstMetric(descReplicaRunning, prometheus.GaugeValue, boolValue(r.SQLRunning), "sql")
	ch <- prometheus.MustNewConstMetric(descReplicaErrno, prometheus.GaugeValue, float64(r.IOErrno), "io")
	ch <- prometheus.MustNewConstMetric(descReplicaErrno, prometheus.GaugeValue, float64(r.SQLErrno), "sql")
	if r.LagKnown {
		ch <- prometheus.MustNewConstMetric(descReplicaLag, prometheus.GaugeValue, r.Lag.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descReplicaFiltered, prometheus.GaugeValue, boolValue(r.Filtered))
}

func (c *followerCollector) Collect(ch chan<- prometheus.Metric) {
	src, now := c.m.src, c.m.now()
	if src.FollowerState != nil {
		current := src.FollowerState()
		known := false
		for _, s := range bridge.FollowerStates {
			known = known || s == current
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, boolValue(s == current), string(s))
		}
		if !known && current != "" {
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, string(current))
		}
	}
	if src.Behind != nil {
		ctx, cancel := context.WithTimeout(context.Background(), src.QueryTimeout)
		bytes, ok := src.Behind(ctx)
		cancel()
		if ok {
			ch <- prometheus.MustNewConstMetric(descLagBytes, prometheus.GaugeValue, float64(bytes))
		}
	}
	collectReplication(src, ch)
	if src.CoverageProof != nil {
		if p := src.CoverageProof(); p != "" {
			ch <- prometheus.MustNewConstMetric(descCoverageProof, prometheus.GaugeValue, 1, p)
		}
	}
	if src.CoverageHeld != nil {
		ch <- prometheus.MustNewConstMetric(descCoverageHeld, prometheus.GaugeValue, boolValue(src.CoverageHeld()))
	}
	j := src.Journal
	if j == nil {
		return
	}
	if serverClock, ok := j.(interface{ Now() time.Time }); ok && src.Now == nil {
		now = serverClock.Now() // coverage instants are the followed server's
	}
	if at := j.Confirmed(); !at.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, max(0, now.Sub(at).Seconds()))
	}
	if fi, err := os.Stat(j.Path()); err == nil {
		ch <- prometheus.MustNewConstMetric(descJournalSize, prometheus.GaugeValue, float64(fi.Size()))
	}
	spans := j.Spans(now)
	ch <- prometheus.MustNewConstMetric(descSpans, prometheus.GaugeValue, float64(len(spans)))
	if n := len(spans); n > 0 {
		end := spans[n-1].End
		if end.After(now) { // the journal vouches for the future: report now
			end = now
		}
		ch <- prometheus.MustNewConstMetric(descCoverageEnd, prometheus.GaugeValue, float64(end.UnixNano())/1e9)
		ch <- prometheus.MustNewConstMetric(descCoverageTrail, prometheus.GaugeValue, now.Sub(end).Seconds())
	}
}
