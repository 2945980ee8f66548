package e2e

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestXAPreparedAcrossSIGKILL: the bridge is SIGKILLed after it has
// committed an XA PREPARE and before the XA COMMIT (or XA ROLLBACK): the
// restarted bridge journals the committed transaction's transition once,
// and the rolled-back one's never.
func TestXAPreparedAcrossSIGKILL(t *testing.T) {
	db := testdb.NewDB(t)
	for blog := 1; blog <= 3; blog++ {
		db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (?, 0, ?)", blog, fmt.Sprintf("https://%d.xa.example", blog))
	}
	journal := filepath.Join(t.TempDir(), "bridge.journal")
	d := startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	since := coveredFrom()
	xid := func(n int) string { return fmt.Sprintf("'%s-x%d'", db.Name, n) }
	// A session of its own: a prepared XA transaction outlives it.
	session := func(stmts ...string) {
		t.Helper()
		conn, err := sql.Open("mysql", db.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetMaxOpenConns(1)
		for _, s := range stmts {
			if _, err := conn.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	update := "UPDATE jetpack_monitor_sites SET site_status=%d, last_status_change=FROM_UNIXTIME(%d) WHERE blog_id=%d"
	at := since.Unix()
	session("XA START "+xid(1), fmt.Sprintf(update, 0, at, 1), "XA END "+xid(1), "XA PREPARE "+xid(1))
	session("XA START "+xid(2), fmt.Sprintf(update, 2, at, 2), "XA END "+xid(2), "XA PREPARE "+xid(2))
	// A transition committed after both prepares: once the journal shows
	// it, the checkpoint past the prepares is durable.
	db.MustExec(t, fmt.Sprintf(update, 0, at, 3))
	until := since.Add(2 * time.Second)
	waitCovered(t, d, 3, since, until)
	if evs, _ := d.events(1, since, until); len(evs) != 0 {
		t.Fatalf("blog 1: %v journaled before its XA COMMIT", evs)
	}
	d.kill()
	session("XA COMMIT " + xid(1))
	session("XA ROLLBACK " + xid(2))
	d = startBridge(t, "-dsn", db.DSN(), "-journal", journal)
	until = time.Now().Add(time.Second)
	waitCovered(t, d, 1, since, until)
	want := map[uint64][]bridge.Status{1: {0}, 2: nil, 3: {0}}
	for blog, statuses := range want {
		evs, coverage := d.events(blog, since, until)
		if coverage != "journal" || len(evs) != len(statuses) {
			t.Fatalf("blog %d: %v (%s), want %d transitions", blog, evs, coverage, len(statuses))
		}
		for i, s := range statuses {
			if evs[i].NewStatus != s || evs[i].CreatedAt.Unix() != at {
				t.Errorf("blog %d: %+v, want a transition to %d at %d", blog, evs[i], s, at)
			}
		}
	}
	d.stop()
}
