package server

import (
	"log/slog"
	"net/http"
	"time"
)

// DrainTimeout is how long a stopping daemon lets in-flight requests
// finish (http.Server.Shutdown) before it closes their connections.
const DrainTimeout = 10 * time.Second

// NewHTTPServer serves h on addr with the bounds every listener of the
// bridge keeps: a slow or silent client cannot hold a goroutine and a file
// descriptor for ever. Headers must arrive within 10 s and a request within
// 30 s, an idle keep-alive connection is closed after 2 minutes, headers
// are capped at 16 KiB, and every ordinary response gets a write deadline
// derived from readTimeout (withWriteDeadline). net/http's own complaints
// go to log as warnings.
func NewHTTPServer(addr string, h http.Handler, readTimeout time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           withWriteDeadline(h, writeTimeout(readTimeout)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
