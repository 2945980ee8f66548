package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/netstall"
	"github.com/gorilla/websocket"
)

const testDeadline = 200 * time.Millisecond

// deadlineServer serves, behind withWriteDeadline(testDeadline):
// /big, 64 MiB that a client that never reads cannot take; /slow-stream and
// /journal/stream, five chunks spread over more than the deadline; /ws, an
// echoing WebSocket.
//
// The listener keeps its connections' send buffers small (internal/netstall)
// so that a client that never reads blocks the server's writes on any
// kernel. Handlers report how their writes ended on bigErr and streamErr.
func deadlineServer(t *testing.T, bigErr, streamErr chan<- error) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for i := 0; i < 64; i++ {
			if _, err := w.Write(chunk); err != nil {
				bigErr <- err
				return
			}
		}
		bigErr <- nil
	})
	stream := func(w http.ResponseWriter, _ *http.Request) {
		rc := http.NewResponseController(w)
		for i := 0; i < 5; i++ {
			_, err := io.WriteString(w, "chunk\n")
			if err == nil {
				err = rc.Flush()
			}
			if err != nil {
				streamErr <- err
				return
			}
			time.Sleep(testDeadline / 2)
		}
		streamErr <- nil
	}
	mux.HandleFunc("/slow-stream", stream)
	mux.HandleFunc("/journal/stream", stream)
	upgrader := websocket.Upgrader{}
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			kind, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(kind, msg)
		}
	})
	ts := httptest.NewUnstartedServer(withWriteDeadline(mux, testDeadline))
	ts.Listener = netstall.NewListener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func TestWriteDeadlineCutsOffAClientThatDoesNotRead(t *testing.T) {
	bigErr := make(chan error, 1)
	ts := deadlineServer(t, bigErr, make(chan error, 1))
	conn, _, err := netstall.Dial(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-bigErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("writing to a client that does not read ended with %v, want the deadline", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the handler is still blocked writing to a client that does not read")
	}
}

func TestWriteDeadlineSparesStreamsAndWebSockets(t *testing.T) {
	streamErr := make(chan error, 1)
	ts := deadlineServer(t, make(chan error, 1), streamErr)
	// An ordinary handler that outlives the deadline loses its response;
	// a /journal/ download does not.
	resp, err := http.Get(ts.URL + "/journal/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || strings.Count(string(body), "chunk") != 5 {
		t.Fatalf("/journal/stream: %q, %v", body, err)
	}
	if err := <-streamErr; err != nil {
		t.Fatalf("/journal/stream's writes failed: %v", err)
	}
	resp, err = http.Get(ts.URL + "/slow-stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	// The handler's own write fails on the deadline, and the client finds
	// the chunked body ended before its last chunk.
	if werr := <-streamErr; !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("/slow-stream's writes ended with %v, want the write deadline", werr)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || strings.Count(string(body), "chunk") == 5 {
		t.Fatalf("/slow-stream: the client read %q and %v, want a body cut off before its end", body, err)
	}

	// A WebSocket upgraded on a keep-alive connection whose previous
	// request's deadline has passed still works.
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	io.WriteString(conn, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	time.Sleep(2 * testDeadline) // the first request's deadline is now in the past
	ws, _, err := websocket.NewClient(&bufferedConn{conn, br}, mustURL(t, ts.URL+"/ws"), nil, 1024, 1024)
	if err != nil {
		t.Fatalf("upgrade on a connection whose deadline passed: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "ping" {
			t.Fatalf("echo %d: %q, %v", i, msg, err)
		}
		time.Sleep(testDeadline)
	}
}

// bufferedConn reads through the bufio.Reader that read the first response.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(strings.Replace(raw, "http://", "ws://", 1))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
