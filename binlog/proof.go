package binlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Claim is what a Proof says, in the primary's time: every change the
// primary committed before At is in GTIDs when GTIDs is set, and otherwise
// already in the followed server's binlog. Once the follower has committed that much to
// the journal, the journal vouches for everything before At. Clock is the
// reading of the server clock At was read from (zero when At is not a
// fresh reading), which the follower passes on to the journal.
type Claim struct {
	At    time.Time
	GTIDs mysql.GTIDSet
	Clock journal.ClockReading
}

// Proof is how the follower learns what it may claim (what the journal may
// then vouch for, once confirmed). The follower
// derives it from the followed server's role at every connection (role.go;
// docs/guarantees.md, "Coverage on a replica"):
//   - *SelfProof: the followed server is the primary; its binlog end is now.
//   - *ReplicationWatch: the followed server is a replica; it claims only up
//     to what its replication status proves it has applied.
//   - *PrimaryProof: a read-only connection to the primary; its GTID position
//     at T, once the follower has committed it, claims T exactly. While
//     that server is no longer the primary, the replica's watch claims
//     instead.
type Proof interface {
	// Name is the proof's name in logs, /healthz and docs/guarantees.md.
	Name() string
	// Claim returns the proof's current claim; a zero At claims nothing.
	Claim(ctx context.Context) (Claim, error)
	// Changed is closed (or sends) when Claim may claim more; nil when a
	// claim never grows without being asked again.
	Changed() <-chan struct{}
	// Clock reads the clock the proof's claims are in: where a new span's
	// start is read from.
	Clock(ctx context.Context) (journal.ClockReading, error)
}

// SelfProof claims now: the followed server is the primary, so its
// binlog holds everything committed so far. It holds only while the server
// is no replica: every claim checks that first, and a background check
// (run) notices a demotion between claims, which the follower answers by
// deriving the proof again.
type SelfProof struct {
	db     *sql.DB
	flavor Flavor
	host   func() time.Time

	mu       sync.Mutex
	verified time.Time // server time of the last check that found no replication
}

// NewSelfProof returns the proof of a followed server that is the primary.
func NewSelfProof(db *sql.DB, flavor Flavor, host func() time.Time) *SelfProof {
	return &SelfProof{db: db, flavor: flavor, host: hostClock(host)}
}

func (*SelfProof) Name() string { return "self" }

// Claim reads the server's clock, then checks that the server is not a
// replica: at the instant read it was the primary, and its binlog, read
// after it by the follower, holds everything committed before.
func (p *SelfProof) Claim(ctx context.Context) (Claim, error) {
	c, err := readServerClock(ctx, p.db, p.host)
	if err != nil {
		return Claim{}, err
	}
	if err := p.checkPrimary(ctx); err != nil {
		return Claim{}, err
	}
	p.mu.Lock()
	if c.Server.After(p.verified) {
		p.verified = c.Server
	}
	p.mu.Unlock()
	return Claim{At: c.Server, Clock: c}, nil
}

// errNoLongerPrimary: the followed server, vouched for by the self proof,
// now replicates from another.
var errNoLongerPrimary = errors.New("the followed server now replicates from another server: its binlog no longer holds everything the primary commits")

func (p *SelfProof) checkPrimary(ctx context.Context) error {
	replica, err := isReplicating(ctx, p.db, p.flavor)
	if err != nil {
		return err
	}
	if replica {
		return errNoLongerPrimary
	}
	return nil
}

// Verified returns the server time of the last check that found the
// server still the primary: a heartbeat, which carries no time of its own,
// vouches no further.
func (p *SelfProof) Verified() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified
}

func (*SelfProof) Changed() <-chan struct{} { return nil }

func (p *SelfProof) Clock(ctx context.Context) (journal.ClockReading, error) {
	return readServerClock(ctx, p.db, p.host)
}

// run checks the server's role every interval until ctx ends, passing
// each clock reading to observe, and calling demoted once it finds the
// server replicating.
func (p *SelfProof) run(ctx context.Context, interval time.Duration, observe func(journal.ClockReading), demoted func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		v, err := p.Claim(rctx)
		cancel()
		if errors.Is(err, errNoLongerPrimary) {
			demoted(err)
			return
		}
		if err == nil {
			observe(v.Clock)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PrimaryProof reads the primary's GTID position (-primary-dsn, REPLICATION
// CLIENT is enough, plus SLAVE MONITOR on MariaDB 10.5+ once the server has
// ever replicated): everything the primary committed before the moment it
// asks is in that set, whatever the replica in between is doing. The
// position and the primary's clock come from one statement.
//
// The claim holds only while the server is the primary: a server that
// replicates from another, or is read-only, is not where Jetmon writes, and
// PrimaryProof refuses to claim (NotPrimaryError).
type PrimaryProof struct {
	DB     *sql.DB
	Flavor Flavor
	// Flag names the setting the server came from in messages.
	Flag string
	// Interval paces the follower's background confirmations.
	Interval time.Duration
	// Host is the bridge host's clock (bounds of the clock reading).
	Host func() time.Time
}

func (*PrimaryProof) Name() string { return "primary-gtid" }

// NotPrimaryError says why the -primary-dsn server cannot claim.
type NotPrimaryError struct {
	Flag, Why string
}

func (e *NotPrimaryError) Error() string {
	return fmt.Sprintf("the %s server is no longer Jetmon's primary (%s), so its GTID position proves nothing about what Jetmon commits: "+
		"coverage falls back to the replica's own replication status; point %s at the new primary", e.Flag, e.Why, e.Flag)
}

func (p *PrimaryProof) Claim(ctx context.Context) (Claim, error) {
	q := "SELECT @@GLOBAL.gtid_executed, " + serverClockSQL + ", @@GLOBAL.read_only"
	if p.Flavor == FlavorMariaDB {
		q = "SELECT @@GLOBAL.gtid_binlog_pos, " + serverClockSQL + ", @@GLOBAL.read_only"
	}
	var pos string
	var us int64
	var readOnly bool
	before := hostClock(p.Host)()
	if err := p.DB.QueryRowContext(ctx, q).Scan(&pos, &us, &readOnly); err != nil {
		return Claim{}, fmt.Errorf("read the primary's GTID position (%s): %w", p.Flag, err)
	}
	c := journal.ClockReading{HostBefore: before, Server: unixMicros(us), HostAfter: hostClock(p.Host)()}
	replica, err := isReplicating(ctx, p.DB, p.Flavor)
	switch {
	case err != nil:
		return Claim{}, fmt.Errorf("read whether the %s server replicates: %w", p.Flag, err)
	case replica:
		return Claim{}, &NotPrimaryError{Flag: p.Flag, Why: "it replicates from another server"}
	case readOnly:
		return Claim{}, &NotPrimaryError{Flag: p.Flag, Why: "read_only=ON"}
	}
	pos = strings.ReplaceAll(pos, "\n", "")
	set, err := mysql.ParseGTIDSet(string(p.Flavor), pos)
	if err != nil {
		return Claim{}, fmt.Errorf("the primary's GTID position %q: %w", pos, err)
	}
	return Claim{At: c.Server, GTIDs: set, Clock: c}, nil
}

func (p *PrimaryProof) Changed() <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(max(p.Interval, 10*time.Millisecond), func() { close(c) })
	return c
}

func (p *PrimaryProof) Clock(ctx context.Context) (journal.ClockReading, error) {
	return readServerClock(ctx, p.DB, hostClock(p.Host))
}

// primaryOrWatch is the proof with -primary-dsn on a replica: the primary's
// GTID position while that server is the primary, the replica's watch while
// it is not (a failover moved the primary elsewhere and -primary-dsn still
// names the old one).
type primaryOrWatch struct {
	primary *PrimaryProof
	watch   *ReplicationWatch
	log     interface{ Warn(string, ...any) }

	mu      sync.Mutex
	refused *NotPrimaryError
}

func (p *primaryOrWatch) Name() string {
	if p.Refused() != nil {
		return p.watch.Name()
	}
	return p.primary.Name()
}

// Refused says why the primary proof does not claim now (nil while it does).
func (p *primaryOrWatch) Refused() *NotPrimaryError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *primaryOrWatch) Claim(ctx context.Context) (Claim, error) {
	v, err := p.primary.Claim(ctx)
	var np *NotPrimaryError
	p.mu.Lock()
	was := p.refused
	if errors.As(err, &np) {
		p.refused = np
	} else if err == nil {
		p.refused = nil
	}
	now := p.refused
	p.mu.Unlock()
	switch {
	case now != nil && was == nil:
		p.log.Warn("COVERAGE PROOF CHANGED: "+now.Error(), "proof", p.watch.Name())
	case now == nil && was != nil:
		p.log.Warn("COVERAGE PROOF CHANGED: the primary proof vouches again", "proof", p.primary.Name())
	}
	if now != nil {
		return p.watch.Claim(ctx)
	}
	return v, err
}

func (p *primaryOrWatch) Changed() <-chan struct{} {
	if p.Refused() != nil {
		return p.watch.Changed()
	}
	return p.primary.Changed()
}

func (p *primaryOrWatch) Clock(ctx context.Context) (journal.ClockReading, error) {
	if p.Refused() != nil {
		return p.watch.Clock(ctx)
	}
	c, err := p.primary.Clock(ctx)
	if err != nil {
		return p.watch.Clock(ctx)
	}
	return c, nil
}
