package soak

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/automattic/jetmon-bridge/internal/testdb"
)

// Fault is a kind of fault the chaos driver injects.
type Fault string

// The faults, in the order the summary lists them.
const (
	FaultSIGKILL        Fault = "sigkill"
	FaultSIGSTOP        Fault = "sigstop"
	FaultReplicaRestart Fault = "replica-restart"
	FaultKillConnection Fault = "kill-connection"
	FaultRotate         Fault = "flush-binary-logs"
	FaultDiskFull       Fault = "disk-full"
)

// AllFaults lists every fault kind.
var AllFaults = []Fault{FaultSIGKILL, FaultSIGSTOP, FaultReplicaRestart, FaultKillConnection, FaultRotate, FaultDiskFull,
	FaultSQLThread, FaultIOThread, FaultReplicationBroken, FaultPrimaryRestart, FaultOverlap, FaultLocalWrites, FaultCommentedAlter}

// Outcome is what one injected fault did to the bridge.
type Outcome struct {
	Fault Fault
	// At is when the fault began, from the start of the faults.
	At time.Duration
	// Held is how long the fault lasted (a stall, an outage, a full disk).
	Held time.Duration
	// Recovery is how long the bridge took to be healthy and following
	// again after the fault ended (informational, never asserted); -1 when
	// the next fault came at once, before the bridge had recovered.
	Recovery time.Duration
	// Effect says what the bridge was seen to do.
	Effect string
}

func (o Outcome) String() string {
	s := fmt.Sprintf("%7.1fs %-18s", o.At.Seconds(), o.Fault)
	if o.Held > 0 {
		s += fmt.Sprintf(" held %.1fs,", o.Held.Seconds())
	}
	if o.Recovery < 0 {
		return s + " next fault before recovery: " + o.Effect
	}
	return s + fmt.Sprintf(" recovered in %.1fs: %s", o.Recovery.Seconds(), o.Effect)
}

// chaos injects faults into one bridge, the primary -> replica chain it
// follows, and its journal disk.
type chaos struct {
	rng       *rand.Rand
	br        *bridgetest.Process
	tp        *testdb.Topology
	server    *testdb.Server // the replica the bridge follows
	root      *sql.DB        // root on the replica, for KILL and FLUSH
	replUser  string
	sim       *simLoop
	disk      string // the journal's own filesystem; "" when none could be mounted
	heartbeat time.Duration
	start     time.Time
	swapped   bool // commentedAlter left site_status after monitor_url
}

// between returns a random duration in [lo, hi).
func (c *chaos) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(c.rng.Int64N(int64(hi-lo)))
}

// recoveryLimit bounds every wait for the bridge to recover: a hang
// detector, not a performance threshold. The supervisor's back-off alone
// may wait 10 s between attempts.
const recoveryLimit = 2 * time.Minute

// inject brings about fault f and, when settle is true, waits for the
// bridge to recover from it; otherwise the next fault may hit the bridge
// while it is still recovering.
func (c *chaos) inject(ctx context.Context, f Fault, settle bool) (Outcome, error) {
	o := Outcome{Fault: f, At: time.Since(c.start)}
	var err error
	var ended time.Time
	switch f {
	case FaultSIGKILL:
		ended, err = c.sigkill(ctx, &o)
	case FaultSIGSTOP:
		ended, err = c.sigstop(ctx, &o)
	case FaultReplicaRestart:
		ended, err = c.replicaRestart(ctx, &o)
	case FaultKillConnection:
		ended, err = c.killConnection(ctx, &o)
	case FaultRotate:
		ended, err = c.rotate(ctx, &o)
	case FaultDiskFull:
		ended, err = c.diskFull(ctx, &o)
	case FaultSQLThread:
		ended, err = c.stoppedThread(ctx, &o, "SQL_THREAD")
	case FaultIOThread:
		ended, err = c.stoppedThread(ctx, &o, "IO_THREAD")
	case FaultReplicationBroken:
		ended, err = c.replicationBroken(ctx, &o)
	case FaultPrimaryRestart:
		ended, err = c.primaryRestart(ctx, &o)
	case FaultOverlap:
		ended, err = c.overlapping(ctx, &o)
	case FaultLocalWrites:
		ended, err = c.localWrites(ctx, &o)
	case FaultCommentedAlter:
		ended, err = c.commentedAlter(ctx, &o)
	default:
		err = fmt.Errorf("unknown fault %q", f)
	}
	if err != nil {
		return o, fmt.Errorf("%s at %.1fs: %w", f, o.At.Seconds(), err)
	}
	if !settle {
		o.Recovery = -1
		return o, nil
	}
	if err := c.br.WaitReady(ctx, recoveryLimit); err != nil {
		return o, fmt.Errorf("%s at %.1fs: %w", f, o.At.Seconds(), err)
	}
	o.Recovery = time.Since(ended)
	return o, nil
}

func (c *chaos) followerFailures() int {
	return c.br.Output.Count(`msg="service failed`, "callsign=BinlogFollower")
}

func (c *chaos) sigkill(ctx context.Context, o *Outcome) (time.Time, error) {
	events := c.journalEvents(ctx)
	c.br.Kill()
	ended := time.Now()
	if err := startBridge(ctx, c.br); err != nil {
		return ended, err
	}
	o.Effect = fmt.Sprintf("killed with %d events journaled; restarted, resumed from the journal's checkpoint", events)
	return ended, nil
}

func (c *chaos) journalEvents(ctx context.Context) uint64 {
	h, _, _ := c.br.Health(ctx)
	return h.Journal.Events
}

func (c *chaos) sigstop(ctx context.Context, o *Outcome) (time.Time, error) {
	before := c.followerFailures()
	o.Held = 3*c.heartbeat + c.between(500*time.Millisecond, 3*time.Second)
	if err := c.br.Signal(syscall.SIGSTOP); err != nil {
		return time.Now(), err
	}
	time.Sleep(o.Held)
	if err := c.br.Signal(syscall.SIGCONT); err != nil {
		return time.Now(), err
	}
	ended := time.Now()
	// A stream that outlived the stall fails within three heartbeats of
	// silence, if it fails at all: look that long.
	look := time.Now().Add(3*c.heartbeat + time.Second)
	for time.Now().Before(look) && c.followerFailures() == before {
		time.Sleep(100 * time.Millisecond)
	}
	if n := c.followerFailures() - before; n > 0 {
		o.Effect = fmt.Sprintf("stalled past the silent-connection limit; the follower dropped its stream (%d failure(s)) and resumed from its checkpoint", n)
	} else {
		o.Effect = "stalled; the replication stream survived the stall and carried on"
	}
	return ended, nil
}

// replicaRestart stops the replica cleanly and starts it again; the
// simulator writes on the primary meanwhile, and replication resumes by
// itself from gtid_slave_pos.
func (c *chaos) replicaRestart(ctx context.Context, o *Outcome) (time.Time, error) {
	before := c.followerFailures()
	began := time.Now()
	c.server.Stop()
	stopped := time.Since(began)
	saw503 := false
	deadline := time.Now().Add(recoveryLimit)
	for !saw503 && time.Now().Before(deadline) {
		if _, code, err := c.br.Health(ctx); err == nil && code == 503 {
			saw503 = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(c.between(500*time.Millisecond, 2500*time.Millisecond))
	failed := c.followerFailures() - before
	if err := c.server.Restart(); err != nil {
		return time.Now(), fmt.Errorf("restart the replica: %w", err)
	}
	ended := time.Now()

	o.Held = ended.Sub(began)
	if !saw503 {
		return ended, errors.New("/healthz never answered 503 while the replica was down")
	}
	o.Effect = fmt.Sprintf("replica shut down in %.1fs; /healthz answered 503 while it was down; the follower failed %d time(s) and reconnected", stopped.Seconds(), failed)
	return ended, nil
}

// dumpThreads lists the replica's replication (binlog dump) connections.
func (c *chaos) dumpThreads(ctx context.Context) ([]int64, error) {
	rows, err := c.root.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", c.replUser)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (c *chaos) killConnection(ctx context.Context, o *Outcome) (time.Time, error) {
	var ids []int64
	deadline := time.Now().Add(recoveryLimit)
	for {
		var err error
		if ids, err = c.dumpThreads(ctx); err == nil && len(ids) == 1 {
			break
		}
		if time.Now().After(deadline) {
			return time.Now(), fmt.Errorf("the bridge's replication connection never showed in PROCESSLIST (%v, %v)", ids, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.root.ExecContext(ctx, fmt.Sprintf("KILL %d", ids[0])); err != nil {
		return time.Now(), fmt.Errorf("KILL %d: %w", ids[0], err)
	}
	ended := time.Now()
	for {
		now, err := c.dumpThreads(ctx)
		if err == nil && len(now) == 1 && now[0] != ids[0] {
			o.Effect = fmt.Sprintf("replication connection %d killed; the follower reconnected as %d and resumed from its checkpoint", ids[0], now[0])
			return ended, nil
		}
		if time.Now().After(deadline) {
			return ended, fmt.Errorf("no new replication connection after KILL %d (%v, %v)", ids[0], now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *chaos) rotate(ctx context.Context, o *Outcome) (time.Time, error) {
	if _, err := c.root.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return time.Now(), fmt.Errorf("FLUSH BINARY LOGS: %w", err)
	}
	ended := time.Now()
	var file string
	var pos, doDB, ignoreDB any
	if err := c.root.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		return ended, fmt.Errorf("SHOW MASTER STATUS: %w", err)
	}
	deadline := time.Now().Add(recoveryLimit)
	for {
		h, _, err := c.br.Health(ctx)
		if err == nil && h.Follower.Position >= file+":" {
			o.Effect = fmt.Sprintf("binlog rotated to %s; the follower followed into it (at %s)", file, h.Follower.Position)
			return ended, nil
		}
		if time.Now().After(deadline) {
			return ended, fmt.Errorf("the follower never reached the new binlog %s (at %q)", file, h.Follower.Position)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fillerName is the file that fills the journal's filesystem.
const fillerName = "filler"

func (c *chaos) diskFull(ctx context.Context, o *Outcome) (time.Time, error) {
	filler := filepath.Join(c.disk, fillerName)
	began := time.Now()
	filled, err := fill(filler)
	if err != nil {
		os.Remove(filler)
		return time.Now(), err
	}
	// Hold the disk full for a while, and on until a commit has failed for
	// want of space (bbolt first reuses its free pages), within a bound.
	hold := c.between(2*time.Second, 4*time.Second)
	var journalErr, position string
	behind := false
	for {
		h, _, err := c.br.Health(ctx)
		if err == nil && h.Journal.Error != "" && journalErr == "" {
			journalErr, position = h.Journal.Error, h.Follower.Position
		}
		if err == nil && journalErr != "" && h.Follower.ServerPosition != "" && h.Follower.Position != h.Follower.ServerPosition {
			behind = true
		}
		held := time.Since(began)
		if held >= hold && (journalErr != "" || held >= 30*time.Second) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := os.Remove(filler); err != nil {
		return time.Now(), fmt.Errorf("free the journal's disk: %w", err)
	}
	ended := time.Now()
	o.Held = ended.Sub(began)
	switch {
	case journalErr == "":
		o.Effect = fmt.Sprintf("filled with %d MiB; no commit needed a new page while full (bbolt reused free pages)", filled>>20)
	case behind:
		o.Effect = fmt.Sprintf("filled with %d MiB; commits failed (%s) and the follower held at %s, behind the server, until space returned; then it resumed", filled>>20, shortErr(journalErr), position)
	default:
		o.Effect = fmt.Sprintf("filled with %d MiB; commits failed (%s); resumed once space returned", filled>>20, shortErr(journalErr))
	}
	return ended, nil
}

// shortErr keeps the end of an error, which names the cause.
func shortErr(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return strings.TrimSpace(s[i+2:])
	}
	return s
}

// fill writes zeros to path until its filesystem is full.
func fill(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := make([]byte, 256<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			// Small writes take what the large ones left.
			for {
				if _, err := f.Write(chunk[:512]); err != nil {
					return n, nil
				}
				n += 512
			}
		}
		if err != nil {
			return n, fmt.Errorf("fill %s: %w", path, err)
		}
	}
}

// mountDisk mounts a tmpfs of size bytes on dir. A refusal for want of
// privilege comes back as errNoMount.
func mountDisk(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w: mount -t tmpfs on %s: %v", errNoMount, dir, err)
	}
	return err
}

var errNoMount = errors.New("a size-limited tmpfs cannot be mounted here (needs CAP_SYS_ADMIN)")

func unmountDisk(dir string) {
	if err := syscall.Unmount(dir, 0); err != nil {
		syscall.Unmount(dir, syscall.MNT_DETACH)
	}
}
