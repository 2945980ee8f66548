package binlog

import (
	"bytes"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// columnRole is the Monitor field a column of the followed table fills.
type columnRole uint8

const (
	roleNone columnRole = iota
	roleSite
	roleBlog
	roleURL
	roleActive
	roleStatus
	roleChanged
)

// valueKind is how a value is laid out in a row image. Sizes and layouts
// follow go-mysql v1.16.0's RowsEvent.decodeValue, which the differential
// test (rowimage_test.go) holds the selective decoder to.
type valueKind uint8

const (
	kindFixed      valueKind = iota // width bytes
	kindPrefixed                    // a little-endian length of width bytes, then that many bytes
	kindInt24                       // 3 bytes, a MEDIUMINT (go-mysql's Go type depends on its sign)
	kindTimestamp                   // TIMESTAMP before MySQL 5.6: 4 bytes of seconds, little-endian
	kindTimestamp2                  // TIMESTAMP(fsp): 4 big-endian bytes of seconds, then the fraction
	kindDatetime                    // DATETIME before MySQL 5.6: 8 bytes, YYYYMMDDhhmmss in decimal
	kindDatetime2                   // DATETIME(fsp): 5 packed big-endian bytes, then the fraction
)

// valueClass is what go-mysql makes of a kindFixed or kindPrefixed value,
// as far as layout.decodeRow is concerned.
type valueClass uint8

const (
	classOther   valueClass = iota
	classInteger            // a Go integer: TINYINT, SMALLINT, INT, BIGINT
	classText               // a string or []byte: CHAR, VARCHAR, TEXT, BLOB
)

// imageColumn says how to step over or read one column of a row image.
type imageColumn struct {
	kind   valueKind
	class  valueClass
	width  int // kindFixed: the value's size; kindPrefixed: the length's size; else the whole value's
	frac   int // kindTimestamp2, kindDatetime2: fractional digits (the column's meta)
	signed bool
	role   columnRole
}

// imagePlan is how to read the row images of one version of the followed
// table: built from a TableMapEvent's column types and metadata and the
// column positions of the bridge's six columns, and reused while they stay
// the same (a table map precedes every rows event, so rebuilding it each
// time would cost more than the rows).
type imagePlan struct {
	types      []byte
	metas      []uint16
	signedness []byte
	names      [][]byte // the table map's column names, when it had them
	lay        layout

	cols []imageColumn
	// selective is false when some column is of a kind the plan cannot
	// read or step over: rows are then decoded by go-mysql in full.
	selective bool
}

// matches reports whether p was built for table's columns laid out as lay.
func (p *imagePlan) matches(table *replication.TableMapEvent, lay layout) bool {
	if !bytes.Equal(p.types, table.ColumnType) || !slices.Equal(p.metas, table.ColumnMeta) ||
		!bytes.Equal(p.signedness, table.SignednessBitmap) || len(p.names) != len(table.ColumnName) {
		return false
	}
	for i, n := range table.ColumnName {
		if !bytes.Equal(p.names[i], n) {
			return false
		}
	}
	return p.lay.site == lay.site && p.lay.blog == lay.blog && p.lay.url == lay.url &&
		p.lay.active == lay.active && p.lay.status == lay.status && p.lay.changed == lay.changed
}

// newImagePlan builds the plan of table's row images for lay, a layout of
// exactly table's columns.
func newImagePlan(table *replication.TableMapEvent, lay layout) *imagePlan {
	p := &imagePlan{
		types:      bytes.Clone(table.ColumnType),
		metas:      slices.Clone(table.ColumnMeta),
		signedness: bytes.Clone(table.SignednessBitmap),
		lay:        lay,
		cols:       make([]imageColumn, len(table.ColumnType)),
		selective:  len(table.ColumnMeta) == len(table.ColumnType),
	}
	for _, n := range table.ColumnName {
		p.names = append(p.names, bytes.Clone(n))
	}
	if !p.selective {
		return p
	}
	roles := map[int]columnRole{lay.site: roleSite, lay.blog: roleBlog, lay.url: roleURL,
		lay.active: roleActive, lay.status: roleStatus, lay.changed: roleChanged}
	unsigned := table.UnsignedMap()
	for i, tp := range table.ColumnType {
		c, ok := columnOf(tp, table.ColumnMeta[i])
		c.role = roles[i]
		c.signed = !unsigned[i]
		if !ok || !readable(c) {
			p.selective = false
			return p
		}
		p.cols[i] = c
	}
	return p
}

// readable reports whether the selective decoder can read c for its role
// exactly as go-mysql's full decode and layout.decodeRow would; for other
// combinations (an ENUM site_status, a BIT monitor_active, a DATE
// last_status_change...) the follower lets go-mysql decode the rows.
func readable(c imageColumn) bool {
	switch c.role {
	case roleNone:
		return true
	case roleSite, roleBlog, roleActive, roleStatus:
		return c.kind == kindInt24 || c.class == classInteger
	case roleURL:
		return c.class == classText
	case roleChanged:
		return c.kind == kindTimestamp || c.kind == kindTimestamp2 || c.kind == kindDatetime || c.kind == kindDatetime2
	}
	return false
}

// columnOf returns how a column of binlog type tp with table-map meta is
// laid out in a row image, mirroring go-mysql's decodeValue; ok is false for
// types it does not step over here.
func columnOf(tp byte, meta uint16) (c imageColumn, ok bool) {
	length := 0
	if tp == mysql.MYSQL_TYPE_STRING {
		// CHAR, ENUM and SET share a type code; the meta holds the real one.
		if meta >= 256 {
			b0, b1 := uint8(meta>>8), uint8(meta&0xFF)
			if b0&0x30 != 0x30 {
				length = int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
				tp = b0 | 0x30
			} else {
				length = int(meta & 0xFF)
				tp = b0
			}
		} else {
			length = int(meta)
		}
	}
	fixed := func(n int) (imageColumn, bool) { return imageColumn{kind: kindFixed, width: n}, true }
	prefixed := func(n int, class valueClass) (imageColumn, bool) {
		return imageColumn{kind: kindPrefixed, width: n, class: class}, true
	}
	integer := func(n int) (imageColumn, bool) {
		return imageColumn{kind: kindFixed, width: n, class: classInteger}, true
	}
	switch tp {
	case mysql.MYSQL_TYPE_NULL:
		return fixed(0)
	case mysql.MYSQL_TYPE_TINY:
		return integer(1)
	case mysql.MYSQL_TYPE_SHORT:
		return integer(2)
	case mysql.MYSQL_TYPE_INT24:
		return imageColumn{kind: kindInt24, width: 3}, true
	case mysql.MYSQL_TYPE_LONG:
		return integer(4)
	case mysql.MYSQL_TYPE_LONGLONG:
		return integer(8)
	case mysql.MYSQL_TYPE_FLOAT:
		return fixed(4)
	case mysql.MYSQL_TYPE_DOUBLE:
		return fixed(8)
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		precision, scale := int(meta>>8), int(meta&0xFF)
		if scale > precision {
			return c, false
		}
		return fixed(decimalSize(precision-scale) + decimalSize(scale))
	case mysql.MYSQL_TYPE_BIT:
		return fixed(int(((meta>>8)*8 + (meta & 0xFF) + 7) / 8))
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return imageColumn{kind: kindTimestamp, width: 4}, true
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return imageColumn{kind: kindTimestamp2, width: 4 + int(meta+1)/2, frac: int(meta)}, true
	case mysql.MYSQL_TYPE_DATETIME:
		return imageColumn{kind: kindDatetime, width: 8}, true
	case mysql.MYSQL_TYPE_DATETIME2:
		return imageColumn{kind: kindDatetime2, width: 5 + int(meta+1)/2, frac: int(meta)}, true
	case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_DATE:
		return fixed(3)
	case mysql.MYSQL_TYPE_TIME2:
		return fixed(3 + int(meta+1)/2)
	case mysql.MYSQL_TYPE_YEAR:
		return fixed(1)
	case mysql.MYSQL_TYPE_ENUM:
		if n := int(meta & 0xFF); n == 1 || n == 2 {
			return fixed(n)
		}
		return c, false
	case mysql.MYSQL_TYPE_SET:
		return fixed(int(meta & 0xFF))
	case mysql.MYSQL_TYPE_BLOB:
		if meta < 1 || meta > 4 {
			return c, false
		}
		return prefixed(int(meta), classText)
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		return prefixed(stringPrefix(int(meta)), classText)
	case mysql.MYSQL_TYPE_STRING:
		return prefixed(stringPrefix(length), classText)
	case mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_VECTOR:
		if meta < 1 || meta > 4 {
			return c, false
		}
		return prefixed(int(meta), classOther)
	}
	return c, false
}

// stringPrefix is the size of a string's length prefix: one byte when the
// column holds at most 255 bytes.
func stringPrefix(maxLen int) int {
	if maxLen < 256 {
		return 1
	}
	return 2
}

// decimalSize is the size of digits decimal digits in MySQL's packed
// DECIMAL: four bytes per nine digits, fewer for the rest.
func decimalSize(digits int) int {
	leftover := [...]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}
	return digits/9*4 + leftover[digits%9]
}
