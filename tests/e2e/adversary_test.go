package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// The adversary suite (issue 21): what a replica in the wild does to the
// bridge that the documented set-up does not, each on a real primary ->
// replica chain with the truth recorded on the primary by a trigger, so that
// savepoints, XA and rolled-back work count exactly as they committed. Each
// case judges every `journal` answer given during the event and, after
// recovery, one answer per blog over the whole window, each of which must say
// journal and equal the truth. A divergence no check can see (a write with
// sql_log_bin=0 on the replica) caught by the reconcile within one interval
// is TestReconcileTakesBackADivergedJournal (reconcile_test.go).

// truthSchema records every transition the primary commits, in commit order
// per row (the row's lock serializes them).
const truthSchema = `
CREATE TABLE adversary_truth (
  id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  blog_id bigint unsigned NOT NULL,
  old_status tinyint unsigned NOT NULL,
  new_status tinyint unsigned NOT NULL,
  at bigint NOT NULL
);`

// truthTrigger fires on the primary only: a replica applying rows runs no
// triggers (slave_run_triggers_for_rbr=NO).
func truthTrigger(name, table string) string {
	return fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s FOR EACH ROW "+
		"INSERT INTO adversary_truth (blog_id, old_status, new_status, at) SELECT NEW.blog_id, OLD.site_status, NEW.site_status, UNIX_TIMESTAMP(NEW.last_status_change) "+
		"FROM DUAL WHERE OLD.site_status <> NEW.site_status", name, table)
}

// Swapping site_status and monitor_active (both tinyint unsigned) changes
// nothing a table map without column names shows.
const (
	statusAfterURL    = "MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_url"
	statusAfterActive = "MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_active"
)

// adversary is a chain, the simulator's sites and the blogs a transaction
// writer of its own drives, and the bridge following the replica.
type adversary struct {
	t       *testing.T
	tp      *testdb.Topology
	db      *testdb.DB
	primary *testdb.Server // where Jetmon writes: changes at a failover
	sites   []sim.Site     // the simulator's
	own     []uint64       // the transaction writer's
	d       *daemon
	args    []string
	since   time.Time // answers are asked from here: the current span's start or later
	seed    uint64
	// replicas are the chain's replicas of the moment, waited for.
	replicas []*testdb.Replica
	pools    map[*testdb.Server]*sql.DB
}

func newAdversary(t *testing.T, o testdb.TopologyOptions) *adversary {
	t.Helper()
	tp := testdb.DedicatedTopology(t, o)
	db := tp.NewDB(t)
	a := &adversary{t: t, tp: tp, db: db, primary: tp.Primary, sites: setupSites(t, db, 41000, 16), seed: 2100, replicas: tp.Replicas, pools: map[*testdb.Server]*sql.DB{}}
	for i := range 6 {
		blog := uint64(41900 + i)
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES (?, 0, ?, 1, NOW() - INTERVAL 1 HOUR)", blog, fmt.Sprintf("https://%d.adversary.example", blog))
		a.own = append(a.own, blog)
	}
	db.MustExec(t, truthSchema)
	db.MustExec(t, truthTrigger("adversary_truth_sites", "jetpack_monitor_sites"))
	a.caughtUp()
	a.args = []string{"-dsn", tp.Replica().DSN(db.Name), "-journal", filepath.Join(t.TempDir(), "bridge.journal"), "-read-timeout", "1s", "-monitor-interval", "200ms"}
	a.d = startBridge(t, a.args...)
	a.since = a.serverSince()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the bridge's log ends:\n%s", a.d.log.Tail(12000))
		}
	})
	return a
}

func (a *adversary) blogs() []uint64 {
	var out []uint64
	for _, s := range a.sites {
		out = append(out, s.BlogID)
	}
	return append(out, a.own...)
}

// exec runs statements on server (one connection) or fails the test.
func (a *adversary) exec(s *testdb.Server, stmts ...string) {
	a.t.Helper()
	if err := s.Exec(strings.Join(stmts, "; ")); err != nil {
		a.t.Fatalf("%s on %s: %v", stmts, s.Addr(), err)
	}
}

// onDB is a pool on the test's database on s.
func (a *adversary) onDB(s *testdb.Server) *sql.DB {
	if a.pools[s] == nil {
		a.pools[s] = mustDB(a.t, s.DSN(a.db.Name))
	}
	return a.pools[s]
}

func (a *adversary) caughtUp() {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, r := range a.replicas {
		if err := r.WaitCaughtUp(ctx); err != nil {
			a.t.Fatal(err)
		}
	}
}

// serverNow is the primary's clock, which stamps every transition.
func (a *adversary) serverNow() time.Time {
	a.t.Helper()
	var us int64
	if err := a.onDB(a.primary).QueryRow("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)").Scan(&us); err != nil {
		a.t.Fatal(err)
	}
	return time.UnixMicro(us)
}

// serverSince is the next whole second of the servers' clock, once it has
// passed: a window from there lies inside the span the bridge just began.
func (a *adversary) serverSince() time.Time {
	at := a.serverNow().Truncate(time.Second).Add(time.Second)
	waitFor(a.t, "the servers' clock to pass "+at.String(), time.Minute, func() bool { return a.serverNow().After(at) })
	return at
}

// truth is every transition the primary committed, read from the primary.
func (a *adversary) truth() []bridge.Event {
	a.t.Helper()
	rows, err := a.onDB(a.primary).Query("SELECT blog_id, old_status, new_status, at FROM adversary_truth ORDER BY id")
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []bridge.Event
	for rows.Next() {
		var e bridge.Event
		var at int64
		if err := rows.Scan(&e.BlogID, &e.OldStatus, &e.NewStatus, &at); err != nil {
			a.t.Fatal(err)
		}
		e.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// load drives the simulator on the primary until the returned stop is
// called; stop returns how many transitions it committed.
func (a *adversary) load() (stop func() int) {
	a.t.Helper()
	a.seed++
	// The goroutine gets its own copy: asking bumps a.seed meanwhile.
	o := sim.Options{Sites: a.sites, Workers: 2, Rate: 60, Seed: a.seed, MultiRow: 0.2, Flap: 0.2, Noise: 0.2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	pool := a.onDB(a.primary)
	go func() {
		st, err := sim.Run(ctx, pool, o, func(sim.Transition) error { return nil })
		if err != nil && ctx.Err() == nil {
			a.t.Errorf("simulator: %v", err)
		}
		done <- st.Transitions
	}()
	return func() int { cancel(); return <-done }
}

// asking asks the bridge from two clients until the returned stop, which
// asks a few times more, now, and gives every answer.
func (a *adversary) asking() (stop func() []bridgetest.Answer) {
	a.seed++
	asker := bridgetest.NewAsker(a.d.proc, a.blogs(), a.since, a.seed)
	asker.Start(2)
	return func() []bridgetest.Answer {
		asker.Stop()
		for range 8 {
			asker.Ask()
		}
		answers, _ := asker.Stop()
		return answers
	}
}

// judge holds the answers given during an event to the truth, once the
// truth for their windows is complete.
func (a *adversary) judge(t *testing.T, answers []bridgetest.Answer) {
	t.Helper()
	v := bridgetest.JudgeJournalAnswers(answers, a.truth())
	for _, p := range v.Problems[:min(len(v.Problems), 5)] {
		t.Error(p)
	}
	if len(v.Problems) > 0 {
		t.Errorf("%d of %d journal answers during the event differ from the primary's truth", len(v.Problems), v.Journal)
	}
	t.Logf("during: %d answers, %d said journal", v.Answers, v.Journal)
}

// exact waits until the journal vouches for the present, then asks every
// blog over [since, now): each answer must say journal and equal the truth.
// One judged journal answer per blog: a recovery that judges nothing
// proves nothing.
func (a *adversary) exact(t *testing.T) {
	t.Helper()
	a.caughtUp()
	until := a.serverNow()
	truth := a.truth()
	blogs := a.blogs()
	waitFor(t, "coverage to reach the present", 2*time.Minute, func() bool {
		_, cov := a.d.events(blogs[0], a.since, until)
		return cov == string(bridge.CoverageJournal)
	})
	var answers []bridgetest.Answer
	for _, blog := range blogs {
		events, cov := a.d.events(blog, a.since, until)
		if cov != string(bridge.CoverageJournal) {
			t.Errorf("after recovery blog %d [%s, %s): %s, want journal", blog, a.since.Format(time.RFC3339), until.Format(time.RFC3339), cov)
		}
		answers = append(answers, bridgetest.Answer{Blog: blog, Since: a.since, Until: until, Coverage: cov, Events: events})
	}
	v := bridgetest.JudgeJournalAnswers(answers, truth)
	for _, p := range v.Problems {
		t.Error(p)
	}
	if v.Journal < len(blogs) {
		t.Errorf("after recovery %d of %d blogs' answers said journal", v.Journal, len(blogs))
	}
	n := 0
	for _, e := range truth {
		if !e.CreatedAt.Before(a.since) && e.CreatedAt.Before(until) {
			n++
		}
	}
	t.Logf("after: %d blogs exact over %d transitions since %s", v.Journal-len(v.Problems), n, a.since.Format(time.RFC3339))
}

// loadUntil drives the simulator until the truth holds n transitions in
// the asked windows, so that what follows judges some.
func (a *adversary) loadUntil(t *testing.T, n int) {
	t.Helper()
	stop := a.load()
	waitFor(t, fmt.Sprintf("%d transitions since %s", n, a.since.Format(time.RFC3339)), time.Minute, func() bool {
		k := 0
		for _, e := range a.truth() {
			if !e.CreatedAt.Before(a.since) {
				k++
			}
		}
		return k >= n
	})
	stop()
}

// probe asks, a few rounds over, the windows from the asked start to until
// of the blogs that have transitions in [from, until): the windows a lagging
// replica must not vouch for, asked of at most four blogs at once.
func (a *adversary) probe(t *testing.T, from, until time.Time) []bridgetest.Answer {
	t.Helper()
	var blogs []uint64
	seen := map[uint64]bool{}
	for _, e := range a.truth() {
		if !e.CreatedAt.Before(from) && e.CreatedAt.Before(until) && !seen[e.BlogID] && len(blogs) < 4 {
			seen[e.BlogID] = true
			blogs = append(blogs, e.BlogID)
		}
	}
	if len(blogs) == 0 {
		t.Fatalf("no transition in [%s, %s) to probe", from.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	}
	var mu sync.Mutex
	var answers []bridgetest.Answer
	for range 3 {
		var wg sync.WaitGroup
		for _, blog := range blogs {
			wg.Go(func() {
				events, cov, err := a.d.proc.Events(context.Background(), blog, a.since, until)
				if err != nil {
					return
				}
				mu.Lock()
				answers = append(answers, bridgetest.Answer{Blog: blog, Since: a.since, Until: until, Coverage: cov, Events: events, At: time.Now()})
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return answers
}

// gaps are the journal's recorded gaps, read from a snapshot of it.
func (a *adversary) gaps(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range journalStats(t, snapshotCopy(t, a.d)).Gaps {
		out = append(out, g.Reason)
	}
	return out
}

// sinceFreshSpan moves the asked windows' start into the span begun after
// the journal's last gap.
func (a *adversary) sinceFreshSpan(t *testing.T) {
	t.Helper()
	st := journalStats(t, snapshotCopy(t, a.d))
	if len(st.Gaps) == 0 {
		t.Fatal("no gap recorded")
	}
	gap := st.Gaps[len(st.Gaps)-1]
	// What the journal still vouches for before the gap must be exact too:
	// rows decoded by a wrong layout before a gap was found would be there.
	if gap.Start.After(a.since) {
		truth := a.truth()
		var answers []bridgetest.Answer
		for _, blog := range a.blogs() {
			events, cov := a.d.events(blog, a.since, gap.Start)
			answers = append(answers, bridgetest.Answer{Blog: blog, Since: a.since, Until: gap.Start, Coverage: cov, Events: events})
		}
		v := bridgetest.JudgeJournalAnswers(answers, truth)
		for _, p := range v.Problems {
			t.Error(p)
		}
		if v.Journal != len(answers) {
			t.Errorf("before the gap: %d of %d blogs' answers said journal", v.Journal, len(answers))
		}
	}
	waitFor(t, "the servers' clock to pass the fresh span's start", time.Minute, func() bool { return a.serverNow().After(gap.End) })
	a.since = gap.End
}

// proof is /healthz's follower.coverage_proof.
func proof(d *daemon) string {
	_, body, err := authGet(d, "/healthz", d.proc.Token)
	if err != nil {
		return ""
	}
	var h struct {
		Follower struct {
			Proof string `json:"coverage_proof"`
		}
	}
	json.Unmarshal(body, &h)
	return h.Follower.Proof
}

// flip is a transition of blog as Jetmon writes it.
func flip(blog uint64) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET site_status = IF(site_status = 1, 0, 1), last_status_change = NOW() WHERE blog_id = %d", blog)
}

// activeOnly changes monitor_active alone: never a transition.
func activeOnly(blog uint64) string {
	return fmt.Sprintf("UPDATE jetpack_monitor_sites SET monitor_active = 1 - monitor_active WHERE blog_id = %d", blog)
}

// txnWriter writes transitions of the writer's own blogs in transactions
// that savepoints and XA shape, until stopped: a ROLLBACK TO SAVEPOINT
// undoes a flip, XA ROLLBACK a whole transaction. It counts the
// transactions it ended.
type txnWriter struct {
	ended atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func (a *adversary) writeTransactions() *txnWriter {
	w := &txnWriter{stop: make(chan struct{}), done: make(chan struct{})}
	pool := a.onDB(a.primary)
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			b := func(k int) uint64 { return a.own[(i+k)%len(a.own)] }
			xid := fmt.Sprintf("'%s-%d'", a.db.Name, i)
			var stmts []string
			switch i % 5 {
			case 0:
				stmts = []string{"BEGIN", flip(b(0)), "SAVEPOINT s1", flip(b(1)), "ROLLBACK TO SAVEPOINT s1", flip(b(2)), "COMMIT"}
			case 1:
				stmts = []string{"BEGIN", flip(b(0)), "SAVEPOINT s1", flip(b(1)), "SAVEPOINT s2", activeOnly(b(2)), "RELEASE SAVEPOINT s1", "COMMIT"}
			case 2:
				stmts = []string{"XA START " + xid, flip(b(0)), flip(b(3)), "XA END " + xid, "XA PREPARE " + xid, "XA COMMIT " + xid}
			case 3:
				stmts = []string{"XA START " + xid, flip(b(1)), "XA END " + xid, "XA PREPARE " + xid, "XA ROLLBACK " + xid}
			case 4:
				stmts = []string{"XA START " + xid, flip(b(2)), "XA END " + xid, "XA COMMIT " + xid + " ONE PHASE"}
			}
			conn, err := pool.Conn(context.Background())
			if err != nil {
				a.t.Errorf("transaction writer: %v", err)
				return
			}
			for _, s := range stmts {
				if _, err := conn.ExecContext(context.Background(), s); err != nil {
					a.t.Errorf("transaction writer: %s: %v", s, err)
					conn.Close()
					return
				}
			}
			conn.Close()
			w.ended.Add(1)
			select {
			case <-w.stop:
				return
			case <-time.After(15 * time.Millisecond): // paces the writer; asserts nothing
			}
		}
	}()
	return w
}

func (w *txnWriter) end() { close(w.stop); <-w.done }

// waitTransactions waits until the writer has ended n more transactions.
func (w *txnWriter) waitTransactions(t *testing.T, n int64) {
	t.Helper()
	target := w.ended.Load() + n
	waitFor(t, fmt.Sprintf("%d more transactions", n), time.Minute, func() bool { return w.ended.Load() >= target })
}

// localWrites are a DBA's and a monitoring tool's statements on the
// replica itself: a local database, table and row, FLUSH PRIVILEGES and an
// ANALYZE TABLE of the followed table, each committed with the replica's
// own server id.
func (a *adversary) localWrites(n int) {
	a.t.Helper()
	r := a.tp.Replica().Server
	a.exec(r, "CREATE DATABASE IF NOT EXISTS adversary_local", "CREATE TABLE IF NOT EXISTS adversary_local.t (id int PRIMARY KEY, at datetime(6))")
	for i := range n {
		a.exec(r, fmt.Sprintf("INSERT INTO adversary_local.t VALUES (%d, NOW(6)) ON DUPLICATE KEY UPDATE at = NOW(6)", i), "FLUSH PRIVILEGES",
			"ANALYZE TABLE "+a.db.Name+".jetpack_monitor_sites")
	}
}

// TestAdversaryOnAReplica runs, on one chain and one bridge following the
// replica, what a replica in the wild suffers, each judged during and
// after: local writes on the replica with its SQL thread stopped and
// running; commented and executable-comment ALTERs swapping two columns of
// one type, then monitor_active-only UPDATEs; savepoint and XA
// transactions while the bridge is SIGKILLed; two ALTERs and a table swap
// by RENAME TABLE while the bridge is stopped, without and with
// binlog_row_metadata=FULL; a replication filter set at run time; and a
// failover that promotes the replica and demotes the primary while this
// bridge, and another following the primary, run.
func TestAdversaryOnAReplica(t *testing.T) {
	a := newAdversary(t, testdb.TopologyOptions{PrimaryArgs: []string{"--log-slave-updates"}})
	replica := a.tp.Replica()
	if got := proof(a.d); got != "replica-status" {
		t.Fatalf("coverage proof %q on the replica", got)
	}

	t.Run("local writes while the SQL thread is stopped", func(t *testing.T) {
		stoppedAt := a.serverNow()
		if err := replica.StopSQLThread(); err != nil {
			t.Fatal(err)
		}
		stopAsking := a.asking()
		stopLoad := a.load()
		waitFor(t, "the replica to fall behind", time.Minute, func() bool { ok, err := replica.CaughtUp(); return err == nil && !ok })
		a.localWrites(3)
		// The replica's binlog now ends with its own commits, after the
		// primary's transactions it has not applied.
		if n := stopLoad(); n == 0 {
			t.Fatal("the simulator committed nothing")
		}
		// Local commits in a later second than every unapplied transition:
		// a bridge that took their time for the source's would vouch for
		// windows up to that second, which hold what the replica lacks.
		last := a.serverNow()
		waitFor(t, "the servers' clock to pass a whole second", time.Minute, func() bool { return a.serverNow().Truncate(time.Second).After(last) })
		a.localWrites(2)
		answers := stopAsking() // asks the present, past the local commits, too
		answers = append(answers, a.probe(t, stoppedAt.Truncate(time.Second), a.serverNow().Truncate(time.Second))...)
		if err := replica.StartSQLThread(); err != nil {
			t.Fatal(err)
		}
		a.caughtUp()
		a.judge(t, answers)
		a.exact(t)
	})

	t.Run("local writes while the SQL thread runs", func(t *testing.T) {
		stopAsking := a.asking()
		stopLoad := a.load()
		a.localWrites(5)
		stopLoad()
		answers := stopAsking()
		a.caughtUp()
		a.judge(t, answers)
		a.exact(t)
	})

	t.Run("commented and executable-comment ALTERs swap two columns", func(t *testing.T) {
		stopAsking := a.asking()
		stopLoad := a.load()
		a.exec(a.primary, "USE "+a.db.Name, "/* m1 */ ALTER TABLE jetpack_monitor_sites "+statusAfterURL)
		for _, blog := range a.own {
			a.exec(a.primary, "USE "+a.db.Name, activeOnly(blog))
		}
		a.exec(a.primary, "USE "+a.db.Name, flip(a.own[0]))
		a.exec(a.primary, "USE "+a.db.Name, "/*!50000 ALTER TABLE `jetpack_monitor_sites` "+statusAfterActive+" */")
		for _, blog := range a.own {
			a.exec(a.primary, "USE "+a.db.Name, activeOnly(blog))
		}
		a.exec(a.primary, "USE "+a.db.Name, flip(a.own[1]))
		stopLoad()
		answers := stopAsking()
		a.caughtUp()
		a.judge(t, answers)
		a.exact(t)
	})

	t.Run("savepoints and XA under SIGKILL", func(t *testing.T) {
		w := a.writeTransactions()
		stopLoad := a.load()
		var answers []bridgetest.Answer
		for i := range 3 {
			stopAsking := a.asking()
			w.waitTransactions(t, 15)
			answers = append(answers, stopAsking()...)
			a.d.kill()
			t.Logf("SIGKILL %d", i+1)
			a.d = startBridge(a.t, a.args...) // outlives the subtest
		}
		w.waitTransactions(t, 10)
		w.end()
		stopLoad()
		a.caughtUp()
		a.judge(t, answers)
		a.exact(t)
	})

	// Two ALTERs and a gh-ost cut-over (RENAME TABLE swapping in a copy
	// with a column more) while the bridge is stopped.
	behind := func(t *testing.T, n int) {
		a.d.stop()
		p := a.primary
		use := "USE " + a.db.Name
		// Two ALTERs swap site_status and monitor_active and back, then a
		// copy with them swapped again takes the table's place: the rows
		// between the second ALTER and the swap have the final layout's
		// column count and types in another order, which only the binlog
		// (or FULL row metadata) can tell.
		swap, back := statusAfterURL, statusAfterActive
		if n%2 == 0 { // the first run left them swapped
			swap, back = back, swap
		}
		a.exec(p, use, flip(a.own[0]))
		a.exec(p, use, "/* a */ ALTER TABLE jetpack_monitor_sites "+swap)
		a.exec(p, use, flip(a.own[1]), activeOnly(a.own[2]), flip(a.own[0]))
		a.exec(p, use, "ALTER TABLE jetpack_monitor_sites "+back)
		a.exec(p, use, flip(a.own[2]), activeOnly(a.own[1]), activeOnly(a.own[3]), flip(a.own[5]))
		a.exec(p, use, "DROP TABLE IF EXISTS _jetpack_monitor_sites_gho", "CREATE TABLE _jetpack_monitor_sites_gho LIKE jetpack_monitor_sites",
			"ALTER TABLE _jetpack_monitor_sites_gho "+swap,
			"INSERT INTO _jetpack_monitor_sites_gho (jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change, check_interval) "+
				"SELECT jetpack_monitor_site_id, blog_id, bucket_no, monitor_url, monitor_active, site_status, last_status_change, check_interval FROM jetpack_monitor_sites",
			truthTrigger(fmt.Sprintf("adversary_truth_gho%d", n), "_jetpack_monitor_sites_gho"))
		a.exec(p, use, fmt.Sprintf("rename /* gh-ost */ table `%[1]s`.`jetpack_monitor_sites` to `%[1]s`.`_jetpack_monitor_sites_del`, `%[1]s`.`_jetpack_monitor_sites_gho` to `%[1]s`.`jetpack_monitor_sites`", a.db.Name))
		a.exec(p, use, "DROP TABLE `_jetpack_monitor_sites_del`")
		a.exec(p, use, activeOnly(a.own[0]), flip(a.own[3]), activeOnly(a.own[4]), flip(a.own[5]))
		stopLoad := a.load()
		a.caughtUp()
		a.d = startBridge(a.t, a.args...) // outlives the subtest
		stopAsking := a.asking()
		stopLoad()
		a.caughtUp()
		a.exec(p, use, flip(a.own[4]))
		a.caughtUp()
		a.judge(t, stopAsking())
	}
	t.Run("schema changes and a table swap while stopped", func(t *testing.T) {
		gaps := len(a.gaps(t))
		behind(t, 1)
		var got []string
		waitFor(t, "a gap", time.Minute, func() bool { got = a.gaps(t); return len(got) > gaps })
		if len(got) != gaps+1 || got[gaps] != "schema changed while the bridge was behind" {
			t.Fatalf("gaps %q, want one more: schema changed while the bridge was behind", got)
		}
		a.sinceFreshSpan(t)
		a.loadUntil(t, 20)
		a.exact(t)
	})

	t.Run("schema changes and a table swap while stopped, binlog_row_metadata=FULL", func(t *testing.T) {
		// The replica's applier takes the global value when it starts.
		a.exec(a.primary, "SET GLOBAL binlog_row_metadata = FULL")
		a.exec(replica.Server, "STOP SLAVE", "SET GLOBAL binlog_row_metadata = FULL", "START SLAVE")
		gaps := len(a.gaps(t))
		behind(t, 2)
		if got := a.gaps(t); len(got) != gaps {
			t.Fatalf("gaps %q: binlog_row_metadata=FULL names every row's columns, so nothing needs to be a gap", got)
		}
		a.exact(t)
	})

	t.Run("a replication filter set while following", func(t *testing.T) {
		gaps := len(a.gaps(t))
		stopAsking := a.asking()
		a.exec(replica.Server, "STOP SLAVE", fmt.Sprintf("SET GLOBAL replicate_ignore_table = '%s.jetpack_monitor_sites'", a.db.Name), "START SLAVE")
		stopLoad := a.load()
		waitFor(t, "/healthz to show the hold", time.Minute, func() bool { return a.d.coverageHold(t) != nil })
		a.exec(replica.Server, "STOP SLAVE", "SET GLOBAL replicate_ignore_table = ''", "START SLAVE")
		stopLoad()
		answers := stopAsking()
		a.caughtUp()
		a.judge(t, answers)
		// Still held: the replica's rows are stale until re-synchronized.
		if a.d.coverageHold(t) == nil {
			t.Fatal("the hold lifted by itself while the replica's rows are stale")
		}
		// Re-synchronize as pt-table-sync --sync-to-master does.
		a.exec(a.primary, "USE "+a.db.Name, "UPDATE jetpack_monitor_sites SET bucket_no = bucket_no + 1", "UPDATE jetpack_monitor_sites SET bucket_no = bucket_no - 1")
		a.caughtUp()
		if code, stdout, stderr := runTool(t, "journal", "resynced", "-addr", a.d.addr); code != 0 {
			t.Fatalf("journal resynced: exit %d\n%s%s", code, stdout, stderr)
		}
		waitFor(t, "the hold to lift", time.Minute, func() bool { return a.d.coverageHold(t) == nil })
		waitFor(t, "a fresh span", time.Minute, func() bool { return len(a.gaps(t)) > gaps })
		a.sinceFreshSpan(t)
		stopAsking = a.asking()
		a.loadUntil(t, 20)
		a.caughtUp()
		a.judge(t, stopAsking())
		a.exact(t)
	})

	t.Run("promotion of the replica, demotion of the primary", func(t *testing.T) {
		oldPrimary, newPrimary := a.tp.Primary, replica.Server
		onPrimary := startBridge(t, "-dsn", oldPrimary.DSN(a.db.Name), "-journal", filepath.Join(t.TempDir(), "primary.journal"), "-read-timeout", "1s", "-monitor-interval", "200ms")
		if got := proof(onPrimary); got != "self" {
			t.Fatalf("coverage proof %q on the primary", got)
		}
		primarySince := a.serverSince()
		a.caughtUp()
		// Failover: the replica becomes the primary; the old primary
		// replicates from it, from the GTIDs it has.
		a.exec(newPrimary, "STOP SLAVE", "RESET SLAVE ALL")
		a.exec(oldPrimary, "STOP SLAVE", fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
			"MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1", newPrimary.Port, testdb.ReplicationUser, testdb.ReplicationPassword), "START SLAVE")
		a.primary = newPrimary
		demoted := &testdb.Replica{Server: oldPrimary, Primary: newPrimary}
		a.replicas = []*testdb.Replica{demoted}
		stopAsking := a.asking()
		asker := bridgetest.NewAsker(onPrimary.proc, a.blogs(), primarySince, a.seed)
		asker.Start(1)
		// The demoted primary lags: what its new primary commits is not
		// its to vouch for until applied.
		if err := demoted.StopSQLThread(); err != nil {
			t.Fatal(err)
		}
		stopLoad := a.load()
		waitFor(t, "the proofs to follow the roles", time.Minute, func() bool {
			return proof(a.d) == "self" && proof(onPrimary) == "replica-status"
		})
		w := a.writeTransactions()
		w.waitTransactions(t, 10)
		w.end()
		stopLoad()
		if err := demoted.StartSQLThread(); err != nil {
			t.Fatal(err)
		}
		a.caughtUp()
		a.judge(t, stopAsking())
		for range 4 {
			asker.Ask()
		}
		onPrimaryAnswers, _ := asker.Stop()
		a.judge(t, onPrimaryAnswers)
		a.exact(t)
		promoted := a.d
		a.d, a.since = onPrimary, primarySince
		a.exact(t)
		a.d = promoted
		onPrimary.stop()
	})
	a.d.stop()
}

// TestAdversaryServerClocks runs a chain whose servers' clocks are 10 s
// ahead of, then behind, the bridge host's: while the simulator writes and
// the replica's SQL thread is stopped, then after it catches up, every
// journal answer equals the truth, which the servers' clocks stamp.
func TestAdversaryServerClocks(t *testing.T) {
	for _, offset := range []time.Duration{10 * time.Second, -10 * time.Second} {
		t.Run(fmt.Sprintf("servers %+ds", int(offset.Seconds())), func(t *testing.T) {
			a := newAdversary(t, testdb.TopologyOptions{ClockOffset: offset})
			replica := a.tp.Replica()
			stopAsking := a.asking()
			stopLoad := a.load()
			w := a.writeTransactions()
			w.waitTransactions(t, 10)
			if err := replica.StopSQLThread(); err != nil {
				t.Fatal(err)
			}
			w.waitTransactions(t, 20)
			w.end()
			stopLoad()
			answers := stopAsking()
			if err := replica.StartSQLThread(); err != nil {
				t.Fatal(err)
			}
			a.caughtUp()
			a.judge(t, answers)
			a.exact(t)
			a.d.stop()
		})
	}
}
