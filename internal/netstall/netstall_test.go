package netstall_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/netstall"
)

// TestWritesToAStalledPeerBlock: a server behind NewListener writing to a
// Dial'ed peer that never reads gets only what the two granted buffers
// hold through, however large the kernel lets autotuned buffers grow.
func TestWritesToAStalledPeerBlock(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := netstall.NewListener(raw)
	defer l.Close()
	client, rcv, err := netstall.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	snd := l.Granted()
	if snd <= 0 || rcv <= 0 {
		t.Fatalf("granted send buffer %d, receive buffer %d", snd, rcv)
	}

	chunk := make([]byte, 1024)
	written := 0
	for written < 64<<20 {
		// The deadline only ends the test's wait once a write blocks; how
		// much got through is bounded by the buffers, not by the clock.
		server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := server.Write(chunk)
		written += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if limit := 2 * (snd + rcv); written > limit {
		t.Fatalf("%d bytes went to a peer that never reads; the buffers granted (send %d, receive %d) hold at most about %d", written, snd, rcv, limit)
	}
	t.Logf("send buffer %d, receive buffer %d: %d bytes written before the writes blocked", snd, rcv, written)
}
