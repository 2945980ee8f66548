package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is one load run against an HTTP server.
type LoadResult struct {
	Mode        string // closed (N connections, back to back) or open (fixed offered rate)
	Connections int
	Offered     float64 // requests/s offered (open loop)
	Duration    time.Duration
	Requests    int
	Errors      int
	Throughput  float64 // completed requests/s
	Latency     Latency
	// Open loop only: Service runs from the request's actual send, Late
	// from its scheduled time to the send (the generator's own delay, or
	// the queue when every connection is busy). Latency covers both.
	Service, Late Latency
	Events        int    // events returned in all answers
	Coverage      string // X-Bridge-Coverage of the answers (the last seen)
	FirstError    string
}

// EventsPerAnswer is the mean number of events an answer held.
func (l *LoadResult) EventsPerAnswer() float64 {
	if l.Requests == 0 {
		return 0
	}
	return float64(l.Events) / float64(l.Requests)
}

// client is one keep-alive HTTP/1.1 connection with a minimal request
// writer and response reader: net/http's client costs the generator several
// times the CPU, and on a 2-CPU machine that CPU is taken from the server.
type client struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
}

func newClient(base string) *client {
	return &client{addr: strings.TrimPrefix(base, "http://")}
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// answer is what one request returned.
type answer struct {
	events   int
	coverage string
	err      error
}

var eventMarker = []byte(`{"id":`)

// get sends GET path and reads the answer, reconnecting once when a
// kept-alive connection turns out to be closed.
func (c *client) get(path string) answer {
	for attempt := 0; ; attempt++ {
		fresh := c.conn == nil
		if fresh {
			conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
			if err != nil {
				return answer{err: err}
			}
			c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
		}
		a, retry := c.roundTrip(path)
		if a.err != nil {
			c.close()
			if retry && !fresh && attempt == 0 {
				continue
			}
		}
		return a
	}
}

// roundTrip reports whether a failure happened before any answer arrived
// (worth one retry on a fresh connection).
func (c *client) roundTrip(path string) (answer, bool) {
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	c.req = append(append(append(c.req[:0], "GET "...), path...), " HTTP/1.1\r\nHost: bench\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		return answer{err: err}, true
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return answer{err: err}, true
	}
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " {
		return answer{err: fmt.Errorf("bad status line %q", line)}, false
	}
	status := string(line[9:12])
	length, closing, coverage := -1, false, ""
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return answer{err: err}, false
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(bytes.TrimRight(h, "\r\n"), []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return answer{err: err}, false
			}
		case bytes.EqualFold(k, []byte("Connection")):
			closing = bytes.EqualFold(v, []byte("close"))
		case bytes.EqualFold(k, []byte("X-Bridge-Coverage")):
			coverage = string(v)
		}
	}
	if length < 0 {
		return answer{err: errors.New("answer without Content-Length")}, false
	}
	c.body = slices.Grow(c.body[:0], length)[:length]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return answer{err: err}, false
	}
	if closing {
		c.close()
	}
	if status != "200" {
		return answer{err: fmt.Errorf("HTTP %s: %.200s", status, c.body)}, false
	}
	return answer{events: bytes.Count(c.body, eventMarker), coverage: coverage}, false
}

// tally accumulates a connection's answers. Each connection keeps its own
// and they are merged when the run ends: a lock shared by 64 connections
// in the request loop would cost the generator CPU that the server under
// test needs.
type tally struct {
	lat      []time.Duration
	service  []time.Duration
	late     []time.Duration
	errors   int
	events   int
	coverage string
	firstErr string
}

func (t *tally) add(d time.Duration, a answer) {
	if a.err != nil {
		t.errors++
		if t.firstErr == "" {
			t.firstErr = a.err.Error()
		}
		return
	}
	t.lat = append(t.lat, d)
	t.events += a.events
	t.coverage = a.coverage
}

// merge adds the connections' tallies into one.
func merge(ts []tally) *tally {
	t := &tally{}
	for i := range ts {
		o := &ts[i]
		t.lat = append(t.lat, o.lat...)
		t.service = append(t.service, o.service...)
		t.late = append(t.late, o.late...)
		t.errors += o.errors
		t.events += o.events
		if o.coverage != "" {
			t.coverage = o.coverage
		}
		if t.firstErr == "" {
			t.firstErr = o.firstErr
		}
	}
	return t
}

func (t *tally) result(mode string, conns int, offered float64, d time.Duration) *LoadResult {
	r := &LoadResult{Mode: mode, Connections: conns, Offered: offered, Duration: d, Requests: len(t.lat), Errors: t.errors,
		Events: t.events, Coverage: t.coverage, FirstError: t.firstErr}
	r.Throughput = float64(len(t.lat)) / d.Seconds()
	r.Latency = Summarize(t.lat)
	r.Service, r.Late = Summarize(t.service), Summarize(t.late)
	return r
}

// ClosedLoop runs conns connections, each sending its next request as soon
// as the previous one is answered, for warm-up and then d; it counts what
// is sent and answered within d.
func ClosedLoop(ctx context.Context, base string, paths []string, conns int, warm, d time.Duration) *LoadResult {
	var next atomic.Uint64
	measureFrom := time.Now().Add(warm)
	end := measureFrom.Add(d)
	wait := connections(base, conns, func(c *client, t *tally) {
		for {
			now := time.Now()
			if now.After(end) || ctx.Err() != nil {
				return
			}
			a := c.get(paths[next.Add(1)%uint64(len(paths))])
			done := time.Now()
			if !now.Before(measureFrom) && !done.After(end) {
				t.add(done.Sub(now), a)
			}
		}
	})
	return wait().result("closed", conns, 0, d)
}

// connections runs fn on n connections at once, each with its own client
// and tally; wait returns their merged tally once every fn has returned.
func connections(base string, n int, fn func(c *client, t *tally)) (wait func() *tally) {
	ts := make([]tally, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(base)
			defer c.close()
			fn(c, &ts[i])
		}()
	}
	return func() *tally {
		wg.Wait()
		return merge(ts)
	}
}

// OpenLoop offers rate requests/s on a fixed schedule, whatever the server
// does, for warm-up and then d. Latency runs from each request's scheduled
// time, so a server that falls behind is charged for the queue it causes
// (no coordinated omission). At most maxConns requests are in flight, one
// per connection.
func OpenLoop(ctx context.Context, base string, paths []string, rate float64, maxConns int, warm, d time.Duration) *LoadResult {
	type job struct {
		path   string
		due    time.Time
		record bool
	}
	total := int((warm + d).Seconds() * rate)
	jobs := make(chan job, total+1)
	wait := connections(base, maxConns, func(c *client, t *tally) {
		for j := range jobs {
			sent := time.Now()
			a := c.get(j.path)
			done := time.Now()
			if !j.record {
				continue
			}
			t.add(done.Sub(j.due), a)
			if a.err == nil {
				t.service = append(t.service, done.Sub(sent))
				t.late = append(t.late, sent.Sub(j.due))
			}
		}
	})
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	warmN := int(warm.Seconds() * rate)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{path: paths[i%len(paths)], due: due, record: i >= warmN}
	}
	close(jobs)
	return wait().result("open", maxConns, rate, d)
}
