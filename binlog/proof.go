package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Vouch is a claim in the primary's time: every change the primary
// committed before At is in GTIDs when GTIDs is set, and otherwise already in
// the followed server's binlog. Once the follower has committed that much to
// the journal, the journal vouches for everything before At.
type Vouch struct {
	At    time.Time
	GTIDs mysql.GTIDSet
}

// Proof is how the follower learns what it may vouch for. There are three
// (docs/guarantees.md, "Coverage on a replica"):
//   - SelfProof: the followed server is the primary; its binlog end is now.
//   - *ReplicationWatch: the followed server is a replica; it vouches only up
//     to what its replication status proves it has applied.
//   - PrimaryProof: a read-only connection to the primary; its GTID position
//     at T, once the follower has committed it, vouches for T exactly.
type Proof interface {
	// Name is the proof's name in logs, /healthz and docs/guarantees.md.
	Name() string
	// Vouch returns the proof's current claim; a zero At claims nothing.
	Vouch(ctx context.Context) (Vouch, error)
	// Changed is closed (or sends) when Vouch may claim more; nil when a
	// claim never grows without being asked again.
	Changed() <-chan struct{}
}

// SelfProof vouches for now: the followed server is the primary, so its
// binlog holds everything committed so far.
type SelfProof struct{ Now func() time.Time }

func (SelfProof) Name() string { return "self" }

func (p SelfProof) Vouch(context.Context) (Vouch, error) { return Vouch{At: clock(p.Now)()}, nil }

func (SelfProof) Changed() <-chan struct{} { return nil }

// PrimaryProof reads the primary's GTID position (-primary-dsn, REPLICATION
// CLIENT is enough): everything the primary committed before the moment it
// asks is in that set, whatever the replica in between is doing.
type PrimaryProof struct {
	DB     *sql.DB
	Flavor Flavor
	// Interval paces the follower's background confirmations.
	Interval time.Duration
	Now      func() time.Time
}

func (PrimaryProof) Name() string { return "primary-gtid" }

func (p PrimaryProof) Vouch(ctx context.Context) (Vouch, error) {
	at := clock(p.Now)()
	pos, err := CurrentPosition(ctx, p.DB, p.Flavor)
	if err != nil {
		return Vouch{}, fmt.Errorf("read the primary's GTID position (-primary-dsn): %w", err)
	}
	set, err := mysql.ParseGTIDSet(string(p.Flavor), pos.GTIDSet)
	if err != nil {
		return Vouch{}, fmt.Errorf("the primary's GTID position %q: %w", pos.GTIDSet, err)
	}
	return Vouch{At: at, GTIDs: set}, nil
}

func (p PrimaryProof) Changed() <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(max(p.Interval, 10*time.Millisecond), func() { close(c) })
	return c
}

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
