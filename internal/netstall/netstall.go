// Package netstall gives tests a TCP peer that stops reading, a server
// whose writes to such a peer block almost at once, whatever the kernel's
// socket-buffer settings, and a proxy that cuts the network as a partition
// does (proxy.go).
//
// A test that needs "the client stopped reading" cannot rely on writing
// "a lot": Linux autotunes loopback buffers up to net.ipv4.tcp_wmem and
// tcp_rmem, which on some machines hold tens of megabytes, so the peer
// that never reads may have taken the whole payload already. Setting
// SO_SNDBUF or SO_RCVBUF explicitly turns autotuning off for that socket
// (the kernel locks the size) and only a minimum, never a maximum, applies,
// so the buffers the test owns stay small on every machine. Granted reports
// what the kernel actually gave, so a test can check that its payload is
// far larger than what can be in flight.
package netstall

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
)

// Size is the socket buffer size a stalled connection asks for. The kernel
// doubles it for bookkeeping and applies a floor of a few kilobytes.
const Size = 4096

// Dial connects to addr with a small receive buffer, set before the
// connection is made so that the window the peer sees is small from the
// SYN on. It returns the connection and the receive buffer granted.
func Dial(addr string) (*net.TCPConn, int, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return setInt(rc, syscall.SO_RCVBUF, Size)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("netstall: dial %s: %w", addr, err)
	}
	tc := c.(*net.TCPConn)
	granted, err := Granted(tc, syscall.SO_RCVBUF)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return tc, granted, nil
}

// Listener wraps a TCP listener so that every accepted connection has a
// small send buffer: the server's writes to a peer that stops reading
// block once a few kilobytes are queued.
type Listener struct {
	net.Listener
	granted atomic.Int64
}

// NewListener wraps l; l must accept TCP connections.
func NewListener(l net.Listener) *Listener { return &Listener{Listener: l} }

// Accept accepts the next connection and shrinks its send buffer.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("netstall: accepted a %T, want a TCP connection", c)
	}
	if err := tc.SetWriteBuffer(Size); err != nil {
		c.Close()
		return nil, fmt.Errorf("netstall: shrink the send buffer: %w", err)
	}
	n, err := Granted(tc, syscall.SO_SNDBUF)
	if err != nil {
		c.Close()
		return nil, err
	}
	for {
		old := l.granted.Load()
		if int64(n) <= old || l.granted.CompareAndSwap(old, int64(n)) {
			break
		}
	}
	return tc, nil
}

// Granted returns the largest send buffer the kernel granted to a
// connection this listener accepted (0 before the first).
func (l *Listener) Granted() int { return int(l.granted.Load()) }

// Granted reads the buffer size (syscall.SO_SNDBUF or SO_RCVBUF) the kernel
// gave c.
func Granted(c syscall.Conn, opt int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("netstall: %w", err)
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) { n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		return 0, fmt.Errorf("netstall: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("netstall: read the socket buffer size: %w", serr)
	}
	return n, nil
}

func setInt(rc syscall.RawConn, opt, v int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, v) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netstall: set the socket buffer size: %w", serr)
	}
	return nil
}
