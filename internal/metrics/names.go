package metrics

import (
	"context"
	"regexp"
	"slices"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/prometheus/client_golang/prometheus"
)

// Names lists every metric family the bridge can export, whichever of its
// sources are set: the names that alerting rules and dashboards may use
// (a running bridge exports a subset, as a metric without its source is
// left out). A histogram's series add _bucket, _sum and _count to its name.
func Names() []string {
	up := func(string) bool { return true }
	m := New(Sources{
		FollowerState:       func() bridge.FollowerState { return bridge.FollowerStarting },
		Behind:              func(context.Context) (uint64, bool) { return 0, true },
		Journal:             describedJournal{},
		Replication:         func() (Replication, bool) { return Replication{}, true },
		CoverageProof:       func() string { return "self" },
		CoverageHeld:        func() bool { return false },
		Publisher:           func() PublisherStats { return PublisherStats{} },
		Reconcile:           func() ReconcileStats { return ReconcileStats{} },
		Retention:           func() (RetentionStats, error) { return RetentionStats{}, nil },
		Services:            []string{"Replica"},
		ServiceUp:           up,
		RestartLimitCrossed: up,
	})
	m.Handler() // registers promhttp_metric_handler_errors_total, as serving does
	ch := make(chan *prometheus.Desc)
	go func() { m.registry.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		// Desc keeps its name private; its String() shows it.
		if match := descName.FindStringSubmatch(d.String()); match != nil {
			names = append(names, match[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// describedJournal stands in for the journal when Names describes the
// metrics; it is never read.
type describedJournal struct{}

func (describedJournal) LastID() uint64                { return 0 }
func (describedJournal) Commits() uint64               { return 0 }
func (describedJournal) Confirmed() time.Time          { return time.Time{} }
func (describedJournal) Spans(time.Time) []bridge.Span { return nil }
func (describedJournal) Path() string                  { return "" }
func (describedJournal) CommitErr() error              { return nil }
