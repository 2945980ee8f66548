package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/internal/testdb"
	mysqlclient "github.com/go-mysql-org/go-mysql/client"
)

// The physical limit of following this server: a reader that asks for the
// same binlog stream as the follower (COM_BINLOG_DUMP from the same
// position) and parses each event's 19-byte header and nothing else: no
// row decoding, no table map, no channel, no journal, no read deadline.
// Nothing that follows the server can be faster, so the bridge's rate
// against it is how close the bridge comes to the server and the network
// (docs/BENCHMARKS.md, catch-up).

// Binlog event types the header reader tells apart (MySQL's
// Log_event_type; MariaDB shares them).
const (
	eventRotate       = 4
	eventUpdateRowsV1 = 24
	eventUpdateRowsV2 = 31
)

// HeaderCount is what the header reader saw.
type HeaderCount struct {
	// Events counts the events, UpdateRows the update-rows events among
	// them (of every table: the reader does not know tables).
	Events, UpdateRows int
	// Bytes counts the events' bytes.
	Bytes int64
}

// headerRead streams from..to with the replication protocol and parses
// only event headers. It returns its wall time from the dump request to
// the end position.
func headerRead(ctx context.Context, srv *testdb.Server, from, to binlog.Position, serverID uint32) (time.Duration, HeaderCount, error) {
	var count HeaderCount
	conn, err := mysqlclient.Connect(srv.Addr(), "root", "", "")
	if err != nil {
		return 0, count, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	// Events come with their checksums, as the follower gets them: the
	// server's setting, announced back to it.
	res, err := conn.Execute("SELECT @@global.binlog_checksum")
	if err != nil {
		return 0, count, err
	}
	checksum, _ := res.GetString(0, 0)
	for _, q := range []string{
		"SET @master_binlog_checksum = @@global.binlog_checksum",
		"SET @mariadb_slave_capability = 4",
	} {
		if _, err := conn.Execute(q); err != nil {
			return 0, count, fmt.Errorf("%s: %w", q, err)
		}
	}
	crc := 0
	if checksum != "" && checksum != "NONE" {
		crc = 4
	}
	// COM_BINLOG_DUMP: position (4), flags (2), server id (4), file name.
	dump := make([]byte, 4, 4+11+len(from.File))
	dump = append(dump, 0x12)
	dump = binary.LittleEndian.AppendUint32(dump, from.Pos)
	dump = binary.LittleEndian.AppendUint16(dump, 0)
	dump = binary.LittleEndian.AppendUint32(dump, serverID)
	dump = append(dump, from.File...)
	conn.ResetSequence()
	start := time.Now()
	if err := conn.WritePacket(dump); err != nil {
		return 0, count, fmt.Errorf("COM_BINLOG_DUMP: %w", err)
	}
	// The rest is read straight from the socket, past go-mysql's reader
	// (nothing is left in its buffer after a query's whole answer).
	raw := conn.Conn.Conn
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	r := bufio.NewReaderSize(raw, 1<<20)
	file := from.File
	var head [4 + 1 + 19]byte // packet header, status byte, event header
	var name []byte
	for {
		if _, err := io.ReadFull(r, head[:5]); err != nil {
			return 0, count, fmt.Errorf("read the stream after %d events: %w", count.Events, err)
		}
		length := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
		switch head[4] {
		case 0x00: // an event follows
		case 0xff:
			msg := make([]byte, length-1)
			io.ReadFull(r, msg)
			return 0, count, fmt.Errorf("the server ended the stream: %q", msg)
		default:
			return 0, count, fmt.Errorf("the server ended the stream (packet %#x) after %d events", head[4], count.Events)
		}
		if length < 20 {
			return 0, count, fmt.Errorf("a %d-byte event packet", length)
		}
		if _, err := io.ReadFull(r, head[5:]); err != nil {
			return 0, count, err
		}
		event := head[5:]
		kind := event[4]
		size := binary.LittleEndian.Uint32(event[9:13])
		logPos := binary.LittleEndian.Uint32(event[13:17])
		rest := length - 20
		count.Events++
		count.Bytes += int64(size)
		if kind == eventUpdateRowsV1 || kind == eventUpdateRowsV2 {
			count.UpdateRows++
		}
		next := ""
		if kind == eventRotate {
			// Position (8), the next file's name, the checksum (MariaDB
			// sends one on the first, artificial rotation too).
			body := make([]byte, rest)
			if _, err := io.ReadFull(r, body); err != nil {
				return 0, count, err
			}
			if crc > 0 && len(body) >= 8+crc {
				body = body[:len(body)-crc]
			}
			if len(body) > 8 {
				name = append(name[:0], body[8:]...)
				next = string(name)
			}
		} else if _, err := r.Discard(rest); err != nil {
			return 0, count, err
		}
		// An event of 16 MiB or more continues in further packets.
		for l := length; l == 0xffffff; {
			if _, err := io.ReadFull(r, head[:4]); err != nil {
				return 0, count, err
			}
			l = int(head[0]) | int(head[1])<<8 | int(head[2])<<16
			if _, err := r.Discard(l); err != nil {
				return 0, count, err
			}
		}
		// A rotation's position is in the file it ends.
		if logPos > 0 && (file > to.File || file == to.File && logPos >= to.Pos) {
			return time.Since(start), count, nil
		}
		if next != "" {
			file = next
		}
		if err := ctx.Err(); err != nil {
			return 0, count, err
		}
	}
}
