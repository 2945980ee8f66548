package testdb

import (
	"database/sql"
	"testing"
	"time"
)

// TestClockOffset runs chains whose servers' clocks are ten seconds ahead
// of the host's, then ten seconds behind: both servers answer
// UTC_TIMESTAMP() so, and the replica still replicates.
func TestClockOffset(t *testing.T) {
	// Both signs: a server behind the host's clock is as likely as one ahead.
	for _, offset := range []time.Duration{10 * time.Second, -10 * time.Second} {
		tp := DedicatedTopology(t, TopologyOptions{ClockOffset: offset})
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
			if low, high := server.Sub(after), server.Sub(before); low > offset || high < offset {
				t.Errorf("server %s: clock offset between %v and %v, want %v", s.Addr(), low, high, offset)
			}
		}
		db := tp.NewDB(t) // waits for the replica to have it
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (1, 0, 'https://clock.example')")
	}
}
