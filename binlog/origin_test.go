package binlog

import (
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestSourceRule tells the replication source's transactions from the
// replica's own writes and other sources', by GTID.
func TestSourceRule(t *testing.T) {
	mariadb := sourceRule{flavor: FlavorMariaDB, own: journal.ServerIdentity{ServerID: 11}, domains: []uint32{0, 3}, known: true}
	const primaryUUID, replicaUUID, otherUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562", "5e11fa47-71ca-11e1-9e33-c80aa9429562"
	mysqlRule := sourceRule{flavor: FlavorMySQL, own: journal.ServerIdentity{ServerID: 11, UUID: replicaUUID}, uuids: []string{primaryUUID}, known: true}
	cases := []struct {
		rule sourceRule
		gtid string
		want bool
	}{
		{mariadb, "0-1-139", true},   // the primary's
		{mariadb, "3-7-2", true},     // another server of a carried domain (a failover's new primary)
		{mariadb, "0-11-142", false}, // the replica's own write (FLUSH PRIVILEGES, ...)
		{mariadb, "5-2-9", false},    // a domain the connection does not carry (another source)
		{mariadb, "", false},         // no GTID
		{mariadb, "garbage", false},  // unreadable
		{sourceRule{flavor: FlavorMariaDB, own: journal.ServerIdentity{ServerID: 11}}, "0-1-139", false}, // nothing known of the source
		{mysqlRule, primaryUUID + ":42", true},
		{mysqlRule, "3E11FA47-71CA-11E1-9E33-C80AA9429562:42", true},
		{mysqlRule, primaryUUID + ":tag:42", true},
		{mysqlRule, replicaUUID + ":7", false}, // the replica's own
		{mysqlRule, otherUUID + ":7", false},   // another channel's source
		{mysqlRule, "", false},
	}
	for _, c := range cases {
		if got := c.rule.fromSource(c.gtid); got != c.want {
			t.Errorf("%s rule (own %+v, domains %v, uuids %v): fromSource(%q) = %v, want %v", c.rule.flavor, c.rule.own, c.rule.domains, c.rule.uuids, c.gtid, got, c.want)
		}
	}
}

// TestSourceCommitsClaim: a claim takes the latest commit time at or
// before the bound and forgets those commits; past its cap the tracker
// merges the oldest entries, claiming no more than they did, only later.
func TestSourceCommitsClaim(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 1, 2, 3, 4, s, 0, time.UTC) }
	var c sourceCommits
	c.add(Position{"bin.000001", 100}, at(1))
	c.add(Position{"bin.000001", 200}, at(3))
	c.add(Position{"bin.000001", 300}, at(2)) // timestamps need not grow
	c.add(Position{"bin.000002", 50}, at(4))
	if got := c.claim(Position{"bin.000001", 99}); !got.IsZero() {
		t.Errorf("claim before every commit = %v", got)
	}
	if got := c.claim(Position{"bin.000001", 300}); !got.Equal(at(3)) {
		t.Errorf("claim to bin.000001:300 = %v, want %v", got, at(3))
	}
	if got := c.claim(Position{"bin.000001", 999}); !got.IsZero() {
		t.Errorf("claimed commits claimed again: %v", got)
	}
	if got := c.claim(Position{"bin.000002", 50}); !got.Equal(at(4)) {
		t.Errorf("claim to bin.000002:50 = %v, want %v", got, at(4))
	}

	var capped sourceCommits
	for i := range maxPendingCommits + 10 {
		capped.add(Position{"bin.000001", uint32(100 + i)}, at(i%60))
	}
	if n := len(capped.pending); n != maxPendingCommits {
		t.Errorf("%d commits pending, want the cap %d", n, maxPendingCommits)
	}
	// The first ten merged into the eleventh: nothing before it is claimed.
	if got := capped.claim(Position{"bin.000001", 105}); !got.IsZero() {
		t.Errorf("a merged commit claimed before its merged position: %v", got)
	}
	if got := capped.claim(Position{"bin.000001", 110}); !got.Equal(at(10)) {
		t.Errorf("claim through the merged entry = %v, want %v", got, at(10))
	}
}

// TestGTIDSeqs: the follower's MariaDB GTIDs are kept per domain and
// server id, so the replica's own writes, however high their sequence
// numbers, never count as the primary's transactions.
func TestGTIDSeqs(t *testing.T) {
	s := newGTIDSeqs("0-1-139")
	primary := func(pos string) mysql.GTIDSet {
		set, err := mysql.ParseMariadbGTIDSet(pos)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	if !s.Contain(primary("0-1-139")) || s.Contain(primary("0-1-140")) {
		t.Fatal("0-1-139 committed")
	}
	for seq := uint64(140); seq <= 142; seq++ {
		s.add(&mysql.MariadbGTID{DomainID: 0, ServerID: 11, SequenceNumber: seq}) // the replica's own writes
	}
	if s.Contain(primary("0-1-140")) {
		t.Error("the replica's own 0-11-142 stands in for the primary's 0-1-140")
	}
	s.add(&mysql.MariadbGTID{DomainID: 0, ServerID: 1, SequenceNumber: 140})
	if !s.Contain(primary("0-1-140")) || s.Contain(primary("0-1-140,1-1-1")) {
		t.Error("0-1-140 committed, domain 1 not")
	}
	c := s.Clone()
	s.add(&mysql.MariadbGTID{DomainID: 0, ServerID: 1, SequenceNumber: 141})
	if c.Contain(primary("0-1-141")) {
		t.Error("a clone changed with its original")
	}
	if newGTIDSeqs("0-1-x") != nil {
		t.Error("an unreadable position read")
	}
}
