package journal

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// writeV1Journal writes a format 1 journal record by record, as the
// earlier build laid it out, and returns what it holds.
func writeV1Journal(t *testing.T, path string, n int) ([]bridge.Event, []bridge.Monitor, Checkpoint) {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	var events []bridge.Event
	var monitors []bridge.Monitor
	for site := uint64(1); site <= 300; site++ {
		monitors = append(monitors, bridge.Monitor{SiteID: site * 3, BlogID: site, URL: urlOf(site), Active: site%7 != 0, Status: bridge.Status(site % 3), LastStatusChange: sec(int64(site) * 1000)})
	}
	for i := range n {
		old := bridge.Status(rng.IntN(3))
		// ids in commit order, created_at mostly rising but not always.
		events = append(events, bridge.Event{ID: uint64(i + 1), BlogID: 1 + rng.Uint64N(300), OldStatus: old, NewStatus: (old + 1) % 3,
			CreatedAt: t0.Add(time.Duration(i/2-rng.IntN(3)) * time.Second)})
	}
	cp := Checkpoint{Flavor: "mariadb", File: "binlog.000007", Pos: 1234, Columns: []string{"jetpack_monitor_site_id", "blog_id", "monitor_url", "site_status"}}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := map[string]*bolt.Bucket{}
		for _, name := range [][]byte{bucketMeta, bucketEvents, bucketBlogs, bucketMonitors, bucketSpans} {
			bk, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			b[string(name)] = bk
		}
		cpJSON, _ := json.Marshal(cp)
		b["meta"].Put(keyVersion, u64(1))
		b["meta"].Put(keySeq, u64(uint64(n)))
		b["meta"].Put(keyCheckpoint, cpJSON)
		b["meta"].Put(keyServerID, u64(4242))
		// In key order: bbolt's puts in random order into one transaction
		// take time quadratic in their number.
		for _, e := range sorted(events) {
			status := packStatus(e.OldStatus, e.NewStatus)
			k := binary.BigEndian.AppendUint64(u64(uint64(e.CreatedAt.Unix())), e.ID)
			if err := b["events"].Put(k, append(binary.AppendUvarint(nil, e.BlogID), status)); err != nil {
				return err
			}
		}
		byBlog := sorted(events)
		slices.SortStableFunc(byBlog, func(x, y bridge.Event) int { return cmp.Compare(x.BlogID, y.BlogID) })
		for _, e := range byBlog {
			k := binary.BigEndian.AppendUint64(append(u64(e.BlogID), u64(uint64(e.CreatedAt.Unix()))...), e.ID)
			if err := b["blogs"].Put(k, []byte{packStatus(e.OldStatus, e.NewStatus)}); err != nil {
				return err
			}
		}
		for _, m := range monitors {
			if err := b["monitors"].Put(u64(m.SiteID), appendMonitor(nil, m)); err != nil {
				return err
			}
		}
		for _, s := range []spanRecord{
			{Span: bridge.Span{Start: t0.Add(-time.Hour), End: t0.Add(-time.Minute)}, Closed: true, Reason: "binlog purged"},
			{Span: bridge.Span{Start: t0, End: t0.Add(time.Duration(n) * time.Second)}},
		} {
			k, v := encodeSpan(s)
			if err := b["spans"].Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events, monitors, cp
}

func TestUpgradeKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "v1.journal"), filepath.Join(dir, "v2.journal")
	events, monitors, cp := writeV1Journal(t, src, 3*upgradeTxEvents/2) // two transactions' worth

	if _, err := Open(src, Options{ReadOnly: true}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "journal upgrade") {
		t.Fatalf("opening a format 1 journal: %v", err)
	}
	n, err := Upgrade(src, dst)
	if err != nil || n != uint64(len(events)) {
		t.Fatalf("Upgrade = %d, %v; want %d events", n, err, len(events))
	}
	j, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var got []bridge.Event
	if err := j.Export(ExportFilter{}, func(e bridge.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sorted(events)) {
		t.Fatalf("the upgraded journal exports %d events, not the %d it was given", len(got), len(events))
	}
	blog := events[0].BlogID
	var want []bridge.Event
	for _, e := range sorted(events) {
		if e.BlogID == blog {
			want = append(want, e)
		}
	}
	if got, err := j.BlogEvents(blog, t0.Add(-time.Hour), t0.Add(time.Duration(len(events))*time.Second)); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("blog %d: %d events (%v), want %d", blog, len(got), err, len(want))
	}
	if c, ok := j.Checkpoint(); !ok || !reflect.DeepEqual(c, cp) || j.LastID() != uint64(len(events)) {
		t.Fatalf("checkpoint %+v seq %d", c, j.LastID())
	}
	st, err := j.Stats()
	if err != nil || st.Monitors != uint64(len(monitors)) || st.ServerID != 4242 || len(st.Spans) != 2 || st.Gaps[0].Reason != "binlog purged" {
		t.Fatalf("stats %+v %v", st, err)
	}
	if m, ok, err := j.BlogMonitor(5); err != nil || !ok || !reflect.DeepEqual(m, monitors[4]) {
		t.Fatalf("blog 5's monitor: %+v %v %v, want %+v", m, ok, err, monitors[4])
	}

	// The copy is never overwritten, and a format 2 file is not upgraded.
	if _, err := Upgrade(src, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Upgrade onto an existing file: %v", err)
	}
	if _, err := Upgrade(dst, filepath.Join(dir, "again")); err == nil || !strings.Contains(err.Error(), "nothing to upgrade") {
		t.Errorf("Upgrade of a format 2 journal: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "again")); !os.IsNotExist(err) {
		t.Errorf("a refused upgrade left a file: %v", err)
	}
}

func TestUpgradeRefusesADamagedRecord(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "v1.journal"), filepath.Join(dir, "v2.journal")
	writeV1Journal(t, src, 100)
	db, err := bolt.Open(src, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketEvents).Cursor().First()
		return tx.Bucket(bucketEvents).Put(k, []byte{0x01, 0x33}) // status 3 -> 3
	})
	db.Close()
	if _, err := Upgrade(src, dst); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Upgrade of a damaged journal: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a failed upgrade left its partial copy: %v", err)
	}
}
