package mysqlscript

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// showBinlogEvents is MySQL's SHOW BINLOG EVENTS [IN 'file'] [FROM pos]
// [LIMIT [offset,] count].
var showBinlogEvents = regexp.MustCompile(`(?i)^SHOW BINLOG EVENTS(?: IN '([^']*)')?(?: FROM (\d+))?(?: LIMIT (?:(\d+)\s*,\s*)?(\d+))?$`)

// eventTypeNames are the Event_type SHOW BINLOG EVENTS gives the events
// this server writes.
var eventTypeNames = map[byte]string{
	typeQuery: "Query", typeRotate: "Rotate", typeFormatDesc: "Format_desc", typeXID: "Xid", typeTableMap: "Table_map",
	typeWriteRowsV2: "Write_rows", typeUpdateRowsV2: "Update_rows", typeDeleteRowsV2: "Delete_rows", typeGTID: "Gtid",
	34: "Anonymous_Gtid", typePreviousGTIDs: "Previous_gtids", typeXAPrepare: "XA_prepare",
}

// binlogEvents answers SHOW BINLOG EVENTS from the binlog as MySQL does:
// a row per event from the one starting at FROM (the file's first by
// default), with a query event's statement and default database in Info
// ("use `db`; statement"), the other events' Info left empty.
func (s *Server) binlogEvents(m []string) (*Rows, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[0]
	if m[1] != "" {
		f = nil
		for _, file := range s.files {
			if file.name == m[1] {
				f = file
			}
		}
	}
	if f == nil { // purged, or never written
		return nil, gomysql.NewError(gomysql.ER_ERROR_WHEN_EXECUTING_COMMAND, "Error when executing command SHOW BINLOG EVENTS: Could not find target log")
	}
	from, _ := strconv.ParseUint(m[2], 10, 32)
	offset, _ := strconv.Atoi(m[3])
	limit := -1
	if m[4] != "" {
		limit, _ = strconv.Atoi(m[4])
	}
	r := NoRows("Log_name", "Pos", "Event_type", "Server_id", "End_log_pos", "Info")
	for _, e := range f.entries {
		if e.raw == nil {
			continue // a stream marker
		}
		start := e.end - uint32(len(e.raw))
		if uint64(start) < from {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		if limit >= 0 && len(r.Values) == limit {
			break
		}
		name, ok := eventTypeNames[e.typ]
		if !ok {
			name = fmt.Sprintf("Unknown_%d", e.typ)
		}
		var info string
		if e.typ == typeQuery {
			info = s.queryInfo(e.raw)
		}
		r.Values = append(r.Values, []any{f.name, uint64(start), name, uint64(s.opts.ServerID), uint64(e.end), info})
	}
	return r, nil
}

// queryInfo is a query event's Info: its statement, after "use `db`; "
// when it ran in a default database.
func (s *Server) queryInfo(raw []byte) string {
	body := raw[headerLen:]
	if s.enc.checksum {
		body = body[:len(body)-checksumLen]
	}
	dbLen := int(body[8])
	statusLen := int(binary.LittleEndian.Uint16(body[11:]))
	rest := body[13+statusLen:]
	db, stmt := string(rest[:dbLen]), string(rest[dbLen+1:])
	if db == "" {
		return stmt
	}
	return "use `" + db + "`; " + stmt
}
