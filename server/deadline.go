package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds the writing of one response: long enough for the
// slowest handler (an /events that waits -read-timeout for the follower and
// then queries the replica) and a large body to a slow but reading client.
func writeTimeout(readTimeout time.Duration) time.Duration {
	return 3*readTimeout + 15*time.Second
}

// withWriteDeadline gives every ordinary request a write deadline of d from
// its arrival. Without one, a client that sends requests but never reads the
// responses blocks the server's writes for ever, holding a goroutine and a
// file descriptor: http.Server has no bound on writes unless WriteTimeout is
// set, and WriteTimeout would also cut WebSocket sessions and streaming
// downloads.
//
// WebSocket upgrades (the WebSocket code sets a deadline per message) and
// streaming downloads under /journal/ get none. net/http clears a request's
// write deadline once it is answered, so none outlives its request on a
// keep-alive connection.
func withWriteDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) && !strings.HasPrefix(r.URL.Path, "/journal/") {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
