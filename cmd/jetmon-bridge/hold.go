package main

import (
	"context"

	"github.com/automattic/jetmon-bridge/server"
)

// resyncedNow is POST /journal/resynced and the Monitor's resynced call:
// the operator's word that the replica's table was re-synchronized, which
// lifts the hold on coverage (binlog.Follower.Resynced); ended early only
// by the caller or by the daemon stopping.
func (f *follower) resyncedNow(daemon context.Context) server.ResyncedFunc {
	return func(ctx context.Context) any {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(daemon, cancel)
		defer stop()
		return f.follower.Resynced(ctx)
	}
}

// holdHealth adds /healthz's coverage_hold (since, reason, fix, and with
// -primary-dsn the last comparison with the primary) while coverage is
// held.
func (f *follower) holdHealth(extra map[string]any) {
	if h, held := f.follower.Hold(); held {
		extra["coverage_hold"] = h
	}
}

// coverageHeld is /metrics' jetmon_bridge_coverage_held.
func (f *follower) coverageHeld() bool {
	_, held := f.follower.Hold()
	return held
}
