package server

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/journal"
)

// BenchmarkGetEvents answers GET /events from a journal of 1,000,000
// events over 10,000 blogs, windows of about ten events, through the
// router and handler (not the network): the server's own cost per request.
func BenchmarkGetEvents(b *testing.B) {
	const blogs, perBatch, batches = 10_000, 100_000, 10
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j, err := journal.Open(filepath.Join(b.TempDir(), "bench.journal"), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	status := make([]bridge.Status, blogs)
	at := start
	for i := range batches {
		batch := &journal.Batch{}
		if i == 0 {
			batch.NewSpan = &journal.SpanStart{Start: start}
			batch.Checkpoint = &journal.Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4}
		}
		for range perBatch {
			blog := rng.IntN(blogs)
			old := status[blog]
			status[blog] = (old + 1) % 3
			batch.Events = append(batch.Events, bridge.Event{BlogID: uint64(blog + 1), OldStatus: old, NewStatus: status[blog], CreatedAt: at})
			at = at.Add(time.Second)
		}
		batch.CoveredTo = at
		if err := j.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	h := New(Config{History: &History{Journal: j}}).Handler()
	span := at.Sub(start)
	window := span / 10
	paths := make([]string, 1024)
	for i := range paths {
		since := start.Add(time.Duration(rng.Int64N(int64(span - window)))).Truncate(time.Second)
		paths[i] = fmt.Sprintf("/events?blog_id=%d&since=%s&until=%s", 1+rng.IntN(blogs), since.Format(time.RFC3339), since.Add(window).Format(time.RFC3339))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil))
		if w.Code != http.StatusOK || w.Header().Get(bridge.CoverageHeader) != string(bridge.CoverageJournal) {
			b.Fatalf("%s: %d %s %s", paths[i%len(paths)], w.Code, w.Header().Get(bridge.CoverageHeader), w.Body)
		}
		i++
	}
}
