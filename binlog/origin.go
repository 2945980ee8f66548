package binlog

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Only the source's commits move coverage on a replica (docs/guarantees.md,
// "Coverage on a replica").
//
// On the primary (the self proof) every commit in the binlog is the
// primary's, in the primary's order, so a commit's timestamp is a durable
// end: everything committed before it precedes it in the binlog. A
// replica's binlog also holds its own writes (a DBA's FLUSH PRIVILEGES, a
// monitoring tool's table: GTIDs of the replica's own server_id or
// server_uuid) and, on a multi-source replica, other sources' transactions;
// they say nothing about what the primary committed. And a source commit's
// timestamp proves the source's earlier commits are in the binlog only if
// the replica commits in the source's order and applied it without a
// filter that may have dropped a change to the table.
//
// So under the replica proofs a commit's time becomes a claim only when:
//   - it came from the replication source: MariaDB, a GTID whose server id
//     is not the replica's own and whose domain the followed connection
//     carries (Gtid_IO_Pos); MySQL, a GTID whose UUID is not the replica's
//     own server_uuid and is in the channel's Retrieved_Gtid_Set;
//   - it lies at or before the replica's binlog end read just before a
//     replication status reading (ReplicationStatus.BinlogEnd) that showed
//     no such filter and in-order commits: it was applied before that
//     reading, under the filters the reading shows (filters change only
//     while the SQL thread is stopped, and the watch ends coverage at the
//     first reading that shows one);
//   - the follower has committed it to the journal.
//
// The claim is confirmed like any proof's (Journal.Confirm), and batches
// carry the confirmation as their durable end (coverCommit,
// coverHeartbeat). The self proof keeps commit timestamps as durable ends.

// sourceRule tells the source's transactions from the rest of a replica's
// binlog, by GTID.
type sourceRule struct {
	flavor  Flavor
	own     journal.ServerIdentity
	domains []uint32 // MariaDB: domains the followed connection carries
	uuids   []string // MySQL: source UUIDs of the channel (lower case)
	known   bool
}

// ruleFor is the source rule a replication status reading gives for the
// server own.
func ruleFor(flavor Flavor, own journal.ServerIdentity, st ReplicationStatus) sourceRule {
	return sourceRule{flavor: flavor, own: own, domains: st.SourceDomains, uuids: st.SourceUUIDs, known: st.SourceKnown}
}

// fromSource reports whether the transaction with this GTID (as
// announcedGTID spells it) came from the replication source. A transaction
// without a GTID never counts.
func (r sourceRule) fromSource(gtid string) bool {
	if gtid == "" || !r.known {
		return false
	}
	if r.flavor == FlavorMariaDB {
		g, err := mysql.ParseMariadbGTID(gtid)
		if err != nil || g.ServerID == r.own.ServerID {
			return false
		}
		for _, d := range r.domains {
			if d == g.DomainID {
				return true
			}
		}
		return false
	}
	sid, _, ok := strings.Cut(gtid, ":")
	if !ok {
		return false
	}
	sid = strings.ToLower(sid)
	if sid == strings.ToLower(r.own.UUID) {
		return false
	}
	for _, u := range r.uuids {
		if u == sid {
			return true
		}
	}
	return false
}

// sourceCommit is a source transaction the applier committed to a batch:
// the binlog position after it and its timestamp.
type sourceCommit struct {
	pos Position
	at  time.Time
}

// maxPendingCommits bounds sourceCommits: past it, the oldest two entries
// merge into one at the later position with the later time, which claims
// no more than both did, only later.
const maxPendingCommits = 1 << 14

// sourceCommits remembers the source commits not yet claimed, in binlog
// order, between the applier (add) and the follower's confirmations
// (claim).
type sourceCommits struct {
	mu      sync.Mutex
	pending []sourceCommit
}

func (c *sourceCommits) add(pos Position, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= maxPendingCommits {
		c.pending[1].at = maxTime(c.pending[0].at, c.pending[1].at)
		c.pending = c.pending[1:]
	}
	c.pending = append(c.pending, sourceCommit{pos, at})
}

// claim returns the latest time among the commits at or before bound (zero
// when none), and forgets them.
func (c *sourceCommits) claim(bound Position) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	n := 0
	for n < len(c.pending) && c.pending[n].pos.Compare(bound) <= 0 {
		at = maxTime(at, c.pending[n].at)
		n++
	}
	c.pending = c.pending[n:]
	return at
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// coverCommit is applier.commit's coverage hook: it decides what the
// committed transaction, whose GTID is gtid, does to the batch's durable
// end (see above).
func (a *applier) coverCommit(h *replication.EventHeader, gtid string) {
	at := time.Unix(int64(h.Timestamp), 0).UTC()
	c := a.conn
	if c == nil || c.watch == nil {
		// The followed server is the primary.
		if at.After(a.batch.CoveredTo) {
			a.batch.CoveredTo = at
		}
		return
	}
	if c.rule().fromSource(gtid) {
		c.commits.add(a.pos, at)
	}
	if conf := a.f.cfg.Journal.Confirmed().Truncate(time.Second); conf.After(a.batch.CoveredTo) {
		a.batch.CoveredTo = conf
	}
}

// coverReplicaHeartbeat is applier.heartbeat's hook on a replica, called
// once the batch is durable and outside a transaction: a heartbeat from a
// replica proves nothing of the primary, but while the stream idles it
// makes the last confirmation the span's durable end.
func (a *applier) coverReplicaHeartbeat() error {
	j := a.f.cfg.Journal
	if conf := j.Confirmed().Truncate(time.Second); conf.After(a.f.coveredTo()) {
		return j.Commit(&journal.Batch{CoveredTo: conf})
	}
	return nil
}

// gtidSeqs is the GTIDs a MariaDB follower has committed, as the last
// sequence number of every (domain, server id): the form in which a
// primary's gtid_binlog_pos can be checked against it. go-mysql's
// MariadbGTIDSet keeps one GTID per domain, so a replica's own write
// (0-11-142) would stand in for the primary's 0-1-140 it has not applied.
type gtidSeqs map[[2]uint32]uint64

// newGTIDSeqs reads a MariaDB GTID position (a checkpoint's); nil when it
// cannot be read.
func newGTIDSeqs(pos string) gtidSeqs {
	s := gtidSeqs{}
	for _, part := range splitGTIDs(pos) {
		g, err := mysql.ParseMariadbGTID(part)
		if err != nil {
			return nil
		}
		s.add(g)
	}
	return s
}

func (s gtidSeqs) add(g *mysql.MariadbGTID) {
	k := [2]uint32{g.DomainID, g.ServerID}
	s[k] = max(s[k], g.SequenceNumber)
}

// Contain reports whether every GTID of o (a MariaDB position) is
// committed: its (domain, server id) has reached its sequence number.
func (s gtidSeqs) Contain(o mysql.GTIDSet) bool {
	other, ok := o.(*mysql.MariadbGTIDSet)
	if !ok {
		return false
	}
	for _, g := range other.Sets {
		if s[[2]uint32{g.DomainID, g.ServerID}] < g.SequenceNumber {
			return false
		}
	}
	return true
}

func (s gtidSeqs) String() string {
	parts := make([]string, 0, len(s))
	for k, seq := range s {
		parts = append(parts, strconv.FormatUint(uint64(k[0]), 10)+"-"+strconv.FormatUint(uint64(k[1]), 10)+"-"+strconv.FormatUint(seq, 10))
	}
	return strings.Join(parts, ",")
}

func (s gtidSeqs) Encode() []byte { return []byte(s.String()) }

func (s gtidSeqs) Equal(o mysql.GTIDSet) bool {
	other, ok := o.(gtidSeqs)
	if !ok || len(other) != len(s) {
		return false
	}
	for k, v := range s {
		if other[k] != v {
			return false
		}
	}
	return true
}

func (s gtidSeqs) Update(str string) error {
	for _, part := range splitGTIDs(str) {
		g, err := mysql.ParseMariadbGTID(part)
		if err != nil {
			return err
		}
		s.add(g)
	}
	return nil
}

func (s gtidSeqs) Clone() mysql.GTIDSet {
	c := make(gtidSeqs, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

func (s gtidSeqs) IsEmpty() bool { return len(s) == 0 }
