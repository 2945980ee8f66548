package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/internal/metrics"
	"github.com/automattic/jetmon-bridge/server"
)

// replayConfig is the replay's command line.
type replayConfig struct {
	journalPath, addr, token, tokenFile string
	allowOrigin                         string
	allowOrigins                        []string
}

func parseReplayFlags(args []string) (*replayConfig, error) {
	c := &replayConfig{}
	fs := newFlagSet("replay", "jetmon-bridge replay -journal PATH [-addr HOST:PORT] [-token T | -token-file F] [-allow-origin O]")
	fs.StringVar(&c.journalPath, "journal", "jetmon-bridge.journal", "the journal file to serve (opened read-only)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:7400", "listen address (host:port)")
	fs.StringVar(&c.token, "token", "", "bearer token every request must carry; empty disables auth")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token (surrounding whitespace ignored)")
	fs.StringVar(&c.allowOrigin, "allow-origin", "", allowOriginUsage)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if c.journalPath == "" {
		return nil, usageError{errors.New("-journal is empty: give the journal file to replay")}
	}
	var err error
	if _, _, err = net.SplitHostPort(c.addr); err != nil {
		return nil, usageError{fmt.Errorf("-addr %q is not host:port: %v", c.addr, err)}
	}
	if c.token, err = resolveToken(c.token, c.tokenFile); err != nil {
		return nil, err
	}
	if c.allowOrigins, err = resolveAllowedOrigins(c.allowOrigin); err != nil {
		return nil, err
	}
	return c, nil
}

// runReplay is "jetmon-bridge replay": the read API served from a journal
// file alone, with no database. /events answers from the journal, with
// X-Bridge-Coverage "journal" inside its coverage and "incomplete" outside
// (there is no replica to synthesize from); /monitors answers from the
// monitor rows the journal kept; the write routes are refused.
func runReplay(args []string) error {
	c, err := parseReplayFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	j, err := openJournal(c.journalPath)
	if err != nil {
		return err
	}
	defer j.Close()
	st, err := j.Stats()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.journalPath, err)
	}

	api := server.New(server.Config{
		History:      &server.History{Journal: j},
		Monitors:     j,
		ReadOnly:     "this is a replay of a journal file: it is read-only",
		Token:        c.token,
		AllowOrigins: c.allowOrigins,
		Logger:       log,
		Health:       server.ReplayHealth(j, st),
	})
	server.MountJournal(api.Router, j, log)
	m := metrics.New(metrics.Sources{Version: version, Router: api.Router, Journal: j})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup, stopHangup := notifyHangup()
	defer stopHangup()
	var g runGroup
	g.add(func() error { <-ctx.Done(); return nil }, func(error) { stop() })
	rl := reloader{tokenFile: c.tokenFile, api: api, log: log}
	g.addContext(ctx, func(ctx context.Context) error { rl.run(ctx, hup); return nil })
	addAPI(&g, c.addr, replayReadTimeout, api, m, log, nil)
	attrs := []any{"addr", c.addr, "journal", c.journalPath, "events", st.Events, "spans", len(st.Spans)}
	if n := len(st.Spans); n > 0 {
		attrs = append(attrs, "covered_from", st.Spans[0].Start.Format(time.RFC3339Nano), "covered_to", st.Spans[n-1].End.Format(time.RFC3339Nano))
	}
	log.Info("jetmon-bridge replay started", attrs...)
	err = g.run()
	log.Info("jetmon-bridge replay stopped")
	return err
}

// replayReadTimeout stands in for the daemon's -read-timeout in replay's
// write deadline: a replay reads only the local file, so the daemon's
// default bound serves.
const replayReadTimeout = 5 * time.Second
