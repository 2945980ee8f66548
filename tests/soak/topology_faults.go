package soak

import (
	"context"
	"fmt"
	bridge "github.com/automattic/jetmon-bridge"
	"strings"
	"time"
)

// Faults of the replication topology: the bridge follows a replica while
// the simulator writes on its primary.
const (
	FaultSQLThread         Fault = "sql-thread-stopped"
	FaultIOThread          Fault = "io-thread-stopped"
	FaultReplicationBroken Fault = "replication-broken"
	FaultPrimaryRestart    Fault = "primary-restart"
	FaultOverlap           Fault = "overlapping"
	// FaultLocalWrites commits on the replica itself (a DBA's FLUSH
	// PRIVILEGES, ANALYZE TABLE, a monitoring tool's table), half the time
	// while its SQL thread is stopped: commits that are not the source's
	// must move no coverage.
	FaultLocalWrites Fault = "replica-local-writes"
	// FaultCommentedAlter swaps site_status and monitor_active (one type)
	// on the primary by an ALTER that starts with a comment, or written as
	// an executable comment: a layout boundary no table map shows.
	FaultCommentedAlter Fault = "commented-alter"
)

// replicationHold is how long a replication fault lasts: long enough for
// the askers' recent windows to reach past what the replica applied.
func (c *chaos) replicationHold() time.Duration {
	return c.between(1500*time.Millisecond, 3*time.Second)
}

// holdThenHeal keeps a replication fault that began at began applied for
// a while (the askers go on throughout), heals it, and records what it
// did: describe says so with a %s for what /healthz reported meanwhile.
func (c *chaos) holdThenHeal(ctx context.Context, o *Outcome, began time.Time, heal func() error, describe string) (time.Time, error) {
	seen := ""
	deadline := time.Now().Add(c.replicationHold())
	for time.Now().Before(deadline) {
		if h, _, err := c.br.Health(ctx); err == nil && h.Replication != nil && h.Replication.Problem != "" && seen == "" {
			seen = fmt.Sprintf("/healthz reported %q", clipProblem(h.Replication.Problem))
			if h.Replication.VouchedTo != "" {
				seen += ", coverage vouched to " + h.Replication.VouchedTo
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen == "" {
		seen = "/healthz never reported the problem while it lasted"
	}
	if err := heal(); err != nil {
		return time.Now(), fmt.Errorf("heal the fault: %w", err)
	}
	ended := time.Now()
	o.Held = ended.Sub(began)
	o.Effect = fmt.Sprintf(describe, seen)
	return ended, nil
}

// stoppedThread stops one replication thread of the replica for a while,
// then starts replication again.
func (c *chaos) stoppedThread(ctx context.Context, o *Outcome, thread string) (time.Time, error) {
	r := c.tp.Replica()
	began := time.Now()
	if err := r.Exec("STOP SLAVE " + thread); err != nil {
		return began, fmt.Errorf("STOP SLAVE %s: %w", thread, err)
	}
	return c.holdThenHeal(ctx, o, began, r.StartReplication, "replica's "+thread+" stopped while the primary went on; %s; started again")
}

// replicationBroken makes the replica's SQL thread stop on a duplicate key,
// as a drifted replica's does, then repairs it. The simulator pauses while
// the conflict is planted (Break waits for the replica to catch up first).
func (c *chaos) replicationBroken(ctx context.Context, o *Outcome) (time.Time, error) {
	r := c.tp.Replica()
	if err := c.sim.pause(); err != nil {
		return time.Now(), err
	}
	began := time.Now()
	bctx, cancel := context.WithTimeout(ctx, recoveryLimit)
	err := r.Break(bctx)
	cancel()
	c.sim.resume()
	if err != nil {
		return time.Now(), fmt.Errorf("break replication: %w", err)
	}
	return c.holdThenHeal(ctx, o, began, r.Repair, "replication stopped on a duplicate-key error; %s; repaired")
}

// primaryRestart stops the primary cleanly and starts it again. The
// simulator pauses around it, so no statement's commit is left unknown.
func (c *chaos) primaryRestart(ctx context.Context, o *Outcome) (time.Time, error) {
	if err := c.sim.pause(); err != nil {
		return time.Now(), err
	}
	defer c.sim.resume()
	began := time.Now()
	c.tp.Primary.Stop()
	return c.holdThenHeal(ctx, o, began, c.tp.Primary.Restart, "primary shut down; %s; restarted, the replica reconnected")
}

// overlapping stops a replication thread and, while the replica lags,
// strikes the bridge (SIGKILL and a restart) or the replica (a clean
// restart); then starts replication again.
func (c *chaos) overlapping(ctx context.Context, o *Outcome) (time.Time, error) {
	r := c.tp.Replica()
	thread := []string{"SQL_THREAD", "IO_THREAD"}[c.rng.IntN(2)]
	began := time.Now()
	if err := r.Exec("STOP SLAVE " + thread); err != nil {
		return began, fmt.Errorf("STOP SLAVE %s: %w", thread, err)
	}
	time.Sleep(c.between(300*time.Millisecond, time.Second))
	var second Outcome
	var err error
	if c.rng.IntN(2) == 0 {
		_, err = c.sigkill(ctx, &second)
	} else {
		_, err = c.replicaRestart(ctx, &second)
	}
	if err != nil {
		return time.Now(), err
	}
	return c.holdThenHeal(ctx, o, began, r.StartReplication,
		"replica's "+thread+" stopped, and meanwhile: "+strings.ReplaceAll(second.Effect, "%", "%%")+"; %s; replication started again")
}

// clipProblem keeps a replication problem short enough for the summary.
func clipProblem(p string) string {
	if len(p) > 90 {
		return p[:90] + "..."
	}
	return p
}

// localWrites commits a local database, table and row, FLUSH PRIVILEGES
// and ANALYZE TABLE of the followed table on the replica, half the time
// while its SQL thread is stopped (then held a while and started again).
func (c *chaos) localWrites(ctx context.Context, o *Outcome) (time.Time, error) {
	r := c.tp.Replica()
	stopped := c.rng.IntN(2) == 0
	began := time.Now()
	if stopped {
		if err := r.StopSQLThread(); err != nil {
			return began, fmt.Errorf("STOP SLAVE SQL_THREAD: %w", err)
		}
	}
	local := "CREATE DATABASE IF NOT EXISTS soak_local; CREATE TABLE IF NOT EXISTS soak_local.t (id int PRIMARY KEY, at datetime(6)); " +
		"INSERT INTO soak_local.t VALUES (1, NOW(6)) ON DUPLICATE KEY UPDATE at = NOW(6); FLUSH PRIVILEGES; ANALYZE TABLE " + soakDB + "." + bridge.Table
	if err := r.Exec(local); err != nil {
		return began, fmt.Errorf("local writes on the replica: %w", err)
	}
	if !stopped {
		o.Effect = "local DDL, DML, FLUSH PRIVILEGES and ANALYZE TABLE committed on the replica while it replicated"
		return time.Now(), nil
	}
	return c.holdThenHeal(ctx, o, began, r.StartSQLThread, "replica's SQL_THREAD stopped, then local DDL, DML, FLUSH PRIVILEGES and ANALYZE TABLE committed on it; %s; started again")
}

// commentedAlter swaps site_status and monitor_active on the primary,
// under the simulator's writes, by an ALTER after a comment or as an
// executable comment, alternately (each undoes the other).
func (c *chaos) commentedAlter(ctx context.Context, o *Outcome) (time.Time, error) {
	stmt := "/* soak */ ALTER TABLE " + soakDB + "." + bridge.Table + " MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_url"
	if c.swapped {
		stmt = "/*!50000 ALTER TABLE `" + soakDB + "`.`" + bridge.Table + "` MODIFY site_status tinyint(1) unsigned NOT NULL DEFAULT 1 AFTER monitor_active */"
	}
	began := time.Now()
	if err := c.tp.Primary.Exec(stmt); err != nil {
		return began, fmt.Errorf("%s: %w", stmt, err)
	}
	c.swapped = !c.swapped
	o.Effect = fmt.Sprintf("the primary ran %q", stmt)
	return time.Now(), nil
}
