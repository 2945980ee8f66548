package binlog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// The proof is derived from the followed server's role at every connection
// (docs/guarantees.md, "Roles change while running"): a server that
// replicates from none gets the self proof; a replica gets its replication
// watch, or with -primary-dsn the primary's GTID position (falling back to
// the watch while that server is no longer the primary). Within a
// connection each proof watches for the change that voids it: the self
// proof checks that the server still replicates from none, the watch that
// it still replicates, and either ends the connection (errRoleChanged) so
// that the next one derives the proof again.

// defaultPollInterval paces the replication watch, the self proof's role
// check and the primary proof's background confirmations: a claim trails
// the present by about this plus the replica's heartbeat period.
const defaultPollInterval = 500 * time.Millisecond

// errRoleChanged ends a connection whose server changed role.
var errRoleChanged = errors.New("the followed server's replication role changed")

// coverageInterrupted ends a connection on whose replica a filter may have
// dropped a change to the table.
type coverageInterrupted struct{ problem *FilterProblem }

func (c *coverageInterrupted) Error() string { return "replication filter: " + c.problem.Error() }

// connection is the follower's view of the server for one connection: who
// it is, what vouches for it, and the watches that end the connection when
// that stops being true. Its context is cancelled, with the reason as
// cause, when it must end.
type connection struct {
	id      journal.ServerIdentity
	flavor  Flavor
	proof   Proof
	self    *SelfProof        // the server is the primary
	watch   *ReplicationWatch // the server is a replica
	primary *primaryOrWatch   // a replica, with -primary-dsn
	commits sourceCommits

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

// rule is the source rule of the watch's latest reading.
func (c *connection) rule() sourceRule {
	if c.watch == nil {
		return sourceRule{}
	}
	st, have, _ := c.watch.Status()
	if !have {
		return sourceRule{}
	}
	return ruleFor(c.flavor, c.id, st)
}

// commitBound is the binlog position up to which source commits may be
// claimed (origin.go): the binlog end read before the watch's latest
// reading, when that reading and every one before it in the connection
// showed no filter that leaves the table out, and in-order commits.
func (c *connection) commitBound() (Position, bool) {
	if c.watch == nil || c.watch.Filtered() != nil {
		return Position{}, false
	}
	st, have, _ := c.watch.Status()
	if !have || st.Filtered != nil || !st.Ordered || st.BinlogEnd.File == "" {
		return Position{}, false
	}
	return st.BinlogEnd.Position, true
}

// close ends the connection's watches and waits for them.
func (c *connection) close() {
	c.cancel(context.Canceled)
	c.wg.Wait()
}

// connect reads the role of the server id and builds the connection's
// proof, with a first reading of a replica's status taken at once. The
// connection's watches run until close.
func (f *Follower) connect(ctx context.Context, id journal.ServerIdentity) (*connection, error) {
	flavor := f.cfg.Info.Flavor
	replica, err := isReplicating(ctx, f.db, flavor)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	c := &connection{id: id, flavor: flavor, ctx: cctx, cancel: cancel}
	interval := f.cfg.PollInterval
	if !replica {
		c.self = NewSelfProof(f.db, flavor, f.now)
		c.proof = c.self
		if f.cfg.Primary != nil {
			f.log.Warn(f.cfg.PrimaryFlag + " is not used: the followed server (-dsn) is not a replica, so its own binlog proves coverage")
		}
		c.wg.Go(func() {
			c.self.run(cctx, interval, f.cfg.Journal.ObserveClock, func(err error) {
				f.log.Warn("FOLLOWED SERVER CHANGED ROLE: it now replicates from another server; deriving the coverage proof again", "server", id.String())
				cancel(errRoleChanged)
			})
		})
	} else {
		if err := checkReplicaUpdates(ctx, f.db); err != nil {
			cancel(err)
			return nil, err
		}
		c.watch = newReplicationWatch(f.db, flavor, interval, f.now, f.log, watchTarget{database: f.dsn.DBName, ownServerID: id.ServerID})
		c.watch.read(ctx)
		c.proof = c.watch
		if f.cfg.Primary != nil {
			c.primary = &primaryOrWatch{
				primary: &PrimaryProof{DB: f.cfg.Primary.SQL(), Flavor: flavor, Flag: f.cfg.PrimaryFlag, Interval: interval, Host: f.now},
				watch:   c.watch, log: f.log,
			}
			c.proof = c.primary
		}
		c.wg.Go(func() { c.watch.Run(cctx) })
	}
	// The journal judges requests by this clock from now on.
	if clock, err := c.proof.Clock(ctx); err == nil {
		f.cfg.Journal.ObserveClock(clock)
	}
	f.mu.Lock()
	was := f.proofName
	f.conn, f.proofName = c, c.proof.Name()
	if c.watch != nil {
		f.lastWatch = c.watch
	} else {
		f.lastWatch = nil
	}
	f.mu.Unlock()
	if was != c.proof.Name() {
		f.log.Info("coverage proof", "coverage_proof", c.proof.Name(), "server", id.String(), "replica", replica)
	}
	return c, nil
}

// watchStream ends the connection, while it streams, at the first reading
// that shows a filter leaving the table out (coverageInterrupted) or that
// the server no longer replicates (errRoleChanged).
func (c *connection) watchStream(ctx context.Context) {
	if c.watch == nil {
		return
	}
	for {
		changed := c.watch.Changed()
		if p := c.watch.Filtered(); p != nil {
			c.cancel(&coverageInterrupted{problem: p})
			return
		}
		if _, _, err := c.watch.Status(); errors.Is(err, errNotReplica) {
			c.cancel(errRoleChanged)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// waitUnfiltered returns once a reading of the connection's watch shows no
// filter that leaves the table out, or the connection ends.
func (c *connection) waitUnfiltered() error {
	for {
		changed := c.watch.Changed()
		st, have, err := c.watch.Status()
		if errors.Is(err, errNotReplica) {
			return errRoleChanged
		}
		if have && err == nil && st.Filtered == nil {
			return nil
		}
		select {
		case <-c.ctx.Done():
			return context.Cause(c.ctx)
		case <-changed:
		}
	}
}

// ProofName is the coverage proof of the current (or last) connection,
// as /healthz shows it in follower.coverage_proof ("" before the first).
func (f *Follower) ProofName() string {
	f.mu.Lock()
	c := f.conn
	name := f.proofName
	f.mu.Unlock()
	if c != nil {
		return c.proof.Name()
	}
	return name
}

// Replication returns the followed replica's last replication reading
// (ok is false while the followed server is the primary, or before the
// first reading) and the last reading's error.
func (f *Follower) Replication() (st ReplicationStatus, ok bool, err error) {
	f.mu.Lock()
	w := f.lastWatch
	f.mu.Unlock()
	if w == nil {
		return ReplicationStatus{}, false, nil
	}
	st, have, err := w.Status()
	return st, have || err != nil, err
}

// ReplicationVouched is how far the replica's watch vouches (zero when it
// does not, or the followed server is the primary).
func (f *Follower) ReplicationVouched() time.Time {
	f.mu.Lock()
	w := f.lastWatch
	f.mu.Unlock()
	if w == nil {
		return time.Time{}
	}
	v, _ := w.Claim(context.Background())
	return v.At
}

// ProofProblem says why the configured -primary-dsn proof does not vouch
// ("" when it does, or none is configured).
func (f *Follower) ProofProblem() string {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	if c == nil || c.primary == nil {
		return ""
	}
	if r := c.primary.Refused(); r != nil {
		return r.Error()
	}
	return ""
}

// ReplicaProblem is the Replica service's health: why the followed
// replica's replication cannot be vouched for (nil when it can, or the
// followed server is the primary), or why coverage is held (hold.go).
func (f *Follower) ReplicaProblem() error {
	st, ok, err := f.Replication()
	if h, held := f.Hold(); held && (!ok || err == nil && st.Problem() == "") {
		return errors.New("coverage is held, as the replica's rows may be stale (" + h.Reason + "): " + h.Fix)
	}
	switch {
	case !ok:
		return nil
	case errors.Is(err, errNotReplica):
		return nil // the follower derives the proof again
	case err != nil:
		return errors.New("cannot read the replica's replication status: " + err.Error())
	case st.Problem() != "":
		return errors.New(st.Problem())
	}
	return nil
}

// PingReplica is the Replica service's health check: the replica answers
// and, when it replicates, replication runs without a filter that leaves
// the table out and coverage is not held (ReplicaProblem): stopped, broken,
// filtered or held, the service is Deactivated with the reason.
func (f *Follower) PingReplica(ctx context.Context) error {
	if err := f.cfg.Replica.Ping(ctx); err != nil {
		return err
	}
	return f.ReplicaProblem()
}
