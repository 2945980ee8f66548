package binlog

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// BenchmarkReconcile measures one reconcile of a table of
// JETMON_RECONCILE_ROWS rows (default 1,048,576) against a journal that
// holds the same rows, on the shared throwaway MariaDB: the time a run
// takes and the heap it needs on top of what the process already held
// (peak-heap-MB, sampled every millisecond during the runs). The figure is
// quoted in docs/guarantees.md ("What a reconcile costs"); the bench
// targets of the Makefile leave it out, as it takes minutes to set up.
//
//	go test -run '^$' -bench BenchmarkReconcile -benchtime 3x ./binlog
func BenchmarkReconcile(b *testing.B) {
	rows := 1 << 20
	if v := os.Getenv("JETMON_RECONCILE_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 {
			b.Fatalf("JETMON_RECONCILE_ROWS=%q: want a positive number", v)
		}
	}
	db := testdb.NewDB(b)
	// Doubling: one row, then the table copied onto itself.
	db.MustExec(b, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (1, 0, 'https://bench-1.example.com', FROM_UNIXTIME(1700000000))")
	for n := 1; n < rows; n *= 2 {
		db.MustExec(b, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) "+
			"SELECT blog_id + ?, bucket_no, CONCAT('https://bench-', blog_id + ?, '.example.com'), site_status, last_status_change "+
			"FROM jetpack_monitor_sites WHERE blog_id <= ?", n, n, min(n, rows-n))
	}
	r := startReconcileRig(b, db.DSN(), ReconcileOptions{Wait: 10 * time.Minute})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rep := r.rec.Reconcile(context.Background())
		if rep.Outcome != ReconcileAgreed || rep.Rows != rows {
			b.Fatalf("%+v", rep)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapAlloc))/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(rows), "rows")
}
