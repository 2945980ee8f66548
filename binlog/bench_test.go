package binlog

import (
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// benchRows are an UPDATE's row images as go-mysql hands them over for
// Jetmon 1's table on MariaDB (binlog_row_metadata=NO_LOG: signed Go types,
// ParseTime on).
func benchRows() (lay layout, before, after []any) {
	lay, err := newLayout([]string{"jetpack_monitor_site_id", "blog_id", "bucket_no", "monitor_url",
		"monitor_active", "site_status", "last_status_change", "check_interval"})
	if err != nil {
		panic(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	before = []any{int64(4242), int64(123456), int16(7), "https://sim-123456.example.com", int8(1), int8(1), t0, int8(5)}
	after = []any{int64(4242), int64(123456), int16(7), "https://sim-123456.example.com", int8(1), int8(0), t0.Add(time.Minute), int8(5)}
	return lay, before, after
}

// BenchmarkDecodeRowTransition is the follower's per-row work on an UPDATE:
// decode both row images and derive the transition.
func BenchmarkDecodeRowTransition(b *testing.B) {
	lay, before, after := benchRows()
	at := time.Unix(1_700_000_060, 0)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		bm, err := lay.decodeRow(before)
		if err != nil {
			b.Fatal(err)
		}
		am, err := lay.decodeRow(after)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := bridge.Transition(bm, am, at); ok {
			n++
		}
	}
	if n == 0 {
		b.Fatal("no transition")
	}
}

// BenchmarkDecodeRow is one row image alone.
func BenchmarkDecodeRow(b *testing.B) {
	lay, before, _ := benchRows()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lay.decodeRow(before); err != nil {
			b.Fatal(err)
		}
	}
}
