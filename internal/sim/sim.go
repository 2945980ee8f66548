// Package sim simulates Jetmon 1 writing to jetpack_monitor_sites, and
// records the ground truth of what it did.
//
// Run drives the status of a set of monitor rows (see Setup and Load) with
// exactly the statement Jetmon 1 issues,
//
//	UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=? AND monitor_url=?
//
// through the cycle 1 -> 0 -> 2 -> 1, plus flaps (1 -> 0 -> 1 at once),
// several changes of one blog within a second, multi-row UPDATEs that move
// several blogs in the same status together, and updates that are not
// transitions (check_interval changes, and Jetmon's statement with the status
// the row already has); on request (Options.Transactions), steps made in
// savepoint and XA transactions, some of whose changes are rolled back and
// never reported. Every committed transition is reported, in commit
// order, with the row's last_status_change read back right after the commit:
// the history a binlog follower must reproduce.
//
// A few workers, each owning a disjoint set of blogs, run concurrently on
// connections of their own; transition statements are committed one at a
// time so that their order (Seq, Stmt) is exactly the binlog's. A token
// bucket bounds the rate of transitions, and a seed fixes every choice.
package sim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-sql-driver/mysql"
)

// JetmonUpdate is the statement Jetmon 1 issues when a site's status changes.
const JetmonUpdate = "UPDATE " + bridge.Table + " SET site_status=?, last_status_change=NOW() WHERE blog_id=? AND monitor_url=?"

// Options shape a run. Fractions are probabilities per choice, in [0, 1].
type Options struct {
	// Sites are the monitors to drive (from Setup or Load). Run reads their
	// current statuses itself; each must be the only row of its blog.
	Sites []Site
	// Workers is the number of concurrent workers (default 4, at most one
	// per site). Site i belongs to worker i % Workers, in blog order.
	Workers int
	// Rate bounds transitions per second; 0 means as fast as possible.
	Rate float64
	// Duration stops the run after this long; 0 means no limit.
	Duration time.Duration
	// Transitions stops the run after exactly this many transitions; 0
	// means no limit.
	Transitions int
	// Seed fixes every choice: the same seed, sites, statuses and options
	// give the same sequence of statements.
	Seed uint64
	// MultiRow is the fraction of choices that move several blogs in the
	// same status with one UPDATE.
	MultiRow float64
	// Flap is the fraction of choices that take a running blog down and
	// back up at once (1 -> 0 -> 1; one in four goes 1 -> 0 -> 2 -> 1).
	Flap float64
	// Noise is the probability that a choice is followed by an update that
	// is not a transition.
	Noise float64
	// MaxGroup is the most rows a multi-row UPDATE changes (default 4).
	MaxGroup int
	// Transactions is the fraction of single-blog steps made in a
	// transaction of another shape (see txn.go): a ROLLBACK TO SAVEPOINT
	// undoing a change before the step commits, a two-phase or one-phase XA
	// COMMIT, or a prepared XA transaction rolled back before the step is
	// made plainly. Rolled-back changes are never in the truth. 0 (the
	// default) leaves the sequence of statements of a seed unchanged.
	Transactions float64
}

// Stats count what a run did.
type Stats struct {
	// Transitions is the number of transitions committed (and reported).
	Transitions int
	// Statements is the number of UPDATEs that made transitions.
	Statements int
	// MultiRow is the number of those that changed several rows.
	MultiRow int
	// Flaps is the number of flaps.
	Flaps int
	// SameSecond is the number of transitions that happened in the same
	// second as their blog's previous transition in this run.
	SameSecond int
	// Touches and SameStatus count the updates that were not transitions:
	// check_interval changes, and Jetmon's statement with the row's own
	// status.
	Touches, SameStatus int
	// SavepointRollbacks, XATwoPhase, XAOnePhase and XARollbacks count the
	// transactions of other shapes (Options.Transactions).
	SavepointRollbacks, XATwoPhase, XAOnePhase, XARollbacks int
	Elapsed                                                 time.Duration
}

// Add adds o's counts (not its Elapsed) to s.
func (s *Stats) Add(o Stats) {
	s.Transitions += o.Transitions
	s.Statements += o.Statements
	s.MultiRow += o.MultiRow
	s.Flaps += o.Flaps
	s.SameSecond += o.SameSecond
	s.Touches += o.Touches
	s.SameStatus += o.SameStatus
	s.SavepointRollbacks += o.SavepointRollbacks
	s.XATwoPhase += o.XATwoPhase
	s.XAOnePhase += o.XAOnePhase
	s.XARollbacks += o.XARollbacks
}

// statementTimeout bounds a statement once sent. A statement is never
// cancelled with the run's context, which would leave unknown whether it
// committed; the run stops between statements.
const statementTimeout = 30 * time.Second

// Run drives the sites until ctx ends, Duration passes or Transitions have
// been made, and calls truth for every committed transition in commit (Seq)
// order, from one goroutine at a time. Stopping is not an error: Run returns
// nil once the statements in flight have committed and been reported. An
// error from the database or from truth stops the run; the truth is then
// incomplete.
//
// db should allow at least Workers+1 connections; each worker sets its
// session time_zone to '+00:00'.
func Run(ctx context.Context, db *sql.DB, o Options, truth func(Transition) error) (Stats, error) {
	start := time.Now()
	if err := o.normalize(); err != nil {
		return Stats{}, err
	}
	if truth == nil {
		truth = func(Transition) error { return nil }
	}
	sites := slices.Clone(o.Sites)
	slices.SortFunc(sites, func(a, b Site) int { return cmpUint(a.BlogID, b.BlogID) })
	if err := refresh(ctx, db, sites); err != nil {
		if ctx.Err() != nil {
			return Stats{Elapsed: time.Since(start)}, nil // stopped before the first statement
		}
		return Stats{}, err
	}

	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	r := &run{seq: &sequencer{next: 1, pending: map[uint64][]Transition{}, emit: truth}}
	if o.Rate > 0 {
		r.bucket = newBucket(o.Rate, float64(max(o.MaxGroup, 3)), time.Now)
	}
	workers := make([]*worker, o.Workers)
	for w := range workers {
		wk := &worker{run: r, multi: map[int]*sql.Stmt{}, xidPrefix: fmt.Sprintf("sim-%d-%d", o.Seed, w)}
		var status []bridge.Status
		for i := w; i < len(sites); i += o.Workers {
			wk.sites = append(wk.sites, sites[i])
			status = append(status, sites[i].Status)
		}
		wk.plan = newPlanner(o.Seed, w, status, o)
		wk.quota = math.MaxInt
		if o.Transitions > 0 {
			wk.quota = o.Transitions / o.Workers
			if w < o.Transitions%o.Workers {
				wk.quota++
			}
		}
		workers[w] = wk
	}

	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wk.work(ctx, db); err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
				cancel(errs[i])
			}
		}()
	}
	wg.Wait()

	var stats Stats
	for _, wk := range workers {
		stats.Add(wk.stats)
	}
	stats.Elapsed = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return stats, fmt.Errorf("simulation stopped, ground truth incomplete: %w", err)
	}
	if err := r.seq.finish(); err != nil {
		return stats, err
	}
	return stats, nil
}

func (o *Options) normalize() error {
	switch {
	case len(o.Sites) == 0:
		return errors.New("sim: no sites to drive: get them from sim.Setup or sim.Load")
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("sim: rate %v must be a number >= 0 (0 is unlimited)", o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("sim: negative duration %v", o.Duration)
	case o.Transitions < 0:
		return fmt.Errorf("sim: negative number of transitions %d", o.Transitions)
	case o.Workers < 0:
		return fmt.Errorf("sim: negative number of workers %d", o.Workers)
	case o.MaxGroup < 0 || o.MaxGroup == 1:
		return fmt.Errorf("sim: max group %d: a multi-row update changes at least 2 rows", o.MaxGroup)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"multi-row", o.MultiRow}, {"flap", o.Flap}, {"noise", o.Noise}, {"transactions", o.Transactions}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("sim: %s fraction %v is not in [0, 1]", f.name, f.v)
		}
	}
	if o.MultiRow+o.Flap > 1 {
		return fmt.Errorf("sim: multi-row (%v) and flap (%v) fractions add up to more than 1", o.MultiRow, o.Flap)
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	o.Workers = min(o.Workers, len(o.Sites))
	if o.MaxGroup == 0 {
		o.MaxGroup = 4
	}
	return nil
}

// refresh reads the sites' current statuses, checking that each is the only
// row of its blog.
func refresh(ctx context.Context, db *sql.DB, sites []Site) error {
	for i := 1; i < len(sites); i++ {
		if sites[i].BlogID == sites[i-1].BlogID {
			return fmt.Errorf("sim: blog %d is given twice", sites[i].BlogID)
		}
	}
	for chunk := range slices.Chunk(sites, 500) {
		args := make([]any, len(chunk))
		for i, s := range chunk {
			args[i] = s.BlogID
		}
		rows, err := db.QueryContext(ctx, "SELECT blog_id, monitor_url, site_status FROM "+bridge.Table+
			" WHERE blog_id IN ("+placeholders(len(chunk))+") ORDER BY blog_id", args...)
		if err != nil {
			return fmt.Errorf("read the sites' statuses: %w", err)
		}
		seen := make([]bool, len(chunk))
		for rows.Next() {
			var blog uint64
			var url string
			var status uint8
			if err := rows.Scan(&blog, &url, &status); err != nil {
				rows.Close()
				return fmt.Errorf("read the sites' statuses: %w", err)
			}
			i, ok := slices.BinarySearchFunc(chunk, blog, func(s Site, id uint64) int { return cmpUint(s.BlogID, id) })
			switch {
			case !ok:
				rows.Close()
				return fmt.Errorf("sim: unexpected blog %d in the result", blog)
			case chunk[i].URL != url:
				rows.Close()
				return fmt.Errorf("sim: blog %d has a row for %q besides %q; the simulator needs exactly one row per blog it drives", blog, url, chunk[i].URL)
			case seen[i]:
				rows.Close()
				return fmt.Errorf("sim: blog %d has several rows for %q; the simulator needs exactly one row per blog it drives", blog, url)
			case !bridge.Status(status).Valid():
				rows.Close()
				return fmt.Errorf("sim: blog %d has site_status %d, which Jetmon 1 never writes", blog, status)
			}
			chunk[i].Status, seen[i] = bridge.Status(status), true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the sites' statuses: %w", err)
		}
		for i := range chunk {
			if !seen[i] {
				return fmt.Errorf("sim: blog %d has no row for %q in %s", chunk[i].BlogID, chunk[i].URL, bridge.Table)
			}
		}
	}
	return nil
}

// run is the state the workers share.
type run struct {
	bucket *bucket // nil: unlimited

	// commitMu serializes the transition statements, so that the order in
	// which they take their numbers is the order in which they commit.
	commitMu      sync.Mutex
	nextSeq, stmt uint64

	seq *sequencer
}

// numberCommit numbers a statement just committed that made n transitions:
// the first transition's sequence number and the statement's. The caller
// holds commitMu, so the numbers follow the commits' order.
func (r *run) numberCommit(n int) (seq, stmt uint64) {
	r.stmt++
	seq = r.nextSeq + 1
	r.nextSeq += uint64(n)
	return seq, r.stmt
}

// sequencer hands transitions to the truth callback in Seq order, whichever
// worker reads its transitions back first.
type sequencer struct {
	mu      sync.Mutex
	next    uint64
	pending map[uint64][]Transition
	emit    func(Transition) error
	err     error
}

func (s *sequencer) deliver(ts []Transition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.pending[ts[0].Seq] = ts
	for {
		p, ok := s.pending[s.next]
		if !ok {
			return nil
		}
		delete(s.pending, s.next)
		for _, t := range p {
			if err := s.emit(t); err != nil {
				s.err = fmt.Errorf("truth callback: %w", err)
				return s.err
			}
		}
		s.next += uint64(len(p))
	}
}

func (s *sequencer) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		return fmt.Errorf("sim: %d statements' transitions were never reported (transition %d is missing)", len(s.pending), s.next)
	}
	return nil
}

// worker drives its own blogs on its own connection.
type worker struct {
	run   *run
	sites []Site
	plan  *planner
	quota int
	stats Stats

	conn   *sql.Conn
	single *sql.Stmt
	multi  map[int]*sql.Stmt
	last   map[int]time.Time // each blog's last transition time in this run

	xidPrefix string // with a counter, names the worker's XA transactions
	xids      int
}

func (w *worker) work(ctx context.Context, db *sql.DB) error {
	if w.quota == 0 || len(w.sites) == 0 {
		return nil
	}
	var err error
	w.conn, err = db.Conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer w.conn.Close()
	defer func() {
		for _, st := range w.multi {
			st.Close()
		}
		if w.single != nil {
			w.single.Close()
		}
	}()
	sctx := context.WithoutCancel(ctx)
	if _, err := w.conn.ExecContext(sctx, "SET time_zone = '+00:00'"); err != nil {
		return fmt.Errorf("set session time zone: %w", err)
	}
	if w.single, err = w.conn.PrepareContext(sctx, JetmonUpdate); err != nil {
		return fmt.Errorf("prepare %s: %w", JetmonUpdate, err)
	}
	w.last = map[int]time.Time{}
	for done := 0; done < w.quota; {
		if ctx.Err() != nil {
			return nil
		}
		a := w.plan.next(w.quota - done)
		if w.run.bucket.take(ctx, a.transitions()) != nil {
			return nil
		}
		if err := w.do(sctx, a); err != nil {
			return err
		}
		done += a.transitions()
	}
	return nil
}

// do carries out an action. ctx is never cancelled by the run.
func (w *worker) do(ctx context.Context, a action) error {
	path := a.path
	if a.shape != shapePlain {
		if err := w.shaped(ctx, a); err != nil {
			return err
		}
		if a.shape != shapeXARollback {
			path = nil // the shaped transaction made the step
		}
	}
	from := a.from
	for _, to := range path {
		if err := w.transition(ctx, a.blogs, from, to); err != nil {
			return err
		}
		from = to
	}
	switch a.kind {
	case actMulti:
		w.stats.MultiRow++
	case actFlap:
		w.stats.Flaps++
	}
	if a.noise == noiseNone {
		return nil
	}
	site := w.sites[a.noiseBlog]
	q, args := "UPDATE "+bridge.Table+" SET check_interval = IF(check_interval = 5, 1, 5) WHERE blog_id=? AND monitor_url=?", []any{site.BlogID, site.URL}
	if a.noise == noiseSameStatus {
		q, args = JetmonUpdate, []any{uint8(w.plan.status[a.noiseBlog]), site.BlogID, site.URL}
	}
	if err := retry(func() error {
		sctx, cancel := context.WithTimeout(ctx, statementTimeout)
		defer cancel()
		_, err := w.conn.ExecContext(sctx, q, args...)
		return err
	}); err != nil {
		return fmt.Errorf("non-transition update of blog %d: %w", site.BlogID, err)
	}
	if a.noise == noiseSameStatus {
		w.stats.SameStatus++
	} else {
		w.stats.Touches++
	}
	return nil
}

// transition moves the blogs, all in status from, to status with one UPDATE,
// reads the rows back and reports the transitions.
func (w *worker) transition(ctx context.Context, blogs []int, from, status bridge.Status) error {
	stmt, args, err := w.statement(ctx, blogs, status)
	if err != nil {
		return err
	}
	r := w.run
	var seq, stmtNo uint64
	err = retry(func() error {
		sctx, cancel := context.WithTimeout(ctx, statementTimeout)
		defer cancel()
		r.commitMu.Lock()
		defer r.commitMu.Unlock()
		res, err := stmt.ExecContext(sctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != int64(len(blogs)) {
			return fmt.Errorf("the UPDATE changed %d rows, not %d: is something else writing to blogs %s?", n, len(blogs), w.blogList(blogs))
		}
		seq, stmtNo = r.numberCommit(len(blogs))
		return nil
	})
	if err != nil {
		return fmt.Errorf("set blogs %s to %d: %w", w.blogList(blogs), status, err)
	}
	return w.report(ctx, blogs, from, status, seq, stmtNo)
}

// report reads back the blogs a committed statement or transaction (numbered
// stmtNo, its first transition seq) moved from status from to status, and
// hands their transitions to the sequencer.
func (w *worker) report(ctx context.Context, blogs []int, from, status bridge.Status, seq, stmtNo uint64) error {
	r := w.run
	ts, err := w.readBack(ctx, blogs, from, status)
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i].Seq, ts[i].Stmt = seq+uint64(i), stmtNo
		if prev, ok := w.last[blogs[i]]; ok && prev.Equal(ts[i].CreatedAt) {
			w.stats.SameSecond++
		}
		w.last[blogs[i]] = ts[i].CreatedAt
	}
	w.stats.Statements++
	w.stats.Transitions += len(ts)
	return r.seq.deliver(ts)
}

func (w *worker) statement(ctx context.Context, blogs []int, status bridge.Status) (*sql.Stmt, []any, error) {
	if len(blogs) == 1 {
		s := w.sites[blogs[0]]
		return w.single, []any{uint8(status), s.BlogID, s.URL}, nil
	}
	args := []any{uint8(status)}
	for _, b := range blogs {
		args = append(args, w.sites[b].BlogID, w.sites[b].URL)
	}
	if st, ok := w.multi[len(blogs)]; ok {
		return st, args, nil
	}
	q := "UPDATE " + bridge.Table + " SET site_status=?, last_status_change=NOW() WHERE (blog_id, monitor_url) IN (" +
		strings.TrimSuffix(strings.Repeat("(?,?),", len(blogs)), ",") + ")"
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare multi-row UPDATE: %w", err)
	}
	w.multi[len(blogs)] = st
	return st, args, nil
}

// readBack reads the rows' site_status and last_status_change right after
// the commit, on the same connection. The worker owns these blogs, so
// nothing else has changed them since.
func (w *worker) readBack(ctx context.Context, blogs []int, from, status bridge.Status) ([]Transition, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	args := make([]any, len(blogs))
	for i, b := range blogs {
		args[i] = w.sites[b].BlogID
	}
	rows, err := w.conn.QueryContext(ctx, "SELECT blog_id, site_status, UNIX_TIMESTAMP(last_status_change) FROM "+bridge.Table+
		" WHERE blog_id IN ("+placeholders(len(blogs))+") ORDER BY blog_id", args...)
	if err != nil {
		return nil, fmt.Errorf("read back blogs %s after their committed transition: %w", w.blogList(blogs), err)
	}
	defer rows.Close()
	ts := make([]Transition, 0, len(blogs))
	for rows.Next() {
		var blog uint64
		var got uint8
		var at sql.NullInt64
		if err := rows.Scan(&blog, &got, &at); err != nil {
			return nil, fmt.Errorf("read back blogs %s: %w", w.blogList(blogs), err)
		}
		i := len(ts)
		switch {
		case i >= len(blogs) || w.sites[blogs[i]].BlogID != blog:
			return nil, fmt.Errorf("read back blogs %s: unexpected row of blog %d", w.blogList(blogs), blog)
		case bridge.Status(got) != status:
			return nil, fmt.Errorf("blog %d has site_status %d right after being set to %d: is something else writing to it?", blog, got, status)
		case !at.Valid:
			return nil, fmt.Errorf("blog %d has a NULL last_status_change right after the UPDATE set it", blog)
		}
		ts = append(ts, Transition{BlogID: blog, Old: from, New: status, CreatedAt: time.Unix(at.Int64, 0).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read back blogs %s: %w", w.blogList(blogs), err)
	}
	if len(ts) != len(blogs) {
		return nil, fmt.Errorf("read back blogs %s: %d rows, want %d", w.blogList(blogs), len(ts), len(blogs))
	}
	return ts, nil
}

func (w *worker) blogList(blogs []int) string {
	ids := make([]string, len(blogs))
	for i, b := range blogs {
		ids[i] = fmt.Sprint(w.sites[b].BlogID)
	}
	return strings.Join(ids, ",")
}

// retry runs a statement again when the server rolled it back because of a
// deadlock or a lock wait timeout: it did not commit, so running it again
// is safe.
func retry(f func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = f(); err == nil {
			return nil
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return err
		}
	}
	return err
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
