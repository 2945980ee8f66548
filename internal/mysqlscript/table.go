package mysqlscript

import (
	"encoding/binary"
	"fmt"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// ColumnType is a column's type as MySQL's table map event names it. Only
// the types a Jetmon table and its schema changes need are written.
type ColumnType byte

const (
	Tiny       ColumnType = 1  // TINYINT
	Short      ColumnType = 2  // SMALLINT
	Long       ColumnType = 3  // INT
	LongLong   ColumnType = 8  // BIGINT
	Varchar    ColumnType = 15 // VARCHAR
	Timestamp2 ColumnType = 17 // TIMESTAMP(fsp), MySQL 5.6.4+
	Datetime2  ColumnType = 18 // DATETIME(fsp), MySQL 5.6.4+
)

func (c ColumnType) numeric() bool { return c == Tiny || c == Short || c == Long || c == LongLong }

// Column is one column of a Table.
type Column struct {
	Name     string
	Type     ColumnType
	Unsigned bool
	Nullable bool
	// Length is a VARCHAR's maximum length in bytes (characters times 4
	// for utf8mb4), or a TIMESTAMP's or DATETIME's fractional digits.
	Length int
	// PrimaryKey marks the (single) primary key column.
	PrimaryKey bool
}

// sqlType is the column's type as information_schema.COLUMNS writes it.
func (c Column) sqlType() string {
	var t string
	switch c.Type {
	case Tiny:
		t = "tinyint"
	case Short:
		t = "smallint"
	case Long:
		t = "int"
	case LongLong:
		t = "bigint"
	case Varchar:
		return fmt.Sprintf("varchar(%d)", c.Length/4)
	case Timestamp2:
		t = "timestamp"
	case Datetime2:
		t = "datetime"
	}
	if c.Unsigned {
		t += " unsigned"
	}
	return t
}

// Table is a table whose rows a test writes to the binlog. Rows are []any
// in column order; values are Go integers (or bool) for integer columns,
// string or []byte for VARCHAR, time.Time for TIMESTAMP and DATETIME, and
// nil for NULL.
type Table struct {
	Schema, Name string
	Columns      []Column
	// FullMetadata writes column names and the primary key into the table
	// map, as binlog_row_metadata=FULL does; the default is MINIMAL
	// (MySQL 8's default): signedness and the default charset only.
	FullMetadata bool
	// ID is the table id the binlog names the table by; 0 lets the server
	// assign one.
	ID uint64
}

// Row is one row image, in column order.
type Row []any

// MonitorSites is Jetmon's jetpack_monitor_sites table in schema, as the
// bridge's own tests create it (bridge.Schema).
func MonitorSites(schema string) *Table {
	return &Table{Schema: schema, Name: bridge.Table, Columns: []Column{
		{Name: "jetpack_monitor_site_id", Type: LongLong, Unsigned: true, PrimaryKey: true},
		{Name: "blog_id", Type: LongLong, Unsigned: true},
		{Name: "bucket_no", Type: Short, Unsigned: true},
		{Name: "monitor_url", Type: Varchar, Length: 300 * 4},
		{Name: "monitor_active", Type: Tiny, Unsigned: true},
		{Name: "site_status", Type: Tiny, Unsigned: true},
		{Name: "last_status_change", Type: Timestamp2, Nullable: true},
		{Name: "check_interval", Type: Tiny, Unsigned: true},
	}}
}

// SiteRow is a row of MonitorSites holding m (bucket 0, check interval 5;
// a zero LastStatusChange is NULL).
func SiteRow(m bridge.Monitor) Row {
	var changed any
	if !m.LastStatusChange.IsZero() {
		changed = m.LastStatusChange
	}
	active := uint8(0)
	if m.Active {
		active = 1
	}
	return Row{m.SiteID, m.BlogID, uint16(0), m.URL, active, uint8(m.Status), changed, uint8(5)}
}

// primaryKey is the index of the primary key column, or -1.
func (t *Table) primaryKey() int {
	for i, c := range t.Columns {
		if c.PrimaryKey {
			return i
		}
	}
	return -1
}

// column returns the index of the named column, or -1.
func (t *Table) column(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// tableMapBody is a TABLE_MAP_EVENT's body: table id, flags, schema and
// table names (length-prefixed, NUL-ended), column count, column types,
// the columns' metadata, the nullable columns' bitmap, then the optional
// metadata as type-length-value fields.
func (t *Table) tableMapBody(id uint64) []byte {
	b := appendTableID(nil, id)
	b = binary.LittleEndian.AppendUint16(b, 1) // TM_BIT_LEN_EXACT_F
	b = append(b, byte(len(t.Schema)))
	b = append(b, t.Schema...)
	b = append(b, 0, byte(len(t.Name)))
	b = append(b, t.Name...)
	b = append(b, 0)
	b = appendPacked(b, uint64(len(t.Columns)))
	var meta []byte
	for _, c := range t.Columns {
		b = append(b, byte(c.Type))
		switch c.Type {
		case Varchar:
			meta = binary.LittleEndian.AppendUint16(meta, uint16(c.Length))
		case Timestamp2, Datetime2:
			meta = append(meta, byte(c.Length))
		}
	}
	b = appendPacked(b, uint64(len(meta)))
	b = append(b, meta...)
	nulls := make([]byte, (len(t.Columns)+7)/8)
	for i, c := range t.Columns {
		if c.Nullable {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, nulls...)
	return append(b, t.optionalMetadata()...)
}

// Optional metadata field types (MySQL's Table_map_event::Optional_metadata_field_type).
const (
	metaSignedness       = 1
	metaDefaultCharset   = 2
	metaColumnName       = 4
	metaSimplePrimaryKey = 8
	metaColumnVisibility = 12
)

func (t *Table) optionalMetadata() []byte {
	field := func(b []byte, typ byte, v []byte) []byte {
		b = append(b, typ)
		b = appendPacked(b, uint64(len(v)))
		return append(b, v...)
	}
	var b []byte
	// Signedness: one bit per numeric column, most significant bit first,
	// set when unsigned.
	var numeric []bool
	hasText := false
	for _, c := range t.Columns {
		if c.Type.numeric() {
			numeric = append(numeric, c.Unsigned)
		}
		hasText = hasText || c.Type == Varchar
	}
	if len(numeric) > 0 {
		bits := make([]byte, (len(numeric)+7)/8)
		for i, unsigned := range numeric {
			if unsigned {
				bits[i/8] |= 0x80 >> (i % 8)
			}
		}
		b = field(b, metaSignedness, bits)
	}
	if hasText {
		b = field(b, metaDefaultCharset, appendPacked(nil, 255)) // utf8mb4_0900_ai_ci
	}
	if !t.FullMetadata {
		return b
	}
	var names []byte
	for _, c := range t.Columns {
		names = appendPacked(names, uint64(len(c.Name)))
		names = append(names, c.Name...)
	}
	b = field(b, metaColumnName, names)
	if pk := t.primaryKey(); pk >= 0 {
		b = field(b, metaSimplePrimaryKey, appendPacked(nil, uint64(pk)))
	}
	visible := make([]byte, (len(t.Columns)+7)/8)
	for i := range t.Columns {
		visible[i/8] |= 0x80 >> (i % 8)
	}
	return field(b, metaColumnVisibility, visible)
}

// rowsBody is a v2 rows event's body: table id, flags (end of statement),
// the extra data's length (2: none), the column count, the columns present
// (all: binlog_row_image=FULL; twice for an update), then each row image:
// a NULL bitmap and the values of the columns that are not NULL.
func (t *Table) rowsBody(id uint64, update bool, rows []Row) ([]byte, error) {
	b := appendTableID(nil, id)
	b = binary.LittleEndian.AppendUint16(b, rowsStmtEnd)
	b = binary.LittleEndian.AppendUint16(b, 2)
	n := len(t.Columns)
	b = appendPacked(b, uint64(n))
	present := make([]byte, (n+7)/8)
	for i := range n {
		present[i/8] |= 1 << (i % 8)
	}
	b = append(b, present...)
	if update {
		b = append(b, present...)
	}
	for _, r := range rows {
		if len(r) != n {
			return nil, fmt.Errorf("%s.%s has %d columns, the row %d values", t.Schema, t.Name, n, len(r))
		}
		nulls := make([]byte, (n+7)/8)
		var vals []byte
		for i, c := range t.Columns {
			if r[i] == nil {
				if !c.Nullable {
					return nil, fmt.Errorf("column %s is NOT NULL", c.Name)
				}
				nulls[i/8] |= 1 << (i % 8)
				continue
			}
			var err error
			if vals, err = appendValue(vals, c, r[i]); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
		b = append(b, nulls...)
		b = append(b, vals...)
	}
	return b, nil
}

// appendValue appends v in the row image format of column c.
func appendValue(b []byte, c Column, v any) ([]byte, error) {
	switch c.Type {
	case Tiny, Short, Long, LongLong:
		n, err := integer(v)
		if err != nil {
			return nil, err
		}
		width := map[ColumnType]int{Tiny: 1, Short: 2, Long: 4, LongLong: 8}[c.Type]
		for i := range width {
			b = append(b, byte(n>>(8*i)))
		}
		return b, nil
	case Varchar:
		var s []byte
		switch x := v.(type) {
		case string:
			s = []byte(x)
		case []byte:
			s = x
		default:
			return nil, fmt.Errorf("VARCHAR value %T", v)
		}
		if len(s) > c.Length {
			return nil, fmt.Errorf("%d bytes exceed VARCHAR's %d", len(s), c.Length)
		}
		if c.Length < 256 {
			b = append(b, byte(len(s)))
		} else {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		}
		return append(b, s...), nil
	case Timestamp2, Datetime2:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("time value %T", v)
		}
		t = t.UTC()
		if c.Type == Timestamp2 {
			b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
		} else {
			ym := uint64(t.Year()*13 + int(t.Month()))
			packed := uint64(1)<<39 | ym<<22 | uint64(t.Day())<<17 | uint64(t.Hour())<<12 | uint64(t.Minute())<<6 | uint64(t.Second())
			for i := 4; i >= 0; i-- {
				b = append(b, byte(packed>>(8*i)))
			}
		}
		return appendFraction(b, c.Length, t.Nanosecond()/1000), nil
	}
	return nil, fmt.Errorf("column type %d is not written by the scripted server", c.Type)
}

// appendFraction appends the fractional seconds of a TIMESTAMP2 or
// DATETIME2 with fsp digits: (fsp+1)/2 big-endian bytes, of the value cut
// to fsp digits as the column stores it.
func appendFraction(b []byte, fsp, micros int) []byte {
	for range 6 - min(fsp, 6) {
		micros /= 10
	}
	for range 6 - min(fsp, 6) {
		micros *= 10
	}
	switch fsp {
	case 1, 2:
		return append(b, byte(micros/10000))
	case 3, 4:
		v := micros / 100
		return append(b, byte(v>>8), byte(v))
	case 5, 6:
		return append(b, byte(micros>>16), byte(micros>>8), byte(micros))
	}
	return b
}

func integer(v any) (uint64, error) {
	switch n := v.(type) {
	case int:
		return uint64(n), nil
	case int8:
		return uint64(n), nil
	case int16:
		return uint64(n), nil
	case int32:
		return uint64(n), nil
	case int64:
		return uint64(n), nil
	case uint:
		return uint64(n), nil
	case uint8:
		return uint64(n), nil
	case uint16:
		return uint64(n), nil
	case uint32:
		return uint64(n), nil
	case uint64:
		return n, nil
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("integer value %T", v)
}
