package journal

import (
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
	minCreated := b.prep.events.created[b.prep.byTime[0]] // Prepare ordered them by time
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

// decodeSource decodes the record k=v with all its transactions.
func decodeSource(k, v []byte) (sourceRecord, error) {
	r, d, err := decodeSourceHeader(k, v)
	if err != nil {
		return r, err
	}
	for !d.done() {
		t, err := d.next()
		if err != nil {
			return sourceRecord{}, err
		}
		r.txns = append(r.txns, t.txn())
	}
	return r, nil
}

// decodeSourceHeader decodes the record k=v up to its transactions, which
// the returned decoder reads.
func decodeSourceHeader(k, v []byte) (sourceRecord, txnDecoder, error) {
	if len(k) != 8 || binary.BigEndian.Uint64(k) == 0 {
		return sourceRecord{}, txnDecoder{}, sourceCorrupt(k, "bad key")
	}
	r := sourceRecord{first: binary.BigEndian.Uint64(k)}
	d := txnDecoder{key: k, value: v}
	r.count = d.uvarint()
	created := d.uvarint()
	r.base = string(d.bytes())
	if d.bad || r.count == 0 || created > maxCreated || r.first+r.count < r.first {
		return sourceRecord{}, txnDecoder{}, sourceCorrupt(k, "bad header")
	}
	r.minCreated = int64(created)
	d.first, d.last, d.at.end = r.first, r.first+r.count-1, r.first
	return r, d, nil
}

func sourceCorrupt(k []byte, what string) error {
	return fmt.Errorf("%w: sources record %x: %s", ErrCorrupt, k, what)
}

// txnDecoder reads a sources record's transactions in id order. A catch-up
// commit's record names up to 20,000 of them (the follower's cap,
// binlog.Config.MaxBatch), holding up to 3x2^17 events, and a reader that
// wants a few in its middle must not pay for the others: skipping one
// builds no string, and a reader that continues where an earlier one
// stopped starts at its mark (EventsAfter's readHint).
type txnDecoder struct {
	key, value  []byte
	first, last uint64 // the record's event ids
	at          txnMark
	bad         bool // a read ran past the value's end
}

// txnMark is a position in a record's transactions: the decoder's state
// before one of them.
type txnMark struct {
	offset int    // into the record's value
	end    uint64 // the id after the previous transaction's last
	origin string // the previous transaction's GTID origin
}

// rawTxn is one decoded transaction, its GTID not yet built.
type rawTxn struct {
	first, count uint64
	origin       string
	number       uint64 // the GTID's trailing number + 1; 0 when it has none
}

func (t rawTxn) gtid() string {
	if t.number == 0 {
		return t.origin
	}
	return t.origin + strconv.FormatUint(t.number-1, 10)
}

// txn builds the transaction's record, GTID included.
func (t rawTxn) txn() sourceTxn { return sourceTxn{first: t.first, count: t.count, gtid: t.gtid()} }

// is reports whether t's GTID is gtid, without building it (FindGTID
// compares every transaction of the journal on a miss).
func (t rawTxn) is(gtid string) bool {
	if t.number == 0 {
		return t.origin == gtid
	}
	var buf [20]byte
	num := strconv.AppendUint(buf[:0], t.number-1, 10)
	o := len(t.origin)
	return len(gtid) == o+len(num) && gtid[:o] == t.origin && gtid[o:] == string(num)
}

func (d *txnDecoder) done() bool { return d.at.offset >= len(d.value) }

func (d *txnDecoder) uvarint() uint64 {
	x, n := uvarint(d.value[min(d.at.offset, len(d.value)):])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.at.offset += n
	return x
}

// bytes reads a length-prefixed string; the result aliases the value.
func (d *txnDecoder) bytes() []byte {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.value)-d.at.offset) {
		d.bad = true
		return nil
	}
	b := d.value[d.at.offset : d.at.offset+int(n)]
	d.at.offset += int(n)
	return b
}

// next decodes the next transaction.
func (d *txnDecoder) next() (rawTxn, error) {
	t := rawTxn{first: d.at.end + d.uvarint()}
	t.count = d.uvarint()
	o := d.bytes()
	t.number = d.uvarint()
	if d.bad {
		return rawTxn{}, sourceCorrupt(d.key, "truncated")
	}
	if t.count == 0 || t.first < d.at.end || t.first+t.count-1 > d.last || t.first+t.count < t.first {
		return rawTxn{}, sourceCorrupt(d.key, "a transaction outside the record's events")
	}
	if len(o) > 0 && string(o) != d.at.origin {
		d.at.origin = string(o) // a new origin is rare: a catch-up's repeat
	}
	t.origin = d.at.origin
	if t.number == 0 && t.origin == "" {
		return rawTxn{}, sourceCorrupt(d.key, "an empty GTID")
	}
	d.at.end = t.first + t.count
	return t, nil
}

// sourcesRead is what sourcesFrom read: the records covering some ids,
// each with only the transactions holding them.
type sourcesRead struct {
	records []sourceRecord
	// mark is where, in the record holding the id after the last one
	// asked for (markRecord, its first id; 0 when none was read), the
	// transactions holding that id or later ones begin.
	markRecord uint64
	mark       txnMark
	decoded    int // transactions decoded, skipped ones included
}

// sourcesFrom returns the records covering ids from..to, in id order,
// starting with the one holding from when there is one, each with the
// transactions holding ids from..to. resume, when its record holds from,
// is a mark in it before every transaction holding from or a later id.
func sourcesFrom(tx *bolt.Tx, from, to uint64, resumeRecord uint64, resume txnMark) (sourcesRead, error) {
	var out sourcesRead
	b := tx.Bucket(bucketSources)
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	// The record before the seek position may hold from.
	k, v := seekFloor(c, u64(from), func([]byte) bool { return true })
	for ; k != nil; k, v = c.Next() {
		r, d, err := decodeSourceHeader(k, v)
		if err != nil {
			return out, err
		}
		if r.first > to {
			break
		}
		if r.first+r.count <= from {
			continue
		}
		if r.first == resumeRecord && resume.offset > d.at.offset && resume.offset <= len(v) {
			d.at = resume
		}
		holdsNext := to+1 <= r.first+r.count-1
		marked := false
		for !d.done() {
			before := d.at
			t, err := d.next()
			if err != nil {
				return out, err
			}
			out.decoded++
			if holdsNext && !marked && t.first+t.count > to+1 {
				out.markRecord, out.mark, marked = r.first, before, true
			}
			if t.first > to {
				break
			}
			if t.first+t.count > from {
				r.txns = append(r.txns, t.txn())
			}
		}
		if holdsNext && !marked {
			out.markRecord, out.mark = r.first, d.at
		}
		out.records = append(out.records, r)
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
