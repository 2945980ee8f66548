package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/internal/openapitest"
	"github.com/automattic/jetmon-bridge/internal/supervisor"
	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/gorilla/mux"
)

// TestOpenAPIDescribesEveryRoute: every route the daemon's router registers
// (newAPI and mountMetrics, as runServe builds it) is an operation of
// docs/openapi.yaml, and every operation there is a route. The JSON-RPC
// routes take any method at the router; their handler serves POST and the
// GET that upgrades to a WebSocket, so those two stand for them.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, err := openapitest.Load("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	documented := openapitest.Routes(doc)

	j, err := journal.Open(filepath.Join(t.TempDir(), "j"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, mode := range []struct {
		name string
		cfg  server.Config
	}{
		{"read-only", server.Config{}},
		{"write mode", server.Config{Writer: writerStub{}}},
	} {
		reconcile := func(context.Context) any { return nil }
		resynced := func(context.Context) any { return nil }
		api, _ := newAPI(mode.cfg, j, reconcile, resynced, supervisor.New(supervisor.Options{Logger: log}), log)
		mountMetrics(api, metrics.New(metrics.Sources{}))
		registered := routerRoutes(t, api.Router)
		for _, r := range registered {
			if !slices.Contains(documented, r) {
				t.Errorf("%s: the router serves %s, which docs/openapi.yaml does not describe", mode.name, r)
			}
		}
		for _, r := range documented {
			if !slices.Contains(registered, r) {
				t.Errorf("%s: docs/openapi.yaml describes %s, which the router does not serve", mode.name, r)
			}
		}
	}
}

// routerRoutes lists r's routes as "METHOD /path".
func routerRoutes(t *testing.T, r *mux.Router) []string {
	t.Helper()
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil { // no method matcher: the JSON-RPC handler decides
			methods = []string{http.MethodGet, http.MethodPost}
		}
		for _, m := range methods {
			out = append(out, strings.ToUpper(m)+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// writerStub turns write mode's routes on; it is never called.
type writerStub struct{}

func (writerStub) ActiveMonitor(context.Context, string) (bridge.Monitor, error) {
	return bridge.Monitor{}, bridge.ErrNotFound
}

func (writerStub) Activate(context.Context, string, uint16) (bridge.Monitor, bool, error) {
	return bridge.Monitor{}, false, bridge.ErrNotFound
}

func (writerStub) Deactivate(context.Context, string) error { return bridge.ErrNotFound }
