// Package logbridge routes the log lines of the bridge's MySQL libraries
// into the daemon's slog logger, so that an operator's log pipeline sees one
// format. Left alone, go-sql-driver/mysql prints its own lines to stderr
// ("[mysql] 2026/11/28 08:15:14 closing bad idle connection: EOF") beside
// the daemon's structured ones.
//
// Every line a library writes carries the attribute library=<its module>,
// so it can be told from the bridge's own lines and filtered.
package logbridge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// LibraryKey is the attribute that names the library a line came from.
const LibraryKey = "library"

// The libraries, as LibraryKey names them.
const (
	libSQLDriver = "go-sql-driver/mysql"
	libGoMySQL   = "go-mysql"
)

// Route makes go-sql-driver/mysql write to log (see Driver). Call it before
// any DSN is parsed: the driver copies its logger into every Config when the
// Config is made, so a pool opened earlier keeps printing to stderr.
func Route(log *slog.Logger) {
	mysql.SetLogger(Driver(log)) // fails only for a nil Logger
}

// Driver returns a go-sql-driver/mysql Logger that writes each line to log
// at warning level. The driver only logs what went wrong on a connection
// (a bad idle connection closed, a read that failed, a packet out of
// sequence, an auth plugin it could not use); database/sql retries most of
// them on another connection, and a query that still fails returns its own
// error, so none is an error of the bridge's.
func Driver(log *slog.Logger) mysql.Logger {
	return driverLogger{log.With(LibraryKey, libSQLDriver)}
}

type driverLogger struct{ log *slog.Logger }

// Print joins the operands with a space where the driver left none
// ("closing connection:", err), as its own stderr lines should have read.
func (d driverLogger) Print(v ...any) {
	var b strings.Builder
	for _, x := range v {
		s := fmt.Sprint(x)
		if b.Len() > 0 && s != "" && !strings.HasSuffix(b.String(), " ") {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	d.log.Warn(strings.TrimSpace(b.String()))
}

// BinlogSyncer returns the logger for go-mysql's
// replication.BinlogSyncerConfig.Logger: its warnings and errors go to log;
// its info and debug lines are dropped. Those are per-connection and
// per-rotation chatter the follower logs better itself, and one of them
// ("create BinlogSyncer") prints the whole syncer configuration.
func BinlogSyncer(log *slog.Logger) *slog.Logger {
	return slog.New(minLevel{log.Handler(), slog.LevelWarn}).With(LibraryKey, libGoMySQL)
}

// minLevel passes on the records of at least level min.
type minLevel struct {
	next slog.Handler
	min  slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.next.Enabled(ctx, l)
}

func (h minLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs and WithGroup keep the filter on the derived handler: a logger
// made with With must not start passing info lines.
func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.next.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.next.WithGroup(name), h.min}
}
