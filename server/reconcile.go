package server

import (
	"context"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/gorilla/mux"
)

// ReconcilePath runs a reconcile on POST (docs/journal-tools.md,
// "journal reconcile"). It lies under /journal/, whose answers have no
// write deadline: a run over a million rows takes seconds.
const ReconcilePath = "/journal/reconcile"

// ReconcileNow is the on-demand reconcile of POST /journal/reconcile and
// the Monitor's reconcile call: one run of r, after any run in progress,
// ended early only by the caller or by the daemon stopping. Its report
// (binlog.ReconcileReport) says in its outcome whether the journal agreed
// with the table, diverged, or could not be compared.
func ReconcileNow(daemon context.Context, r *binlog.Reconciler) ActionFunc {
	return untilStopped(daemon, func(ctx context.Context) any { return r.Reconcile(ctx) })
}

// MountReconcile adds POST ReconcilePath to r, running run. Mount it on
// Server.Router before calling Handler, so the token guards it like every
// other route.
func MountReconcile(r *mux.Router, run ActionFunc) { mountAction(r, ReconcilePath, run) }

// ServeReconcile makes the Monitor interface's reconcile method run run.
func (e *JSONRPC) ServeReconcile(run ActionFunc) { e.serveAction("reconcile", run) }
