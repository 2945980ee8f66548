package server_test

import (
	"context"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestTimeZone runs against a server whose global time zone is +05:00:
// last_status_change written by any session in any zone comes back as the
// right UTC instant in created_at.
func TestTimeZone(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{Args: []string{"--default-time-zone=+05:00"}})
	a := newAPI(t, apiOpts{server: srv, write: true})
	ctx := context.Background()

	var global, session string
	if err := a.db.SQL.QueryRow("SELECT @@global.time_zone, @@session.time_zone").Scan(&global, &session); err != nil {
		t.Fatal(err)
	}
	if global != "+05:00" || session != "+05:00" {
		t.Fatalf("server zone %s, session %s: want +05:00 for this test to mean anything", global, session)
	}

	want := mustTime(t, "2026-04-22T14:05:33Z")
	// 1. A session set to UTC writes the wall-clock UTC time.
	utc, err := a.db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer utc.Close()
	if _, err := utc.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	if _, err := utc.ExecContext(ctx, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES (101, 0, 'https://utc.example.com', 2, '2026-04-22 14:05:33')"); err != nil {
		t.Fatal(err)
	}
	// 2. A session in the server's zone writes its own wall-clock time.
	a.db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url, site_status, last_status_change) VALUES (102, 0, 'https://plus5.example.com', 0, '2026-04-22 19:05:33')")
	// 3. FROM_UNIXTIME in the server's zone.
	insert(t, a.db, 103, "https://unix.example.com", true, bridge.StatusRunning, want)

	for _, blog := range []uint64{101, 102, 103} {
		// The instant is inside a one-second window starting at it...
		es := a.getEvents(t, blog, "2026-04-22T14:05:33Z", "2026-04-22T14:05:34Z")
		if len(es) != 1 || es[0].CreatedAt != "2026-04-22T14:05:33Z" {
			t.Fatalf("blog %d: events %+v, want one at 2026-04-22T14:05:33Z", blog, es)
		}
		// ...and not in the windows five hours either side, where a
		// misread zone would put it.
		for _, w := range [][2]string{{"2026-04-22T09:05:33Z", "2026-04-22T09:05:34Z"}, {"2026-04-22T19:05:33Z", "2026-04-22T19:05:34Z"}} {
			if es := a.getEvents(t, blog, w[0], w[1]); len(es) != 0 {
				t.Fatalf("blog %d: event in [%s, %s): %+v", blog, w[0], w[1], es)
			}
		}
		m, err := a.replica.LatestChange(ctx, blog)
		if err != nil {
			t.Fatal(err)
		}
		if !m.LastStatusChange.Equal(want) || m.LastStatusChange.Location() != time.UTC {
			t.Fatalf("blog %d: LatestChange last_status_change %v, want %v in UTC", blog, m.LastStatusChange, want)
		}
	}

	// 4. Jetmon's own UPDATE with NOW() in a +05:00 session: the server's
	// epoch seconds are the truth.
	a.db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status = 2, last_status_change = NOW() WHERE blog_id = 103 AND monitor_url = 'https://unix.example.com'")
	checkAgainstServer(t, a, 103, "veriflier")

	// 5. A monitor the bridge creates gets DEFAULT current_timestamp().
	r := a.do("POST", "/monitors", []byte(`{"url":"https://created.example.com"}`))
	wantJSON(t, "create", r, 201)
	created := decodeMonitor(t, r)
	checkAgainstServer(t, a, created.BlogID, "jetmon")
}

// checkAgainstServer reads the blog's last_status_change as epoch seconds
// from the server and checks that /events puts the event at that instant.
func checkAgainstServer(t *testing.T, a *api, blog uint64, source string) {
	t.Helper()
	var epoch int64
	if err := a.db.SQL.QueryRow("SELECT UNIX_TIMESTAMP(last_status_change) FROM jetpack_monitor_sites WHERE blog_id = ?", blog).Scan(&epoch); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(epoch, 0).UTC()
	es := a.getEvents(t, blog, at.Format(time.RFC3339), at.Add(time.Second).Format(time.RFC3339))
	if len(es) != 1 || es[0].CreatedAt != at.Format(time.RFC3339) || es[0].Source != source {
		t.Fatalf("blog %d: events %+v, want one from %s at %s (epoch %d)", blog, es, source, at.Format(time.RFC3339), epoch)
	}
}
