package binlog

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// This file generates binlog events of random layouts of the followed
// table, with random rows, in go-mysql's wire format, so that the selective
// decoder can be compared with go-mysql's full decode on them
// (rowimage_test.go). The generator's choices come from a chooser: a seeded
// random source in the differential test, the fuzzer's bytes in the fuzz
// target.

// chooser makes the generator's choices.
type chooser interface {
	// u64 returns the next 64 bits of choice.
	u64() uint64
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) u64() uint64 { return c.r.Uint64() }

// byteChooser reads its choices from b, then zeros.
type byteChooser struct{ b []byte }

func (c *byteChooser) u64() uint64 {
	var v [8]byte
	n := copy(v[:], c.b)
	c.b = c.b[n:]
	return binary.LittleEndian.Uint64(v[:])
}

func intn(c chooser, n int) int { return int(c.u64() % uint64(n)) }

func pick[T any](c chooser, xs ...T) T { return xs[intn(c, len(xs))] }

// genColumn is one column of a generated layout.
type genColumn struct {
	name     string
	tp       byte   // binlog type
	meta     uint16 // table-map meta, as go-mysql decodes it
	unsigned bool
	value    func(c chooser) []byte // a random value, as a row image holds it
	// bad, when set, is a value the bridge refuses (a site_status that is
	// no Jetmon status); value never makes one.
	bad func(c chooser) []byte
}

// numeric mirrors go-mysql's IsNumericColumn: the columns the signedness
// bitmap has a bit for.
func (g genColumn) numeric() bool {
	switch g.tp {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG,
		mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_DOUBLE,
		mysql.MYSQL_TYPE_YEAR:
		return true
	}
	return false
}

func fixedValue(n int) func(c chooser) []byte {
	return func(c chooser) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(c.u64())
		}
		return b
	}
}

// smallInt is an integer of n bytes that is mostly small (statuses, flags,
// ids), sometimes anything.
func smallInt(n int) func(c chooser) []byte {
	return func(c chooser) []byte {
		v := uint64(intn(c, 4))
		if intn(c, 4) == 0 {
			v = c.u64()
		}
		b := binary.LittleEndian.AppendUint64(nil, v)
		return b[:n]
	}
}

func intColumn(c chooser, name string) genColumn {
	type intType struct {
		tp   byte
		size int
	}
	it := pick(c, intType{mysql.MYSQL_TYPE_TINY, 1}, intType{mysql.MYSQL_TYPE_SHORT, 2}, intType{mysql.MYSQL_TYPE_INT24, 3},
		intType{mysql.MYSQL_TYPE_LONG, 4}, intType{mysql.MYSQL_TYPE_LONGLONG, 8})
	return genColumn{name: name, tp: it.tp, unsigned: intn(c, 2) == 0, value: smallInt(it.size)}
}

// statusColumn is an integer site_status: a Jetmon status (0 to 2), or,
// when the event carries that fault, any other number.
func statusColumn(c chooser) genColumn {
	g := intColumn(c, "site_status")
	size := len(g.value(c))
	g.value = func(c chooser) []byte {
		return binary.LittleEndian.AppendUint64(nil, uint64(intn(c, 3)))[:size]
	}
	g.bad = func(c chooser) []byte {
		v := uint64(3 + intn(c, 253))
		if intn(c, 4) == 0 {
			v |= c.u64() << 8
		}
		return binary.LittleEndian.AppendUint64(nil, v)[:size]
	}
	return g
}

func stringValue(prefix, max int) func(c chooser) []byte {
	return func(c chooser) []byte {
		n := intn(c, min(max, 40)+1)
		if max > 300 && intn(c, 8) == 0 {
			n = 256 + intn(c, 100) // a length that needs the second prefix byte
		}
		b := binary.LittleEndian.AppendUint32(nil, uint32(n))[:prefix]
		for range n {
			b = append(b, byte('a'+intn(c, 26)))
		}
		return b
	}
}

// textColumn is a CHAR, VARCHAR or TEXT column.
func textColumn(c chooser, name string) genColumn {
	switch intn(c, 4) {
	case 0: // VARCHAR(n) of n bytes (n characters of up to four bytes each)
		max := pick(c, 40, 255, 300, 1200)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_VARCHAR, meta: uint16(max), value: stringValue(stringPrefix(max), max)}
	case 1: // CHAR(n): type and length packed in the meta
		max := pick(c, 20, 255, 400, 1020)
		meta := uint16(mysql.MYSQL_TYPE_STRING^byte((max&0x300)>>4))<<8 | uint16(max&0xFF)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_STRING, meta: meta, value: stringValue(stringPrefix(max), max)}
	default: // TINYTEXT .. LONGTEXT
		prefix := 1 + intn(c, 4)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_BLOB, meta: uint16(prefix), value: stringValue(prefix, 1<<(8*min(prefix, 2))-1)}
	}
}

// fracBytes encodes microseconds as TIMESTAMP2 and DATETIME2 store them
// for fsp fractional digits.
func fracBytes(usec int, fsp int) []byte {
	switch fsp {
	case 1, 2:
		return []byte{byte(usec / 10000)}
	case 3, 4:
		return binary.BigEndian.AppendUint16(nil, uint16(usec/100))
	case 5, 6:
		return []byte{byte(usec >> 16), byte(usec >> 8), byte(usec)}
	}
	return nil
}

// timeColumn is a TIMESTAMP or DATETIME, old or new format, with or
// without fractional seconds; values include the zero date, dates before
// 1970 and dates with a zero month or day.
func timeColumn(c chooser, name string) genColumn {
	fsp := intn(c, 7)
	usec := func(c chooser) int { return intn(c, 1_000_000) }
	switch intn(c, 4) {
	case 0:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_TIMESTAMP2, meta: uint16(fsp), value: func(c chooser) []byte {
			sec := pick(c, 0, 1, 1_700_000_000+intn(c, 1<<24), int(c.u64()>>32))
			return append(binary.BigEndian.AppendUint32(nil, uint32(sec)), fracBytes(usec(c), fsp)...)
		}}
	case 1:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_DATETIME2, meta: uint16(fsp), value: func(c chooser) []byte {
			year, month, day := pick(c, 0, 1969, 1970, 2024, 9999), intn(c, 13), intn(c, 32)
			packed := uint64(year*13+month)<<22 | uint64(day)<<17 | uint64(intn(c, 24))<<12 | uint64(intn(c, 60))<<6 | uint64(intn(c, 60))
			if intn(c, 8) == 0 {
				packed = 0
			}
			packed += 0x8000000000
			return append(binary.BigEndian.AppendUint64(nil, packed)[3:], fracBytes(usec(c), fsp)...)
		}}
	case 2:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_TIMESTAMP, value: func(c chooser) []byte {
			return binary.LittleEndian.AppendUint32(nil, uint32(pick(c, 0, 1_700_000_000+intn(c, 1<<24))))
		}}
	default:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_DATETIME, value: func(c chooser) []byte {
			v := uint64(pick(c, 0, 1969, 2024))*10000000000 + uint64(intn(c, 13))*100000000 + uint64(intn(c, 32))*1000000 +
				uint64(intn(c, 24))*10000 + uint64(intn(c, 60))*100 + uint64(intn(c, 60))
			if intn(c, 8) == 0 {
				v = 0
			}
			return binary.LittleEndian.AppendUint64(nil, v)
		}}
	}
}

// otherColumn is a column the bridge does not read, of any type the
// selective decoder steps over.
func otherColumn(c chooser, name string) genColumn {
	switch intn(c, 14) {
	case 0:
		return intColumn(c, name)
	case 1:
		return textColumn(c, name)
	case 2:
		return timeColumn(c, name)
	case 3:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_FLOAT, value: fixedValue(4)}
	case 4:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_DOUBLE, value: fixedValue(8)}
	case 5: // DECIMAL(p,s): zero, which any p and s can hold
		p := 1 + intn(c, 65)
		s := intn(c, min(p, 30)+1)
		size := decimalSize(p-s) + decimalSize(s)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_NEWDECIMAL, meta: uint16(p)<<8 | uint16(s), value: func(chooser) []byte {
			b := make([]byte, size)
			b[0] = 0x80
			return b
		}}
	case 6: // BIT(n)
		n := 1 + intn(c, 64)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_BIT, meta: uint16(n/8)<<8 | uint16(n%8), value: fixedValue((n + 7) / 8)}
	case 7:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_DATE, value: fixedValue(3)}
	case 8: // TIME(fsp) at midnight
		fsp := intn(c, 7)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_TIME2, meta: uint16(fsp), value: func(chooser) []byte {
			return append([]byte{0x80, 0, 0}, make([]byte, (fsp+1)/2)...)
		}}
	case 9:
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_YEAR, value: fixedValue(1)}
	case 10: // ENUM with one or two bytes
		n := 1 + intn(c, 2)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_STRING, meta: uint16(mysql.MYSQL_TYPE_ENUM)<<8 | uint16(n), value: fixedValue(n)}
	case 11: // SET of up to 64 members
		n := pick(c, 1, 2, 3, 4, 8)
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_STRING, meta: uint16(mysql.MYSQL_TYPE_SET)<<8 | uint16(n), value: fixedValue(n)}
	case 12: // GEOMETRY: a blob of WKB, here any bytes
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_GEOMETRY, meta: 4, value: stringValue(4, 100)}
	default: // JSON: empty, which go-mysql reads as an empty document
		return genColumn{name: name, tp: mysql.MYSQL_TYPE_JSON, meta: 4, value: func(chooser) []byte { return make([]byte, 4) }}
	}
}

// oddColumn is a column of the bridge's of a type the selective decoder
// leaves to go-mysql (ENUM, YEAR, DATE, BIT...), so the fallback is
// compared too.
func oddColumn(c chooser, g genColumn) genColumn {
	o := otherColumn(c, g.name)
	o.unsigned = g.unsigned
	if o.name == "site_status" && o.bad == nil && o.numeric() && o.tp != mysql.MYSQL_TYPE_FLOAT &&
		o.tp != mysql.MYSQL_TYPE_DOUBLE && o.tp != mysql.MYSQL_TYPE_NEWDECIMAL && o.tp != mysql.MYSQL_TYPE_YEAR {
		// An integer after all: its values must be statuses, except in
		// the fault that makes them none.
		o = statusColumn(c)
	}
	return o
}

// genLayout is a random layout of the followed table: the six columns the
// bridge reads, in random order, among other columns.
type genLayout struct {
	cols     []genColumn
	metadata int // 0: none, 1: MINIMAL (signedness), 2: FULL (names too)
}

func newGenLayout(c chooser) genLayout {
	cols := []genColumn{
		intColumn(c, "jetpack_monitor_site_id"), intColumn(c, "blog_id"), textColumn(c, "monitor_url"),
		intColumn(c, "monitor_active"), statusColumn(c), timeColumn(c, "last_status_change"),
	}
	if intn(c, 10) == 0 {
		i := intn(c, len(cols))
		cols[i] = oddColumn(c, cols[i])
	}
	for i := range intn(c, 8) {
		cols = append(cols, otherColumn(c, fmt.Sprintf("other_%d", i)))
	}
	for i := len(cols) - 1; i > 0; i-- {
		j := intn(c, i+1)
		cols[i], cols[j] = cols[j], cols[i]
	}
	return genLayout{cols: cols, metadata: intn(c, 3)}
}

func (g genLayout) names() []string {
	var ns []string
	for _, c := range g.cols {
		ns = append(ns, c.name)
	}
	return ns
}

const genSchema = "jetmon"

func header(tp replication.EventType, body []byte) []byte {
	h := make([]byte, 19, 19+len(body))
	binary.LittleEndian.PutUint32(h[0:], 1_700_000_000)
	h[4] = byte(tp)
	binary.LittleEndian.PutUint32(h[5:], 1)
	binary.LittleEndian.PutUint32(h[9:], uint32(19+len(body)))
	binary.LittleEndian.PutUint32(h[13:], 1000)
	return append(h, body...)
}

// formatDescription is a MariaDB 10.11 format description without
// checksums: every post-header is 8 bytes, so table ids take 6.
func formatDescription() []byte {
	b := binary.LittleEndian.AppendUint16(nil, 4)
	version := make([]byte, 50)
	copy(version, "10.11.6-MariaDB-log")
	b = append(b, version...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, 19)
	for range 170 {
		b = append(b, 8)
	}
	b = append(b, byte(replication.BINLOG_CHECKSUM_ALG_OFF), 0, 0, 0, 0)
	return header(replication.FORMAT_DESCRIPTION_EVENT, b)
}

func (g genLayout) tableMap(table string) []byte {
	b := []byte{7, 0, 0, 0, 0, 0, 1, 0} // table id 7, flags
	b = append(append(append(b, byte(len(genSchema))), genSchema...), 0)
	b = append(append(append(b, byte(len(table))), table...), 0)
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(g.cols)))
	var meta []byte
	for _, c := range g.cols {
		b = append(b, c.tp)
		switch c.tp {
		case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_NEWDECIMAL:
			meta = append(meta, byte(c.meta>>8), byte(c.meta))
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_BIT:
			meta = binary.LittleEndian.AppendUint16(meta, c.meta)
		case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_FLOAT, mysql.MYSQL_TYPE_GEOMETRY,
			mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
			meta = append(meta, byte(c.meta))
		}
	}
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(meta)))
	b = append(b, meta...)
	b = append(b, bytes.Repeat([]byte{0xFF}, (len(g.cols)+7)/8)...) // every column nullable
	if g.metadata >= 1 {
		var signedness []byte
		bit := 0
		for _, c := range g.cols {
			if !c.numeric() {
				continue
			}
			if bit%8 == 0 {
				signedness = append(signedness, 0)
			}
			if c.unsigned {
				signedness[bit/8] |= 0x80 >> (bit % 8)
			}
			bit++
		}
		b = append(b, replication.TABLE_MAP_OPT_META_SIGNEDNESS)
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(signedness)))
		b = append(b, signedness...)
	}
	if g.metadata >= 2 {
		var names []byte
		for _, c := range g.cols {
			names = append(append(names, byte(len(c.name))), c.name...)
		}
		b = append(b, replication.TABLE_MAP_OPT_META_COLUMN_NAME)
		b = mysql.AppendLengthEncodedInteger(b, uint64(len(names)))
		b = append(b, names...)
	}
	return header(replication.TABLE_MAP_EVENT, b)
}

// faultKind is what a generated rows event does wrong, if anything.
type faultKind uint8

const (
	faultNone    faultKind = iota
	faultNull              // a NULL in a column the bridge needs a value of
	faultMissing           // a column the bridge reads left out of the images
	faultStatus            // a site_status that is no Jetmon status
)

// rowFault is the one fault of a generated rows event: one fault at a
// time, so that both decoders must refuse the event with the same
// complaint (with two, each may name the one it meets first).
type rowFault struct {
	kind  faultKind
	image int // the image (in event order) that carries it
	col   int
}

// isBridgeColumn reports whether column i is one the bridge reads.
func (g genLayout) isBridgeColumn(i int) bool { return !strings.HasPrefix(g.cols[i].name, "other_") }

// fault picks the fault of an event of images row images: none for three
// events in four.
func (g genLayout) fault(c chooser, images int) rowFault {
	if intn(c, 4) != 0 {
		return rowFault{}
	}
	var bridgeCols, nullable []int
	status := -1
	for i, col := range g.cols {
		if !g.isBridgeColumn(i) {
			continue
		}
		bridgeCols = append(bridgeCols, i)
		if col.name != "last_status_change" { // NULL there is the zero time
			nullable = append(nullable, i)
		}
		if col.bad != nil {
			status = i
		}
	}
	f := rowFault{kind: pick(c, faultNull, faultMissing, faultStatus), image: intn(c, images)}
	switch {
	case f.kind == faultMissing:
		f.col = pick(c, bridgeCols...)
	case f.kind == faultStatus && status >= 0:
		f.col = status
	default:
		f.kind, f.col = faultNull, pick(c, nullable...)
	}
	return f
}

// bitmap sets a bit per column, leaving out (as binlog_row_image=NOBLOB
// does) one the bridge does not read now and then, and the fault's column
// when missing is the fault.
func (g genLayout) bitmap(c chooser, f rowFault) []byte {
	b := bytes.Repeat([]byte{0xFF}, (len(g.cols)+7)/8)
	if intn(c, 6) == 0 {
		if i := intn(c, len(g.cols)); !g.isBridgeColumn(i) {
			b[i/8] &^= 1 << (i % 8)
		}
	}
	if f.kind == faultMissing {
		b[f.col/8] &^= 1 << (f.col % 8)
	}
	return b
}

// image encodes one row image of the columns set in bitmap, with NULLs now
// and then where the bridge takes them, and the fault f if it is this
// image's (n is the image's place in the event).
func (g genLayout) image(c chooser, bitmap []byte, n int, f rowFault) []byte {
	var present []int
	for i := range g.cols {
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			present = append(present, i)
		}
	}
	mine := f.image == n
	nulls := make([]byte, (len(present)+7)/8)
	var values []byte
	for k, i := range present {
		col := &g.cols[i]
		nullable := !g.isBridgeColumn(i) || col.name == "last_status_change"
		if (nullable && intn(c, 20) == 0) || (mine && f.kind == faultNull && f.col == i) {
			nulls[k/8] |= 1 << (k % 8)
			continue
		}
		if mine && f.kind == faultStatus && f.col == i {
			values = append(values, col.bad(c)...)
			continue
		}
		values = append(values, col.value(c)...)
	}
	return append(nulls, values...)
}

// rowsEvent encodes a rows event of 1 to 4 rows (updates: pairs of
// images) of a random kind, compressed as MariaDB does now and then, with
// at most one fault. It returns the event, where its row images start in
// it, and its fault.
func (g genLayout) rowsEvent(c chooser) (tp replication.EventType, event []byte, imagesAt int, f rowFault) {
	tp = pick(c, replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1,
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1)
	update := tp == replication.UPDATE_ROWS_EVENTv1 || tp == replication.UPDATE_ROWS_EVENTv2 ||
		tp == replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1
	rowCount, perRow := 1+intn(c, 4), 1
	if update {
		perRow = 2
	}
	f = g.fault(c, rowCount*perRow)
	// A column missing from the before images of an update is missing
	// from every before image; from its after images, from every after
	// image.
	f1, f2 := f, rowFault{}
	if update && f.kind == faultMissing && f.image%2 == 1 {
		f1, f2 = rowFault{}, f
	}
	b := []byte{7, 0, 0, 0, 0, 0, 1, 0} // table id 7, flags: end of statement
	if tp >= replication.WRITE_ROWS_EVENTv2 && tp <= replication.DELETE_ROWS_EVENTv2 {
		b = append(b, 2, 0) // no extra data
	}
	b = mysql.AppendLengthEncodedInteger(b, uint64(len(g.cols)))
	bm1 := g.bitmap(c, f1)
	b = append(b, bm1...)
	bm2 := bm1
	if update {
		bm2 = g.bitmap(c, f2)
		b = append(b, bm2...)
	}
	var rows []byte
	for r := range rowCount {
		rows = append(rows, g.image(c, bm1, r*perRow, f)...)
		if update {
			rows = append(rows, g.image(c, bm2, r*perRow+1, f)...)
		}
	}
	if tp >= replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1 {
		rows = compressMariaDB(rows)
	}
	event = header(tp, append(b, rows...))
	return tp, event, len(event) - len(rows), f
}

// compressMariaDB compresses as MariaDB's log_bin_compress does: a header
// byte (0x80 | the size's length), the uncompressed size big-endian, then
// zlib.
func compressMariaDB(b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(b)
	w.Close()
	size := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(append([]byte{0x84}, size...), z.Bytes()...)
}

// sideResult is what one way of decoding made of a rows event.
type sideResult struct {
	monitors []bridge.Monitor
	parseErr error // go-mysql could not parse the event
	err      error // the rows did not decode into Monitors
	// selective reports that rowDecoder read the rows itself: the body
	// deferRows left is still there, undecoded by go-mysql (its DecodeData
	// replaces it with the decoded rows).
	selective bool
}

// decodeSide parses a format description, a table map and a rows event
// with go-mysql as the follower does (deferring: the follower's
// RowsEventDecodeFunc) or decoding in full, and returns the Monitors
// rowDecoder.images makes of the rows; lay is the layout the follower
// knows.
func decodeSide(deferring bool, fde, tmap, rows []byte, tp replication.EventType, lay layout) sideResult {
	p := replication.NewBinlogParser()
	p.SetParseTime(true)
	p.SetFlavor("mariadb")
	if deferring {
		p.SetRowsEventDecodeFunc(deferRows(genSchema, bridge.Table))
	}
	var res sideResult
	for _, raw := range [][]byte{fde, tmap} {
		if _, err := p.Parse(raw); err != nil {
			res.parseErr = fmt.Errorf("setup event: %w", err)
			return res
		}
	}
	ev, err := p.Parse(rows)
	if err != nil {
		res.parseErr = err
		return res
	}
	e := ev.Event.(*replication.RowsEvent)
	var d rowDecoder
	res.monitors, res.err = d.images(e, tp, lay, nil)
	_, res.selective = deferred(e)
	return res
}
