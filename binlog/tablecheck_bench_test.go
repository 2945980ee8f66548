package binlog

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// BenchmarkCompareWithPrimary measures one comparison of the replica's
// table with the primary's (tablecheck.go) over JETMON_RECONCILE_ROWS rows
// (default 1,048,576): the cost a hold's check, and a reconcile with
// -primary-dsn, adds. One throwaway MariaDB serves as both servers (a
// server that replicates from none is its own primary), so the figure is
// the bridge's side of it and the two table reads, not the network
// between two machines. The figure is quoted in docs/guarantees.md ("A
// hold after a filter"); the bench targets of the Makefile leave it out,
// as it takes minutes to set up.
//
//	go test -run '^$' -bench BenchmarkCompareWithPrimary -benchtime 3x ./binlog
func BenchmarkCompareWithPrimary(b *testing.B) {
	rows := 1 << 20
	if v := os.Getenv("JETMON_RECONCILE_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 {
			b.Fatalf("JETMON_RECONCILE_ROWS=%q: want a positive number", v)
		}
	}
	db := testdb.NewDB(b)
	db.MustExec(b, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, last_status_change) VALUES (1, 0, 'https://bench-1.example.com', FROM_UNIXTIME(1700000000))")
	for n := 1; n < rows; n *= 2 {
		db.MustExec(b, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) "+
			"SELECT blog_id + ?, bucket_no, CONCAT('https://bench-', blog_id + ?, '.example.com'), site_status, last_status_change "+
			"FROM jetpack_monitor_sites WHERE blog_id <= ?", n, n, min(n, rows-n))
	}
	open := func(flag string) *store.DB {
		d, err := store.Open(flag, db.DSN(), time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		return d
	}
	replica, primary := open("-dsn"), open("-primary-dsn")
	j, err := journal.Open(filepath.Join(b.TempDir(), "bench.journal"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	f, err := Open(context.Background(), Config{Replica: replica, Journal: j, ServerID: 4545, Heartbeat: 200 * time.Millisecond, Primary: primary})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() { done <- f.Run(ctx, func() { once.Do(func() { close(ready) }) }) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("follower ended before streaming: %v", err)
	}
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
		check := f.compareWithPrimary(context.Background())
		if check.Outcome != ReconcileAgreed || check.Rows != rows {
			b.Fatalf("%+v", check)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapAlloc))/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(rows), "rows")
}
