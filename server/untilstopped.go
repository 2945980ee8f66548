package server

import (
	"context"

	"github.com/automattic/jetmon-bridge/binlog"
)

// untilStopped runs fn with a context that ends with the caller's request
// or with the daemon (daemon), whichever ends first: an on-demand run is
// never cut short by anything else.
func untilStopped(daemon, ctx context.Context, fn func(context.Context) any) any {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(daemon, cancel)
	defer stop()
	return fn(ctx)
}

// ReconcileNow is the on-demand reconcile of POST /journal/reconcile and
// the Monitor's reconcile call: one run of r, ended early only by the
// caller or by the daemon stopping.
func ReconcileNow(daemon context.Context, r *binlog.Reconciler) ReconcileFunc {
	return func(ctx context.Context) any {
		return untilStopped(daemon, ctx, func(ctx context.Context) any { return r.Reconcile(ctx) })
	}
}

// ResyncedNow is POST /journal/resynced and the Monitor's resynced call:
// the operator's word that the replica's table was re-synchronized, which
// lifts the hold on coverage (binlog.Follower.Resynced); ended early only
// by the caller or by the daemon stopping.
func ResyncedNow(daemon context.Context, f *binlog.Follower) ResyncedFunc {
	return func(ctx context.Context) any {
		return untilStopped(daemon, ctx, func(ctx context.Context) any { return f.Resynced(ctx) })
	}
}
