package server_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/store"
)

// parallel runs n requests at once (released together) and returns their
// responses in order.
func (a *api) parallel(n int, req func(i int) (method, target string, body []byte)) []resp {
	out := make([]resp, n)
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(n)
	errs := make(chan string, n)
	for i := range n {
		go func() {
			defer done.Done()
			m, target, body := req(i)
			start.Wait()
			// a.do fails the test on transport errors, which must not happen
			// off the test goroutine: send by hand.
			r, err := a.try(m, target, body)
			if err != nil {
				errs <- fmt.Sprintf("%s %s: %v", m, target, err)
				return
			}
			out[i] = r
		}()
	}
	start.Done()
	done.Wait()
	close(errs)
	for e := range errs {
		a.t.Fatal(e)
	}
	return out
}

// TestConcurrentPostsOneURL: 50 POSTs of one URL at once create exactly one
// row; one answer is 201, the others 200, all with the same monitor.
func TestConcurrentPostsOneURL(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true, bucket: 311, timeout: time.Minute})
	const u = "https://race.example.com/"
	rs := a.parallel(50, func(int) (string, string, []byte) {
		return "POST", "/monitors", []byte(`{"url":"` + u + `"}`)
	})
	created := 0
	var blog uint64
	for i, r := range rs {
		if r.code != 201 && r.code != 200 {
			t.Fatalf("POST %d: %v", i, r)
		}
		if r.code == 201 {
			created++
		}
		m := decodeMonitor(t, r)
		if blog == 0 {
			blog = m.BlogID
		}
		if m.BlogID != blog || m.MonitorURL != u || !m.MonitorActive {
			t.Fatalf("POST %d: %s, want blog_id %d", i, r.body, blog)
		}
	}
	if created != 1 {
		t.Fatalf("%d POSTs answered 201, want exactly 1", created)
	}
	rows := rowsFor(t, a.db, u)
	if len(rows) != 1 || rows[0].BlogID != blog || rows[0].Bucket != 311 || !rows[0].Active {
		t.Fatalf("rows %+v, want one for blog %d in bucket 311", rows, blog)
	}
	if n := countRows(t, a.db); n != 1 {
		t.Fatalf("%d rows in the table, want 1", n)
	}
}

// TestConcurrentPostsManyURLs: URLs posted at once get distinct blog_ids in
// [MinCreatedBlogID, 2^31), each URL one row, all in the configured bucket.
func TestConcurrentPostsManyURLs(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true, bucket: 511, timeout: time.Minute})
	// A row Jetmon made inside the allocation range: created ids go below it.
	insert(t, a.db, store.MaxCreatedBlogID-5, "https://existing.example.com", true, 1, time.Time{})
	const urls, each = 20, 3
	rs := a.parallel(urls*each, func(i int) (string, string, []byte) {
		return "POST", "/monitors", []byte(fmt.Sprintf(`{"url":"https://site-%02d.example.com"}`, i%urls))
	})
	blogs := map[uint64]string{}
	created := map[string]int{}
	for i, r := range rs {
		if r.code != 201 && r.code != 200 {
			t.Fatalf("POST %d: %v", i, r)
		}
		m := decodeMonitor(t, r)
		if r.code == 201 {
			created[m.MonitorURL]++
		}
		if prev, ok := blogs[m.BlogID]; ok && prev != m.MonitorURL {
			t.Fatalf("blog_id %d given to %s and %s", m.BlogID, prev, m.MonitorURL)
		}
		blogs[m.BlogID] = m.MonitorURL
		if m.BlogID < store.MinCreatedBlogID || m.BlogID >= store.MaxCreatedBlogID-5 {
			t.Fatalf("blog_id %d outside [%d, %d)", m.BlogID, store.MinCreatedBlogID, store.MaxCreatedBlogID-5)
		}
	}
	if len(blogs) != urls {
		t.Fatalf("%d distinct blog_ids for %d URLs", len(blogs), urls)
	}
	for i := range urls {
		u := fmt.Sprintf("https://site-%02d.example.com", i)
		if created[u] != 1 {
			t.Fatalf("%s: %d answers of 201, want 1", u, created[u])
		}
		rows := rowsFor(t, a.db, u)
		if len(rows) != 1 || rows[0].Bucket != 511 || rows[0].BlogID >= 1<<31 {
			t.Fatalf("%s: rows %+v", u, rows)
		}
	}
	var distinct, total int
	if err := a.db.SQL.QueryRow("SELECT COUNT(DISTINCT blog_id), COUNT(*) FROM jetpack_monitor_sites").Scan(&distinct, &total); err != nil {
		t.Fatal(err)
	}
	if distinct != urls+1 || total != urls+1 {
		t.Fatalf("table holds %d rows with %d distinct blog_ids, want %d", total, distinct, urls+1)
	}
}

// TestConcurrentPostDelete: POSTs and DELETEs of one URL interleaved never
// make a second row, and every answer is one the spec allows.
func TestConcurrentPostDelete(t *testing.T) {
	t.Parallel()
	a := newAPI(t, apiOpts{write: true, timeout: time.Minute})
	const u = "https://flap.example.com"
	rs := a.parallel(40, func(i int) (string, string, []byte) {
		if i%2 == 0 {
			return "POST", "/monitors", []byte(`{"url":"` + u + `"}`)
		}
		return "DELETE", "/monitors?" + url.Values{"url": {u}}.Encode(), nil
	})
	for i, r := range rs {
		ok := map[bool][]int{true: {200, 201}, false: {204, 404}}[i%2 == 0]
		if r.code != ok[0] && r.code != ok[1] {
			t.Fatalf("request %d: %v, want %v", i, r, ok)
		}
	}
	if rows := rowsFor(t, a.db, u); len(rows) != 1 {
		t.Fatalf("rows %+v, want exactly 1", rows)
	}
}
