package binlog

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// lazyPair is a lazyDeadlineConn on one end of a loopback TCP connection
// and the plain other end.
func lazyPair(t *testing.T, resolution time.Duration) (*lazyDeadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	l := newLazyDeadlineConn(c, resolution)
	t.Cleanup(func() { l.Close(); peer.Close() })
	return l, peer
}

// readResult reads one byte from c in the background.
func readResult(c net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	return done
}

// readSucceeds checks that a read on c gets the byte peer then writes.
func readSucceeds(t *testing.T, c, peer net.Conn, what string) {
	t.Helper()
	read := readResult(c)
	if _, err := peer.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// A far deadline is not armed in the poller, yet a read blocked past it
// fails as it would have with the deadline armed: not before it.
func TestLazyDeadlineFailsABlockedRead(t *testing.T) {
	c, _ := lazyPair(t, 10*time.Millisecond)
	deadline := time.Now().Add(100 * time.Millisecond)
	if err := c.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	if c.armed.Load() {
		t.Fatal("a deadline ten resolutions away was armed at once")
	}
	select {
	case err := <-readResult(c):
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked read ended with %v, want a deadline error", err)
		}
		if ended := time.Now(); ended.Before(deadline) {
			t.Fatalf("the blocked read failed at %s, before its deadline %s", ended.Format(time.StampMicro), deadline.Format(time.StampMicro))
		}
		if !c.armed.Load() {
			t.Error("the read failed without the watchdog arming its deadline")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read blocked past its deadline was never failed")
	}
}

// A deadline that passes while nobody reads (go-mysql's handler blocked on
// a busy applier) fails nothing: the next read has a fresh deadline.
func TestLazyDeadlinePassingBetweenReadsFailsNothing(t *testing.T) {
	c, peer := lazyPair(t, 10*time.Millisecond)
	first := time.Now().Add(40 * time.Millisecond)
	if err := c.SetReadDeadline(first); err != nil {
		t.Fatal(err)
	}
	// Wait until the watchdog has looked after the deadline and has gone
	// on to its next look (so the first look's work is done).
	var looked int64
	for looked = c.ticked.Load(); looked <= first.UnixNano(); looked = c.ticked.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	for c.ticked.Load() == looked {
		time.Sleep(5 * time.Millisecond)
	}
	// Nobody was reading: the watchdog must have left the deadline unarmed
	// (armed in the past, it would fail the next read that came without a
	// fresh deadline, as a read after a lost SetReadDeadline would).
	if c.armed.Load() {
		t.Fatal("the watchdog armed a deadline that passed while nobody read")
	}
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	readSucceeds(t, c, peer, "read after a deadline passed unread")
}

// A near deadline (go-mysql's Close interrupting a read) is armed at once,
// and a later far one supersedes it, as with the real calls.
func TestNearDeadlineIsArmedAtOnce(t *testing.T) {
	c, peer := lazyPair(t, time.Hour) // the watchdog never looks
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readResult(c):
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read ended with %v, want a deadline error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a near deadline was not armed")
	}
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	readSucceeds(t, c, peer, "read after a far deadline replaced a near one")
}
