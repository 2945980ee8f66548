package mysqlscript

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// result encodes rows as a result set in the text protocol (COM_QUERY) or
// the binary one (COM_STMT_EXECUTE). A column's type comes from its first
// value that is not NULL: integers are BIGINT (unsigned for Go's unsigned
// types), times TIMESTAMP, the rest VARCHAR.
func (r *Rows) result(binaryProtocol bool) (*gomysql.Result, error) {
	rs := &gomysql.Resultset{Fields: make([]*gomysql.Field, len(r.Columns))}
	for i, name := range r.Columns {
		f := &gomysql.Field{Name: []byte(name), OrgName: []byte(name), Type: gomysql.MYSQL_TYPE_VAR_STRING, Charset: 255, ColumnLength: 1024}
		for _, row := range r.Values {
			if i >= len(row) || row[i] == nil {
				continue
			}
			switch v := row[i].(type) {
			case uint, uint8, uint16, uint32, uint64:
				f.Type, f.Charset, f.Flag, f.ColumnLength = gomysql.MYSQL_TYPE_LONGLONG, 63, gomysql.BINARY_FLAG|gomysql.UNSIGNED_FLAG, 20
			case int, int8, int16, int32, int64, bool:
				f.Type, f.Charset, f.Flag, f.ColumnLength = gomysql.MYSQL_TYPE_LONGLONG, 63, gomysql.BINARY_FLAG, 20
			case time.Time:
				f.Type, f.Charset, f.Flag, f.ColumnLength = gomysql.MYSQL_TYPE_TIMESTAMP, 63, gomysql.BINARY_FLAG, 26
				if v.Nanosecond() != 0 {
					f.Decimal = 6
				}
			}
			break
		}
		rs.Fields[i] = f
	}
	for _, row := range r.Values {
		if len(row) != len(r.Columns) {
			return nil, fmt.Errorf("scripted row has %d values for %d columns", len(row), len(r.Columns))
		}
		var data []byte
		var err error
		if binaryProtocol {
			data, err = binaryRow(rs.Fields, row)
		} else {
			data, err = textRow(row)
		}
		if err != nil {
			return nil, err
		}
		rs.RowDatas = append(rs.RowDatas, data)
	}
	return &gomysql.Result{Resultset: rs}, nil
}

func textRow(row []any) ([]byte, error) {
	var b []byte
	for _, v := range row {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		var s []byte
		switch x := v.(type) {
		case string:
			s = []byte(x)
		case []byte:
			s = x
		case bool:
			s = []byte("0")
			if x {
				s = []byte("1")
			}
		case time.Time:
			layout := "2006-01-02 15:04:05"
			if x.Nanosecond() != 0 {
				layout += ".000000"
			}
			s = []byte(x.UTC().Format(layout))
		default:
			n, err := integer(v)
			if err != nil {
				return nil, err
			}
			switch v.(type) {
			case int, int8, int16, int32, int64:
				s = strconv.AppendInt(nil, int64(n), 10)
			default:
				s = strconv.AppendUint(nil, n, 10)
			}
		}
		b = appendPacked(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// binaryRow is a binary protocol row: a 0 byte, the NULL bitmap (offset
// by 2 bits), then each value by its column's type.
func binaryRow(fields []*gomysql.Field, row []any) ([]byte, error) {
	nulls := make([]byte, (len(row)+7+2)/8)
	var vals []byte
	for i, v := range row {
		if v == nil {
			nulls[(i+2)/8] |= 1 << ((i + 2) % 8)
			continue
		}
		switch fields[i].Type {
		case gomysql.MYSQL_TYPE_LONGLONG:
			n, err := integer(v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", fields[i].Name, err)
			}
			vals = binary.LittleEndian.AppendUint64(vals, n)
		case gomysql.MYSQL_TYPE_TIMESTAMP:
			t, ok := v.(time.Time)
			if !ok {
				return nil, fmt.Errorf("column %s: time value %T", fields[i].Name, v)
			}
			t = t.UTC()
			vals = append(vals, 11)
			vals = binary.LittleEndian.AppendUint16(vals, uint16(t.Year()))
			vals = append(vals, byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()))
			vals = binary.LittleEndian.AppendUint32(vals, uint32(t.Nanosecond()/1000))
		default:
			s, err := textRow([]any{v})
			if err != nil {
				return nil, err
			}
			vals = append(vals, s...)
		}
	}
	b := append([]byte{0}, nulls...)
	return append(b, vals...), nil
}
