package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// The sources bucket records, for every commit that wrote events, where
// they came from, so that the events can be read back in id order and each
// can be named by its source transaction (see nats/, which publishes them):
//
//	sources  first(8) -> uvarint count, uvarint minCreated,
//	                     uvarint len, base GTID set,
//	                     then per transaction with a GTID:
//	                       uvarint offset from the previous one's end,
//	                       uvarint events, uvarint len, origin, uvarint number+1
//
// first is the commit's first event id and count its number of events (so
// a record covers ids first..first+count-1); minCreated is the earliest
// created_at among them, which bounds where a scan of the events bucket in
// (created_at, id) order meets them. The base GTID set is the checkpoint's
// set before the commit. A GTID is split into its origin (everything up to
// its trailing number: "0-1-" of MariaDB's "0-1-42", "uuid:" of MySQL's
// "uuid:42") and that number; an origin equal to the previous transaction's
// is stored empty, so a catch-up's transactions cost a few bytes each.
// A GTID without a trailing number is stored whole as the origin, number 0.
//
// The bucket is additive: a journal written before it existed has none, and
// its events are read by a scan from the start (EventsAfter) and named by
// their journal id. One put per commit keeps the follower's cost flat.
var bucketSources = []byte("sources")

// SourceTxn names the source transaction of some of a batch's events.
type SourceTxn struct {
	// First and Count select the transaction's events, Events[First:First+Count].
	First, Count int
	// GTID is the transaction's global transaction id, in the flavor's
	// syntax (MariaDB "domain-server-seq", MySQL "uuid:n").
	GTID string
}

// sourceRecord is one decoded record of the sources bucket.
type sourceRecord struct {
	first, count uint64
	minCreated   int64
	base         string
	txns         []sourceTxn
}

// sourceTxn is a SourceTxn with journal ids.
type sourceTxn struct {
	first, count uint64
	gtid         string
}

// putSources records b's provenance: its events were given ids first and on.
func putSources(tx *bolt.Tx, b *Batch, first uint64, base string) error {
	events := b.EventCount()
	if events == 0 {
		return nil
	}
	bucket, err := tx.CreateBucketIfNotExists(bucketSources)
	if err != nil {
		return err
	}
	minCreated := b.prep.byTime[0].created // Prepare ordered them by time
	v := binary.AppendUvarint(nil, uint64(events))
	v = binary.AppendUvarint(v, uint64(minCreated))
	v = appendString(v, base)
	end, origin := 0, ""
	for _, t := range b.Txns {
		if t.First < end || t.Count <= 0 || t.First+t.Count > events {
			return fmt.Errorf("batch transaction %q covers events %d..%d of %d, overlapping or outside the batch", t.GTID, t.First, t.First+t.Count, events)
		}
		v = binary.AppendUvarint(v, uint64(t.First-end))
		v = binary.AppendUvarint(v, uint64(t.Count))
		o, n := splitGTID(t.GTID)
		if o == origin {
			v = appendString(v, "")
		} else {
			v = appendString(v, o)
		}
		v = binary.AppendUvarint(v, n)
		end, origin = t.First+t.Count, o
	}
	return bucket.Put(u64(first), v)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// splitGTID splits a GTID into its origin and trailing number plus one
// (0: the GTID has no trailing number and the origin is all of it).
func splitGTID(gtid string) (origin string, n uint64) {
	i := len(gtid)
	for i > 0 && gtid[i-1] >= '0' && gtid[i-1] <= '9' {
		i--
	}
	if i == len(gtid) || i == 0 {
		return gtid, 0
	}
	num, err := strconv.ParseUint(gtid[i:], 10, 63)
	if err != nil || strconv.FormatUint(num, 10) != gtid[i:] {
		return gtid, 0 // leading zeros or too long: keep it whole
	}
	return gtid[:i], num + 1
}

// decodeSource decodes the record k=v.
func decodeSource(k, v []byte) (sourceRecord, error) {
	bad := func(what string) (sourceRecord, error) {
		return sourceRecord{}, fmt.Errorf("%w: sources record %x: %s", ErrCorrupt, k, what)
	}
	if len(k) != 8 || binary.BigEndian.Uint64(k) == 0 {
		return bad("bad key")
	}
	r := sourceRecord{first: binary.BigEndian.Uint64(k)}
	var ok bool
	next := func() uint64 {
		x, n := uvarint(v)
		if n <= 0 {
			ok = false
			return 0
		}
		v = v[n:]
		return x
	}
	str := func() string {
		n := next()
		if !ok || n > uint64(len(v)) {
			ok = false
			return ""
		}
		s := string(v[:n])
		v = v[n:]
		return s
	}
	ok = true
	r.count = next()
	created := next()
	r.base = str()
	if !ok || r.count == 0 || created > maxCreated || r.first+r.count < r.first {
		return bad("bad header")
	}
	r.minCreated = int64(created)
	end, origin := r.first, ""
	for ok && len(v) > 0 {
		t := sourceTxn{}
		t.first = end + next()
		t.count = next()
		o := str()
		n := next()
		if !ok || t.count == 0 || t.first+t.count > r.first+r.count || t.first < end {
			return bad("a transaction outside the record's events")
		}
		if o == "" {
			o = origin
		}
		if n == 0 {
			t.gtid = o
		} else {
			t.gtid = o + strconv.FormatUint(n-1, 10)
		}
		if t.gtid == "" {
			return bad("an empty GTID")
		}
		r.txns = append(r.txns, t)
		end, origin = t.first+t.count, o
	}
	if !ok {
		return bad("truncated")
	}
	return r, nil
}

// txnOf returns the transaction of r holding event id, if r names one.
func (r *sourceRecord) txnOf(id uint64) (sourceTxn, bool) {
	for _, t := range r.txns {
		if id >= t.first && id < t.first+t.count {
			return t, true
		}
	}
	return sourceTxn{}, false
}

// sourcesFrom returns the records covering ids from..to, in id order,
// starting with the one holding from when there is one.
func sourcesFrom(tx *bolt.Tx, from, to uint64) ([]sourceRecord, error) {
	b := tx.Bucket(bucketSources)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	k, v := c.Seek(u64(from))
	if !bytes.Equal(k, u64(from)) {
		// The record before the seek position may hold from.
		var pk, pv []byte
		if k == nil {
			pk, pv = c.Last()
		} else {
			pk, pv = c.Prev()
		}
		if pk != nil {
			k, v = pk, pv
		} else {
			k, v = c.Seek(u64(from)) // Prev may have left the cursor before the first record
		}
	}
	var out []sourceRecord
	for ; k != nil; k, v = c.Next() {
		r, err := decodeSource(k, v)
		if err != nil {
			return nil, err
		}
		if r.first > to {
			break
		}
		if r.first+r.count > from {
			out = append(out, r)
		}
	}
	return out, nil
}

// checkSources checks the optional sources bucket (verify.go): every record
// decodes, names only events the journal holds, and records do not overlap.
func (r *Report) checkSources(b *bolt.Bucket, seq uint64) {
	var end uint64 // the id after the previous record's last
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		touch(k, v)
		s, err := decodeSource(k, v)
		switch {
		case err != nil:
			r.add("%v", err)
		case s.first < end:
			r.add("sources record for events %d.. overlaps the previous one, which ends at %d", s.first, end-1)
		case s.first+s.count-1 > seq:
			r.add("sources record names events %d..%d, beyond the journal's last event %d", s.first, s.first+s.count-1, seq)
		}
		if err == nil {
			end = s.first + s.count
		}
	}
}
