package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestCancelledQueryIsNotCut cancels the context of a query while the
// server runs it, as the daemon's stop cancels its services' contexts, then
// closes the pool: the server must log no aborted connection for the user,
// the query having finished and the connection said goodbye. A query past
// its deadline is still cut, so a hung server cannot hold a caller.
func TestCancelledQueryIsNotCut(t *testing.T) {
	s := testdb.Dedicated(t, testdb.Options{Args: []string{"--log-warnings=3"}})
	jetmon := testdb.NewDBOn(t, s)
	const user = "store_finish"
	if err := s.Exec("CREATE USER '" + user + "'@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT SELECT ON " + jetmon.Name + ".* TO '" + user + "'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	db, err := Open("-dsn", s.UserDSN(user, "pw", jetmon.Name), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var slept int
	err = db.SQL().QueryRowContext(qctx, "SELECT SLEEP(1)").Scan(&slept)
	if qctx.Err() == nil {
		t.Fatalf("the query ended before its context was cancelled: %v", err)
	}
	// A deadline still ends a query: the driver cuts it, so a hung server
	// cannot hold a caller. (On a pool of its own: its cut connection is
	// the one the server may log.)
	other, err := Open("-dsn", jetmon.DSN(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dctx, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	if err := other.SQL().QueryRowContext(dctx, "SELECT SLEEP(30)").Scan(&slept); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a query past its deadline: %v, want %v", err, context.DeadlineExceeded)
	}
	db.Close()

	// The server logs an aborted connection as the connection's thread ends.
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := jetmon.SQL.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&n); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool's connections did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := abortedLines(t, s, user); len(got) != 0 {
		t.Errorf("the server logged aborted connections for the cancelled query or the closed pool: %q", got)
	}
}

// abortedLines are the "Aborted connection" lines s logged for user.
func abortedLines(t *testing.T, s *testdb.Server, user string) []string {
	t.Helper()
	log, err := os.ReadFile(s.ErrorLog())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "Aborted connection") && strings.Contains(line, "user: '"+user+"'") {
			lines = append(lines, line)
		}
	}
	return lines
}
