package journal

import (
	"encoding/binary"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// upgradeTxEvents bounds the events each write transaction of an upgrade
// carries, so memory stays flat however large the journal is.
const upgradeTxEvents = 1 << 18

// Upgrade writes a format 2 copy of the format 1 journal at src to the new
// file dst: the same events with the same ids, monitor rows, checkpoint,
// server id and coverage spans. Like Compact, it opens src read-only,
// refuses to overwrite dst, removes a partial dst on failure, and checks
// the copy with Verify before it returns. It returns the number of events.
func Upgrade(src, dst string) (events uint64, err error) {
	in, err := openRaw(src, 0)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	created := false
	defer func() {
		if err != nil && created {
			os.Remove(dst)
		}
	}()
	defer guard(src, &err)()
	if err := checkSound(src, "upgrade"); err != nil {
		return 0, err
	}
	err = in.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: %s is not a jetmon-bridge journal (no meta bucket)", ErrCorrupt, src)
		}
		if v := meta.Get(keyVersion); len(v) != 8 || binary.BigEndian.Uint64(v) != 1 {
			if err := checkFormat(meta, src); err != nil {
				return err
			}
			return fmt.Errorf("%s is already a format %d journal: there is nothing to upgrade", src, FormatVersion)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := createNew(dst, "upgrade"); err != nil {
		return 0, err
	}
	created = true
	out, err := bolt.Open(dst, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", dst, err)
	}
	defer out.Close()
	if err := out.Update(initBuckets); err != nil {
		return 0, fmt.Errorf("initialize %s: %w", dst, err)
	}
	err = in.View(func(from *bolt.Tx) error {
		if err := copyV1Meta(from, out); err != nil {
			return err
		}
		if err := copyV1Monitors(from, out); err != nil {
			return err
		}
		var err error
		events, err = copyV1Events(from, out, v1Events, eventRuns)
		if err != nil {
			return err
		}
		indexed, err := copyV1Events(from, out, v1Blogs, blogRuns)
		if err == nil && indexed != events {
			err = fmt.Errorf("%w: %s holds %d events but %d blogs index entries", ErrCorrupt, src, events, indexed)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("upgrade %s into %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", dst, err)
	}
	r, err := Verify(dst)
	if err != nil {
		return 0, err
	}
	if !r.OK() {
		return 0, fmt.Errorf("the upgraded copy %s fails verification (%s): %s is left as it was", dst, r.Problems[0], src)
	}
	return events, nil
}

// copyV1Meta copies the sequence, checkpoint and server id, and the spans
// bucket, whose records format 2 keeps as they were.
func copyV1Meta(from *bolt.Tx, out *bolt.DB) error {
	return out.Update(func(to *bolt.Tx) error {
		meta, spans := from.Bucket(bucketMeta), from.Bucket(bucketSpans)
		if spans == nil {
			return fmt.Errorf("%w: the spans bucket is missing", ErrCorrupt)
		}
		for _, key := range [][]byte{keySeq, keyCheckpoint, keyServerID} {
			if v := meta.Get(key); v != nil {
				if err := to.Bucket(bucketMeta).Put(key, v); err != nil {
					return err
				}
			}
		}
		return spans.ForEach(func(k, v []byte) error {
			if _, err := decodeSpan(k, v); err != nil {
				return err
			}
			return to.Bucket(bucketSpans).Put(k, v)
		})
	})
}

// copyV1Monitors rewrites format 1's record per row (keyed by site, the
// same record appendMonitor writes) into pages.
func copyV1Monitors(from *bolt.Tx, out *bolt.DB) error {
	b := from.Bucket(bucketMonitors)
	if b == nil {
		return fmt.Errorf("%w: the monitors bucket is missing", ErrCorrupt)
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; {
		var rows rowSet
		for ; k != nil && rows.len() < upgradeTxEvents; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: monitor key %x", ErrCorrupt, k)
			}
			m, err := decodeMonitor(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			rows.set(m)
		}
		rows.sort()
		if err := out.Update(func(to *bolt.Tx) error { return writeMonitors(to, &rows) }); err != nil {
			return err
		}
	}
	return nil
}

// v1Format describes a format 1 event bucket: its key length and how a
// record decodes.
type v1Format struct {
	bucket []byte
	decode func(k, v []byte) (entry, bool)
}

var (
	// events: created(8) id(8) -> uvarint blog | status
	v1Events = v1Format{bucketEvents, func(k, v []byte) (entry, bool) {
		blog, n := uvarint(v)
		if len(k) != 16 || n <= 0 || len(v) != n+1 {
			return entry{}, false
		}
		return entry{created: int64(binary.BigEndian.Uint64(k)), id: binary.BigEndian.Uint64(k[8:]), blog: blog, status: v[n]}, true
	}}
	// blogs: blog(8) created(8) id(8) -> status
	v1Blogs = v1Format{bucketBlogs, func(k, v []byte) (entry, bool) {
		if len(k) != 24 || len(v) != 1 {
			return entry{}, false
		}
		return entry{blog: binary.BigEndian.Uint64(k), created: int64(binary.BigEndian.Uint64(k[8:])), id: binary.BigEndian.Uint64(k[16:]), status: v[0]}, true
	}}
)

// copyV1Events streams a format 1 event bucket, which is in the order of
// kind's groups, into kind's runs, and returns how many events it copied.
func copyV1Events(from *bolt.Tx, out *bolt.DB, v1 v1Format, kind runKind) (uint64, error) {
	b := from.Bucket(v1.bucket)
	if b == nil {
		return 0, fmt.Errorf("%w: the %s bucket is missing", ErrCorrupt, v1.bucket)
	}
	var n uint64
	es := make([]entry, 0, upgradeTxEvents)
	c := b.Cursor()
	for k, v := c.First(); k != nil; {
		es = es[:0]
		for ; k != nil && len(es) < upgradeTxEvents; k, v = c.Next() {
			e, ok := v1.decode(k, v)
			if !ok || e.blog == 0 || e.id == 0 || e.created < 0 || e.created > maxCreated {
				return n, fmt.Errorf("%w: format 1 %s record %x=%x", ErrCorrupt, v1.bucket, k, v)
			}
			if _, _, err := unpackStatus(e.status); err != nil {
				return n, fmt.Errorf("format 1 %s record %x: %w", v1.bucket, k, err)
			}
			es = append(es, e)
		}
		err := out.Update(func(to *bolt.Tx) error { return newRunWriter(to, kind).mergeAll(es) })
		if err != nil {
			return n, err
		}
		n += uint64(len(es))
	}
	return n, nil
}
