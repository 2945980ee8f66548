package binlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// reconcileRig is a follower on db's table, running, and a Reconciler of it.
type reconcileRig struct {
	f       *Follower
	j       *journal.Journal
	replica *store.DB
	rec     *Reconciler
}

func startReconcileRig(t testing.TB, dsn string, opts ReconcileOptions) *reconcileRig {
	t.Helper()
	replica, err := store.Open("-dsn", dsn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	j, err := journal.Open(filepath.Join(t.TempDir(), "reconcile.journal"), journal.Options{WaitLimit: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	info, err := Preflight(context.Background(), replica.SQL())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Replica: replica, Journal: j, Info: info, ServerID: 4343, Heartbeat: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() { done <- f.Run(ctx, func() { once.Do(func() { close(ready) }) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follower: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("follower ended before streaming: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("follower did not start streaming")
	}
	return &reconcileRig{f: f, j: j, replica: replica, rec: NewReconciler(f, opts)}
}

func insertSites(t *testing.T, db *testdb.DB, n int) {
	t.Helper()
	for i := range n {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (?, 0, ?, FROM_UNIXTIME(1700000000))",
			5000+i, fmt.Sprintf("https://r%d.example", i))
	}
}

// TestReconcileFindsAWriteTheBinlogNeverShows: a row changed on the
// followed server with sql_log_bin=0 never reaches the binlog, so the
// journal keeps its old state; no preflight can see it. A reconcile finds
// it, takes back the open span from its last agreement at once, and the
// follower closes the span there with the reason and starts a fresh one
// from a snapshot, after which the journal agrees again.
func TestReconcileFindsAWriteTheBinlogNeverShows(t *testing.T) {
	db := testdb.NewDB(t)
	insertSites(t, db, 50)
	r := startReconcileRig(t, db.DSN(), ReconcileOptions{})
	ctx := context.Background()

	// Let coverage move past the span's start, so that what an agreeing
	// run vouches for is more than the start.
	span := r.j.Spans(time.Time{})[0]
	for deadline := time.Now().Add(30 * time.Second); !r.j.Spans(time.Time{})[0].End.After(span.Start.Add(time.Second)); {
		if time.Now().After(deadline) {
			t.Fatal("coverage does not advance")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep := r.rec.Reconcile(ctx)
	if rep.Outcome != ReconcileAgreed || rep.Rows != 50 || rep.Differences != 0 {
		t.Fatalf("clean journal: %+v", rep)
	}
	agreed, err := r.j.Agreed(span.Start)
	if err != nil || !agreed.After(span.Start) {
		t.Fatalf("the agreeing run recorded %v (%v), want an instant after the span's start %v", agreed, err, span.Start)
	}

	// Coverage moves on past the agreement before anything goes wrong: what
	// is taken back is the stretch after the agreement, not after the end.
	for deadline := time.Now().Add(30 * time.Second); !r.j.Spans(time.Time{})[0].End.After(agreed.Add(2 * time.Second)); {
		if time.Now().After(deadline) {
			t.Fatal("coverage does not advance")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var site uint64
	if err := conn.QueryRowContext(ctx, "SELECT jetpack_monitor_site_id FROM jetpack_monitor_sites WHERE blog_id = 5007").Scan(&site); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SET SESSION sql_log_bin = 0",
		"UPDATE jetpack_monitor_sites SET site_status = 2, last_status_change = FROM_UNIXTIME(1700000100) WHERE blog_id = 5007",
		"SET SESSION sql_log_bin = 1"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	rep = r.rec.Reconcile(ctx)
	if rep.Outcome != ReconcileDiverged || rep.Differences != 1 || len(rep.Examples) != 1 {
		t.Fatalf("after the unlogged write: %+v", rep)
	}
	d := rep.Examples[0]
	if d.Site != site || d.Journal.Status != bridge.StatusRunning || d.Table.Status != bridge.StatusConfirmedDown ||
		len(d.Columns) != 2 || d.Columns[0] != "site_status" || d.Columns[1] != "last_status_change" {
		t.Fatalf("difference %+v (journal %+v, table %+v)", d, d.Journal, d.Table)
	}
	if rep.TakenBackFrom == nil || !rep.TakenBackFrom.Equal(agreed) {
		t.Fatalf("coverage taken back from %v, want the end vouched for before the agreeing run, %v", rep.TakenBackFrom, agreed)
	}
	// At once, whether or not the follower has started the fresh span yet.
	if s := r.j.Spans(time.Now()); !s[0].End.Equal(agreed) {
		t.Fatalf("right after the run the span reaches %v, not its last agreement %v", s[0].End, agreed)
	}

	// The fresh span follows; the old one ends where it last agreed.
	deadline := time.Now().Add(30 * time.Second)
	for len(r.j.Spans(time.Time{})) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no fresh span: %v", r.j.Spans(time.Time{}))
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := r.j.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Gaps) != 1 || st.Gaps[0].Reason != ReasonDiverged || !st.Gaps[0].Start.Equal(agreed) {
		t.Fatalf("gaps %+v, want one from %s with the reason %q", st.Gaps, agreed, ReasonDiverged)
	}
	if rep := r.rec.Reconcile(ctx); rep.Outcome != ReconcileAgreed || rep.Differences != 0 || rep.Rows != 50 {
		t.Fatalf("after the fresh span: %+v", rep)
	}
	if m, _, ok, err := r.j.FollowedRow(site); err != nil || !ok || m.Status != bridge.StatusConfirmedDown {
		t.Fatalf("the fresh snapshot's row: %+v ok %v err %v", m, ok, err)
	}
	stats := r.rec.Stats()
	if stats.Runs[ReconcileAgreed] != 2 || stats.Runs[ReconcileDiverged] != 1 || stats.Differences != 1 || stats.LastSuccess.IsZero() {
		t.Fatalf("stats %+v", stats)
	}
}

// TestReconcileUnderLiveWritesFindsNothing: while writers change rows as
// fast as they can (single- and multi-row transitions, rows inserted and
// deleted, and a burst changing every row just before every other run),
// every reconcile of a clean journal agrees. The table and the journal are
// read at different moments, so a run that compared them at inconsistent
// points (the journal's rows before it has committed up to the table's
// snapshot, or without setting aside the rows it changed meanwhile) would
// report rows that differ.
func TestReconcileUnderLiveWritesFindsNothing(t *testing.T) {
	db := testdb.NewDB(t)
	insertSites(t, db, 300)
	r := startReconcileRig(t, db.DSN(), ReconcileOptions{})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes sync.Map
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 21))
			n := 0
			for ctx.Err() == nil {
				var err error
				switch k := rng.IntN(10); {
				case k < 6:
					_, err = db.SQL.Exec("UPDATE jetpack_monitor_sites SET site_status = ?, last_status_change = NOW() WHERE blog_id = ?", rng.IntN(3), 5000+rng.IntN(300))
				case k < 8:
					lo := 5000 + rng.IntN(290)
					_, err = db.SQL.Exec("UPDATE jetpack_monitor_sites SET site_status = ?, last_status_change = NOW() WHERE blog_id BETWEEN ? AND ?", rng.IntN(3), lo, lo+rng.IntN(10))
				case k < 9:
					_, err = db.SQL.Exec("INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, 'https://new.example')", 9000+w)
				default:
					_, err = db.SQL.Exec("DELETE FROM jetpack_monitor_sites WHERE blog_id = ? LIMIT 1", 9000+w)
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				n++
			}
			writes.Store(w, n)
		})
	}
	var reports []ReconcileReport
	for i := range 16 {
		if i%2 == 0 {
			// A burst just before the snapshot: the journal is then behind
			// the snapshot's position when the run begins.
			db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status = (site_status + 1) % 3, last_status_change = NOW()")
		}
		reports = append(reports, r.rec.Reconcile(context.Background()))
	}
	stop()
	wg.Wait()
	total := 0
	writes.Range(func(_, v any) bool { total += v.(int); return true })
	skipped := 0
	for i, rep := range reports {
		if rep.Outcome != ReconcileAgreed || rep.Differences != 0 || rep.OtherDifferences != 0 {
			t.Fatalf("run %d under %d writes: %+v", i, total, rep)
		}
		skipped += rep.Skipped
	}
	t.Logf("16 runs agreed under %d writes; %d rows set aside as changed meanwhile", total, skipped)
}

// TestADivergenceOutlivesARestart: a bridge stopped after a reconcile found
// the journal diverged, before its follower began the fresh span, still
// doubts the span when it starts again, and its follower first ends the
// span where it was taken back and starts the fresh one.
func TestADivergenceOutlivesARestart(t *testing.T) {
	db := testdb.NewDB(t)
	insertSites(t, db, 5)
	replica, err := store.Open("-dsn", db.DSN(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	info, err := Preflight(context.Background(), replica.SQL())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "restart.journal")
	// follow runs a follower on the journal at path until cond holds.
	follow := func(cond func(j *journal.Journal) bool) {
		t.Helper()
		j, err := journal.Open(path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		f, err := New(Config{Replica: replica, Journal: j, Info: info, ServerID: 4344, Heartbeat: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx, nil) }()
		for deadline := time.Now().Add(30 * time.Second); !cond(j); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out; spans %v", j.Spans(time.Time{}))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var span bridge.Span
	follow(func(j *journal.Journal) bool {
		s := j.Spans(time.Time{})
		if len(s) == 1 && s[0].End.After(s[0].Start.Add(2*time.Second)) {
			span = s[0]
			return true
		}
		return false
	})
	// A reconcile found the divergence and the bridge stopped at once.
	from := span.Start.Add(time.Second)
	j, err := journal.Open(path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := j.Suspect(span.Start, from); !ok || err != nil {
		t.Fatalf("Suspect: %v %v", ok, err)
	}
	j.Close()
	follow(func(j *journal.Journal) bool { return len(j.Spans(time.Time{})) == 2 })
	j, err = journal.Open(path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := j.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Gaps) != 1 || !st.Gaps[0].Start.Equal(from) || st.Gaps[0].Reason != ReasonDiverged {
		t.Fatalf("gaps %+v, want one from %s with the reason %q", st.Gaps, from, ReasonDiverged)
	}
}
