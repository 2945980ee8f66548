package mysqlscript

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// useHeartbeatV2 is the dump flag asking for HEARTBEAT_LOG_EVENT_V2.
const useHeartbeatV2 = 1 << 1

// dumpRequest is a COM_BINLOG_DUMP or COM_BINLOG_DUMP_GTID.
type dumpRequest struct {
	gtid  bool
	set   gtidSet // the GTIDs the client has (GTID dumps)
	file  string
	pos   uint32
	flags uint16
}

// parseDump reads a dump command: COM_BINLOG_DUMP is pos(4) flags(2)
// server_id(4) file; COM_BINLOG_DUMP_GTID is flags(2) server_id(4)
// name_len(4) file pos(8) data_len(4) data.
func parseDump(cmd byte, data []byte) (dumpRequest, error) {
	malformed := gomysql.NewError(gomysql.ER_MALFORMED_PACKET, "malformed dump command")
	var r dumpRequest
	if cmd == gomysql.COM_BINLOG_DUMP {
		if len(data) < 10 {
			return r, malformed
		}
		r.pos = binary.LittleEndian.Uint32(data)
		r.flags = binary.LittleEndian.Uint16(data[4:])
		r.file = string(data[10:])
		return r, nil
	}
	r.gtid = true
	if len(data) < 10 {
		return r, malformed
	}
	r.flags = binary.LittleEndian.Uint16(data)
	n := int(binary.LittleEndian.Uint32(data[6:]))
	p := 10
	if len(data) < p+n+12 {
		return r, malformed
	}
	r.file = string(data[p : p+n])
	p += n
	r.pos = uint32(binary.LittleEndian.Uint64(data[p:]))
	p += 8
	m := int(binary.LittleEndian.Uint32(data[p:]))
	p += 4
	if len(data) < p+m {
		return r, malformed
	}
	set, err := decodeGTIDSet(data[p : p+m])
	if err != nil {
		return r, gomysql.NewError(gomysql.ER_MALFORMED_PACKET, err.Error())
	}
	r.set = set
	return r, nil
}

// fatal is the error a dump ends with, as MySQL's dump thread reports its
// fatal errors: ER_MASTER_FATAL_ERROR_READING_BINLOG (1236).
func fatal(format string, args ...any) error {
	return gomysql.NewError(gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, fmt.Sprintf(format, args...))
}

// sender is one dump's progress, as MySQL's Binlog_sender keeps it.
type sender struct {
	c        *conn
	req      dumpRequest
	period   time.Duration // @master_heartbeat_period; 0: no heartbeats
	v2       bool
	checksum bool // the events the sender makes up carry checksums
	file     *binlogFile
	pos      uint32 // how far the sender has read in file
	// Skipping (GTID dumps): inGroup while the events read belong to a
	// transaction the client has; excludeEnd is the position after the
	// last skipped event not yet announced by a heartbeat.
	inGroup    bool
	excludeEnd uint32
}

// dump streams the binlog to the connection until it closes or the
// server stops, as MySQL's dump thread does: for each file a fake rotate
// naming it, its format description, then its events; a GTID dump starts
// at the last file whose Previous_gtids the client has, skipping the
// transactions it has, with a heartbeat before the first event sent after
// a skip (and at the end of what could be read while skipping); at the end
// of the binlog it waits, sending a heartbeat every heartbeat period.
func (c *conn) dump(req dumpRequest) error {
	s := c.s
	s.record(req.describe())
	snd := &sender{c: c, req: req, v2: s.opts.HeartbeatV2 || req.flags&useHeartbeatV2 != 0}
	if ns, err := strconv.ParseInt(c.vars["master_heartbeat_period"], 10, 64); err == nil && ns > 0 {
		snd.period = time.Duration(ns)
	}
	// The client's @master_binlog_checksum says it understands checksums;
	// its value is the algorithm of the first fake rotate, sent before any
	// format description says the binlog's (go-mysql sets NONE).
	alg, aware := c.vars["master_binlog_checksum"]
	if !aware {
		alg, aware = c.vars["source_binlog_checksum"]
	}
	snd.checksum = strings.EqualFold(alg, "CRC32")
	s.mu.Lock()
	idx, pos, err := s.startOf(req)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !aware && s.enc.checksum {
		return fatal("Replica can not handle replication events with the checksum that source is configured to log")
	}
	for {
		s.mu.Lock()
		if idx >= len(s.files) {
			s.mu.Unlock()
			return fatal("could not find next log")
		}
		snd.file = s.files[idx]
		s.mu.Unlock()
		if err := snd.sendFile(pos); err != nil {
			return err
		}
		idx, pos = idx+1, 4
	}
}

// startOf finds where a dump starts: the file index and position.
func (s *Server) startOf(req dumpRequest) (int, uint32, error) {
	if !req.gtid {
		for i, f := range s.files {
			if f.name == req.file {
				if req.pos < 4 {
					return 0, 0, fatal("Client requested source to start replication from position < 4")
				}
				if req.pos > f.end {
					return 0, 0, fatal("Client requested source to start replication from position > file size")
				}
				return i, req.pos, nil
			}
		}
		if req.file == "" && len(s.files) > 0 {
			return 0, 4, nil
		}
		return 0, 0, fatal("Could not find first log file name in binary log index file")
	}
	if s.opts.GTIDModeOff {
		return 0, 0, fatal("Request to dump GTID when @@GLOBAL.GTID_MODE <> ON.")
	}
	if !s.executed.containsSet(onlySource(req.set, s.uuid)) {
		return 0, 0, fatal("Slave has more GTIDs than the master has, using the master's SERVER_UUID. This may indicate that the end of the binary log was truncated or that the last binary log file was lost, e.g., after a power or disk failure when sync_binlog != 1. The master may or may not have rolled back transactions that were already replicated to the slave. Suggest to replicate any transactions that master has rolled back from slave to master, and/or commit empty transactions on master to account for transactions that have been committed on master but are not included in GTID_EXECUTED.")
	}
	if !req.set.containsSet(s.purged) {
		return 0, 0, fatal("Cannot replicate because the source purged required binary logs. Replicate the missing transactions from elsewhere, or provision a new replica from backup. Consider increasing the source's binary log expiration period. The GTID set sent by the replica is '%s', and the missing transactions are '%s'", req.set, s.purged.minus(req.set))
	}
	for i := len(s.files) - 1; i >= 0; i-- {
		if req.set.containsSet(s.files[i].prev) {
			return i, 4, nil
		}
	}
	return 0, 0, fatal("Cannot replicate because the source purged required binary logs.")
}

func onlySource(set gtidSet, u [16]byte) gtidSet {
	out := gtidSet{}
	if ivs, ok := set[u]; ok {
		out[u] = ivs
	}
	return out
}

// sendFile sends one file from pos: it returns once the file has been
// sent to its rotate event (nil), or with the error that ends the dump.
func (d *sender) sendFile(start uint32) error {
	f := d.file
	if err := d.send(d.fakeRotate(f.name, uint64(start))); err != nil {
		return err
	}
	d.pos = 4
	i := 0
	for {
		d.c.s.mu.Lock()
		if i >= len(f.entries) {
			rotated, grown := f.rotated, d.c.s.grown
			d.c.s.mu.Unlock()
			if rotated {
				return nil
			}
			if err := d.endOfBinlog(grown); err != nil {
				return err
			}
			continue
		}
		e := f.entries[i]
		d.c.s.mu.Unlock()
		i++
		switch {
		case e.typ == typeFormatDesc:
			if err := d.sendFormatDescription(e, start); err != nil {
				return err
			}
			d.pos = e.end
			continue
		case e.heartbeat:
			if err := d.heartbeat(d.pos); err != nil {
				return err
			}
			continue
		case e.pause != nil:
			if err := d.pause(e.pause); err != nil {
				return err
			}
			continue
		}
		if e.end-uint32(len(e.raw)) < start {
			d.pos = e.end // before where the client asked to start
			continue
		}
		d.pos = e.end
		if d.req.gtid {
			switch {
			case e.typ == typeGTID:
				d.inGroup = d.req.set.contains(e.gtid.uuid, e.gtid.gno)
			case e.typ == typeRotate:
				d.inGroup = false
			}
			if d.inGroup {
				d.excludeEnd = e.end
				continue
			}
			if d.excludeEnd != 0 {
				// Tells the client how far the skipped events reached.
				if err := d.heartbeat(d.excludeEnd); err != nil {
					return err
				}
				d.excludeEnd = 0
			}
		}
		if err := d.send(e.raw); err != nil {
			return err
		}
	}
}

// sendFormatDescription sends a file's format description. Starting past
// its transactions, a dump clears its creation time (so the client keeps
// its temporary tables), and a dump by position that starts mid-file also
// its log_pos (so the client does not take it for its position).
func (d *sender) sendFormatDescription(e entry, start uint32) error {
	raw := append([]byte(nil), e.raw...)
	changed := false
	if start > 4 {
		binary.LittleEndian.PutUint32(raw[13:], 0)
		binary.LittleEndian.PutUint32(raw[headerLen+2+50:], 0)
		changed = true
	} else if d.req.gtid && d.firstTxnSkipped() {
		binary.LittleEndian.PutUint32(raw[headerLen+2+50:], 0)
		changed = true
	}
	if changed && d.c.s.enc.checksum {
		binary.LittleEndian.PutUint32(raw[len(raw)-checksumLen:], crc32.ChecksumIEEE(raw[:len(raw)-checksumLen]))
	}
	if err := d.send(raw); err != nil {
		return err
	}
	d.checksum = d.c.s.enc.checksum
	return nil
}

// firstTxnSkipped reports whether the file's first transaction is one the
// client has.
func (d *sender) firstTxnSkipped() bool {
	d.c.s.mu.Lock()
	defer d.c.s.mu.Unlock()
	for _, e := range d.file.entries {
		if e.typ == typeGTID {
			return d.req.set.contains(e.gtid.uuid, e.gtid.gno)
		}
	}
	return false
}

// endOfBinlog is reached when the sender has read everything written so
// far. Skipping, it first tells the client how far it skipped; then it
// waits for more, sending a heartbeat every period.
func (d *sender) endOfBinlog(grown <-chan struct{}) error {
	if d.inGroup {
		d.inGroup, d.excludeEnd = false, 0
		if err := d.heartbeat(d.pos); err != nil {
			return err
		}
	}
	var tick <-chan time.Time
	if d.period > 0 {
		t := time.NewTicker(d.period)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-grown:
			return nil
		case <-tick:
			if err := d.heartbeat(d.pos); err != nil {
				return err
			}
		case <-d.c.done:
			return errClosed
		case <-d.c.s.closed:
			return errClosed
		}
	}
}

// pause stops the sender at p until it is released; skipping, it sends a
// heartbeat every period at the position it skipped to.
func (d *sender) pause(p *Pause) error {
	p.reach()
	var tick <-chan time.Time
	if d.inGroup && d.period > 0 {
		t := time.NewTicker(d.period)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.released:
			return nil
		case <-tick:
			if err := d.heartbeat(d.pos); err != nil {
				return err
			}
		case <-d.c.done:
			return errClosed
		case <-d.c.s.closed:
			return errClosed
		}
	}
}

// heartbeat sends a heartbeat at position pos of the current file: v1
// carries the position in its header's log_pos and the file name as its
// body; v2 carries both in its body.
func (d *sender) heartbeat(pos uint32) error {
	name := d.file.name
	ev := frame(typeHeartbeat, d.c.s.opts.ServerID, time.Time{}, pos, 0, []byte(name), d.checksum)
	if d.v2 {
		ev = frame(typeHeartbeatV2, d.c.s.opts.ServerID, time.Time{}, 0, 0, heartbeatV2Body(name, uint64(pos)), d.checksum)
	}
	if err := d.send(ev); err != nil {
		return err
	}
	s := d.c.s
	s.mu.Lock()
	s.heartbeats++
	s.notifyLocked()
	s.mu.Unlock()
	return nil
}

// fakeRotate is the rotate a dump sends before each file: timestamp and
// log_pos 0, flagged artificial, checksummed as the events before it (so
// the first one, before any format description, carries no checksum).
func (d *sender) fakeRotate(file string, pos uint64) []byte {
	return frame(typeRotate, d.c.s.opts.ServerID, time.Time{}, 0, flagArtificial, rotateBody(file, pos), d.checksum)
}

// send writes one event as a packet: an OK byte, then the event.
func (d *sender) send(ev []byte) error {
	select {
	case <-d.c.done:
		return errClosed
	default:
	}
	pkt := make([]byte, 4, 5+len(ev))
	pkt = append(pkt, gomysql.OK_HEADER)
	pkt = append(pkt, ev...)
	return d.c.sc.WritePacket(pkt)
}

// describe is a short form of a dump request for the statement log.
func (r dumpRequest) describe() string {
	if r.gtid {
		return "COM_BINLOG_DUMP_GTID " + strings.ReplaceAll(r.set.String(), "\n", "")
	}
	return fmt.Sprintf("COM_BINLOG_DUMP %s:%d", r.file, r.pos)
}
