package server

import (
	"context"

	"github.com/automattic/jetmon-bridge/binlog"
	"github.com/gorilla/mux"
)

// ResyncedPath takes the operator's word on POST (docs/journal-tools.md,
// "journal resynced"). Under /journal/, whose answers have no write
// deadline: with -primary-dsn the bridge compares the tables first.
const ResyncedPath = "/journal/resynced"

// ResyncedNow is POST /journal/resynced and the Monitor's resynced call:
// the operator's word that the replica's table was re-synchronized, which
// lifts the hold on coverage (binlog.Follower.Resynced); ended early only
// by the caller or by the daemon stopping. Its report (binlog.ResyncReport)
// says whether the hold was released, stays, or there was none.
func ResyncedNow(daemon context.Context, f *binlog.Follower) ActionFunc {
	return untilStopped(daemon, func(ctx context.Context) any { return f.Resynced(ctx) })
}

// MountResynced adds POST ResyncedPath to r, running run. Mount it on
// Server.Router before calling Handler, so the token guards it like every
// other route.
func MountResynced(r *mux.Router, run ActionFunc) { mountAction(r, ResyncedPath, run) }

// ServeResynced makes the Monitor interface's resynced method run run.
func (e *JSONRPC) ServeResynced(run ActionFunc) { e.serveAction("resynced", run) }
