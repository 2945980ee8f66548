package mysqlscript

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// interval is the transaction numbers [start, stop) of one source.
type interval struct{ start, stop int64 }

// gtidSet is a MySQL GTID set (untagged): each source UUID's transaction
// numbers as sorted, disjoint, non-adjacent intervals.
type gtidSet map[uuid.UUID][]interval

// source is one UUID of a set with its intervals.
type source struct {
	uuid      uuid.UUID
	intervals []interval
}

// sources lists the set's UUIDs in byte order, as MySQL writes them.
func (s gtidSet) sources() []source {
	out := make([]source, 0, len(s))
	for u, ivs := range s {
		out = append(out, source{u, ivs})
	}
	slices.SortFunc(out, func(a, b source) int { return bytes.Compare(a.uuid[:], b.uuid[:]) })
	return out
}

func (s gtidSet) add(u uuid.UUID, gno int64) { s.addInterval(u, gno, gno+1) }

// addInterval adds the transactions [start, stop) of source u.
func (s gtidSet) addInterval(u uuid.UUID, start, stop int64) {
	ivs := append(s[u], interval{start, stop})
	slices.SortFunc(ivs, func(a, b interval) int { return int(a.start - b.start) })
	merged := ivs[:0]
	for _, iv := range ivs {
		if n := len(merged); n > 0 && iv.start <= merged[n-1].stop {
			merged[n-1].stop = max(merged[n-1].stop, iv.stop)
			continue
		}
		merged = append(merged, iv)
	}
	s[u] = merged
}

func (s gtidSet) addSet(o gtidSet) {
	for u, ivs := range o {
		for _, iv := range ivs {
			s.addInterval(u, iv.start, iv.stop)
		}
	}
}

func (s gtidSet) contains(u uuid.UUID, gno int64) bool {
	for _, iv := range s[u] {
		if gno >= iv.start && gno < iv.stop {
			return true
		}
	}
	return false
}

// containsSet reports whether every GTID of o is in s.
func (s gtidSet) containsSet(o gtidSet) bool {
	for u, ivs := range o {
		for _, iv := range ivs {
			covered := false
			for _, mine := range s[u] {
				if iv.start >= mine.start && iv.stop <= mine.stop {
					covered = true
					break
				}
			}
			if !covered {
				return false
			}
		}
	}
	return true
}

// minus is the GTIDs of s not in o.
func (s gtidSet) minus(o gtidSet) gtidSet {
	out := gtidSet{}
	for u, ivs := range s {
		for _, iv := range ivs {
			for g := iv.start; g < iv.stop; g++ {
				if !o.contains(u, g) {
					out.add(u, g)
				}
			}
		}
	}
	return out
}

func (s gtidSet) clone() gtidSet {
	out := make(gtidSet, len(s))
	for u, ivs := range s {
		out[u] = slices.Clone(ivs)
	}
	return out
}

// String formats the set as MySQL does, with sep between sources (MySQL's
// SHOW statements and @@gtid_executed use ",\n").
func (s gtidSet) format(sep string) string {
	var b strings.Builder
	for i, src := range s.sources() {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(src.uuid.String())
		for _, iv := range src.intervals {
			b.WriteString(":" + strconv.FormatInt(iv.start, 10))
			if iv.stop-1 > iv.start {
				b.WriteString("-" + strconv.FormatInt(iv.stop-1, 10))
			}
		}
	}
	return b.String()
}

func (s gtidSet) String() string { return s.format(",") }

// parseGTIDSet reads "uuid:1-5:7,uuid2:3" (whitespace and newlines
// allowed between sources).
func parseGTIDSet(str string) (gtidSet, error) {
	s := gtidSet{}
	for part := range strings.SplitSeq(str, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, ":")
		u, err := uuid.Parse(fields[0])
		if err != nil || len(fields) < 2 {
			return nil, fmt.Errorf("GTID set %q: %q is not uuid:interval", str, part)
		}
		for _, f := range fields[1:] {
			lo, hi, isRange := strings.Cut(f, "-")
			a, err := strconv.ParseInt(lo, 10, 64)
			b := a
			if err == nil && isRange {
				b, err = strconv.ParseInt(hi, 10, 64)
			}
			if err != nil || a < 1 || b < a {
				return nil, fmt.Errorf("GTID set %q: bad interval %q", str, f)
			}
			s.addInterval(u, a, b+1)
		}
	}
	return s, nil
}

// decodeGTIDSet reads the binary form COM_BINLOG_DUMP_GTID carries (the
// same as a PREVIOUS_GTIDS_LOG_EVENT's body). Tagged sets (MySQL 8.3+,
// marked by a format byte in the count's high bits) are refused: this
// server writes no tags.
func decodeGTIDSet(b []byte) (gtidSet, error) {
	if len(b) < 8 {
		return nil, errors.New("GTID set data too short")
	}
	n := binary.LittleEndian.Uint64(b)
	if n>>56 != 0 {
		return nil, errors.New("tagged GTID sets are not supported by the scripted server")
	}
	s := gtidSet{}
	p := 8
	for range n {
		if len(b) < p+24 {
			return nil, errors.New("GTID set data truncated")
		}
		u, _ := uuid.FromBytes(b[p : p+16])
		k := binary.LittleEndian.Uint64(b[p+16:])
		p += 24
		for range k {
			if len(b) < p+16 {
				return nil, errors.New("GTID set data truncated")
			}
			start := int64(binary.LittleEndian.Uint64(b[p:]))
			stop := int64(binary.LittleEndian.Uint64(b[p+8:]))
			p += 16
			if start < 1 || stop <= start {
				return nil, fmt.Errorf("GTID set data: bad interval [%d, %d)", start, stop)
			}
			s.addInterval(u, start, stop)
		}
	}
	return s, nil
}
