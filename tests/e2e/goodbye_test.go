package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestStopSaysGoodbye stops the real binary with SIGTERM while it follows a
// replica with -primary-dsn and write mode on, so that it holds every kind
// of connection it makes (the binlog stream, the replica's and the
// primary's pools, the replication watch, the primary's proof, the
// health checks, polled every 50 ms), and reads both servers' error logs:
// no "Aborted connection" line may name the bridge's user. MariaDB 10.11
// logs aborted connections from log_warnings=2, its default; the servers
// run with 3. (The dump thread's KILL is logged from 4 on, as "(KILLED)":
// a dump thread reads no commands, so a KILL is how any client ends it.)
func TestStopSaysGoodbye(t *testing.T) {
	warnings := []string{"--log-warnings=3"}
	tp := testdb.DedicatedTopology(t, testdb.TopologyOptions{PrimaryArgs: warnings, ReplicaArgs: warnings})
	db := tp.NewDB(t)
	const user = "bridge_goodbye"
	for _, q := range []string{
		"CREATE USER '" + user + "'@'127.0.0.1' IDENTIFIED BY 'pw'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO '" + user + "'@'127.0.0.1'",
		"GRANT SELECT, INSERT, UPDATE ON " + db.Name + ".* TO '" + user + "'@'127.0.0.1'",
	} {
		if err := tp.Primary.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	replica, primary := tp.Replica().UserDSN(user, "pw", db.Name), tp.Primary.UserDSN(user, "pw", db.Name)
	d := startBridge(t, "-dsn", replica, "-primary-dsn", primary, "-write", "-write-dsn", primary,
		"-journal", t.TempDir()+"/goodbye.journal", "-monitor-interval", "50ms")
	// Let the health checks and polls run a few rounds, so that some are
	// likely in flight at the stop.
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status) VALUES (1, 0, 'https://goodbye.example.com', 1)")
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status = 0 WHERE blog_id = 1")
	waitFor(t, "the transition to be journaled", time.Minute, func() bool {
		h, _, err := d.proc.Health(t.Context())
		return err == nil && h.Journal.Events == 1
	})
	d.stop()

	servers := map[string]*testdb.Server{"primary": tp.Primary, "replica": tp.Replica().Server}
	for name, s := range servers {
		// A server logs an aborted connection as the connection's thread
		// ends, before the thread leaves the process list.
		waitFor(t, "the bridge's connections to "+name+" to end", time.Minute, func() bool {
			n, err := connectionsOf(s, user)
			return err == nil && n == 0
		})
		log, err := os.ReadFile(s.ErrorLog())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "Aborted connection") && strings.Contains(line, "user: '"+user+"'") {
				t.Errorf("the %s logged, when the bridge stopped: %s", name, line)
			}
		}
	}
}

// connectionsOf counts a user's connections to s.
func connectionsOf(s *testdb.Server, user string) (int, error) {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s's connections: %w", user, err)
	}
	return n, nil
}
