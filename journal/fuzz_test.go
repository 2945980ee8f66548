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

func FuzzDecodeEvent(f *testing.F) {
	for _, e := range []bridge.Event{
		{ID: 1, BlogID: 12345, OldStatus: 1, NewStatus: 0, CreatedAt: time.Unix(1776866733, 0)},
		{ID: 1 << 40, BlogID: 1, OldStatus: 0, NewStatus: 2, CreatedAt: time.Unix(0, 0)},
		{ID: 7, BlogID: 1 << 63, OldStatus: 2, NewStatus: 1, CreatedAt: time.Unix(1<<40, 0)},
	} {
		f.Add(eventKey(e.CreatedAt.Unix(), e.ID), encodeEventValue(e.BlogID, packStatus(e.OldStatus, e.NewStatus)))
	}
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, 16), []byte{0x81, 0x00, 0x10}) // blog 1 as an overlong varint
	f.Add(make([]byte, 16), []byte{0x01, 0x11})       // old == new
	f.Fuzz(func(t *testing.T, k, v []byte) {
		e, err := DecodeEvent(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeEvent(%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		if e.BlogID == 0 || !e.OldStatus.Valid() || !e.NewStatus.Valid() || e.OldStatus == e.NewStatus {
			t.Fatalf("DecodeEvent(%x, %x) accepted %+v", k, v, e)
		}
		k2 := eventKey(e.CreatedAt.Unix(), e.ID)
		v2 := encodeEventValue(e.BlogID, packStatus(e.OldStatus, e.NewStatus))
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("DecodeEvent(%x, %x) = %+v, which encodes as (%x, %x)", k, v, e, k2, v2)
		}
	})
}

func FuzzDecodeBlogIndex(f *testing.F) {
	f.Add(blogKey(12345, 1776866733, 1), []byte{packStatus(1, 0)})
	f.Add(blogKey(1, 0, 1<<40), []byte{packStatus(2, 1)})
	f.Add(make([]byte, 24), []byte{0x22})
	f.Add([]byte{1}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		e, err := DecodeBlogIndex(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeBlogIndex(%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		if !e.OldStatus.Valid() || !e.NewStatus.Valid() || e.OldStatus == e.NewStatus {
			t.Fatalf("DecodeBlogIndex(%x, %x) accepted %+v", k, v, e)
		}
		k2 := blogKey(e.BlogID, e.CreatedAt.Unix(), e.ID)
		v2 := []byte{packStatus(e.OldStatus, e.NewStatus)}
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("DecodeBlogIndex(%x, %x) = %+v, which encodes as (%x, %x)", k, v, e, k2, v2)
		}
	})
}

func FuzzDecodeMonitor(f *testing.F) {
	for _, m := range []bridge.Monitor{
		{SiteID: 1, BlogID: 12345, URL: "https://example.com", Active: true, Status: 1, LastStatusChange: time.Unix(1776866733, 0).UTC()},
		{SiteID: 1 << 40, BlogID: 1 << 63, URL: "", Active: false, Status: 2},
		{SiteID: 9, BlogID: 3, URL: "http://[::1]:8080/p?q=1", Active: true, Status: 0, LastStatusChange: time.Unix(-1, 0).UTC()},
	} {
		f.Add(u64(m.SiteID), encodeMonitor(m))
	}
	f.Add(u64(1), []byte{0x81, 0x00, 0x03, 0x00})                                              // overlong blog varint
	f.Add(u64(1), []byte{0x01, 0x03, 0x80, 0x00})                                              // overlong changed varint
	f.Add(u64(1), append([]byte{0x01, 0x03}, binary.AppendVarint(nil, time.Time{}.Unix())...)) // the zero time
	f.Add(u64(1), []byte{0x01, 0x07, 0x00})                                                    // status 3
	f.Fuzz(func(t *testing.T, k, v []byte) {
		m, err := DecodeMonitor(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeMonitor(%x, %x): %v does not wrap ErrCorrupt", k, v, err)
			}
			return
		}
		if !m.Status.Valid() {
			t.Fatalf("DecodeMonitor(%x, %x) accepted status %d", k, v, m.Status)
		}
		k2, v2 := u64(m.SiteID), encodeMonitor(m)
		if !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
			t.Fatalf("DecodeMonitor(%x, %x) = %+v, which encodes as (%x, %x)", k, v, m, k2, v2)
		}
	})
}

func FuzzDecodeSpan(f *testing.F) {
	start := time.Date(2026, 4, 22, 14, 0, 0, 0, time.UTC)
	for _, s := range []spanRecord{
		{Span: bridge.Span{Start: start, End: start.Add(time.Hour)}},
		{Span: bridge.Span{Start: start, End: start}, Closed: true, Reason: "binlog from binlog.000001:4 can no longer be read"},
		{Span: bridge.Span{Start: time.Unix(0, 0).UTC(), End: forever}},
	} {
		k, v := encodeSpan(s)
		f.Add(k, v)
	}
	f.Add(u64(10), append(u64(9), 0))  // ends before it starts
	f.Add(u64(10), append(u64(11), 2)) // closed flag 2
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
		{Flavor: "mysql", File: "binlog.000123", Pos: 1 << 31, GTIDSet: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},
	} {
		b, _ := json.Marshal(cp)
		f.Add(b)
	}
	f.Add([]byte(`{"pos":-1}`))
	f.Add([]byte(`{"file":"\ud800","columns":[]}`))
	f.Add([]byte(`null`))
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
