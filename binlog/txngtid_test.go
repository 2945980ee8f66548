package binlog

import (
	"testing"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// TestEventsNamedByTransaction: the journal knows each event's source
// transaction by GTID, and the event's place in it.
func TestEventsNamedByTransaction(t *testing.T) {
	db := testdb.NewDB(t)
	db.MustExec(t, "INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES (21, 0, 'https://a.example'), (22, 0, 'https://b.example')")
	r := newRig(t, db)
	r.start()
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=0 WHERE blog_id=21")
	var single string
	if err := db.SQL.QueryRow("SELECT @@gtid_binlog_pos").Scan(&single); err != nil {
		t.Fatal(err)
	}
	db.MustExec(t, "UPDATE jetpack_monitor_sites SET site_status=2") // one transaction, two transitions
	var multi string
	if err := db.SQL.QueryRow("SELECT @@gtid_binlog_pos").Scan(&multi); err != nil {
		t.Fatal(err)
	}
	r.events(22, 1)
	r.events(21, 2)
	got, err := r.journal.EventsAfter(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	if got[0].GTID != single || got[0].Ordinal != 0 {
		t.Errorf("the single-row update's event is named %s/%d, want %s/0", got[0].GTID, got[0].Ordinal, single)
	}
	for i, e := range got[1:] {
		if e.GTID != multi || e.Ordinal != i {
			t.Errorf("the multi-row update's event %d is named %s/%d, want %s/%d", i, e.GTID, e.Ordinal, multi, i)
		}
	}
}
