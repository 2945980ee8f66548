package binlog

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadlineConn is a net.Conn whose far read deadlines are kept in
// memory and enforced by a watchdog instead of being armed in the runtime's
// network poller at every call.
//
// go-mysql, when given a ReadTimeout (which a follower needs: it is how a
// dead connection is noticed), sets the read deadline before every read of
// a packet's header and body and again after each packet: three times per
// binlog event. Each call re-arms a runtime timer under the poller's locks,
// which cost about a fifth of the follower's CPU on a shared replica's
// stream, where most events are small (docs/BENCHMARKS.md, catch-up note
// 8). A deadline only matters while a read is blocked, and the follower's
// are ReadTimeout away, so this conn records each one, and a watchdog that
// looks a few times per timeout fails a read that has outlived its
// deadline, by arming the real deadline then.
//
// A deadline within two resolutions of the watchdog's last look is armed at
// once, as given: go-mysql's Close sets one 100 ms away to interrupt a
// blocked read. (Comparing with the last look rather than reading the clock
// matters: on the benchmark's VM, reading the clock was most of what was
// left of the cost.)
type lazyDeadlineConn struct {
	net.Conn
	resolution time.Duration

	deadline atomic.Int64 // the read deadline in Unix nanoseconds; 0 for none
	ticked   atomic.Int64 // the watchdog's last look, in Unix nanoseconds: a clock behind by at most resolution
	reading  atomic.Bool  // a Read is in progress (go-mysql reads from one goroutine)
	armed    atomic.Bool  // the real read deadline is set

	stop      chan struct{}
	closeOnce sync.Once
}

// lazyDeadlineDialer dials TCP connections whose read deadlines are
// enforced within resolution of their time.
func lazyDeadlineDialer(resolution time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newLazyDeadlineConn(c, resolution), nil
	}
}

func newLazyDeadlineConn(c net.Conn, resolution time.Duration) *lazyDeadlineConn {
	l := &lazyDeadlineConn{Conn: c, resolution: resolution, stop: make(chan struct{})}
	l.ticked.Store(time.Now().UnixNano())
	go l.watch()
	return l
}

// Read reads from the connection, marking the read as in progress for the
// watchdog.
func (c *lazyDeadlineConn) Read(p []byte) (int, error) {
	c.reading.Store(true)
	n, err := c.Conn.Read(p)
	c.reading.Store(false)
	return n, err
}

// SetReadDeadline records t for the watchdog, or arms it when it is near.
func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.UnixNano()-c.ticked.Load() < int64(2*c.resolution) {
		c.deadline.Store(0)
		c.armed.Store(true)
		return c.Conn.SetReadDeadline(t)
	}
	var at int64
	if !t.IsZero() {
		at = t.UnixNano()
	}
	c.deadline.Store(at)
	if c.armed.Swap(false) {
		// A near deadline armed before is superseded, as it would be by
		// the real call.
		return c.Conn.SetReadDeadline(time.Time{})
	}
	return nil
}

// SetDeadline sets the write deadline directly and the read deadline as
// SetReadDeadline does.
func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// Close closes the connection and stops the watchdog.
func (c *lazyDeadlineConn) Close() error {
	c.closeOnce.Do(func() { close(c.stop) })
	return c.Conn.Close()
}

// watch fails a blocked read once its deadline has passed, by arming the
// real deadline in the past: the read returns a timeout error, as it would
// have with the deadline armed all along.
func (c *lazyDeadlineConn) watch() {
	t := time.NewTicker(c.resolution)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.ticked.Store(now.UnixNano())
			at := c.deadline.Load()
			if at != 0 && c.reading.Load() && now.UnixNano() > at && c.deadline.CompareAndSwap(at, 0) {
				c.armed.Store(true)
				c.Conn.SetReadDeadline(time.Unix(0, at))
			}
		}
	}
}
