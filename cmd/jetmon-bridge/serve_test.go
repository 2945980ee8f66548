package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testdb"
)

var binDir string

// TestMain makes a directory for the daemon the tests build.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jetmon-bridge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := testdb.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the daemon once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(binDir, "jetmon-bridge")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// command prepares the daemon with args and extra environment, in a
// temporary directory, with no JETMON_* variables inherited.
func command(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JETMON_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// syncBuffer is a bytes.Buffer that can be read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the daemon to its end and returns its exit status and output.
func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd, stdout, stderr := command(t, env, args...)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("jetmon-bridge %q did not exit; stderr:\n%s", args, stderr)
		return 0, "", ""
	}
}

// refusal checks a start-up refusal: exit status code, and on stderr one
// line "jetmon-bridge: <one sentence>" holding every want (log lines
// before it are allowed).
func refusal(t *testing.T, code int, stderr string, gotCode int, want ...string) string {
	t.Helper()
	return refusalAfterUsage(t, code, stderr, gotCode, false, want...)
}

// refusalAfterUsage is refusal that also allows flag's usage text before
// the error line: the flag package prints it on its own parse errors.
func refusalAfterUsage(t *testing.T, code int, stderr string, gotCode int, usage bool, want ...string) string {
	t.Helper()
	if gotCode != code {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", gotCode, code, stderr)
	}
	var msgs []string
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if usage && !strings.HasPrefix(l, "jetmon-bridge: ") {
			continue // flag's usage text
		}
		if strings.HasPrefix(l, "jetmon-bridge: ") {
			msgs = append(msgs, l)
		} else if !strings.HasPrefix(l, "time=") {
			t.Fatalf("stray stderr line %q in:\n%s", l, stderr)
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("stderr holds %d error lines, want 1:\n%s", len(msgs), stderr)
	}
	msg := msgs[0]
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("error %q does not say %q", msg, w)
		}
	}
	return msg
}

// closedDSN names a port nothing listens on, so a test that gets past flag
// checking fails with exit status 1, not 2.
func closedDSN(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "u:sekrit@tcp(" + addr + ")/jetmon"
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dsn := closedDSN(t)
	for _, c := range []struct {
		env   []string
		args  []string
		want  []string
		usage bool // a flag parse error: flag prints the usage too
	}{
		{nil, nil, []string{"-dsn is required", "JETMON_DSN"}, false},
		{nil, []string{"serve"}, []string{"-dsn is required"}, false},
		{nil, []string{"-dsn", ""}, []string{"-dsn is required"}, false},
		{nil, []string{"-dsn", dsn, "-write"}, []string{"-write needs -write-dsn", "primary"}, false},
		{nil, []string{"serve", "-dsn", dsn, "-write", "-write-dsn", ""}, []string{"-write needs -write-dsn"}, false},
		{[]string{"JETMON_WRITE=true", "JETMON_DSN=" + dsn}, nil, []string{"-write needs -write-dsn"}, false},
		{nil, []string{"-dsn", dsn, "-write-dsn", dsn}, []string{"-write is not"}, false},
		{nil, []string{"-dsn", dsn, "-bucket", "512"}, []string{"-bucket 512 is out of range", "0..511"}, false},
		{nil, []string{"-dsn", dsn, "-bucket", "-1"}, []string{"-bucket"}, true},
		{nil, []string{"-dsn", dsn, "-read-timeout", "0s"}, []string{"-read-timeout must be positive"}, false},
		{nil, []string{"-dsn", dsn, "-read-timeout", "soon"}, []string{"-read-timeout"}, true},
		{nil, []string{"-dsn", dsn, "-addr", "7400"}, []string{"-addr", "host:port"}, false},
		{nil, []string{"-dsn", dsn, "-no-such-flag"}, []string{"no-such-flag", "-h"}, true},
		{nil, []string{"-dsn", dsn, "extra"}, []string{`unexpected argument "extra"`}, false},
		{nil, []string{"-dsn", dsn, "-allow-origin", "https://dash.example/app"}, []string{"-allow-origin", "not an origin", "scheme://host[:port]"}, false},
		{[]string{"JETMON_DSN=" + dsn, "JETMON_ALLOW_ORIGIN=dash.example"}, nil, []string{"-allow-origin", "not an origin"}, false},
		{nil, []string{"replay", "-allow-origin", "http://a.example?x"}, []string{"-allow-origin", "not an origin"}, false},
		{[]string{"JETMON_DSN=" + dsn, "JETMON_BUCKET=many"}, nil, []string{"JETMON_BUCKET"}, false},
		{[]string{"JETMON_DSN=" + dsn, "JETMON_WRITE=maybe"}, nil, []string{"JETMON_WRITE"}, false},
	} {
		code, stdout, stderr := run(t, c.env, c.args...)
		msg := refusalAfterUsage(t, 2, stderr, code, c.usage, c.want...)
		if stdout != "" {
			t.Fatalf("%q: stdout %q", c.args, stdout)
		}
		if strings.Contains(msg, "sekrit") {
			t.Fatalf("%q: error %q repeats the password", c.args, msg)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, nil, "-version")
	if code != 0 || !strings.HasPrefix(stdout, "jetmon-bridge ") || stderr != "" {
		t.Fatalf("-version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestReadOnlyWriteDSN: a -write-dsn whose server is read-only stops
// start-up with exit status 1 and one sentence that names the fix, and
// nothing is written or served.
func TestReadOnlyWriteDSN(t *testing.T) {
	srv := testdb.Dedicated(t, testdb.Options{})
	db := testdb.NewDBOn(t, srv)
	if err := srv.Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	code, _, stderr := run(t, nil, "-dsn", db.DSN(), "-write", "-write-dsn", db.DSN(), "-journal=", "-addr", addr)
	refusal(t, 1, stderr, code, "-write-dsn", "read-only", "primary")
	if strings.Contains(stderr, "jetmon-bridge started") {
		t.Fatalf("started before refusing:\n%s", stderr)
	}
	var n int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
	// The same server is fine as the read replica.
	if err := srv.Exec("SET GLOBAL read_only = 0"); err != nil {
		t.Fatal(err)
	}
}

// TestUnreachableDatabase: a replica or primary that does not answer stops
// start-up with exit status 1, naming the flag and not the password.
func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	db := testdb.NewDB(t)
	dead := closedDSN(t)
	code, _, stderr := run(t, nil, "-dsn", dead, "-journal=", "-addr", freeAddr(t))
	msg := refusal(t, 1, stderr, code, "-dsn")
	if strings.Contains(msg, "sekrit") {
		t.Fatalf("error %q repeats the password", msg)
	}
	code, _, stderr = run(t, nil, "-dsn", db.DSN(), "-write", "-write-dsn", dead, "-journal=", "-addr", freeAddr(t))
	msg = refusal(t, 1, stderr, code, "-write-dsn")
	if strings.Contains(msg, "sekrit") {
		t.Fatalf("error %q repeats the password", msg)
	}
	code, _, stderr = run(t, nil, "-dsn", "u:sekrit@tcp(127.0.0.1:1)", "-journal=")
	msg = refusal(t, 1, stderr, code, "-dsn", "not a valid DSN")
	if strings.Contains(msg, "sekrit") {
		t.Fatalf("error %q repeats the password", msg)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeWriteMode runs the daemon in write mode with its DSN, token and
// bucket from the environment (the bucket overridden by its flag), serves
// a few requests, and stops it with SIGTERM: exit status 0.
func TestServeWriteMode(t *testing.T) {
	t.Parallel()
	db := testdb.NewDB(t)
	addr := freeAddr(t)
	cmd, _, stderr := command(t,
		[]string{"JETMON_DSN=" + db.DSN(), "JETMON_TOKEN=tok", "JETMON_BUCKET=5", "JETMON_JOURNAL="},
		"-write", "-write-dsn", db.DSN(), "-bucket", "17", "-addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-done
		}
	}()

	call := func(method, path, body, token string) (int, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	// Wait for the listener: the daemon answers or exits.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, _, err := call("GET", "/healthz", "", "tok")
		if err == nil && code == 200 {
			break
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("daemon exited before serving: %v\n%s", err, stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never answered /healthz: %v %d\n%s", err, code, stderr)
		}
	}

	// Every route needs the token, the JSON-RPC endpoint included.
	rpc := `{"jsonrpc":"2.0","id":1,"method":"Monitor.1.status"}`
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/time", ""},
		{"GET", "/healthz", ""},
		{"GET", "/monitors?url=https://e2e.example.com", ""},
		{"GET", "/events?blog_id=1&since=2026-04-22T14:00:00Z&until=2026-04-22T15:00:00Z", ""},
		{"POST", "/monitors", `{"url":"https://e2e.example.com"}`},
		{"DELETE", "/monitors?url=https://e2e.example.com", ""},
		{"POST", "/jsonrpc", rpc},
		{"POST", "/jsonrpc/Monitor", rpc},
		{"GET", "/nope", ""},
	} {
		for _, tok := range []string{"", "wrong"} {
			if code, body, err := call(r.method, r.path, r.body, tok); err != nil || code != 401 || body != "{\"error\":\"unauthorized\"}\n" {
				t.Fatalf("%s %s with token %q: %d %q %v", r.method, r.path, tok, code, body, err)
			}
		}
	}
	if code, body, err := call("POST", "/jsonrpc", rpc, "tok"); err != nil || code != 200 {
		t.Fatalf("JSON-RPC with the token: %d %q %v", code, body, err)
	}
	var rows int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM jetpack_monitor_sites").Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("unauthorized requests left %d rows, %v", rows, err)
	}
	code, body, err := call("POST", "/monitors", `{"url":"https://e2e.example.com"}`, "tok")
	if err != nil || code != 201 {
		t.Fatalf("POST: %d %q %v", code, body, err)
	}
	var bucket int
	if err := db.SQL.QueryRow("SELECT bucket_no FROM jetpack_monitor_sites WHERE monitor_url = 'https://e2e.example.com'").Scan(&bucket); err != nil || bucket != 17 {
		t.Fatalf("created row bucket %d, %v; want 17 (-bucket wins over JETMON_BUCKET)", bucket, err)
	}
	if code, body, err := call("GET", "/monitors?url=https://e2e.example.com", "", "tok"); err != nil || code != 200 || !strings.Contains(body, `"monitor_active":true`) {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	if code, _, err := call("DELETE", "/monitors?url=https://e2e.example.com", "", "tok"); err != nil || code != 204 {
		t.Fatalf("DELETE: %d %v", code, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("daemon did not stop on SIGTERM\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "jetmon-bridge stopped") {
		t.Fatalf("stderr lacks the stop line:\n%s", stderr)
	}
}
