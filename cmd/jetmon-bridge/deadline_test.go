package main

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

	"github.com/gorilla/websocket"
)

const testDeadline = 200 * time.Millisecond

// deadlineServer serves, behind withWriteDeadline(testDeadline):
// /big, 64 MiB that a client that never reads cannot take; /slow-stream and
// /journal/stream, five chunks spread over more than the deadline; /ws, an
// echoing WebSocket.
func deadlineServer(t *testing.T, bigErr chan<- error) *httptest.Server {
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
		for i := 0; i < 5; i++ {
			if _, err := io.WriteString(w, "chunk\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(testDeadline / 2)
		}
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
	ts := httptest.NewServer(withWriteDeadline(mux, testDeadline))
	t.Cleanup(ts.Close)
	return ts
}

func TestWriteDeadlineCutsOffAClientThatDoesNotRead(t *testing.T) {
	bigErr := make(chan error, 1)
	ts := deadlineServer(t, bigErr)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
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
	ts := deadlineServer(t, make(chan error, 1))
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
	resp, err = http.Get(ts.URL + "/slow-stream")
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil && strings.Count(string(body), "chunk") == 5 {
		t.Fatal("an ordinary response kept writing past its deadline")
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
