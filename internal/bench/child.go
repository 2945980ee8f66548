package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// Serve is `jetmon-bench serve`: the bridge's read API as the daemon wires
// it (server.New over server.History, the journal and the replica store),
// without the follower, so that the load generator and the server are
// separate processes and the server's memory can be read on its own. With
// -journal "" it answers from v1 synthesis only, as `jetmon-bridge
// -journal ""` does. It prints "LISTENING host:port" once it accepts
// connections and exits on SIGINT/SIGTERM or when its stdin closes.
//
// Besides the API it serves /debug/pprof/ and /bench/mem (runtime.MemStats).
func Serve(args []string) error {
	fs := flag.NewFlagSet("jetmon-bench serve", flag.ContinueOnError)
	dsn := fs.String("dsn", "", "replica DSN")
	jpath := fs.String("journal", "", "journal file; empty: synthesis only")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	replica, err := store.Open("-dsn", *dsn, 5*time.Second)
	if err != nil {
		return err
	}
	defer replica.Close()
	history := &server.History{Synthesizer: replica}
	if *jpath != "" {
		j, err := journal.Open(*jpath, journal.Options{WaitLimit: 5 * time.Second})
		if err != nil {
			return err
		}
		defer j.Close()
		history.Journal = j
	}
	api := server.New(server.Config{History: history, Monitors: replica, Logger: quietLogger(),
		Health: func(ctx context.Context) (server.Health, error) { return server.Health{}, replica.Ping(ctx) }})
	// The API behind the daemon's bounds (server.NewHTTPServer); the
	// bench's own diagnostics beside it, without the write deadline a
	// profile of many seconds would outlast.
	srv := server.NewHTTPServer(*addr, api.Handler(), 5*time.Second, quietLogger())
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/bench/mem", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(ServerMem{HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc, Sys: m.Sys, ProcMem: ReadProcMem("self")})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv.Handler = mux
	fmt.Printf("LISTENING %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
