package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// Holding coverage after a replication filter (docs/guarantees.md,
// "Coverage on a replica"). A replication filter drops the primary's
// changes to the table before the replica applies them, so the replica's
// rows stay as they were; when the filter is gone, the primary's next
// change of such a row reaches the replica's binlog with the stale row as
// its before image, and the journal records a wrong transition or misses
// one (truth 1 -> 2 dropped, then 2 -> 1: the replica's row goes 1 -> 1).
// A span started from a snapshot of the replica would vouch for that, and
// neither the replica nor the reconcile (which compares the journal with
// the replica's own, equally stale, table) can tell. So once a filter may
// have dropped a change, coverage is held: the span ends, the hold is
// kept in the journal (journal.Hold: a restart is no re-synchronization),
// the follower goes on following and journaling with no span open, and a
// fresh span starts only when the hold is lifted:
//   - by the operator, who re-synchronized the replica's table and says so
//     (Resynced: `jetmon-bridge journal resynced`, the Monitor's resynced
//     method);
//   - by the bridge itself with -primary-dsn: a comparison of the
//     replica's table with the primary's at one GTID point that finds them
//     alike (tablecheck.go);
//   - when the followed server is the primary itself (promoted): its table
//     is the truth.
// Binlog filters of the followed server hold nothing: they leave changes
// out of its binlog, not out of its table, and a fresh snapshot is exact
// once they are gone.

// defaultHoldCheckInterval paces the comparisons with the primary while
// coverage is held: each reads the table on both servers.
const defaultHoldCheckInterval = 30 * time.Second

// errHoldReleased ends the stream when a hold is lifted: the follower then
// starts a fresh span.
var errHoldReleased = errors.New("the hold on coverage was released")

// holdFix is the sentence that says how to lift a hold.
func holdFix(database string, primary bool) string {
	fix := fmt.Sprintf("re-synchronize %s.%s on the replica with the primary's (pt-table-sync --sync-to-master, or a fresh clone of the replica), "+
		"then run 'jetmon-bridge journal resynced' (or the Monitor's resynced method): coverage starts again from a fresh snapshot", database, bridge.Table)
	if primary {
		fix += "; with -primary-dsn the bridge compares the two tables itself and lifts the hold once they agree"
	}
	return fix
}

// holdFor records a hold with reason in j and logs it, returning the hold
// in force (an older one stays).
func holdFor(j *journal.Journal, log *slog.Logger, reason, fix string) (journal.Hold, error) {
	if h, held := j.Held(); held {
		return h, nil
	}
	h, err := j.HoldCoverage(journal.Hold{Since: time.Now(), Reason: reason})
	if err != nil {
		return h, err
	}
	log.Error("COVERAGE HELD: the replica's rows of the table may be stale, so no coverage span vouches for them until they are known to match the primary's; "+
		"/events answers mixed meanwhile; "+fix, "reason", reason)
	return h, nil
}

// holdForPreflight holds coverage when Preflight refused a replication
// filter: it may have dropped changes while the bridge was stopped, and
// once it is removed the follower must not vouch for the replica's rows.
// The open span (if any) ends at its durable end.
func holdForPreflight(j *journal.Journal, log *slog.Logger, p *FilterProblem, database string, primary bool) error {
	if !p.StaleRows() {
		return nil
	}
	reason := "replication filter: " + p.Error()
	if _, err := holdFor(j, log, reason, holdFix(database, primary)); err != nil {
		return err
	}
	if _, open := j.OpenSpan(); open {
		return j.Commit(&journal.Batch{EndSpan: reason})
	}
	return nil
}

// filterEnds ends coverage for a filter seen while following, holding it
// first when the filter may have left the replica's rows stale.
func (f *Follower) filterEnds(p *FilterProblem) error {
	reason := "replication filter: " + p.Error()
	if p.StaleRows() {
		if _, err := holdFor(f.cfg.Journal, f.log, reason, f.holdFix()); err != nil {
			return err
		}
	}
	return f.endCoverage(reason)
}

func (f *Follower) holdFix() string { return holdFix(f.dsn.DBName, f.cfg.Primary != nil) }

// HoldStatus is a hold as /healthz, the Monitor and `jetmon-bridge journal
// resynced` show it.
type HoldStatus struct {
	// Since is when the hold began (the bridge host's clock).
	Since time.Time `json:"since"`
	// Reason says what may have left the replica's rows stale.
	Reason string `json:"reason"`
	// Fix says how to lift it.
	Fix string `json:"fix"`
	// LastCheck is the last comparison with the primary (-primary-dsn).
	LastCheck *TableCheck `json:"last_check,omitempty"`
}

// Hold returns the hold on coverage in force, if any.
func (f *Follower) Hold() (HoldStatus, bool) {
	h, held := f.cfg.Journal.Held()
	if !held {
		return HoldStatus{}, false
	}
	st := HoldStatus{Since: h.Since, Reason: h.Reason, Fix: f.holdFix()}
	f.mu.Lock()
	if c := f.lastCheck; c != nil && !c.At.Before(h.Since) {
		cc := *c
		st.LastCheck = &cc
	}
	f.mu.Unlock()
	return st, true
}

// releaseHold lifts the hold h and has the follower start a fresh span
// (the running stream ends with errHoldReleased). It reports false when h
// is no longer the hold in force.
func (f *Follower) releaseHold(h journal.Hold, why string) (bool, error) {
	ok, err := f.cfg.Journal.ReleaseHold(h.Since)
	if err != nil || !ok {
		return ok, err
	}
	f.log.Warn("coverage hold released: coverage starts again from a fresh snapshot of the table", "why", why, "held_since", h.Since, "reason", h.Reason)
	f.mu.Lock()
	f.restarts.released = true
	if f.restarts.interrupt != nil {
		f.restarts.interrupt(errHoldReleased)
	}
	f.mu.Unlock()
	return true, nil
}

// Resync outcomes.
const (
	// ResyncReleased: the hold is lifted; a fresh span starts.
	ResyncReleased = "released"
	// ResyncHeld: the hold stays (the replica still filters, or the
	// comparison with the primary found rows that differ).
	ResyncHeld = "held"
	// ResyncNotHeld: nothing was held.
	ResyncNotHeld = "not_held"
)

// ResyncReport answers Resynced.
type ResyncReport struct {
	// Outcome is ResyncReleased, ResyncHeld or ResyncNotHeld.
	Outcome string `json:"outcome"`
	// Message says why, in a sentence.
	Message string `json:"message"`
	// Hold is the hold the call was about (nil when none).
	Hold *HoldStatus `json:"hold,omitempty"`
	// Check is the comparison with the primary the call ran (-primary-dsn).
	Check *TableCheck `json:"check,omitempty"`
}

// Resynced is the operator's word that the replica's table was
// re-synchronized with the primary's: it lifts the hold on coverage, and
// the follower starts a fresh span from a new snapshot. It refuses while
// the replica still has a filter that leaves the table out. With
// -primary-dsn it compares the tables first, and a comparison that finds
// rows differing keeps the hold (naming them); one that cannot compare (the
// primary away, the follower behind) leaves the operator's word to stand,
// as without -primary-dsn.
func (f *Follower) Resynced(ctx context.Context) ResyncReport {
	h, held := f.cfg.Journal.Held()
	if !held {
		return ResyncReport{Outcome: ResyncNotHeld, Message: "coverage is not held: nothing to release"}
	}
	status, _ := f.Hold()
	rep := ResyncReport{Hold: &status}
	if st, ok, _ := f.Replication(); ok && st.Filtered != nil && st.Filtered.StaleRows() {
		rep.Outcome = ResyncHeld
		rep.Message = "the replica still has a filter that leaves the table out, and it drops changes still: remove it first (" + st.Filtered.Error() + "), re-synchronize the table, then run this again"
		return rep
	}
	why := "the operator says the replica's table was re-synchronized"
	if f.cfg.Primary != nil {
		check := f.compareWithPrimary(ctx)
		rep.Check = &check
		switch check.Outcome {
		case ReconcileDiverged:
			rep.Outcome = ResyncHeld
			rep.Message = fmt.Sprintf("the replica's table still differs from the primary's in %d row(s) (sites %v): re-synchronize them, then run this again", check.Differences, check.Sites)
			return rep
		case ReconcileAgreed:
			why = "the operator says the replica's table was re-synchronized, and it agrees with the primary's"
		default:
			why = "the operator says the replica's table was re-synchronized (the comparison with the primary could not confirm it: " + check.Reason + ")"
		}
	}
	ok, err := f.releaseHold(h, why)
	switch {
	case err != nil:
		rep.Outcome, rep.Message = ResyncHeld, err.Error()
	case !ok:
		rep.Outcome, rep.Message = ResyncHeld, "the hold changed meanwhile (a filter was seen again): run this again once the replica's table is re-synchronized"
	default:
		rep.Outcome, rep.Message = ResyncReleased, "coverage hold released ("+why+"): coverage starts again from a fresh snapshot of the table"
	}
	return rep
}

// checkHoldInBackground compares the replica's table with the primary's
// while coverage is held and the connection streams, and lifts the hold
// when they agree. Checks come every HoldCheckInterval, or ten times as
// long as the last one took when that is longer: a check reads the whole
// table on both servers (about 6 s for a million rows), and spends at most
// a tenth of the time doing so.
func (f *Follower) checkHoldInBackground(ctx context.Context, c *connection) {
	interval := f.cfg.HoldCheckInterval
	for {
		h, held := f.cfg.Journal.Held()
		if !held {
			return
		}
		if c.watch == nil || c.watch.Filtered() == nil {
			check := f.compareWithPrimary(ctx)
			if ctx.Err() != nil {
				return
			}
			if check.Outcome == ReconcileAgreed {
				if _, err := f.releaseHold(h, "the replica's table agrees with the primary's at GTID "+check.PrimaryGTIDs); err != nil {
					f.log.Warn("could not release the hold on coverage", "error", err)
				}
				return
			}
			interval = max(f.cfg.HoldCheckInterval, 10*time.Duration(check.Seconds*float64(time.Second)))
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
