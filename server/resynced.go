package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// ResyncedFunc carries the operator's word that the followed replica's
// table was re-synchronized with the primary's, which lifts a hold on
// coverage (binlog.Follower.Resynced), and returns its report
// (binlog.ResyncReport: whether the hold was released, stays, or there was
// none). cmd/jetmon-bridge wires it; the server only carries it.
type ResyncedFunc func(ctx context.Context) any

// ResyncedPath takes the operator's word on POST (docs/journal-tools.md,
// "journal resynced"). Under /journal/, whose answers have no write
// deadline: with -primary-dsn the bridge compares the tables first.
const ResyncedPath = "/journal/resynced"

// MountResynced adds POST ResyncedPath to r: it calls fn and answers its
// report as JSON, 200 whatever the outcome. Mount it on Server.Router
// before calling Handler, so the token guards it like every other route.
func MountResynced(r *mux.Router, fn ResyncedFunc) {
	r.HandleFunc(ResyncedPath, func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusOK, fn(req.Context()))
	}).Methods(http.MethodPost)
}

// ServeResynced makes the Monitor interface's resynced method call fn;
// without it the method answers that there is no journal.
func (e *JSONRPC) ServeResynced(fn ResyncedFunc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resyncedFn = fn
}

// resynced is the Monitor method: no params -> the report.
func (e *JSONRPC) resynced(params json.RawMessage) (any, *rpcError) {
	if p := strings.TrimSpace(string(params)); p != "" && p != "{}" && p != "null" {
		return nil, newRPCError(codeInvalidParams, "invalid params: resynced takes none (send it without params)")
	}
	e.mu.Lock()
	fn := e.resyncedFn
	e.mu.Unlock()
	if fn == nil {
		return nil, newRPCError(codeUnavailable, "resynced is unavailable: the bridge keeps no journal (-journal is empty)")
	}
	return fn(context.Background()), nil
}
