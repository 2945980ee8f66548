package logbridge

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bridgetest"
	"github.com/go-sql-driver/mysql"
)

// records decodes every line a slog JSON handler wrote to out.
func records(t *testing.T, out *bridgetest.LogBuffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not one slog JSON record per line: %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func newLogger(level slog.Level) (*slog.Logger, *bridgetest.LogBuffer) {
	out := &bridgetest.LogBuffer{}
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})), out
}

func TestDriverLineBecomesWarning(t *testing.T) {
	log, out := newLogger(slog.LevelDebug)
	d := Driver(log)
	d.Print("closing bad idle connection: ", io.EOF)
	d.Print("closing connection:", errors.New("use of closed network connection"))
	d.Print(mysql.ErrInvalidConn)
	got := records(t, out)
	want := []string{
		"closing bad idle connection: EOF",
		"closing connection: use of closed network connection",
		mysql.ErrInvalidConn.Error(),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(got), len(want), got)
	}
	for i, r := range got {
		if r["msg"] != want[i] || r["level"] != "WARN" || r[LibraryKey] != "go-sql-driver/mysql" {
			t.Errorf("record %d = %v, want msg %q at WARN with %s=go-sql-driver/mysql", i, r, want[i], LibraryKey)
		}
	}
}

// TestRouteCarriesTheRealDriversLines makes the real driver log: a server
// that accepts and hangs up makes it log the failed read. The line must
// reach the slog logger, which also proves Route took effect for a pool
// opened after it.
func TestRouteCarriesTheRealDriversLines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	logger, out := newLogger(slog.LevelInfo)
	Route(logger)
	t.Cleanup(func() { mysql.SetLogger(log.New(os.Stderr, "[mysql] ", log.Ldate|log.Ltime)) })

	db, err := sql.Open("mysql", "u:secret@tcp("+ln.Addr().String()+")/db?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping of a server that hangs up succeeded")
	}
	got := records(t, out)
	if len(got) == 0 {
		t.Fatal("the driver's line did not reach the slog logger")
	}
	for _, r := range got {
		if r["level"] != "WARN" || r[LibraryKey] != "go-sql-driver/mysql" || r["msg"] == "" {
			t.Errorf("driver record %v: want a WARN line with %s=go-sql-driver/mysql", r, LibraryKey)
		}
		if strings.Contains(r["msg"].(string), "secret") {
			t.Errorf("driver record %v repeats the DSN's password", r)
		}
	}
}

func TestBinlogSyncerKeepsWarningsAndErrors(t *testing.T) {
	logger, out := newLogger(slog.LevelDebug)
	l := BinlogSyncer(logger)
	l.Debug("MariaDB dynamic LogPos calculation")
	l.Info("create BinlogSyncer", "config", "...")
	l.Warn("retry sync is disabled")
	// A logger derived with With (as go-mysql's pool does) keeps the filter.
	derived := l.With("conn", 7).WithGroup("g")
	derived.Info("rotate to next binlog")
	derived.Error("kill connection", "id", 7)
	got := records(t, out)
	if len(got) != 2 {
		t.Fatalf("got %d records, want the warning and the error only: %v", len(got), got)
	}
	if got[0]["msg"] != "retry sync is disabled" || got[0]["level"] != "WARN" || got[0][LibraryKey] != "go-mysql" {
		t.Errorf("first record %v", got[0])
	}
	if got[1]["msg"] != "kill connection" || got[1]["level"] != "ERROR" || got[1][LibraryKey] != "go-mysql" || got[1]["conn"] != 7.0 {
		t.Errorf("second record %v", got[1])
	}
}

func TestBinlogSyncerHonoursTheDaemonsLevel(t *testing.T) {
	logger, out := newLogger(slog.LevelError)
	l := BinlogSyncer(logger)
	l.Warn("retry sync is disabled")
	if got := records(t, out); len(got) != 0 {
		t.Errorf("a warning passed a logger set to errors only: %v", got)
	}
}
