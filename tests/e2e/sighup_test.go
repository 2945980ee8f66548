package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
	"github.com/gorilla/websocket"
)

// TestSIGHUPRotatesTheToken: SIGHUP re-reads -token-file. The old token is
// refused right after, the new one admitted; a WebSocket session and a
// request whose body was still on its way when the signal came, both
// admitted with the old token, finish; the follower is not restarted and
// keeps journaling. A new file that does not read keeps the token in force
// and the log says why.
func TestSIGHUPRotatesTheToken(t *testing.T) {
	db := testdb.NewDB(t)
	sites := setupSites(t, db, 26000, 5)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	const oldToken, newToken = "old-token-4c1b", "new-token-9e7d"
	writeToken(t, tokenFile, oldToken+"\n")
	d := launch(t, oldToken, "-dsn", db.DSN(), "-journal", filepath.Join(dir, "bridge.journal"),
		"-token-file", tokenFile, "-monitor-interval", "100ms")
	since := coveredFrom()
	restartsBefore := followerRestarts(t, d, oldToken)

	// A WebSocket session admitted with the old token.
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: 30 * time.Second}).Dial("ws://"+d.addr+"/jsonrpc?token="+oldToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsStatus(t, ws, 1)

	// A request admitted with the old token whose body is not sent yet:
	// the server asks for it (100 Continue) once the token was checked.
	slow, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	body := `{"jsonrpc":"2.0","id":7,"method":"Monitor.1.status@BinlogFollower"}`
	fmt.Fprintf(slow, "POST /jsonrpc HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", d.addr, oldToken, len(body))
	slowReader := bufio.NewReader(slow)
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := slowReader.ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("the slow request was not admitted: %q %v", line, err)
	}
	slowReader.ReadString('\n') // the blank line after 100 Continue

	writeToken(t, tokenFile, newToken)
	hangup(t, d, "SIGHUP: token re-read", 1)
	if code := getCode(t, d, "/time", oldToken); code != http.StatusUnauthorized {
		t.Errorf("the old token right after SIGHUP: %d, want 401", code)
	}
	if code := getCode(t, d, "/time", newToken); code != http.StatusOK {
		t.Errorf("the new token: %d, want 200", code)
	}
	if code := getCode(t, d, "/metrics", oldToken); code != http.StatusUnauthorized {
		t.Errorf("the old token on /metrics: %d, want 401", code)
	}

	// The requests admitted before finish.
	io.WriteString(slow, body)
	resp, err := http.ReadResponse(slowReader, nil)
	if err != nil {
		t.Fatalf("the slow request did not finish: %v", err)
	}
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(reply), `"observable":"BinlogFollower"`) {
		t.Errorf("the slow request: %d %s", resp.StatusCode, reply)
	}
	wsStatus(t, ws, 2)

	// The follower was not restarted and keeps journaling.
	if got := followerRestarts(t, d, newToken); got != restartsBefore {
		t.Errorf("BinlogFollower restarts went from %s to %s", restartsBefore, got)
	}
	if n := d.log.Count("coverage span started"); n != 1 {
		t.Errorf("%d coverage spans started: the follower restarted", n)
	}
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0, last_status_change=NOW() WHERE blog_id=?", sites[0].BlogID)
	d.proc.Token = newToken
	waitFor(t, "the transition after SIGHUP to be journaled", time.Minute, func() bool {
		events, coverage := d.events(sites[0].BlogID, since, time.Now().Add(time.Hour))
		return coverage == "journal" && len(events) == 1 && events[0].ID != 0
	})

	// A file that does not read keeps the token in force.
	writeToken(t, tokenFile, "  \n")
	hangup(t, d, "SIGHUP: keeping the current token", 1)
	if !contains(d.log.String(), "-token-file "+tokenFile+" is empty") {
		t.Errorf("the log does not say why the token was kept:\n%s", d.log.Tail(2000))
	}
	os.Remove(tokenFile)
	hangup(t, d, "SIGHUP: keeping the current token", 2)
	if code := getCode(t, d, "/time", newToken); code != http.StatusOK {
		t.Errorf("the token in force after failed re-reads: %d, want 200", code)
	}
	if strings.Contains(d.log.String(), oldToken) || strings.Contains(d.log.String(), newToken) {
		t.Errorf("a log line holds a token")
	}
	d.stop()
}

func writeToken(t *testing.T, file, token string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hangup sends SIGHUP and waits until the log holds n lines saying logged.
func hangup(t *testing.T, d *daemon, logged string, n int) {
	t.Helper()
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bridge to log "+logged, time.Minute, func() bool {
		if d.proc.Exited() {
			t.Fatalf("the bridge exited on SIGHUP:\n%s", d.log.Tail(2000))
		}
		return d.log.Count(logged) >= n
	})
}

func getCode(t *testing.T, d *daemon, path, token string) int {
	t.Helper()
	resp, _, err := authGet(d, path, token)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

var restartsLine = regexp.MustCompile(`(?m)^jetmon_bridge_service_restarts_total\{callsign="BinlogFollower"\} (\S+)$`)

// followerRestarts reads BinlogFollower's restart count from /metrics.
func followerRestarts(t *testing.T, d *daemon, token string) string {
	t.Helper()
	resp, body, err := authGet(d, "/metrics", token)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	m := restartsLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no BinlogFollower restart count:\n%s", body)
	}
	return string(m[1])
}

// wsStatus asks the session for BinlogFollower's status and expects it in
// operation.
func wsStatus(t *testing.T, ws *websocket.Conn, id int) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := ws.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": "Monitor.1.status@BinlogFollower"}); err != nil {
		t.Fatalf("the WebSocket session: %v", err)
	}
	var reply struct {
		ID     int `json:"id"`
		Result []struct {
			Measurements struct {
				Operational bool `json:"operational"`
			} `json:"measurements"`
		} `json:"result"`
	}
	if err := ws.ReadJSON(&reply); err != nil {
		t.Fatalf("the WebSocket session: %v", err)
	}
	if reply.ID != id || len(reply.Result) != 1 || !reply.Result[0].Measurements.Operational {
		b, _ := json.Marshal(reply)
		t.Fatalf("the WebSocket session answered %s", b)
	}
}
