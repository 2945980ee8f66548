// Package testdb runs throwaway MariaDB servers for tests.
//
// Every server lives in its own temporary directory, listens on a random
// loopback port, writes a ROW-format binlog and is removed when it is closed.
// The machine's own server (port 3306) is never touched. When no server can
// be started, tests are skipped, except under CI=true, where a skipped
// database test would hide a defect and they fail instead.
//
// StartTopology (SharedTopology, DedicatedTopology) runs a primary and one or
// more replicas of it, as the bridge is deployed: GTID replication with
// log_slave_updates, plus the faults a replica suffers (threads stopped,
// replication broken with an error, either server restarted).
package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testenv"
	"github.com/go-sql-driver/mysql"
)

// Options shape a server. The zero value is a binlogging ROW-format server.
type Options struct {
	// NoLogBin starts the server without a binary log.
	NoLogBin bool
	// BinlogFormat overrides ROW.
	BinlogFormat string
	// ServerID overrides 1.
	ServerID int
	// Args are extra mariadbd options, e.g. "--default-time-zone=+05:00".
	Args []string
	// SSLCA, SSLCert and SSLKey are PEM files (--ssl-ca, --ssl-cert,
	// --ssl-key) that turn TLS on; Certificates makes them.
	SSLCA, SSLCert, SSLKey string
	// RequireSecureTransport refuses TCP connections without TLS
	// (require_secure_transport=ON). The root connections testdb makes
	// itself (DSN, Exec) then go through the unix socket.
	RequireSecureTransport bool
	// ClockOffset runs the server with its clock this far from the host's
	// (Debian's libfaketime, preloaded: NOW(), UTC_TIMESTAMP() and binlog
	// event times move; the test's own Go clock does not). Zero runs it on
	// the host's clock.
	ClockOffset time.Duration
}

// libfaketime is Debian's multithreaded libfaketime (apt-get install -y
// faketime), preloaded into mariadbd for Options.ClockOffset.
const libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

// fakeTimeEnv is the environment that runs a process with its clock offset
// from the host's.
func fakeTimeEnv(offset time.Duration) ([]string, error) {
	if _, err := os.Stat(libfaketime); err != nil {
		return nil, fmt.Errorf("ClockOffset needs libfaketime (apt-get install -y faketime): %w", err)
	}
	ms := offset.Milliseconds()
	sign := "+"
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return append(os.Environ(),
		"LD_PRELOAD="+libfaketime,
		fmt.Sprintf("FAKETIME=%s%d.%03ds", sign, ms/1000, ms%1000),
		// Monotonic clocks time waits and timeouts: leave them alone.
		"DONT_FAKE_MONOTONIC=1",
	), nil
}

// Server is one throwaway mariadbd.
type Server struct {
	Port int
	Dir  string
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start installs a fresh data directory and starts a server on it.
func Start(opts Options) (*Server, error) {
	for _, bin := range []string{"mariadbd", "mariadb-install-db"} {
		if _, err := lookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found: install MariaDB with 'apt-get install -y mariadb-server' (tests need a real server): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "jetmon-mariadb-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, opts: opts}
	// A private tmpdir: concurrent bootstraps sharing /tmp collide on
	// temporary table names.
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + s.dataDir(), "--tmpdir=" + s.tmpDir(), "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	install := exec.Command(mustLookPath("mariadb-install-db"), args...)
	if out, err := install.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadb-install-db: %w\n%s", err, tail(out))
	}
	// A port picked free can be taken before mariadbd binds it: try a few.
	for attempt := 0; ; attempt++ {
		s.Port, err = testenv.FreePort()
		if err == nil {
			err = s.Restart()
		}
		if err == nil {
			return s, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

func (s *Server) tmpDir() string { return filepath.Join(s.Dir, "tmp") }

// ErrorLog returns the path of the server's error log.
func (s *Server) ErrorLog() string { return filepath.Join(s.Dir, "error.log") }

// Restart starts the server again on its data directory and port after Stop
// or Kill. It returns once the server accepts connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("testdb: server is already running")
	}
	serverID := s.opts.ServerID
	if serverID == 0 {
		serverID = 1
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + s.dataDir(),
		"--tmpdir=" + s.tmpDir(),
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + s.Socket(),
		"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
		"--log-error=" + s.ErrorLog(),
		"--server-id=" + strconv.Itoa(serverID),
		"--skip-name-resolve",
		"--performance-schema=OFF",
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=64M",
		"--innodb-flush-log-at-trx-commit=2",
		"--max-connections=1000",
		"--max-allowed-packet=64M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if !s.opts.NoLogBin {
		format := s.opts.BinlogFormat
		if format == "" {
			format = "ROW"
		}
		args = append(args, "--log-bin="+filepath.Join(s.dataDir(), "binlog"), "--binlog-format="+format, "--sync-binlog=0")
	}
	if s.opts.SSLCert != "" {
		args = append(args, "--ssl-ca="+s.opts.SSLCA, "--ssl-cert="+s.opts.SSLCert, "--ssl-key="+s.opts.SSLKey)
	}
	if s.opts.RequireSecureTransport {
		args = append(args, "--require-secure-transport=ON")
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(mustLookPath("mariadbd"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.opts.ClockOffset != 0 {
		env, err := fakeTimeEnv(s.opts.ClockOffset)
		if err != nil {
			return err
		}
		cmd.Env = env
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			log, _ := os.ReadFile(s.ErrorLog())
			return fmt.Errorf("mariadbd exited during start-up: %s", tail(log))
		default:
		}
		if time.Now().After(deadline) {
			s.cmd.Process.Kill()
			<-done
			s.cmd = nil
			return fmt.Errorf("mariadbd did not accept connections within 60s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down cleanly and waits for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill stops the server abruptly.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Kill()
	os.RemoveAll(s.Dir)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// DSN is a go-sql-driver DSN for root on database db: over TCP, or over the
// unix socket when the server requires TLS on TCP (RequireSecureTransport).
func (s *Server) DSN(db string) string {
	if !s.opts.RequireSecureTransport {
		return s.UserDSN("root", "", db)
	}
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net, cfg.Addr = "unix", s.Socket()
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return filepath.Join(s.Dir, "mysqld.sock") }

// UserDSN is a go-sql-driver DSN for user on database db.
func (s *Server) UserDSN(user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, password
	cfg.Net, cfg.Addr = "tcp", s.Addr()
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.MultiStatements = true
	return cfg.FormatDSN()
}

// Exec runs statements as root, outside any database.
func (s *Server) Exec(query string, args ...any) error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(query, args...)
	return err
}

// lookPath finds MariaDB's binaries, which Debian installs in /usr/sbin,
// a directory not always on a non-root PATH.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func mustLookPath(name string) string {
	p, err := lookPath(name)
	if err != nil {
		return name
	}
	return p
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
