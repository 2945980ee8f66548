package server

import (
	"context"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/nats"
)

// DaemonHealth is what the daemon's /healthz reports: the replica, the
// follower, the journal, the replication, a hold on coverage, the
// reconcile self-check, and with -publish and -retain the publisher and
// the trims.
type DaemonHealth struct {
	Following *binlog.Following
	// Publisher is nil without -publish; Retainer nil without -retain.
	Publisher *nats.Publisher
	Retainer  *journal.Retainer
}

// Func answers /healthz: a 503 while the replica does not answer.
func (d DaemonHealth) Func() HealthFunc {
	return func(ctx context.Context) (Health, error) {
		f := d.Following
		h := Health{
			Follower:     followerHealth(f.Follower, f.Journal),
			Journal:      journalHealth(f.Journal),
			Replication:  replicationHealth(f.Follower),
			CoverageHold: holdHealth(f.Follower),
			Reconcile:    reconcileHealth(f.Reconciler),
		}
		h.Journal.Retention = retentionHealth(f.Journal, d.Retainer)
		if d.Publisher != nil {
			h.Publisher = publisherHealth(d.Publisher)
		}
		if err := f.Replica.Ping(ctx); err != nil {
			return h, err
		}
		if end, behind, known, err := f.Follower.Behind(ctx); err == nil {
			h.Follower.ServerPosition = end.Position.String()
			if known {
				h.Follower.BehindBytes = &behind
			}
		}
		return h, nil
	}
}

func followerHealth(f *binlog.Follower, j *journal.Journal) *FollowerHealth {
	st := f.Status()
	h := &FollowerHealth{State: st.State, Position: st.Position, Server: st.Server, Error: st.Error,
		CoverageProof: f.ProofName(), CoverageProofProblem: f.ProofProblem()}
	if c := j.Confirmed(); !c.IsZero() {
		h.CaughtUpAt = c.UTC().Format(time.RFC3339Nano)
	}
	return h
}

func journalHealth(j *journal.Journal) *JournalHealth {
	h := &JournalHealth{Path: j.Path(), Events: j.LastID()}
	now := j.Now() // the followed server's clock, as coverage is
	if spans := j.Spans(now); len(spans) > 0 {
		last := spans[len(spans)-1]
		h.Coverage = &CoverageHealth{Spans: len(spans), Start: last.Start, End: last.End}
		trail := coverageTrail(spans, now).Seconds()
		h.CoverageTrail = &trail
	}
	if err := j.CommitErr(); err != nil {
		h.Error = err.Error()
	}
	return h
}

// coverageTrail is how far the journal's coverage ends before now (zero
// when it reaches now).
func coverageTrail(spans []bridge.Span, now time.Time) time.Duration {
	if len(spans) == 0 {
		return 0
	}
	return max(0, now.Sub(spans[len(spans)-1].End))
}

// replicationHealth is nil while the followed server is the primary.
func replicationHealth(f *binlog.Follower) *ReplicationHealth {
	st, ok, err := f.Replication()
	if !ok {
		return nil
	}
	h := &ReplicationHealth{}
	if err != nil {
		h.Error = err.Error()
	}
	if st.IOThread == "" {
		return h
	}
	running, applied, filtered := st.Running(), st.AppliedAll, st.Filtered != nil
	h.IOThread, h.SQLThread = st.IOThread, st.SQLThread
	h.Running, h.AppliedAllReceived, h.Filtered = &running, &applied, &filtered
	if st.LagKnown {
		lag := st.Lag.Seconds()
		h.LagSeconds = &lag
	}
	h.IOError, h.SQLError, h.Problem = st.IOError, st.SQLError, st.Problem()
	if v := f.ReplicationVouched(); !v.IsZero() {
		h.VouchedTo = v.UTC().Format(time.RFC3339Nano)
	}
	return h
}

// holdHealth is coverage_hold (since, reason, fix, and with -primary-dsn
// the last comparison with the primary) while coverage is held.
func holdHealth(f *binlog.Follower) *binlog.HoldStatus {
	if h, held := f.Hold(); held {
		return &h
	}
	return nil
}

// reconcileHealth is the self-check: its interval, the last run (when,
// outcome, rows compared, differences and the first few differing sites),
// and the totals.
func reconcileHealth(r *binlog.Reconciler) *ReconcileHealth {
	st := r.Stats()
	h := &ReconcileHealth{IntervalSeconds: r.Interval().Seconds(), Runs: st.Runs, DifferencesTotal: st.Differences}
	if !st.LastSuccess.IsZero() {
		h.LastSuccess = st.LastSuccess.UTC().Format(time.RFC3339Nano)
	}
	last, ok := r.Last()
	if !ok {
		return h
	}
	l := &ReconcileRunHealth{
		At: last.At.Format(time.RFC3339Nano), Outcome: last.Outcome, Seconds: last.Seconds,
		Rows: last.Rows, Skipped: last.Skipped, Differences: last.Differences, OtherDifferences: last.OtherDifferences,
		Reason: last.Reason, Position: last.Position,
	}
	for _, d := range last.Examples {
		l.Sites = append(l.Sites, d.Site)
	}
	if last.TakenBackFrom != nil {
		l.CoverageTakenBackFrom = last.TakenBackFrom.Format(time.RFC3339)
	}
	h.Last = l
	return h
}

// retentionHealth is how far back the journal reaches and, with -retain
// (r not nil), the trims.
func retentionHealth(j *journal.Journal, r *journal.Retainer) *RetentionHealth {
	h := &RetentionHealth{}
	ret, err := j.Retention()
	if err != nil {
		h.Error = err.Error()
		return h
	}
	if !ret.Oldest.IsZero() {
		h.OldestEvent = ret.Oldest
		retained := time.Since(ret.Oldest).Seconds()
		h.RetainedSeconds = &retained
	}
	if !ret.Cutoff.IsZero() {
		h.Cutoff = ret.Cutoff
		h.Trimmed, h.FirstID = &ret.Trimmed, &ret.FirstID
	}
	if r != nil {
		st := r.Status()
		h.Retain = st.Retain.String()
		h.Trims, h.Deleted = &st.Trims, &st.Deleted
		h.LastTrim, h.Pending, h.TrimError = st.LastTrim, st.Pending, st.Error
	}
	return h
}

func publisherHealth(p *nats.Publisher) *PublisherHealth {
	s := p.Status()
	h := &PublisherHealth{State: s.State, URL: s.URL, Stream: s.Stream, Position: s.Position, Pending: s.Pending,
		Published: s.Published, Duplicates: s.Duplicates, Overtaken: s.Overtaken}
	if s.Error != "" {
		h.Error, h.ErrorAt = s.Error, s.ErrorAt
	}
	return h
}

// ReplayHealth is /healthz of a replay: the replayed journal as st read it.
func ReplayHealth(j *journal.Journal, st journal.Stats) HealthFunc {
	spans := len(st.Spans)
	h := &JournalHealth{Path: j.Path(), Events: st.Events, Spans: &spans}
	if spans > 0 {
		h.CoveredFrom = st.Spans[0].Start.Format(time.RFC3339Nano)
		h.CoveredTo = st.Spans[spans-1].End.Format(time.RFC3339Nano)
	}
	return func(context.Context) (Health, error) {
		return Health{Mode: "replay", Journal: h}, nil
	}
}
