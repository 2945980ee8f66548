package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/store"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// The comparison of the replica's table with the primary's
// (docs/guarantees.md, "Coverage on a replica"), which lifts a hold on
// coverage when -primary-dsn is given (hold.go).
//
// What is compared, and why the replica's table. A fresh span starts from
// a snapshot of the replica's table, so that is what must match the
// primary's before the hold may lift. The journal's own rows would not do:
// they change only with the binlog, so a re-synchronization that does not
// go through the replica's binlog (a fresh clone, pt-table-sync writing
// with the binlog off) would leave them stale and the hold in force for
// good; and comparing them would say nothing about the snapshot the span
// then starts from.
//
// At which point. The two tables are read at points the follower ties
// together:
//  1. A RowWatch opens on the journal: from now on it records every row
//     the follower's commits change.
//  2. The primary is checked to be the primary (PrimaryProof), and its
//     table is read in a consistent snapshot; its GTID set G is read once
//     the snapshot has begun.
//  3. The follower commits G: the replica has applied everything the
//     snapshot holds. Then the replica's table is read in a consistent
//     snapshot at binlog position S (exact on MariaDB, the binlog's end
//     read after it on MySQL), and the follower commits up to S.
//  4. The rows are merged in primary-key order; rows the watch saw change
//     are set aside.
//  5. The primary's GTID set is read once more and the follower commits
//     it, then the watch is checked (no snapshot or overflow meanwhile).
//
// A row set aside was changed on the replica after step 1 by a replicated
// row event, whose after image is the primary's (binlog_row_image=FULL):
// the replica's row is then the primary's as of that change, and no filter
// drops a later one (the check runs only while the replica's readings show
// none). Every other row was changed on the replica by no commit from step
// 1 to S, while every primary transaction the snapshot does not hold
// committed after step 1 and reaches the journal after it: the replica's
// row at S is what it was when the replica had applied G, and must equal
// the primary's in the snapshot. A stale row differs (the primary's change the filter dropped is
// in the snapshot, the replica's row lacks it) unless the primary's later
// changes made the two alike again, in which case the replica's row is the
// truth. A difference can be false (MySQL makes a commit visible a moment
// before it publishes its GTID, so a row of a transaction the snapshot
// holds and G lacks may differ), which only keeps the hold one more
// check; an agreement cannot: and step 5 has the follower journal, before
// the hold lifts and so before the fresh span's snapshot, every transaction
// the primary's snapshot could see.

// TableCheck is one comparison of the replica's table with the primary's.
type TableCheck struct {
	// At is when it began; Seconds how long it took.
	At      time.Time `json:"at"`
	Seconds float64   `json:"duration_seconds"`
	// Outcome is ReconcileAgreed, ReconcileDiverged (rows differ),
	// ReconcileSkipped (no consistent point now) or ReconcileFailed.
	Outcome string `json:"outcome"`
	// Reason says why a check was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// PrimaryGTIDs is the primary's GTID set the replica had applied when
	// its table was read; ReplicaPosition where that read was.
	PrimaryGTIDs    string `json:"primary_gtids,omitempty"`
	ReplicaPosition string `json:"replica_position,omitempty"`
	// Rows counts the rows compared; Skipped those the replica changed
	// meanwhile (left for the next check).
	Rows    int `json:"rows"`
	Skipped int `json:"skipped_changed_meanwhile"`
	// Differences counts the rows that differ in site_status or
	// last_status_change or that one side lacks; Sites names the first
	// few, Examples shows them.
	Differences int               `json:"differences"`
	Sites       []uint64          `json:"sites,omitempty"`
	Examples    []TableDifference `json:"examples,omitempty"`
	// OtherDifferences counts rows that differ only in blog_id,
	// monitor_url or monitor_active: no transition rests on them.
	OtherDifferences int `json:"other_differences"`
}

// TableDifference is a row that differs between the replica and the
// primary.
type TableDifference struct {
	Site uint64 `json:"site_id"`
	// Replica and Primary are the row on each side; nil when missing.
	Replica *RowState `json:"replica"`
	Primary *RowState `json:"primary"`
	Columns []string  `json:"columns"`
}

func (d TableDifference) String() string {
	return fmt.Sprintf("site %d (%s): replica %s, primary %s", d.Site, strings.Join(d.Columns, ", "), d.Replica, d.Primary)
}

// checkWait bounds each of the comparison's waits for the follower.
const checkWait = time.Minute

// compareWithPrimary compares the replica's table with the primary's at
// one GTID point (see above); one comparison runs at a time. The outcome is
// kept for HoldStatus.
func (f *Follower) compareWithPrimary(ctx context.Context) TableCheck {
	f.checkMu.Lock()
	defer f.checkMu.Unlock()
	check := TableCheck{At: f.now().UTC()}
	err := f.compareTables(ctx, &check)
	check.Seconds = f.now().Sub(check.At).Seconds()
	var s errSkip
	switch {
	case errors.As(err, &s):
		check.Outcome, check.Reason = ReconcileSkipped, s.reason
		f.log.Info("comparison with the primary skipped", "reason", s.reason)
	case err != nil:
		check.Outcome, check.Reason = ReconcileFailed, err.Error()
		f.log.Warn("comparison with the primary failed", "error", err)
	case check.Differences > 0:
		check.Outcome = ReconcileDiverged
		examples := make([]string, len(check.Examples))
		for i, d := range check.Examples {
			examples[i] = d.String()
		}
		f.mu.Lock()
		last := f.lastCheck
		f.mu.Unlock()
		level := slog.LevelError // once for each set of differing rows
		if last != nil && last.Outcome == ReconcileDiverged && slices.Equal(last.Sites, check.Sites) {
			level = slog.LevelDebug
		}
		f.log.Log(ctx, level, "COVERAGE HELD: the replica's table differs from the primary's: re-synchronize these rows; the hold stays until the tables agree",
			"differences", check.Differences, "sites", check.Sites, "primary_gtids", check.PrimaryGTIDs, "examples", strings.Join(examples, "; "))
	default:
		check.Outcome = ReconcileAgreed
		f.log.Info("the replica's table agrees with the primary's", "rows", check.Rows, "skipped_changed_meanwhile", check.Skipped,
			"primary_gtids", check.PrimaryGTIDs, "seconds", check.Seconds)
	}
	f.mu.Lock()
	f.lastCheck = &check
	f.mu.Unlock()
	return check
}

func (f *Follower) compareTables(ctx context.Context, check *TableCheck) error {
	p := f.cfg.Primary
	if p == nil {
		return errors.New("no -primary-dsn to compare with")
	}
	if db := p.Config().DBName; db != f.dsn.DBName {
		return fmt.Errorf("%s names database %q, but the replica's table is %s.%s: give %s Jetmon's database, as -dsn does", f.cfg.PrimaryFlag, db, f.dsn.DBName, bridge.Table, f.cfg.PrimaryFlag)
	}
	f.mu.Lock()
	server := f.server
	f.mu.Unlock()
	if server.Addr == "" {
		return skip("the follower has not connected to its server yet")
	}
	watch, err := f.cfg.Journal.WatchRows(1 << 16)
	if err != nil {
		return skip("%v", err)
	}
	defer watch.Close()

	// The primary's table, between two readings of its GTID set.
	proof := PrimaryProof{DB: p.SQL(), Flavor: f.cfg.Info.Flavor, Flag: f.cfg.PrimaryFlag, Host: f.now}
	var np *NotPrimaryError
	if _, err := proof.Claim(ctx); errors.As(err, &np) {
		return skip("%v", np)
	} else if err != nil {
		return err
	}
	primarySnap, err := p.BeginSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w (grant SELECT ON %s.%s to its user)", f.cfg.PrimaryFlag, err, f.dsn.DBName, bridge.Table)
	}
	defer primarySnap.Close()
	g, err := proof.Claim(ctx)
	if err != nil {
		return err
	}
	check.PrimaryGTIDs = g.GTIDs.String()
	if err := f.waitGTIDsCommittedWithin(ctx, g.GTIDs); err != nil {
		return err
	}

	// The replica's table, once it has applied all of that.
	replicaSnap, position, err := f.snapshotAtJournal(ctx, server, checkWait, "the replica's snapshot")
	if err != nil {
		return err
	}
	defer replicaSnap.Close()
	check.ReplicaPosition = position

	if err := mergeTables(ctx, replicaSnap, primarySnap, func(site uint64, replicaRow, primaryRow *bridge.Monitor) {
		if watch.Changed(site) {
			check.Skipped++
			return
		}
		check.Rows++
		d, counts, other := differ(site, replicaRow, primaryRow)
		switch {
		case counts:
			check.Differences++
			if len(check.Examples) < maxExamples {
				check.Sites = append(check.Sites, site)
				check.Examples = append(check.Examples, TableDifference{Site: site, Replica: d.Journal, Primary: d.Table, Columns: sideNames(d.Columns)})
			}
		case other:
			check.OtherDifferences++
		}
	}); err != nil {
		return err
	}

	// Every transaction the primary's snapshot could see is journaled
	// before the hold lifts (MySQL publishes a GTID a moment after the
	// commit is visible).
	late, err := proof.Claim(ctx)
	if err != nil {
		return err
	}
	if err := f.waitGTIDsCommittedWithin(ctx, late.GTIDs); err != nil {
		return err
	}
	return watch.Disturbed()
}

// waitGTIDsCommittedWithin waits, at most checkWait, until the follower
// has committed the primary's GTID set; a follower that does not is behind
// (a skip).
func (f *Follower) waitGTIDsCommittedWithin(ctx context.Context, set mysql.GTIDSet) error {
	wctx, cancel := context.WithTimeout(ctx, checkWait)
	defer cancel()
	if err := f.waitClaimCommitted(wctx, Claim{GTIDs: set}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return skip("%v", err)
	}
	return nil
}

// sideNames names a missing row by the server it is missing from.
func sideNames(columns []string) []string {
	out := make([]string, len(columns))
	for i, c := range columns {
		switch c {
		case "row missing from the journal":
			c = "row missing on the replica"
		case "row missing from the table":
			c = "row missing on the primary"
		}
		out[i] = c
	}
	return out
}

// mergeTables merges two snapshots of the table in primary-key order and
// calls fn for every site either holds (nil for the side that lacks it).
// The second snapshot is read on a goroutine of its own, a page ahead at
// most.
func mergeTables(ctx context.Context, a, b *store.Snapshot, fn func(site uint64, aRow, bRow *bridge.Monitor)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := make(chan bridge.Monitor, 1024)
	done := make(chan error, 1)
	go func() {
		defer close(rows)
		done <- b.Monitors(ctx, func(m bridge.Monitor) error {
			select {
			case rows <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	next, more := <-rows
	err := a.Monitors(ctx, func(m bridge.Monitor) error {
		for more && next.SiteID < m.SiteID {
			n := next
			fn(n.SiteID, nil, &n)
			next, more = <-rows
		}
		if more && next.SiteID == m.SiteID {
			n := next
			fn(m.SiteID, &m, &n)
			next, more = <-rows
			return nil
		}
		fn(m.SiteID, &m, nil)
		return nil
	})
	if err != nil {
		cancel()
		for range rows {
		}
		<-done
		return err
	}
	for more {
		n := next
		fn(n.SiteID, nil, &n)
		next, more = <-rows
	}
	return <-done
}
