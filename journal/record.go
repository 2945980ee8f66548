package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// The journal's records are small fixed or varint encodings, chosen so that
// bbolt's byte order is the order the queries need:
//
//	events   created(8) id(8)           -> a run of events (run.go)
//	blogs    blog(8) created(8) id(8)   -> a run of the blog's events (run.go)
//	monitors site>>6 (8)                -> a page of up to 64 rows (monitorpage.go)
//	spans    start(8)                   -> end(8) | closed(1) | reason [| 0x00 server]
//
// created is Unix seconds, start and end Unix nanoseconds, all big-endian;
// status packs old<<4 | new.

// ErrCorrupt marks a record that does not decode.
var ErrCorrupt = errors.New("journal record is corrupt")

func packStatus(old, new bridge.Status) byte { return byte(old)<<4 | byte(new)&0x0f }

func unpackStatus(b byte) (old, new bridge.Status, err error) {
	old, new = bridge.Status(b>>4), bridge.Status(b&0x0f)
	if !old.Valid() || !new.Valid() || old == new {
		return 0, 0, fmt.Errorf("%w: status byte %#x", ErrCorrupt, b)
	}
	return old, new, nil
}

// uvarint and varint decode what binary.AppendUvarint and AppendVarint
// write, refusing overlong encodings (a multi-byte varint whose last group is
// zero): one value has one record, so a damaged record cannot pass for a
// valid one with the same meaning but other bytes.
func uvarint(b []byte) (uint64, int) {
	x, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, 0
	}
	return x, n
}

func varint(b []byte) (int64, int) {
	x, n := binary.Varint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, 0
	}
	return x, n
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// appendMonitor appends a monitor row's record, all of it but the site id
// (which its page's key and the record's place give).
func appendMonitor(dst []byte, m bridge.Monitor) []byte {
	dst = binary.AppendUvarint(dst, m.BlogID)
	flags := byte(m.Status) << 1
	if m.Active {
		flags |= 1
	}
	dst = append(dst, flags)
	var changed int64
	if !m.LastStatusChange.IsZero() {
		changed = m.LastStatusChange.Unix()
	}
	dst = binary.AppendVarint(dst, changed)
	return append(dst, m.URL...)
}

// decodeMonitor decodes the record of site's row.
func decodeMonitor(site uint64, v []byte) (bridge.Monitor, error) {
	m := bridge.Monitor{SiteID: site}
	blog, n := uvarint(v)
	if n <= 0 || len(v) < n+2 {
		return m, fmt.Errorf("%w: monitor %d", ErrCorrupt, m.SiteID)
	}
	m.BlogID = blog
	flags := v[n]
	m.Active, m.Status = flags&1 == 1, bridge.Status(flags>>1)
	if !m.Status.Valid() {
		return m, fmt.Errorf("%w: monitor %d status %d", ErrCorrupt, m.SiteID, m.Status)
	}
	changed, c := varint(v[n+1:])
	if c <= 0 {
		return m, fmt.Errorf("%w: monitor %d", ErrCorrupt, m.SiteID)
	}
	if changed != 0 {
		// 0 stands for "never"; no other value may decode to the zero time.
		if m.LastStatusChange = time.Unix(changed, 0).UTC(); m.LastStatusChange.IsZero() {
			return m, fmt.Errorf("%w: monitor %d changed at %d", ErrCorrupt, m.SiteID, changed)
		}
	}
	m.URL = string(v[n+1+c:])
	return m, nil
}

// spanRecord is a coverage span as stored.
type spanRecord struct {
	bridge.Span
	Closed bool
	// Reason says why the span was closed (the gap after it).
	Reason string
	// Server is the followed server's identity (ServerIdentity.String),
	// empty for spans written before the bridge recorded it.
	Server string
}

// encodeSpan stores the server after the reason behind a NUL, which
// neither contains: spans written before servers were recorded decode
// unchanged, and an older build reading a newer span sees the server as
// part of the reason instead of refusing the file.
func encodeSpan(s spanRecord) (k, v []byte) {
	reason, server := withoutNUL(s.Reason), withoutNUL(s.Server)
	k = u64(uint64(s.Start.UnixNano()))
	v = binary.BigEndian.AppendUint64(make([]byte, 0, 10+len(reason)+len(server)), uint64(s.End.UnixNano()))
	closed := byte(0)
	if s.Closed {
		closed = 1
	}
	v = append(append(v, closed), reason...)
	if server != "" {
		v = append(append(v, 0), server...)
	}
	return k, v
}

// withoutNUL drops NUL bytes (a reason may quote a server's error message).
func withoutNUL(s string) string { return strings.ReplaceAll(s, "\x00", "") }

func decodeSpan(k, v []byte) (spanRecord, error) {
	if len(k) != 8 || len(v) < 9 || v[8] > 1 {
		return spanRecord{}, fmt.Errorf("%w: span %x=%x", ErrCorrupt, k, v)
	}
	s := spanRecord{
		Span: bridge.Span{
			Start: time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(),
			End:   time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(),
		},
		Closed: v[8] == 1,
	}
	reason, server, hasServer := bytes.Cut(v[9:], []byte{0})
	if hasServer && (len(server) == 0 || bytes.IndexByte(server, 0) >= 0) {
		return s, fmt.Errorf("%w: span %x names an empty or malformed server", ErrCorrupt, k)
	}
	s.Reason, s.Server = string(reason), string(server)
	if s.End.Before(s.Start) {
		return s, fmt.Errorf("%w: span ends (%s) before it starts (%s)", ErrCorrupt, s.End, s.Start)
	}
	return s, nil
}
