package binlog

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
	driver "github.com/go-sql-driver/mysql"
)

// TestAComparisonNotMadeMarksNoAgreement: a reconcile whose comparison with
// the primary could not be made (here -primary-dsn names another database:
// it fails before reading anything) leaves the span's last agreement where
// it was, so that a difference found later takes coverage back that far,
// not only to this run.
func TestAComparisonNotMadeMarksNoAgreement(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	start := time.Unix(1_700_000_000, 0).UTC()
	if err := j.Commit(&journal.Batch{NewSpan: &journal.SpanStart{Start: start}, CoveredTo: start.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	primary, err := store.Open("-primary-dsn", "bridge:secret@tcp(127.0.0.1:1)/elsewhere", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &Follower{cfg: Config{Journal: j, Primary: primary, PrimaryFlag: "-primary-dsn"}, dsn: &driver.Config{DBName: "jetmon"}, log: log, now: time.Now}
	r := &Reconciler{f: f, log: log, now: time.Now}
	span, ok := j.OpenSpan()
	if !ok {
		t.Fatal("no open span")
	}
	var rep ReconcileReport
	if err := r.checkPrimary(context.Background(), span, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Primary == nil || rep.Primary.Outcome != ReconcileFailed {
		t.Fatalf("comparison %+v, want it failed", rep.Primary)
	}
	if agreed, err := j.Agreed(span.Start); err != nil || !agreed.Equal(span.Start) {
		t.Errorf("after a comparison not made the span agreed up to %s (err %v), want its start %s: nothing was checked", agreed, err, span.Start)
	}
}

// TestAHoldOutlivesComparisonsNotMade: while coverage is held, comparisons
// with the primary that cannot be made (here -primary-dsn names another
// database) keep the hold, comparison after comparison: only tables found
// alike lift it.
func TestAHoldOutlivesComparisonsNotMade(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.HoldCoverage(journal.Hold{Since: time.Now(), Reason: "replication filter: a test's"}); err != nil {
		t.Fatal(err)
	}
	primary, err := store.Open("-primary-dsn", "bridge:secret@tcp(127.0.0.1:1)/elsewhere", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &Follower{cfg: Config{Journal: j, Primary: primary, PrimaryFlag: "-primary-dsn", HoldCheckInterval: time.Millisecond},
		dsn: &driver.Config{DBName: "jetmon"}, log: log, now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.checkHoldInBackground(ctx, &connection{})
	}()
	defer func() { cancel(); <-done }()
	// Until a second comparison has been made, or the hold is gone.
	var first time.Time
	for {
		if _, held := j.Held(); !held {
			t.Fatal("a comparison with the primary that could not be made lifted the hold")
		}
		f.mu.Lock()
		c := f.lastCheck
		f.mu.Unlock()
		if c != nil {
			if c.Outcome != ReconcileFailed {
				t.Fatalf("comparison %+v, want it failed", c)
			}
			if first.IsZero() {
				first = c.At
			} else if c.At.After(first) {
				break
			}
		}
		select {
		case <-done:
			if _, held := j.Held(); !held {
				t.Fatal("a comparison with the primary that could not be made lifted the hold")
			}
			t.Fatal("the checks stopped while coverage is held")
		case <-j.Changed():
		case <-time.After(10 * time.Millisecond):
		}
	}
}
