package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// ReconcileFunc runs the reconcile self-check once, now, and returns its
// report (binlog.ReconcileReport, which says in its outcome whether the
// journal agreed with the table, diverged, or could not be compared).
// cmd/jetmon-bridge wires it; the server only carries it to operators.
type ReconcileFunc func(ctx context.Context) any

// ReconcilePath runs a reconcile on POST (docs/journal-tools.md,
// "journal reconcile"). It lies under /journal/, whose answers have no
// write deadline: a run over a million rows takes seconds.
const ReconcilePath = "/journal/reconcile"

// MountReconcile adds POST ReconcilePath to r: it runs one reconcile (after
// any run in progress) and answers its report as JSON, 200 whatever the
// outcome. Mount it on Server.Router before calling Handler, so the token
// guards it like every other route.
func MountReconcile(r *mux.Router, run ReconcileFunc) {
	r.HandleFunc(ReconcilePath, func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusOK, run(req.Context()))
	}).Methods(http.MethodPost)
}

// ServeReconcile makes the Monitor interface's reconcile method run fn;
// without it the method answers that there is no journal to reconcile.
func (e *JSONRPC) ServeReconcile(fn ReconcileFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reconcileFn = fn
}

// reconcile is the Monitor method: no params -> the report.
func (e *JSONRPC) reconcile(params json.RawMessage) (any, *rpcError) {
	if p := strings.TrimSpace(string(params)); p != "" && p != "{}" && p != "null" {
		return nil, newRPCError(codeInvalidParams, "invalid params: reconcile takes none (send it without params)")
	}
	e.mu.Lock()
	fn := e.reconcileFn
	e.mu.Unlock()
	if fn == nil {
		return nil, newRPCError(codeUnavailable, "reconcile is unavailable: the bridge keeps no journal (-journal is empty)")
	}
	return fn(context.Background()), nil
}
