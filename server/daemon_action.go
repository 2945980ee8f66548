package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// ActionFunc runs one of the operators' actions on the daemon (reconcile,
// resynced) once, now, and returns its report, which says in its outcome
// how the action went. cmd/jetmon-bridge wires it; the server only carries
// it to operators, over HTTP (mountAction) and the Monitor interface
// (serveAction), so both answer the same report.
type ActionFunc func(ctx context.Context) any

// mountAction adds POST path to r: it runs the action and answers its
// report as JSON, 200 whatever the outcome (the outcome is the answer, not
// a failure of the request). path lies under /journal/, whose answers have
// no write deadline: an action may compare a million rows first.
func mountAction(r *mux.Router, path string, run ActionFunc) {
	r.HandleFunc(path, func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusOK, run(req.Context()))
	}).Methods(http.MethodPost)
}

// serveAction makes the Monitor interface's method run the action; without
// it the method answers that there is no journal to act on.
func (e *JSONRPC) serveAction(method string, run ActionFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.actions[method] = run
}

// action is a Monitor method that runs an action: no params -> the report.
func (e *JSONRPC) action(method string, params json.RawMessage) (any, *rpcError) {
	if p := strings.TrimSpace(string(params)); p != "" && p != "{}" && p != "null" {
		return nil, newRPCError(codeInvalidParams, "invalid params: %s takes none (send it without params)", method)
	}
	e.mu.Lock()
	run := e.actions[method]
	e.mu.Unlock()
	if run == nil {
		return nil, newRPCError(codeUnavailable, "%s is unavailable: the bridge keeps no journal (-journal is empty)", method)
	}
	return run(context.Background()), nil
}

// untilStopped is an on-demand run of fn, ended early only by the caller
// (the request) or by the daemon (daemon) stopping: an operator's action
// is never cut short by anything else.
func untilStopped(daemon context.Context, fn ActionFunc) ActionFunc {
	return func(ctx context.Context) any {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(daemon, cancel)
		defer stop()
		return fn(ctx)
	}
}
