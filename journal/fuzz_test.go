package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	bolt "go.etcd.io/bbolt"
)

// The journal's records come back from disk, where a bad sector, a torn
// copy or a hostile file can put anything. These fuzz targets assert that
// the decoders never panic, refuse with ErrCorrupt, and accept only what
// the encoders write: a record that decodes re-encodes to the very same
// bytes, so a damaged record can never pass for a different valid one.

// FuzzDecodeRun decodes a run of either bucket (perBlog selects which).
func FuzzDecodeRun(f *testing.F) {
	es := []entry{
		{created: 1776866733, id: 7, blog: 12345, status: packStatus(1, 0)},
		{created: 1776866733, id: 9, blog: 12345, status: packStatus(0, 2)},
		{created: 1776866800, id: 8, blog: 12345, status: packStatus(2, 1)},
		{created: maxCreated, id: 1 << 40, blog: 12345, status: packStatus(1, 0)},
	}
	for _, k := range []runKind{eventRuns, blogRuns} {
		f.Add(k.perBlog, k.appendKey(nil, es[0]), k.encode(nil, es))
		f.Add(k.perBlog, k.appendKey(nil, es[0]), k.encode(nil, es[:1]))
	}
	f.Add(false, make([]byte, 16), []byte{0x81, 0x00, 0x10})                    // overlong blog varint, id 0
	f.Add(true, blogRuns.appendKey(nil, es[0]), []byte{0x10, 0x00, 0x00, 0x02}) // a repeated id
	f.Add(true, blogRuns.appendKey(nil, es[0]), []byte{0x10, 0x00, 0x01, 0x02}) // an id going back within one second
	f.Add(false, eventRuns.appendKey(nil, es[0]), []byte{})                     // no events
	f.Fuzz(func(t *testing.T, perBlog bool, k, v []byte) {
		kind := eventRuns
		if perBlog {
			kind = blogRuns
		}
		got, err := kind.decode(nil, k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode(%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		for i, e := range got {
			ev := e.event()
			if e.blog == 0 || e.id == 0 || !ev.OldStatus.Valid() || !ev.NewStatus.Valid() || ev.OldStatus == ev.NewStatus {
				t.Fatalf("decode(%x, %x) accepted %+v", k, v, e)
			}
			if i > 0 && cmpEntry(got[i-1], e) >= 0 {
				t.Fatalf("decode(%x, %x) accepted events out of order: %+v", k, v, got)
			}
		}
		k2, v2 := kind.appendKey(nil, got[0]), kind.encode(nil, got)
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("decode(%x, %x) = %+v, which encodes as (%x, %x)", k, v, got, k2, v2)
		}
	})
}

// FuzzDecodeMonitorPage decodes a monitors page and its rows.
func FuzzDecodeMonitorPage(f *testing.F) {
	page := func(ms ...bridge.Monitor) []byte {
		var v []byte
		for _, m := range ms {
			v = appendMonitorRecord(v, m.SiteID, appendMonitor(nil, m))
		}
		return v
	}
	rows := []bridge.Monitor{
		{SiteID: 64, BlogID: 12345, URL: "https://example.com", Active: true, Status: 1, LastStatusChange: time.Unix(1776866733, 0).UTC()},
		{SiteID: 65, BlogID: 1 << 63, URL: "", Active: false, Status: 2},
		{SiteID: 127, BlogID: 3, URL: "http://[::1]:8080/p?q=1", Active: true, Status: 0, LastStatusChange: time.Unix(-1, 0).UTC()},
	}
	f.Add(monitorPageKey(nil, 64), page(rows...))
	f.Add(monitorPageKey(nil, 64), page(rows[1]))
	f.Add(u64(1), []byte{0, 4, 0x81, 0x00, 0x03, 0x00})                                               // overlong blog varint
	f.Add(u64(1), []byte{0, 4, 0x01, 0x03, 0x80, 0x00})                                               // overlong changed varint
	f.Add(u64(1), append([]byte{0, 11, 0x01, 0x03}, binary.AppendVarint(nil, time.Time{}.Unix())...)) // the zero time
	f.Add(u64(1), []byte{0, 3, 0x01, 0x07, 0x00})                                                     // status 3
	f.Add(u64(1), []byte{5, 3, 0x01, 0x03, 0x00, 5, 3, 0x01, 0x03, 0x00})                             // a row twice
	f.Add(u64(1), []byte{0, 9, 0x01})                                                                 // a length past the end
	f.Fuzz(func(t *testing.T, k, v []byte) {
		recs, err := decodeMonitorPage(nil, k, v)
		var ms []bridge.Monitor
		for _, r := range recs {
			if err != nil {
				break
			}
			var m bridge.Monitor
			m, err = decodeMonitor(r.site, r.rec)
			ms = append(ms, m)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decoding monitors page (%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		for _, m := range ms {
			if !m.Status.Valid() {
				t.Fatalf("monitors page (%x, %x) accepted status %d", k, v, m.Status)
			}
		}
		if k2, v2 := monitorPageKey(nil, ms[0].SiteID), page(ms...); !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("monitors page (%x, %x) = %+v, which encodes as (%x, %x)", k, v, ms, k2, v2)
		}
	})
}

func FuzzDecodeSpan(f *testing.F) {
	start := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	for _, s := range []spanRecord{
		{Span: bridge.Span{Start: start, End: start.Add(time.Hour)}},
		{Span: bridge.Span{Start: start, End: start}, Closed: true, Reason: "binlog from binlog.000001:4 can no longer be read"},
		{Span: bridge.Span{Start: time.Unix(0, 0).UTC(), End: forever}},
		{Span: bridge.Span{Start: start, End: start.Add(time.Minute)}, Closed: true, Reason: "followed server changed", Server: "127.0.0.1:3307 server_id 2 gtid_domain 0"},
		{Span: bridge.Span{Start: start, End: start}, Server: "db:3306 server_id 2 server_uuid 3e11fa47-71ca-11e1-9e33-c80aa9429562"},
	} {
		k, v := encodeSpan(s)
		f.Add(k, v)
	}
	f.Add(u64(10), append(u64(9), 0))                  // ends before it starts
	f.Add(u64(10), append(u64(11), 2))                 // closed flag 2
	f.Add(u64(10), append(u64(11), 0, 'r', 0))         // a separator without a server
	f.Add(u64(10), append(u64(11), 1, 0, 's', 0, 't')) // a NUL inside the server
	f.Fuzz(func(t *testing.T, k, v []byte) {
		s, err := decodeSpan(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeSpan(%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		if s.End.Before(s.Start) {
			t.Fatalf("decodeSpan(%x, %x) accepted a span that ends before it starts: %+v", k, v, s)
		}
		k2, v2 := encodeSpan(s)
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("decodeSpan(%x, %x) = %+v, which encodes as (%x, %x)", k, v, s, k2, v2)
		}
	})
}

// FuzzCheckpoint decodes the checkpoint as Open does. JSON has many
// spellings of one value, so the assertion is that a decoded checkpoint
// encodes to a fixed point: encoding, decoding and encoding again changes
// nothing.
func FuzzCheckpoint(f *testing.F) {
	for _, cp := range []Checkpoint{
		{Flavor: "mariadb", File: "binlog.000001", Pos: 4, GTIDSet: "0-1-42", Columns: []string{"jetpack_monitor_site_id", "blog_id"}},
		{Flavor: "mysql", File: "binlog.000123", Pos: 1 << 31, GTIDSet: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5",
			Server: &ServerIdentity{Addr: "db:3306", ServerID: 7, UUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"}},
		{Flavor: "mariadb", GTIDSet: "0-1-42", Server: &ServerIdentity{Addr: "127.0.0.1:3307", ServerID: 2, GTIDDomain: 1}},
		{Flavor: "mariadb", File: "bin.000002", Pos: 1126, GTIDSet: "0-1-5", Prepared: []PreparedXA{{XID: "7831,,1", Changes: []PreparedChange{
			{Row: PreparedRow{Site: 1, Blog: 2, URL: "https://a.example", Status: 2, Changed: time.Unix(1_700_000_000, 0).UTC()},
				Event: &PreparedEvent{Blog: 2, Old: 1, New: 2, At: time.Unix(1_700_000_000, 0).UTC()}},
			{Row: PreparedRow{Site: 3, Blog: 4, URL: "https://b.example", Active: true}, Deleted: true},
		}}, {XID: "7832,,1"}}},
	} {
		b, _ := json.Marshal(cp)
		f.Add(b)
	}
	f.Add([]byte(`{"pos":-1}`))
	f.Add([]byte(`{"file":"\ud800","columns":[]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"server":null}`))
	f.Add([]byte(`{"server":{"addr":"x","server_id":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cp Checkpoint
		if json.Unmarshal(data, &cp) != nil {
			return
		}
		_ = cp.String()
		b1, err := json.Marshal(cp)
		if err != nil {
			t.Fatalf("checkpoint %q decoded to %+v, which does not encode: %v", data, cp, err)
		}
		var again Checkpoint
		if err := json.Unmarshal(b1, &again); err != nil {
			t.Fatalf("checkpoint %q re-encoded as %s, which does not decode: %v", data, b1, err)
		}
		b2, _ := json.Marshal(again)
		if !bytes.Equal(b1, b2) || cp.String() != again.String() {
			t.Fatalf("checkpoint %q: %s then %s", data, b1, b2)
		}
	})
}

// FuzzOpen writes a journal whose meta records and spans are fuzzed and
// opens it as the daemon and the tools do: Open must refuse or accept,
// never panic, and what it accepts must be usable.
func FuzzOpen(f *testing.F) {
	start := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	k, v := encodeSpan(spanRecord{Span: bridge.Span{Start: start, End: start.Add(time.Hour)}})
	cp, _ := json.Marshal(Checkpoint{Flavor: "mariadb", File: "binlog.000001", Pos: 4})
	f.Add(u64(FormatVersion), u64(3), cp, k, v)
	f.Add(u64(FormatVersion), []byte{1}, []byte("{"), []byte{1}, []byte{})
	f.Add(u64(2), []byte(nil), []byte(nil), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, version, seq, checkpoint, spanKey, spanValue []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.journal")
		db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			if err := initBuckets(tx); err != nil {
				return err
			}
			meta := tx.Bucket(bucketMeta)
			for _, kv := range [][2][]byte{{keyVersion, version}, {keySeq, seq}, {keyCheckpoint, checkpoint}} {
				if kv[1] == nil {
					continue
				}
				if err := meta.Put(kv[0], kv[1]); err != nil {
					return err
				}
			}
			if len(spanKey) > 0 && len(spanKey) <= bolt.MaxKeySize {
				return tx.Bucket(bucketSpans).Put(spanKey, spanValue)
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Skip(err)
		}
		j, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Open failed with an empty error")
			}
			return
		}
		defer j.Close()
		j.Checkpoint()
		spans := j.Spans(time.Time{})
		for _, s := range spans {
			if s.End.Before(s.Start) {
				t.Fatalf("Open accepted a span that ends before it starts: %+v", s)
			}
		}
		if _, err := j.BlogEvents(1, start, start.Add(time.Hour)); err != nil {
			t.Fatalf("BlogEvents on an accepted journal: %v", err)
		}
	})
}

// FuzzDecodeTrimmed: the meta/trim decoder accepts only what encode writes.
func FuzzDecodeTrimmed(f *testing.F) {
	for _, tr := range []trimmed{
		{cutoff: 1776866733, first: 1},
		{cutoff: 1776866733, first: 1 << 40, above: []idRange{{1<<40 + 2, 1<<40 + 9}, {1<<41 + 1, 1 << 42}}},
	} {
		f.Add(tr.encode())
	}
	f.Add([]byte{5, 3, 1, 0, 0}) // a range that touches the prefix
	f.Add([]byte{0x80, 0x00, 1, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		tr, err := decodeTrimmed(v)
		if err != nil {
			return
		}
		if again := tr.encode(); !bytes.Equal(again, v) {
			t.Fatalf("decoded %x as %+v, which encodes to %x", v, tr, again)
		}
	})
}
