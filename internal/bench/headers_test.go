package bench

import (
	"context"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestHeaderReaderReachesTheEnd reads a stretch that spans a binlog
// rotation with the header-only reader: it stops exactly at the end
// position, having seen every update as one rows event.
func TestHeaderReaderReachesTheEnd(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{})
	db, err := createDatabase(srv, "headers")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := insertMonitors(ctx, db, 1, 50, nil); err != nil {
		t.Fatal(err)
	}
	from, err := serverEnd(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	update := func(n int) {
		for i := range n {
			if _, err := db.Exec("UPDATE jetpack_monitor_sites SET site_status = 1 - site_status WHERE blog_id = ?", 1+i%50); err != nil {
				t.Fatal(err)
			}
		}
	}
	update(30)
	if _, err := db.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	update(40)
	to, err := serverEnd(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	update(5) // after the end: not to be read
	if to.File == from.File {
		t.Fatalf("no rotation between %v and %v", from, to)
	}
	took, count, err := headerRead(ctx, srv, from, to, 9001)
	if err != nil {
		t.Fatal(err)
	}
	if count.UpdateRows != 70 || took <= 0 || took > time.Minute {
		t.Fatalf("read %+v in %s; want the 70 updates", count, took)
	}
	// The bare go-mysql decoder agrees.
	_, updates, err := bareDecode(ctx, srv, from, to, 9002, true)
	if err != nil || updates != 70 {
		t.Fatalf("bare decoder: %d updates, %v", updates, err)
	}
}
