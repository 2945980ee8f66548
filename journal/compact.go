package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes bounds each write transaction of a compaction, so memory
// stays flat however large the journal is.
const compactTxBytes = 64 << 20

// Compact writes a compacted copy of the journal at src to the new file
// dst: every record rewritten into full pages, the free pages left behind.
// src is opened read-only (it must not be held by a running daemon) and is
// never changed. Compact refuses to overwrite dst; on failure it removes
// the partial dst. It returns both files' sizes.
func Compact(src, dst string) (srcSize, dstSize int64, err error) {
	in, err := openRaw(src, 0)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	created := false
	defer func() {
		if err != nil && created {
			os.Remove(dst)
		}
	}()
	defer guard(src, &err)()
	if err := checkSound(src, "compact"); err != nil {
		return 0, 0, err
	}
	if err := in.View(func(tx *bolt.Tx) error { return isJournal(tx, src) }); err != nil {
		return 0, 0, fmt.Errorf("compact %s: %w", src, err)
	}
	if err := createNew(dst, "compact"); err != nil {
		return 0, 0, err
	}
	created = true
	out, err := bolt.Open(dst, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", dst, err)
	}
	if err := bolt.Compact(out, in, compactTxBytes); err != nil {
		out.Close()
		return 0, 0, fmt.Errorf("compact %s into %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return 0, 0, fmt.Errorf("close %s: %w", dst, err)
	}
	for _, p := range []struct {
		path string
		size *int64
	}{{src, &srcSize}, {dst, &dstSize}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			return 0, 0, err
		}
		*p.size = fi.Size()
	}
	return srcSize, dstSize, nil
}

// checkSound checks the structure of the file at src before a tool copies
// it (see Report.checkStructure).
func checkSound(src, tool string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if r := (&Report{Path: src}); !r.checkStructure(src, fi.Size()) {
		return fmt.Errorf("%w: %s: %s (run 'jetmon-bridge journal verify -journal %s'; %s works only on sound files)", ErrDamaged, src, r.Problems[0], src, tool)
	}
	return nil
}

// createNew creates the empty file dst for a tool's copy, refusing to
// overwrite anything.
func createNew(dst, tool string) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: %s never overwrites a file; remove it or give another -o", dst, tool)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	return f.Close()
}

// isJournal checks that a bbolt file is a journal this build reads.
func isJournal(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("%w: not a jetmon-bridge journal (no meta bucket)", ErrCorrupt)
	}
	return checkFormat(meta, path)
}
