package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/automattic/jetmon-bridge/server"
	"github.com/automattic/jetmon-bridge/store"
)

// reloader re-reads the daemon's secrets on SIGHUP: the -token-file and the
// -db-tls-* files. Nothing else is touched: the follower keeps streaming,
// requests in flight finish, open database connections keep their TLS
// session. A file that does not read keeps what was read before, and the
// log says why. Its lines name files, never their contents.
type reloader struct {
	tokenFile string
	api       *server.Server
	dbTLS     *store.ClientTLS // nil without -db-tls-*
	log       *slog.Logger
}

// notifyHangup starts catching SIGHUP, whose default action would end the
// process; call it before anything slow, so that an early SIGHUP is kept
// for run rather than fatal.
func notifyHangup() (hup chan os.Signal, stop func()) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// run reloads on every signal from hup until ctx ends.
func (r reloader) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// reload re-reads what the daemon was started with.
func (r reloader) reload() {
	if r.tokenFile == "" && r.dbTLS == nil {
		r.log.Info("SIGHUP: nothing to re-read (no -token-file, no -db-tls-ca, -db-tls-cert or -db-tls-key)")
		return
	}
	if r.tokenFile != "" {
		token, err := readTokenFile(r.tokenFile)
		if err == nil {
			err = r.api.SetToken(token)
		}
		if err != nil {
			r.log.Error("SIGHUP: keeping the current token", "token_file", r.tokenFile, "error", err)
		} else {
			r.log.Info("SIGHUP: token re-read; the previous one is refused from now on", "token_file", r.tokenFile)
		}
	}
	if r.dbTLS != nil {
		f := r.dbTLS.Files()
		if err := r.dbTLS.Reload(); err != nil {
			r.log.Error("SIGHUP: keeping the current MySQL TLS files", "ca", f.CA, "cert", f.Cert, "key", f.Key, "error", err)
		} else {
			r.log.Info("SIGHUP: MySQL TLS files re-read; new connections use them", "ca", f.CA, "cert", f.Cert, "key", f.Key)
		}
	}
}
