package binlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// rowDecoder turns the row images of the followed table's rows events into
// Monitors. It reads the six columns the bridge uses straight from the
// event's bytes, stepping over the others (imagePlan says how), and lets
// go-mysql decode the event in full whenever the plan cannot be followed.
// Both ways give the same Monitors (rowimage_test.go); the selective one
// allocates nothing but the URLs and is several times faster.
type rowDecoder struct {
	plan *imagePlan
	url  string // the last URL read: an update's two images share it
}

var errTruncated = errors.New("row image is truncated")

// images appends the Monitors of e's row images to dst, in the event's
// order (an update's before and after images alternate). evType is the
// event's type; lay is the table's layout as the follower knows it, used
// when the table map does not name the columns (binlog_row_metadata other
// than FULL).
func (d *rowDecoder) images(e *replication.RowsEvent, evType replication.EventType, lay layout, dst []bridge.Monitor) ([]bridge.Monitor, error) {
	plan, err := d.planFor(e.Table, lay)
	if err != nil {
		return dst, err
	}
	body, isDeferred := deferred(e)
	if isDeferred && plan.selective && evType != replication.PARTIAL_UPDATE_ROWS_EVENT &&
		e.ColumnCount == uint64(len(plan.cols)) {
		return d.selective(plan, e, evType, body, dst)
	}
	if isDeferred {
		if err := e.DecodeData(body.pos, body.data); err != nil {
			return dst, err
		}
	}
	return plan.lay.decodeRows(e, dst)
}

// planFor returns the plan for table's row images, reusing the last one
// while the table and layout stay the same.
func (d *rowDecoder) planFor(table *replication.TableMapEvent, lay layout) (*imagePlan, error) {
	if len(table.ColumnName) > 0 {
		// binlog_row_metadata=FULL names the columns: trust the event.
		if d.plan != nil && len(d.plan.names) > 0 && d.plan.matches(table, d.plan.lay) {
			return d.plan, nil
		}
		named, err := newLayout(table.ColumnNameString())
		if err != nil {
			return nil, err
		}
		lay = named
	} else if int(table.ColumnCount) != len(lay.names) {
		return nil, &layoutMismatchError{binlog: int(table.ColumnCount), layout: lay.names}
	}
	if d.plan == nil || !d.plan.matches(table, lay) {
		d.plan = newImagePlan(table, lay)
	}
	return d.plan, nil
}

// layoutMismatchError says a table map's columns are not the layout the
// rows were to be decoded by.
type layoutMismatchError struct {
	binlog int
	layout []string
}

func (e *layoutMismatchError) Error() string {
	return fmt.Sprintf("%s has %d columns in the binlog but %d in the layout the bridge knows (%v): "+
		"set binlog_row_metadata=FULL on the replica so rows name their columns",
		bridge.Table, e.binlog, len(e.layout), e.layout)
}

// decodeRows reads the rows go-mysql decoded in full.
func (l *layout) decodeRows(e *replication.RowsEvent, dst []bridge.Monitor) ([]bridge.Monitor, error) {
	for i, row := range e.Rows {
		if i < len(e.SkippedColumns) {
			for _, c := range e.SkippedColumns[i] {
				if l.needs(c) {
					return dst, errMissingColumn(l.names[c])
				}
			}
		}
		m, err := l.decodeRow(row)
		if err != nil {
			return dst, err
		}
		dst = append(dst, m)
	}
	return dst, nil
}

// needs reports whether column i is one the bridge reads.
func (l *layout) needs(i int) bool {
	return i == l.site || i == l.blog || i == l.url || i == l.active || i == l.status || i == l.changed
}

func errMissingColumn(name string) error {
	return fmt.Errorf("row images of %s lack column %s: set binlog_row_image=FULL on the replica", bridge.Table, name)
}

// selective decodes a deferred body by plan.
func (d *rowDecoder) selective(plan *imagePlan, e *replication.RowsEvent, evType replication.EventType, body *deferredRows, dst []bridge.Monitor) ([]bridge.Monitor, error) {
	data := body.data[body.pos:]
	switch evType {
	case replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		var err error
		if data, err = mysql.DecompressMariadbData(data); err != nil {
			return dst, fmt.Errorf("decompress rows: %w", err)
		}
	}
	// go-mysql reads every image with the first bitmap, unless the event
	// has a second (an update's after images).
	bitmaps := [2][]byte{e.ColumnBitmap1, e.ColumnBitmap1}
	if e.ColumnBitmap2 != nil {
		bitmaps[1] = e.ColumnBitmap2
	}
	for n := 0; len(data) > 0; n++ {
		m, size, err := d.image(plan, data, bitmaps[n%2])
		if err != nil {
			return dst, err
		}
		dst = append(dst, m)
		data = data[size:]
	}
	return dst, nil
}

// image reads one row image at the start of data, whose columns are those
// set in bitmap, and returns it with its size.
func (d *rowDecoder) image(plan *imagePlan, data, bitmap []byte) (m bridge.Monitor, size int, err error) {
	cols := plan.cols
	if len(bitmap)*8 < len(cols) {
		return m, 0, errTruncated
	}
	present := 0
	for _, b := range bitmap[:len(cols)/8] {
		present += bits.OnesCount8(b)
	}
	if rest := len(cols) % 8; rest != 0 {
		present += bits.OnesCount8(bitmap[len(cols)/8] & (1<<rest - 1))
	}
	nulls := (present + 7) / 8
	if len(data) < nulls {
		return m, 0, errTruncated
	}
	nullBitmap, pos, nullIndex := data[:nulls], nulls, 0
	for i := range cols {
		c := &cols[i]
		if bitmap[i>>3]&(1<<(i&7)) == 0 {
			if c.role != roleNone {
				return m, 0, errMissingColumn(plan.lay.names[i])
			}
			continue
		}
		isNull := nullBitmap[nullIndex>>3]&(1<<(nullIndex&7)) != 0
		nullIndex++
		if isNull {
			if c.role != roleNone && c.role != roleChanged {
				return m, 0, nullError(c.role)
			}
			continue // a NULL last_status_change is the zero time
		}
		n := c.width
		if c.kind == kindPrefixed {
			if len(data)-pos < c.width {
				return m, 0, errTruncated
			}
			n += int(littleEndian(data[pos : pos+c.width]))
		}
		if n < 0 || len(data)-pos < n {
			return m, 0, errTruncated
		}
		if c.role != roleNone {
			if err := d.read(&m, c, data[pos:pos+n]); err != nil {
				return m, 0, err
			}
		}
		pos += n
	}
	return m, pos, nil
}

// read sets the field of c's role from its value v.
func (d *rowDecoder) read(m *bridge.Monitor, c *imageColumn, v []byte) error {
	switch c.role {
	case roleURL:
		s := v[c.width:]
		if string(s) != d.url {
			d.url = string(s)
		}
		m.URL = d.url
		return nil
	case roleChanged:
		m.LastStatusChange = readTime(c, v)
		return nil
	}
	n := littleEndian(v)
	if c.kind == kindInt24 && c.signed && n&0x800000 != 0 {
		n |= 0xFF000000 // go-mysql's int32, as toUint reads it
	}
	switch c.role {
	case roleSite:
		m.SiteID = n
	case roleBlog:
		m.BlogID = n
	case roleActive:
		m.Active = n != 0
	case roleStatus:
		m.Status = bridge.Status(n)
		if n > 255 || !m.Status.Valid() {
			return fmt.Errorf("site_status %d is not a Jetmon status", n)
		}
	}
	return nil
}

// readTime reads a temporal value as go-mysql (with ParseTime) and
// layout.decodeRow would: zero where go-mysql gives a string (the zero
// date, a date before 1970 or with a zero month or day).
func readTime(c *imageColumn, v []byte) time.Time {
	switch c.kind {
	case kindTimestamp:
		if sec := binary.LittleEndian.Uint32(v); sec != 0 {
			return time.Unix(int64(sec), 0).UTC()
		}
	case kindTimestamp2:
		sec := int64(binary.BigEndian.Uint32(v))
		if sec != 0 {
			return time.Unix(sec, fraction(v[4:], c.frac)*1000).UTC()
		}
	case kindDatetime:
		packed := binary.LittleEndian.Uint64(v)
		if packed == 0 {
			return time.Time{}
		}
		date, clock := packed/1000000, packed%1000000
		year, month, day := int(date/10000), int(date%10000)/100, int(date%100)
		if month == 0 || day == 0 {
			return time.Time{}
		}
		return time.Date(year, time.Month(month), day, int(clock/10000), int(clock%10000)/100, int(clock%100), 0, time.UTC)
	case kindDatetime2:
		// The 1970-01-01 00:00:00 in DATETIME2's packing: go-mysql gives
		// earlier dates as strings.
		const epoch = 107420450816
		intPart := int64(bigEndian(v[:5])) - 0x8000000000
		if intPart < epoch {
			return time.Time{}
		}
		frac := fraction(v[5:], c.frac)
		ymdhms := (intPart<<24 + frac) >> 24
		ymd, hms := ymdhms>>17, ymdhms%(1<<17)
		day, month, year := int(ymd%(1<<5)), int((ymd>>5)%13), int((ymd>>5)/13)
		if month == 0 || day == 0 {
			return time.Time{}
		}
		return time.Date(year, time.Month(month), day, int(hms>>12), int((hms>>6)%(1<<6)), int(hms%(1<<6)), int(frac*1000), time.UTC)
	}
	return time.Time{}
}

// fraction reads the microseconds stored after a TIMESTAMP2 or DATETIME2
// value of the given precision.
func fraction(v []byte, digits int) int64 {
	switch digits {
	case 1, 2:
		return int64(v[0]) * 10000
	case 3, 4:
		return int64(binary.BigEndian.Uint16(v)) * 100
	case 5, 6:
		return int64(bigEndian(v[:3]))
	}
	return 0
}

func littleEndian(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	var n uint64
	for i, x := range b {
		n |= uint64(x) << (8 * i)
	}
	return n
}

func bigEndian(b []byte) uint64 {
	var n uint64
	for _, x := range b {
		n = n<<8 | uint64(x)
	}
	return n
}

// nullError is decodeRow's complaint about a NULL in a column of role r.
func nullError(r columnRole) error {
	switch r {
	case roleURL:
		return errors.New("monitor_url: unexpected <nil>")
	case roleSite:
		return errors.New("jetpack_monitor_site_id: NULL")
	case roleBlog:
		return errors.New("blog_id: NULL")
	case roleActive:
		return errors.New("monitor_active: NULL")
	}
	return errors.New("site_status: NULL")
}
