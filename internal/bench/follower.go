package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/store"
)

// runningFollower is the bridge's follower feeding a fresh journal in the
// background, as the daemon runs it.
type runningFollower struct {
	following *binlog.Following
	journal   *journal.Journal
	replica   *store.DB
	cancel    context.CancelFunc
	done      chan error
	stopOnce  sync.Once
	err       error
}

// startFollower opens a fresh journal at path and follows the database dsn
// names into it. It returns once the follower streams and the journal's
// coverage has begun, so that every later window is the journal's to answer.
func startFollower(ctx context.Context, dsn, path string, serverID uint32) (*runningFollower, error) {
	replica, err := store.Open("-dsn", dsn, 5*time.Second)
	if err != nil {
		return nil, err
	}
	// Opened as the daemon opens it (binlog.OpenFollowing): preflight, and
	// the coverage proof derived from the followed server's role at every
	// connection.
	fl, err := binlog.OpenFollowing(ctx, binlog.FollowingConfig{JournalPath: path, Replica: replica,
		ServerID: serverID, Timeout: 5 * time.Second, Heartbeat: time.Second, Logger: quietLogger()})
	if err != nil {
		replica.Close()
		return nil, err
	}
	j := fl.Journal
	r := &runningFollower{following: fl, journal: j, replica: replica, done: make(chan error, 1)}
	if err = r.run(ctx, fl.Follower); err != nil {
		r.stop()
		return nil, err
	}
	if spans := j.Spans(time.Time{}); len(spans) > 0 {
		time.Sleep(time.Until(spans[0].Start.Add(10 * time.Millisecond)))
	}
	return r, nil
}

func (r *runningFollower) run(ctx context.Context, f *binlog.Follower) error {
	fctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	ready := make(chan struct{})
	var once sync.Once
	go func() { r.done <- f.Run(fctx, func() { once.Do(func() { close(ready) }) }) }()
	select {
	case <-ready:
		return nil
	case err := <-r.done:
		r.done <- err
		return fmt.Errorf("follower: %v", err)
	case <-time.After(time.Minute):
		return fmt.Errorf("follower did not start")
	}
}

// stop ends the follower, closes the journal and the replica pool, and
// returns the follower's error; later calls return the same.
func (r *runningFollower) stop() error {
	r.stopOnce.Do(func() {
		if r.cancel != nil {
			r.cancel()
			r.err = <-r.done
		}
		r.following.Close()
		r.replica.Close()
	})
	return r.err
}
