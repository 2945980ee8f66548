package soak

import (
	"context"
	"fmt"
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
