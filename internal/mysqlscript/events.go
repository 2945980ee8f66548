package mysqlscript

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MySQL binlog event types this server writes (MySQL's Log_event_type).
const (
	typeQuery         = 2
	typeRotate        = 4
	typeFormatDesc    = 15
	typeXID           = 16
	typeTableMap      = 19
	typeHeartbeat     = 27
	typeWriteRowsV2   = 30
	typeUpdateRowsV2  = 31
	typeDeleteRowsV2  = 32
	typeGTID          = 33
	typePreviousGTIDs = 35
	typeXAPrepare     = 38
	typeHeartbeatV2   = 41
)

// Event header layout: timestamp(4) type(1) server_id(4) event_size(4)
// log_pos(4) flags(2). log_pos is the position just past the event.
const (
	headerLen   = 19
	checksumLen = 4
	// flagArtificial marks events the dump thread makes up (the rotate it
	// sends before each file); their log_pos is 0.
	flagArtificial = 0x20
	// rowsStmtEnd ends a statement's rows events (STMT_END_F).
	rowsStmtEnd = 0x0001
	// tableIDSize is MySQL 8's table id width in table map and rows events.
	tableIDSize = 6
)

// encoder writes events as one server writes them: its server_id, and a
// CRC32 checksum after each event unless binlog_checksum=NONE.
type encoder struct {
	serverID uint32
	checksum bool
}

// event frames body as an event of type typ ending at logPos.
func (e encoder) event(typ byte, ts time.Time, logPos uint32, flags uint16, body []byte) []byte {
	return frame(typ, e.serverID, ts, logPos, flags, body, e.checksum)
}

func frame(typ byte, serverID uint32, ts time.Time, logPos uint32, flags uint16, body []byte, checksum bool) []byte {
	size := headerLen + len(body)
	if checksum {
		size += checksumLen
	}
	b := make([]byte, headerLen, size)
	var secs uint32
	if !ts.IsZero() {
		secs = uint32(ts.Unix())
	}
	binary.LittleEndian.PutUint32(b[0:], secs)
	b[4] = typ
	binary.LittleEndian.PutUint32(b[5:], serverID)
	binary.LittleEndian.PutUint32(b[9:], uint32(size))
	binary.LittleEndian.PutUint32(b[13:], logPos)
	binary.LittleEndian.PutUint16(b[17:], flags)
	b = append(b, body...)
	if checksum {
		b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// eventSize is the size an event with a body of n bytes takes.
func (e encoder) eventSize(n int) uint32 {
	if e.checksum {
		return uint32(headerLen + n + checksumLen)
	}
	return uint32(headerLen + n)
}

// formatDescriptionBody is a FORMAT_DESCRIPTION_EVENT's body: binlog
// version 4, the server version, the creation time (0 unless the file was
// the first after the server started), the header length and each event
// type's post-header length, then the checksum algorithm (1, CRC32; 0,
// off). The trailing 4 bytes are the checksum, or room for it when
// checksums are off, as MySQL always writes them.
func formatDescriptionBody(version string, created uint32, checksum bool) []byte {
	b := binary.LittleEndian.AppendUint16(nil, 4)
	v := make([]byte, 50)
	copy(v, version)
	b = append(b, v...)
	b = binary.LittleEndian.AppendUint32(b, created)
	b = append(b, headerLen)
	b = append(b, postHeaderLengths(version)...)
	if checksum {
		b = append(b, 1)
	} else {
		b = append(b, 0, 0, 0, 0, 0) // algorithm off, and the checksum's room
	}
	return b
}

// postHeaderLengths is MySQL 8's table of post-header lengths, one byte per
// event type from 1. 8.4 dropped the v1 rows events (their slots stay, as
// 0) and added GTID_TAGGED_LOG_EVENT (42); 8.0 ends at
// HEARTBEAT_LOG_EVENT_V2 (41). Slot 40 (TRANSACTION_PAYLOAD_EVENT) holds
// 40, as MySQL writes it.
func postHeaderLengths(version string) []byte {
	v84 := versionAtLeast(version, 8, 4)
	rowsV1 := byte(8)
	if v84 {
		rowsV1 = 0
	}
	types := 41
	if v84 {
		types = 42
	}
	fdeLen := byte(2 + 50 + 4 + 1 + types)
	l := []byte{
		0, 13, 0, 8, 0, 0, 0, 0, 4, 0, // 1-10: start v3, query, stop, rotate, intvar, load, slave, create file, append block, exec load
		4, 0, 0, 0, fdeLen, 0, 4, 26, 8, 0, // 11-20: delete file, new load, rand, user var, format description, xid, begin load query, execute load query, table map, pre-GA write
		0, 0, rowsV1, rowsV1, rowsV1, 2, 0, 0, 0, 10, // 21-30: pre-GA update/delete, v1 rows x3, incident, heartbeat, ignorable, rows query, write v2
		10, 10, 42, 42, 0, 18, 52, 0, 10, 40, // 31-40: update/delete v2, gtid, anonymous gtid, previous gtids, transaction context, view change, xa prepare, partial update, transaction payload
		0, // 41: heartbeat v2
	}
	if v84 {
		l = append(l, 0) // 42: gtid tagged
	}
	return l
}

// versionAtLeast compares a "major.minor.patch..." version.
func versionAtLeast(version string, major, minor int) bool {
	var ma, mi int
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, mi = atoi(parts[0]), atoi(parts[1])
	return ma > major || ma == major && mi >= minor
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// versionNumber is a version as MySQL packs it in GTID events: 80403.
func versionNumber(version string) uint32 {
	parts := strings.SplitN(version, ".", 3)
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return uint32(atoi(parts[0])*10000 + atoi(parts[1])*100 + atoi(parts[2]))
}

// rotateBody names the next file and where in it the stream continues.
func rotateBody(file string, pos uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, pos)
	return append(b, file...)
}

// previousGTIDsBody is the GTID set executed before a file: the number of
// source UUIDs, then each UUID with its intervals [start, stop).
func previousGTIDsBody(set gtidSet) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(set)))
	for _, src := range set.sources() {
		b = append(b, src.uuid[:]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(src.intervals)))
		for _, iv := range src.intervals {
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.start))
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.stop))
		}
	}
	return b
}

// gtidBody is a GTID_LOG_EVENT's body (MySQL 8.0.14 and later): flags,
// source UUID, transaction number, the logical clock (type 2,
// last_committed, sequence_number), the commit timestamp in microseconds
// (7 bytes; original and immediate are the same here), the transaction's
// length in bytes (a packed integer) and the server version (4 bytes).
// Flag 1 (may have statements) marks a DDL transaction.
func gtidBody(u uuid.UUID, gno int64, ddl bool, lastCommitted, seq int64, commit time.Time, txnLen uint64, version string) []byte {
	var flags byte
	if ddl {
		flags = 1
	}
	b := []byte{flags}
	b = append(b, u[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(gno))
	b = append(b, 2)
	b = binary.LittleEndian.AppendUint64(b, uint64(lastCommitted))
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	us := uint64(commit.UnixMicro())
	for i := range 7 {
		b = append(b, byte(us>>(8*i)))
	}
	b = appendPacked(b, txnLen)
	return binary.LittleEndian.AppendUint32(b, versionNumber(version))
}

// gtidBodyLen is the length gtidBody takes for a transaction length.
func gtidBodyLen(txnLen uint64) int {
	return 1 + 16 + 8 + 1 + 16 + 7 + len(appendPacked(nil, txnLen)) + 4
}

// Query event status variable codes (MySQL's Query_event).
const (
	qFlags2             = 0
	qSQLMode            = 1
	qCatalog            = 6
	qCharset            = 4
	qUpdatedDBNames     = 12
	qDDLLoggedWithXID   = 17
	qDefaultCollation   = 18
	qSQLRequirePK       = 19
	qDefaultTableCrypto = 20
)

// queryBody is a QUERY_EVENT's body: thread id, execution time, the length
// of the default database, error code and the status variables' length,
// then the status variables, the database (NUL-ended) and the statement.
// A DDL statement carries the databases it updates and the XID it was
// logged with, as MySQL 8 writes them.
func queryBody(db, sql string, ddl bool, xid uint64) []byte {
	var sv []byte
	sv = append(sv, qFlags2)
	sv = binary.LittleEndian.AppendUint32(sv, 0)
	sv = append(sv, qSQLMode)
	sv = binary.LittleEndian.AppendUint64(sv, 1168113696) // MySQL 8's default sql_mode, as mysqlbinlog prints it
	sv = append(sv, qCatalog, 3)
	sv = append(sv, "std"...)
	sv = append(sv, qCharset)
	sv = binary.LittleEndian.AppendUint16(sv, 255) // utf8mb4_0900_ai_ci: client, connection, server
	sv = binary.LittleEndian.AppendUint16(sv, 255)
	sv = binary.LittleEndian.AppendUint16(sv, 255)
	if ddl {
		if db != "" {
			sv = append(sv, qUpdatedDBNames, 1)
			sv = append(sv, db...)
			sv = append(sv, 0)
		}
		sv = append(sv, qDDLLoggedWithXID)
		sv = binary.LittleEndian.AppendUint64(sv, xid)
	}
	sv = append(sv, qDefaultCollation)
	sv = binary.LittleEndian.AppendUint16(sv, 255)
	if ddl {
		sv = append(sv, qSQLRequirePK, 0, qDefaultTableCrypto, 0)
	}
	b := binary.LittleEndian.AppendUint32(nil, 8) // thread id
	b = binary.LittleEndian.AppendUint32(b, 0)    // exec time
	b = append(b, byte(len(db)))
	b = binary.LittleEndian.AppendUint16(b, 0) // error code
	b = binary.LittleEndian.AppendUint16(b, uint16(len(sv)))
	b = append(b, sv...)
	b = append(b, db...)
	b = append(b, 0)
	return append(b, sql...)
}

// xidBody is an XID_EVENT's body: the transaction's XID.
func xidBody(xid uint64) []byte { return binary.LittleEndian.AppendUint64(nil, xid) }

// xaPrepareBody is an XA_PREPARE_LOG_EVENT's body: one phase (1 byte), the
// XID's format id, gtrid and bqual lengths (4 bytes each), then gtrid and
// bqual.
func xaPrepareBody(x XID, onePhase bool) []byte {
	var b []byte
	if onePhase {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, x.FormatID)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(x.GTRID)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(x.BQual)))
	b = append(b, x.GTRID...)
	return append(b, x.BQual...)
}

// heartbeatV2Body is a HEARTBEAT_LOG_EVENT_V2's body: a field for the file
// name and one for the position (a packed integer), each as type, length,
// value, then the end mark. Version 2 exists because the v1 header's
// log_pos has only 32 bits.
func heartbeatV2Body(file string, pos uint64) []byte {
	b := []byte{1, byte(len(file))}
	b = append(b, file...)
	p := appendPacked(nil, pos)
	b = append(b, 2, byte(len(p)))
	b = append(b, p...)
	return append(b, 0)
}

// appendPacked appends n as MySQL's packed (length-encoded) integer.
func appendPacked(b []byte, n uint64) []byte {
	switch {
	case n < 251:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 0xfc, byte(n), byte(n>>8))
	case n < 1<<24:
		return append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), n)
}

// appendTableID appends a 6-byte table id.
func appendTableID(b []byte, id uint64) []byte {
	for i := range tableIDSize {
		b = append(b, byte(id>>(8*i)))
	}
	return b
}
