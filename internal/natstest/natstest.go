// Package natstest starts real nats-server processes with JetStream for
// tests: one server, or a three-node cluster, each on loopback ports and a
// temporary store directory of its own (never the machine's shared server
// on 4222). A test can kill a server with SIGKILL and start it again on the
// same port and store, and cut the network between a client and a server
// with a Proxy.
//
// Without nats-server a test is skipped, or fails under CI=true
// (testenv.Missing): CI installs it (.ci/run).
package natstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testenv"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Binary finds nats-server, or ends t as testenv.Missing says.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := lookBinary()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	return p
}

// lookBinary finds nats-server on PATH or where Debian installs it.
func lookBinary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server", nil
	}
	return "", errors.New("nats-server is not installed: apt-get install nats-server")
}

// Server is one nats-server process with JetStream.
type Server struct {
	// Name is the server's name (its cluster peers know it by it).
	Name string
	// Port is its client port on 127.0.0.1.
	Port int
	// Dir is its JetStream store directory, kept across restarts.
	Dir string

	t      testing.TB // nil for a server from StartServer
	binary string
	conf   string // config file; empty for a single server run from flags

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Addr is the server's client address, host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start runs a single JetStream server on a free loopback port and waits
// until JetStream answers. It is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Name: "single", Port: freePort(t), Dir: t.TempDir(), t: t, binary: Binary(t)}
	t.Cleanup(s.Kill)
	s.Restart()
	return s
}

// StartWith runs a single JetStream server as Start does, with extra
// lines of server configuration (such as "max_payload: 1024"); Reconfigure
// changes them for the next Restart.
func StartWith(t testing.TB, extra string) *Server {
	t.Helper()
	s := &Server{Name: "single", Port: freePort(t), Dir: t.TempDir(), t: t, binary: Binary(t)}
	s.conf = filepath.Join(t.TempDir(), "nats.conf")
	s.Reconfigure(extra)
	t.Cleanup(s.Kill)
	s.Restart()
	return s
}

// Reconfigure rewrites a StartWith server's configuration with other
// extra lines; they take effect at its next Restart.
func (s *Server) Reconfigure(extra string) {
	s.t.Helper()
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\n%s\n", s.Name, s.Port, s.Dir, extra)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// StartServer runs a single JetStream server outside a test (the
// benchmarks): on a free loopback port, its store in dir, and returns once
// JetStream answers. The caller ends it with Kill and removes dir.
func StartServer(dir string) (*Server, error) {
	binary, err := lookBinary()
	if err != nil {
		return nil, err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: "single", Port: port, Dir: dir, binary: binary}
	if err := s.start(); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// StartCluster runs n JetStream servers clustered with one another on
// loopback ports and waits until each answers JetStream requests (a meta
// leader is elected). They are killed when the test ends.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	binary := Binary(t)
	routePorts := make([]int, n)
	var routes []string
	for i := range routePorts {
		routePorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
	}
	servers := make([]*Server, n)
	for i := range servers {
		s := &Server{Name: fmt.Sprintf("n%d", i+1), Port: freePort(t), Dir: t.TempDir(), t: t, binary: binary}
		s.conf = filepath.Join(t.TempDir(), "nats.conf")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: jetmon-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, s.Name, s.Port, s.Dir, routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Kill)
		servers[i] = s
	}
	for _, s := range servers {
		if err := s.launch(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range servers {
		if err := s.waitReady(); err != nil {
			t.Fatal(err)
		}
	}
	return servers
}

// Restart starts a test's server (again, after Kill) on its port and store
// and waits until JetStream answers; it fails the test when it cannot.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// start launches the server and waits until JetStream answers.
func (s *Server) start() error {
	if err := s.launch(); err != nil {
		return err
	}
	return s.waitReady()
}

func (s *Server) launch() error {
	args := []string{"-js", "-sd", s.Dir, "-a", "127.0.0.1", "-p", fmt.Sprint(s.Port)}
	if s.conf != "" {
		args = []string{"-c", s.conf}
	}
	cmd := exec.Command(s.binary, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = syncWriter(out), syncWriter(out)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	return nil
}

// waitReady waits until the server answers a JetStream account request.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("nats-server %s exited during start-up:\n%s", s.Name, s.Output())
		default:
		}
		if s.jetStreamAnswers() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s did not answer JetStream requests within 30s:\n%s", s.Name, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) jetStreamAnswers() bool {
	nc, err := natsgo.Connect(s.URL(), natsgo.Timeout(time.Second), natsgo.NoReconnect())
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Pid is the running server's process id, 0 when it is not running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Output is what the server has logged.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return lockedString(s.out)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

var outMu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w lockedWriter) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return w.b.Write(p)
}

func syncWriter(b *bytes.Buffer) lockedWriter { return lockedWriter{b} }

func lockedString(b *bytes.Buffer) string {
	outMu.Lock()
	defer outMu.Unlock()
	return b.String()
}
