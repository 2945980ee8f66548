package binlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// ReasonDiverged is the gap reason of a span a reconcile took back.
const ReasonDiverged = "journal diverged from the table"

// The reconcile self-check (docs/guarantees.md, "Reconcile: the journal
// checked against the table") compares the rows the journal keeps, as the
// binlog last showed them, with the followed server's table at one
// consistent point, so that whatever makes the journal wrong without any
// check foreseeing it (a replica's binlog filter, a write made with
// sql_log_bin=0, a bug) costs a gap, never a wrong `journal` answer for
// longer than one interval.
//
// The consistent point. The table is read in a consistent snapshot
// (store.Snapshot). On MariaDB the snapshot names its binlog position
// exactly (binlog_snapshot_file/position); on MySQL, which does not, the
// snapshot is bracketed between the binlog's end read just before it and
// just after, and the later one is used. The run then waits until the
// follower has committed up to that position, and reads the journal's rows
// a page at a time while the follower goes on. A RowWatch opened before the
// snapshot records every row the journal's commits change from then on;
// those rows may rightly differ (changed between the snapshot and the
// journal read, or, on MySQL, inside the bracket) and are left for the
// next run. Every other row was changed by no commit since before the
// snapshot, so the journal's copy is what it was at the snapshot's
// position, and must equal the table's. Neither side is read at an instant
// it cannot vouch for: no false difference under any write load
// (TestReconcileUnderLiveWritesFindsNothing).
//
// MySQL 8 offers a consistent point too (performance_schema.log_status
// under LOCK INSTANCE FOR BACKUP), but it needs BACKUP_ADMIN and stalls the
// replica's applier while held; the bracket needs no grant beyond the
// bridge's and stalls nothing, and the row watch is needed anyway. (MySQL
// writes a transaction to the binlog just before its engine commit makes
// it visible. A transaction the journal had committed before the run began
// and that a later snapshot still could not see would need the follower to
// receive, apply and fsync it within that gap; a row changed by one that
// the journal commits after the run began is set aside like any other.)

// ReconcileOptions tune a Reconciler.
type ReconcileOptions struct {
	// Interval is the time between periodic runs (Run); 0 runs only on
	// demand.
	Interval time.Duration
	// Wait bounds how long a run waits for the follower to commit up to
	// the snapshot's position (a follower catching up); the run is
	// skipped past it. Default one minute.
	Wait time.Duration
	// MaxChanged bounds the rows the journal may change during a run
	// (RowWatch), and so the memory of the record of them; past it the run
	// is skipped. Default 65,536 (a few MiB at most): a live follower
	// changes a handful during a run, one catching up is skipped anyway.
	MaxChanged int
	// Logger receives the outcome of every run; nil means the follower's.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler runs the self-check for one follower: periodically (Run) and
// on demand (Reconcile), one run at a time.
type Reconciler struct {
	f    *Follower
	opts ReconcileOptions
	log  *slog.Logger
	now  func() time.Time

	running chan struct{} // holds a token for a whole run

	mu    sync.Mutex
	last  ReconcileReport
	stats ReconcileStats
}

// NewReconciler returns a Reconciler of f's journal against f's server.
func NewReconciler(f *Follower, opts ReconcileOptions) *Reconciler {
	if opts.Wait <= 0 {
		opts.Wait = time.Minute
	}
	if opts.MaxChanged <= 0 {
		opts.MaxChanged = 1 << 16
	}
	r := &Reconciler{f: f, opts: opts, log: opts.Logger, now: opts.Now, running: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = f.log
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Outcomes of a run.
const (
	// ReconcileAgreed: every row compared agrees.
	ReconcileAgreed = "agreed"
	// ReconcileDiverged: some row's site_status or last_status_change
	// differs (or the row is missing on one side); coverage was taken back.
	ReconcileDiverged = "diverged"
	// ReconcileSkipped: the run could not compare at a consistent point
	// (no span yet, the follower behind or reconnecting, a new span
	// meanwhile); nothing is wrong that it knows of.
	ReconcileSkipped = "skipped"
	// ReconcileFailed: a query or a journal read failed.
	ReconcileFailed = "failed"
)

// maxExamples is how many differing rows a report names.
const maxExamples = 10

// ReconcileReport is the outcome of one run, as /healthz, `jetmon-bridge
// journal reconcile` and the Monitor's reconcile call show it.
type ReconcileReport struct {
	// At is when the run began; Seconds how long it took.
	At      time.Time `json:"at"`
	Seconds float64   `json:"duration_seconds"`
	Outcome string    `json:"outcome"`
	// Reason says why a run was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// Position is the binlog position the table was read at.
	Position string `json:"position,omitempty"`
	// Rows is the number of rows compared; Skipped those left for the
	// next run because the journal changed them while this one ran.
	Rows    int `json:"rows"`
	Skipped int `json:"skipped_changed_meanwhile"`
	// Differences counts rows whose site_status or last_status_change
	// differ, or that one side lacks; Examples names the first few.
	Differences int             `json:"differences"`
	Examples    []RowDifference `json:"examples,omitempty"`
	// OtherDifferences counts rows that differ only in the other columns
	// the journal keeps (blog_id, monitor_url, monitor_active): reported,
	// not acted on, as no answer's coverage rests on them.
	OtherDifferences int             `json:"other_differences"`
	OtherExamples    []RowDifference `json:"other_examples,omitempty"`
	// TakenBackFrom is, after a divergence, where the open span now ends:
	// the vouched end before the last run that agreed, or the span's start.
	TakenBackFrom *time.Time `json:"coverage_taken_back_from,omitempty"`
	// Primary is, with -primary-dsn, the comparison of the replica's table
	// with the primary's that follows a run in which the journal agreed
	// with the table (reconcileprimary.go); rows that differ there take
	// coverage back and hold it.
	Primary *TableCheck `json:"primary,omitempty"`
}

// RowDifference is one row that differs.
type RowDifference struct {
	Site uint64 `json:"site_id"`
	// Journal and Table are the row on each side; nil when it is missing.
	Journal *RowState `json:"journal"`
	Table   *RowState `json:"table"`
	// Columns names the columns that differ.
	Columns []string `json:"columns"`
}

// RowState is a row as compared.
type RowState struct {
	Blog             uint64        `json:"blog_id"`
	URL              string        `json:"monitor_url"`
	Active           bool          `json:"monitor_active"`
	Status           bridge.Status `json:"site_status"`
	LastStatusChange *time.Time    `json:"last_status_change"`
}

func reconciledRow(m bridge.Monitor) *RowState {
	s := &RowState{Blog: m.BlogID, URL: m.URL, Active: m.Active, Status: m.Status}
	if !m.LastStatusChange.IsZero() {
		t := m.LastStatusChange.UTC().Truncate(time.Second)
		s.LastStatusChange = &t
	}
	return s
}

func (d RowDifference) String() string {
	return fmt.Sprintf("site %d (%s): journal %s, table %s", d.Site, strings.Join(d.Columns, ", "), d.Journal, d.Table)
}

// String says the row in a sentence ("missing" for none).
func (s *RowState) String() string {
	if s == nil {
		return "missing"
	}
	changed := "NULL"
	if s.LastStatusChange != nil {
		changed = s.LastStatusChange.Format(time.RFC3339)
	}
	return fmt.Sprintf("blog %d status %d changed %s", s.Blog, s.Status, changed)
}

// ReconcileStats are the counters /metrics exports.
type ReconcileStats struct {
	// Runs counts finished runs by outcome.
	Runs map[string]uint64
	// Differences counts the differing rows found, over all runs.
	Differences uint64
	// LastSuccess is when the last run that compared every row (agreed or
	// diverged) ended; zero when none has.
	LastSuccess time.Time
	// LastSeconds is how long the last run took.
	LastSeconds float64
}

// Stats returns the counters.
func (r *Reconciler) Stats() ReconcileStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Runs = make(map[string]uint64, len(r.stats.Runs))
	for k, v := range r.stats.Runs {
		s.Runs[k] = v
	}
	return s
}

// Last returns the last run's report; false before the first.
func (r *Reconciler) Last() (ReconcileReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, !r.last.At.IsZero()
}

// Interval is the time between periodic runs, 0 when off.
func (r *Reconciler) Interval() time.Duration { return r.opts.Interval }

// Run reconciles every Interval until ctx ends; with no Interval it only
// waits for ctx.
func (r *Reconciler) Run(ctx context.Context) {
	if r.opts.Interval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.Reconcile(ctx)
	}
}

// errSkip marks the reasons a run cannot compare now.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

// Reconcile runs the check once, waiting for a run in progress to end
// first, and returns its report. A run that finds the journal diverged has
// already taken back the open span's coverage and asked the follower for a
// fresh span when it returns.
func (r *Reconciler) Reconcile(ctx context.Context) ReconcileReport {
	rep := ReconcileReport{At: r.now().UTC()}
	select {
	case r.running <- struct{}{}:
	case <-ctx.Done():
		rep.Outcome, rep.Reason = ReconcileSkipped, "gave up waiting for the run in progress: "+ctx.Err().Error()
		return rep
	}
	defer func() { <-r.running }()
	rep.At = r.now().UTC()
	err := r.reconcile(ctx, &rep)
	rep.Seconds = r.now().Sub(rep.At).Seconds()
	var s errSkip
	switch {
	case errors.As(err, &s):
		rep.Outcome, rep.Reason = ReconcileSkipped, s.reason
		r.log.Info("reconcile skipped", "reason", s.reason)
	case err != nil:
		rep.Outcome, rep.Reason = ReconcileFailed, err.Error()
		r.log.Warn("reconcile failed", "error", err)
	case rep.Primary != nil && rep.Primary.Outcome == ReconcileDiverged:
		rep.Outcome = ReconcileDiverged // logged by checkPrimary
	case rep.Differences > 0:
		rep.Outcome = ReconcileDiverged
		examples := make([]string, len(rep.Examples))
		for i, d := range rep.Examples {
			examples[i] = d.String()
		}
		r.log.Error("JOURNAL DIVERGED: the journal's rows differ from the table at a consistent point; "+
			"coverage after the last agreement is taken back, the span ends with a gap and a fresh one starts from a new snapshot; "+
			"something changes the table without the binlog showing it (a write with sql_log_bin=0, a binlog filter such as binlog_ignore_db) "+
			"or the bridge has a bug: see docs/operations.md, \"JOURNAL DIVERGED\"",
			"differences", rep.Differences, "rows", rep.Rows, "position", rep.Position,
			"taken_back_from", rep.TakenBackFrom, "examples", strings.Join(examples, "; "))
	default:
		rep.Outcome = ReconcileAgreed
		r.log.Info("reconcile: the journal agrees with the table", "rows", rep.Rows, "skipped_changed_meanwhile", rep.Skipped,
			"other_differences", rep.OtherDifferences, "position", rep.Position, "seconds", rep.Seconds)
	}
	if rep.OtherDifferences > 0 {
		examples := make([]string, len(rep.OtherExamples))
		for i, d := range rep.OtherExamples {
			examples[i] = d.String()
		}
		r.log.Warn("reconcile: rows differ in columns no coverage rests on", "count", rep.OtherDifferences, "examples", strings.Join(examples, "; "))
	}
	r.mu.Lock()
	r.last = rep
	if r.stats.Runs == nil {
		r.stats.Runs = map[string]uint64{}
	}
	r.stats.Runs[rep.Outcome]++
	r.stats.Differences += uint64(rep.Differences)
	r.stats.LastSeconds = rep.Seconds
	if rep.Outcome == ReconcileAgreed || rep.Outcome == ReconcileDiverged {
		r.stats.LastSuccess = r.now()
	}
	r.mu.Unlock()
	return rep
}

func (r *Reconciler) reconcile(ctx context.Context, rep *ReconcileReport) error {
	f, j := r.f, r.f.cfg.Journal
	span, ok := j.OpenSpan()
	if !ok {
		return skip("the journal has no open coverage span yet")
	}
	if _, _, doubt := j.Suspected(); doubt {
		return skip("the open span already diverged; the follower is starting a fresh one")
	}
	f.mu.Lock()
	server := f.server
	f.mu.Unlock()
	if server.Addr == "" {
		return skip("the follower has not connected to its server yet")
	}
	watch, err := j.WatchRows(r.opts.MaxChanged)
	if err != nil {
		return skip("%v", err)
	}
	defer watch.Close()

	snap, position, err := f.snapshotAtJournal(ctx, server, r.opts.Wait, "the snapshot")
	if err != nil {
		return err
	}
	defer snap.Close()
	rep.Position = position

	if err := r.compare(ctx, snap, watch, rep); err != nil {
		return err
	}
	if err := watch.Disturbed(); err != nil {
		return skip("%v", err)
	}
	if now, ok := j.OpenSpan(); !ok || !j.SameSpan(now.Start, span.Start) {
		return skip("a new coverage span started meanwhile")
	}
	if rep.Differences == 0 {
		if f.cfg.Primary == nil {
			return j.MarkAgreed(span.Start, span.End)
		}
		watch.Close() // one watch at a time: the comparison opens its own
		return r.checkPrimary(ctx, span, rep)
	}
	from, err := r.takeBack(span, rep)
	if err != nil {
		return err
	}
	f.RestartCoverage(span.Start, ReasonDiverged, from)
	return nil
}

// takeBack takes the open span back to its last agreement with the table,
// which it returns and the report names: the stretch after it is marked
// suspect in the journal (taken back in memory even when that write fails;
// the follower closes the span in the file when it starts the fresh one).
func (r *Reconciler) takeBack(span bridge.Span, rep *ReconcileReport) (time.Time, error) {
	j := r.f.cfg.Journal
	from, err := j.Agreed(span.Start)
	if err != nil {
		return time.Time{}, err
	}
	rep.TakenBackFrom = &from
	if _, err := j.Suspect(span.Start, from); err != nil {
		r.log.Warn("could not record the divergence in the journal", "error", err)
	}
	return from, nil
}

// journalPage is how many of the journal's rows one read transaction reads.
const journalPage = 4096

// compare merges the table's rows in the snapshot with the journal's, both
// in primary-key order, a page of each at a time.
func (r *Reconciler) compare(ctx context.Context, snap *store.Snapshot, watch *journal.RowWatch, rep *ReconcileReport) error {
	j := r.f.cfg.Journal
	var (
		page  []bridge.Monitor
		next  int
		after uint64
		done  bool
	)
	// peek returns the journal's next row, reading a page when needed.
	peek := func() (*bridge.Monitor, error) {
		if next == len(page) && !done {
			var err error
			if page, err = j.MonitorsAfter(after, journalPage, page[:0]); err != nil {
				return nil, err
			}
			next, done = 0, len(page) < journalPage
			if len(page) > 0 {
				after = page[len(page)-1].SiteID
			}
		}
		if next == len(page) {
			return nil, nil
		}
		return &page[next], nil
	}
	check := func(site uint64, journalRow, tableRow *bridge.Monitor) {
		if watch.Changed(site) {
			rep.Skipped++
			return
		}
		rep.Rows++
		d, counts, other := differ(site, journalRow, tableRow)
		switch {
		case counts:
			rep.Differences++
			if len(rep.Examples) < maxExamples {
				rep.Examples = append(rep.Examples, d)
			}
		case other:
			rep.OtherDifferences++
			if len(rep.OtherExamples) < maxExamples {
				rep.OtherExamples = append(rep.OtherExamples, d)
			}
		}
	}
	err := snap.Monitors(ctx, func(t bridge.Monitor) error {
		for {
			jr, err := peek()
			if err != nil {
				return err
			}
			switch {
			case jr != nil && jr.SiteID < t.SiteID:
				check(jr.SiteID, jr, nil)
				next++
				continue
			case jr != nil && jr.SiteID == t.SiteID:
				check(t.SiteID, jr, &t)
				next++
			default:
				check(t.SiteID, nil, &t)
			}
			return ctx.Err()
		}
	})
	if err != nil {
		return err
	}
	for {
		jr, err := peek()
		if err != nil || jr == nil {
			return err
		}
		check(jr.SiteID, jr, nil)
		next++
	}
}

// differ compares one row on both sides. counts is true when coverage
// rests on the difference: site_status, last_status_change (to the second,
// as the journal keeps it), or the row missing on one side; other when only
// blog_id, monitor_url or monitor_active differ. A row that agrees costs
// no allocation: a run compares every row of the table.
func differ(site uint64, journalRow, tableRow *bridge.Monitor) (d RowDifference, counts, other bool) {
	var columns []string
	switch {
	case journalRow == nil:
		columns = []string{"row missing from the journal"}
	case tableRow == nil:
		columns = []string{"row missing from the table"}
	default:
		jr, tr := journalRow, tableRow
		if jr.Status != tr.Status {
			columns = append(columns, "site_status")
		}
		if jr.LastStatusChange.IsZero() != tr.LastStatusChange.IsZero() || jr.LastStatusChange.Unix() != tr.LastStatusChange.Unix() {
			columns = append(columns, "last_status_change")
		}
		counts = len(columns) > 0
		if jr.BlogID != tr.BlogID {
			columns = append(columns, "blog_id")
		}
		if jr.URL != tr.URL {
			columns = append(columns, "monitor_url")
		}
		if jr.Active != tr.Active {
			columns = append(columns, "monitor_active")
		}
		if len(columns) == 0 {
			return RowDifference{}, false, false
		}
		other = !counts
	}
	d = RowDifference{Site: site, Columns: columns}
	if journalRow != nil {
		d.Journal = reconciledRow(*journalRow)
	}
	if tableRow != nil {
		d.Table = reconciledRow(*tableRow)
	}
	return d, counts || journalRow == nil || tableRow == nil, other
}

// waitCommitted returns once the follower, streaming from the server id,
// has committed to the journal everything before p.
func (f *Follower) waitCommitted(ctx context.Context, id journal.ServerIdentity, p Position) error {
	for {
		f.mu.Lock()
		server, settled, moved := f.server, f.settled, f.moved
		f.mu.Unlock()
		same := server.Same(id)
		reached := same && settled.Compare(p) >= 0
		switch {
		case !same:
			return fmt.Errorf("the follower now follows %s", server)
		case reached:
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("the follower has committed up to %s: %w", settled, ctx.Err())
		}
	}
}

// snapshotAtJournal opens a consistent snapshot of the followed server's
// table and waits, within wait, until the journal has committed up to the
// binlog point the snapshot was read at, so the two can be compared row by
// row. The point is exact on MariaDB (the snapshot's own position) and a
// bracket on MySQL (the positions read before and after); position says
// which, for reports. server is what the follower follows: a snapshot read
// on another server is skipped, as is a journal that does not get there in
// time. what names the snapshot in those reasons.
func (f *Follower) snapshotAtJournal(ctx context.Context, server journal.ServerIdentity, wait time.Duration, what string) (snap *store.Snapshot, position string, err error) {
	var before ServerPosition
	if f.cfg.Info.Flavor == FlavorMySQL {
		if before, err = CurrentPosition(ctx, f.db, f.cfg.Info.Flavor); err != nil {
			return nil, "", err
		}
	}
	if snap, err = f.cfg.Replica.BeginSnapshot(ctx); err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			snap.Close()
			snap = nil
		}
	}()
	at := Position{File: snap.BinlogFile, Pos: uint32(snap.BinlogPos)}
	position = at.String()
	if at.File == "" {
		after, err := CurrentPosition(ctx, f.db, f.cfg.Info.Flavor)
		if err != nil {
			return nil, "", err
		}
		at = after.Position
		position = fmt.Sprintf("between %s and %s", before.Position, after.Position)
	}
	id, err := ReadIdentity(ctx, f.db, f.cfg.Info.Flavor, f.dsn.Addr)
	if err != nil {
		return nil, "", err
	}
	if !id.Same(server) {
		return nil, "", skip("the follower follows %s, %s was read on %s", server, what, id)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	err = f.waitCommitted(wctx, id, at)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", skip("the journal did not reach %s's position %s within %s: %v", what, at, wait, err)
	}
	return snap, position, nil
}
