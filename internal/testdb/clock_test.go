package testdb

import (
	"database/sql"
	"testing"
	"time"
)

// TestClockOffset runs a chain whose servers' clocks are ten seconds
// ahead of the host's: both servers answer UTC_TIMESTAMP() so, and the
// replica still replicates.
func TestClockOffset(t *testing.T) {
	tp := DedicatedTopology(t, TopologyOptions{ClockOffset: 10 * time.Second})
	for _, s := range []*Server{tp.Primary, tp.Replica().Server} {
		db, err := sql.Open("mysql", s.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		var server time.Time
		before := time.Now()
		if err := db.QueryRow("SELECT UTC_TIMESTAMP(6)").Scan(&server); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		db.Close()
		// The server read its clock between before and after.
		if low, high := server.Sub(after), server.Sub(before); low > 10*time.Second || high < 10*time.Second {
			t.Errorf("server %s: clock offset between %v and %v, want 10s", s.Addr(), low, high)
		}
	}
	db := tp.NewDB(t) // waits for the replica to have it
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://clock.example')")
}
