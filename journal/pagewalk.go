package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// bbolt reads its file through a memory map with unchecked pointer
// arithmetic: a damaged element offset or page id makes it read, and hand
// out slices of, memory outside the file, which can crash the process in
// ways no recover catches (a slice into the Go heap corrupts the garbage
// collector). walkPages proves the file's page tree safe to hand to bbolt:
// it reads every reachable page with ordinary, bounds-checked reads and
// checks that each page lies inside the file and below the high water mark,
// that every element of every branch and leaf page, inline buckets
// included, lies inside its page, and that the keys are in order, within a
// page and against the branch keys above it. The order is checked because
// bbolt, when the file records no freelist (journal.Open keeps none), finds
// the free pages by walking the tree and panics on the first disorder it
// meets while the walk goes on in another goroutine, which no recover makes
// safe.

const (
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	elementSize    = 16 // branch: pos, ksize, pgid; leaf: flags, pos, ksize, vsize
	bucketHeader   = 16 // root pgid, sequence
	maxTreeDepth   = 64
)

// pageWalk is one structural walk of a file.
type pageWalk struct {
	f        *os.File
	meta     boltMeta
	fileSize int64
	seen     map[uint64]bool
	problems []string
}

func (w *pageWalk) fail(format string, args ...any) {
	if len(w.problems) < maxProblems {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

// walkPages walks the page tree from the root bucket and returns the
// problems found, none when bbolt can read the file safely.
func walkPages(f *os.File, m boltMeta, fileSize int64, root uint64) []string {
	w := &pageWalk{f: f, meta: m, fileSize: fileSize, seen: map[uint64]bool{}}
	w.tree(root, "the root bucket", 0, nil, nil)
	return w.problems
}

// read returns the bytes of page id and its overflow pages.
func (w *pageWalk) read(id uint64, owner string) []byte {
	ps := int64(w.meta.pageSize)
	if id < 2 || id >= w.meta.pgid {
		w.fail("%s points at page %d, outside the file's data pages 2..%d", owner, id, w.meta.pgid-1)
		return nil
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id)*ps); err != nil {
		w.fail("page %d (%s) lies past the end of the file", id, owner)
		return nil
	}
	overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if id+overflow >= w.meta.pgid {
		w.fail("page %d (%s) claims %d overflow pages, past the file's last page %d", id, owner, overflow, w.meta.pgid-1)
		return nil
	}
	n := int64(overflow+1) * ps
	if int64(id)*ps+n > w.fileSize {
		w.fail("page %d (%s) runs past the end of the file", id, owner)
		return nil
	}
	p := make([]byte, n)
	if _, err := w.f.ReadAt(p, int64(id)*ps); err != nil {
		w.fail("page %d (%s): %v", id, owner, err)
		return nil
	}
	if got := binary.LittleEndian.Uint64(p); got != id {
		w.fail("page %d (%s) carries the id %d", id, owner, got)
		return nil
	}
	return p
}

// tree walks the page tree rooted at page id, whose keys must lie in
// [lo, hi) (nil: unbounded).
func (w *pageWalk) tree(id uint64, owner string, depth int, lo, hi []byte) {
	if depth > maxTreeDepth {
		w.fail("page %d (%s) is more than %d levels deep: the tree loops", id, owner, maxTreeDepth)
		return
	}
	if w.seen[id] {
		w.fail("page %d (%s) is referenced twice", id, owner)
		return
	}
	w.seen[id] = true
	if p := w.read(id, owner); p != nil {
		w.elements(p, fmt.Sprintf("page %d", id), depth, lo, hi)
	}
}

// elements checks the elements of page p (a page or an inline bucket),
// whose keys must lie in [lo, hi) and rise strictly, and walks what they
// point at.
func (w *pageWalk) elements(p []byte, where string, depth int, lo, hi []byte) {
	if len(p) < pageHeaderSize {
		w.fail("%s is %d bytes, shorter than a page header", where, len(p))
		return
	}
	le := binary.LittleEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		w.fail("%s has flags %#x where a branch or leaf page belongs", where, flags)
		return
	}
	if pageHeaderSize+count*elementSize > len(p) {
		w.fail("%s claims %d elements, more than its %d bytes hold", where, count, len(p))
		return
	}
	if flags == branchPageFlag && count == 0 {
		w.fail("%s is a branch page without elements", where)
		return
	}
	// The keys first: a branch element's subtree is bounded by its key and
	// the next one's, so all must be read and in order before any descent.
	keys := make([][]byte, count)
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at : at+elementSize]
		var pos, ksize, vsize int
		if flags == branchPageFlag {
			pos, ksize = int(le.Uint32(e)), int(le.Uint32(e[4:]))
		} else {
			pos, ksize, vsize = int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
		}
		if end := at + pos + ksize + vsize; end > len(p) || end < at {
			w.fail("%s element %d: its key or value runs past the page", where, i)
			return
		}
		keys[i] = p[at+pos : at+pos+ksize]
		switch {
		case i == 0 && lo != nil && bytes.Compare(keys[i], lo) < 0:
			w.fail("%s element 0: its key %x is below the branch key %x above it", where, keys[i], lo)
			return
		case i > 0 && bytes.Compare(keys[i], keys[i-1]) <= 0:
			w.fail("%s element %d: its key %x does not follow the key %x before it", where, i, keys[i], keys[i-1])
			return
		case hi != nil && bytes.Compare(keys[i], hi) >= 0:
			w.fail("%s element %d: its key %x is not below the next branch key %x above it", where, i, keys[i], hi)
			return
		}
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at : at+elementSize]
		if flags == branchPageFlag {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			w.tree(le.Uint64(e[8:]), fmt.Sprintf("%s element %d", where, i), depth+1, keys[i], next)
			continue
		}
		eflags, pos, ksize, vsize := le.Uint32(e), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
		end := at + pos + ksize + vsize
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		v := p[at+pos+ksize : end]
		if len(v) < bucketHeader {
			w.fail("%s element %d: a bucket header of %d bytes", where, i, len(v))
			continue
		}
		name := fmt.Sprintf("bucket %q", p[at+pos:at+pos+ksize])
		if root := le.Uint64(v); root != 0 {
			w.tree(root, name, depth+1, nil, nil)
		} else {
			w.inline(v[bucketHeader:], name, depth+1)
		}
	}
}

// inline checks a bucket stored inside its parent's leaf.
func (w *pageWalk) inline(p []byte, name string, depth int) {
	if depth > maxTreeDepth {
		w.fail("%s is nested more than %d levels deep", name, maxTreeDepth)
		return
	}
	if len(p) >= pageHeaderSize && binary.LittleEndian.Uint16(p[8:]) != leafPageFlag {
		w.fail("inline %s is not a leaf", name)
		return
	}
	w.elements(p, "inline "+name, depth, nil, nil)
}
