package binlog

import (
	"bytes"

	"github.com/go-mysql-org/go-mysql/replication"
)

// deferredRows is the undecoded body of a rows event of the followed table.
// go-mysql would decode every value of every row of every table into boxed
// Go values as it parses; the follower's RowsEventDecodeFunc (deferRows)
// decodes only the event's header instead. Rows of other tables are then
// dropped undecoded, and the followed table's rows are decoded by the
// applier (rowDecoder), which knows the table's current layout, reading only
// the columns the bridge uses.
//
// go-mysql offers no field for a body left undecoded, so deferRows hands it
// over in the event's Rows: one row holding one value, the *deferredRows.
// rowDecoder either decodes it selectively or calls RowsEvent.DecodeData on
// it, go-mysql's own decoding, which replaces Rows with the decoded rows.
type deferredRows struct {
	pos  int    // where the rows start in data (after the event's header)
	data []byte // the event's post-header and body, as go-mysql received it
}

// deferRows returns go-mysql's RowsEventDecodeFunc for a follower of
// schema's table: it decodes the header of every rows event (which names
// the table) and defers the rows of that table; other tables' rows are
// never decoded.
func deferRows(schema, table string) func(*replication.RowsEvent, []byte) error {
	s, t := []byte(schema), []byte(table)
	return func(e *replication.RowsEvent, data []byte) error {
		pos, err := e.DecodeHeader(data)
		if err != nil {
			return err
		}
		if e.Table == nil || !bytes.Equal(e.Table.Table, t) || !bytes.Equal(e.Table.Schema, s) {
			return nil
		}
		e.Rows = [][]any{{&deferredRows{pos: pos, data: data}}}
		return nil
	}
}

// deferred returns the body deferRows left in e, if any.
func deferred(e *replication.RowsEvent) (*deferredRows, bool) {
	if len(e.Rows) != 1 || len(e.Rows[0]) != 1 {
		return nil, false
	}
	d, ok := e.Rows[0][0].(*deferredRows)
	return d, ok
}
