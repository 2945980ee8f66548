package journal

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk format, version 2 (native byte order: little-endian on
// every platform the bridge ships for), as far as verify needs it to prove
// that bbolt can read a file without crashing; see pagewalk.go.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id(8) flags(2) count(2) overflow(4)
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

// boltMeta is the part of a bbolt meta page verify reads.
type boltMeta struct {
	pageSize uint32
	root     uint64 // page id of the root bucket
	freelist uint64 // page id of the freelist, or noFreelist
	pgid     uint64 // high water mark: pages 0..pgid-1 are in use
	txid     uint64
}

// readBoltMeta returns the newer of the file's two valid meta pages, as
// bbolt chooses it, or describes why neither is valid.
func readBoltMeta(f *os.File) (boltMeta, error) {
	var best boltMeta
	found := false
	var reasons []string
	pageSize := int64(4096)
	for i := int64(0); i < 2; i++ {
		m, err := readMetaPage(f, i*pageSize)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("meta page %d: %v", i, err))
			continue
		}
		pageSize = int64(m.pageSize)
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	if !found {
		return best, fmt.Errorf("no valid meta page (%s)", reasons)
	}
	return best, nil
}

func readMetaPage(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+64)
	if _, err := f.ReadAt(buf, off); err != nil {
		if err == io.EOF {
			return boltMeta{}, fmt.Errorf("the file ends at it")
		}
		return boltMeta{}, err
	}
	le := binary.LittleEndian
	if flags := le.Uint16(buf[8:]); flags != metaPageFlag {
		return boltMeta{}, fmt.Errorf("page flags %#x, want a meta page", flags)
	}
	meta := buf[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(meta[:56])
	switch {
	case le.Uint32(meta) != boltMagic:
		return boltMeta{}, fmt.Errorf("not a bbolt file (magic %#x)", le.Uint32(meta))
	case le.Uint32(meta[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format %d, want %d", le.Uint32(meta[4:]), boltVersion)
	case le.Uint64(meta[56:]) != h.Sum64():
		return boltMeta{}, fmt.Errorf("checksum mismatch")
	}
	m := boltMeta{
		pageSize: le.Uint32(meta[8:]),
		root:     le.Uint64(meta[16:]),
		freelist: le.Uint64(meta[32:]),
		pgid:     le.Uint64(meta[40:]),
		txid:     le.Uint64(meta[48:]),
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("implausible page size %d", m.pageSize)
	}
	return m, nil
}

// checkFreelistPage checks that the freelist page's header describes a
// list that fits inside the page run and inside the file.
func checkFreelistPage(f *os.File, m boltMeta, fileSize int64) error {
	if m.freelist == noFreelist {
		return nil
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return fmt.Errorf("freelist page %d lies outside the file's pages 2..%d", m.freelist, m.pgid-1)
	}
	off := int64(m.freelist) * int64(m.pageSize)
	hdr := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(hdr, off); err != nil {
		return fmt.Errorf("freelist page %d is beyond the end of the file", m.freelist)
	}
	le := binary.LittleEndian
	if flags := le.Uint16(hdr[8:]); flags != freelistPageFlag {
		return fmt.Errorf("page %d should hold the freelist but has flags %#x", m.freelist, flags)
	}
	count, overflow := uint64(le.Uint16(hdr[10:])), uint64(le.Uint32(hdr[12:]))
	if count == 0xFFFF {
		count = le.Uint64(hdr[pageHeaderSize:]) + 1
	}
	if m.freelist+overflow >= m.pgid {
		return fmt.Errorf("freelist page %d claims %d overflow pages, past the file's last page %d", m.freelist, overflow, m.pgid-1)
	}
	run := (overflow + 1) * uint64(m.pageSize)
	if count > run/8 || pageHeaderSize+8*count > run {
		return fmt.Errorf("freelist page %d claims %d entries, more than its %d bytes hold", m.freelist, count, run)
	}
	if end := off + int64(run); end > fileSize {
		return fmt.Errorf("freelist page %d runs to byte %d, past the end of the file (%d bytes)", m.freelist, end, fileSize)
	}
	return nil
}
