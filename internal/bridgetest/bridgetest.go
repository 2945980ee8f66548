// Package bridgetest builds and runs the real jetmon-bridge binary for tests:
// Build and Main compile it, Process runs it and talks to its HTTP API.
package bridgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
	"github.com/automattic/jetmon-bridge/internal/testenv"
)

// Build compiles ./cmd/jetmon-bridge with the race detector into dir and
// returns the binary's path.
func Build(dir string) (string, error) { return build(dir, "-race") }

// BuildRelease compiles ./cmd/jetmon-bridge as released, without the race
// detector, into dir and returns the binary's path: for the benchmarks,
// whose figures the detector would distort.
func BuildRelease(dir string) (string, error) { return build(dir) }

func build(dir string, flags ...string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module root: not inside a Go module")
	}
	binary := filepath.Join(dir, "jetmon-bridge")
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", binary, "./cmd/jetmon-bridge")...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build jetmon-bridge: %v\n%s", err, out)
	}
	return binary, nil
}

// Main is for TestMain: it builds the binary into a temporary directory,
// sets *binary to its path, runs run, removes the directory and exits
// with run's code.
func Main(binary *string, run func() int) {
	dir, err := os.MkdirTemp("", "jetmon-bridge-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *binary, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreeAddr returns a loopback address with a port free at the moment.
func FreeAddr() (string, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// LogBuffer is a locked buffer for a process's output, copying it to Tee
// when set. The zero value is ready to use.
type LogBuffer struct {
	Tee io.Writer

	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Tee != nil {
		l.Tee.Write(p)
	}
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many lines contain every one of subs.
func (l *LogBuffer) Count(subs ...string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

// Tail returns the last n bytes of the output.
func (l *LogBuffer) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// Process runs the bridge binary with "-addr Addr" and Args. Start may be
// called again after the process exits, on the same address, arguments and
// output.
type Process struct {
	Binary string
	Args   []string
	Env    []string // nil: the test's environment
	Addr   string
	Token  string       // sent as a bearer token when set
	Output *LogBuffer   // everything every run wrote
	Client *http.Client // nil: http.DefaultClient

	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs the binary; it does not wait for it to be ready.
func (p *Process) Start() error {
	cmd := exec.Command(p.Binary, append([]string{"-addr", p.Addr}, p.Args...)...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = p.Output, p.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the bridge: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// Exited reports whether the current run has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Pid is the current run's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitReady waits until /healthz answers 200 with the follower following
// and the journal without error. limit bounds a hang; it is no threshold.
func (p *Process) WaitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		if p.Exited() {
			return fmt.Errorf("the bridge exited (%v); its output ends:\n%s", p.cmd.ProcessState, p.Output.Tail(4000))
		}
		h, code, err := p.Health(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK && h.Follower.State == "following" && h.Journal.Error == "":
			return nil
		default:
			last = fmt.Sprintf("%d %+v", code, h)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the bridge did not recover within %s (last /healthz: %s)", limit, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Signal sends sig to the running process.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.cmd == nil || p.Exited() {
		return errors.New("the bridge is not running")
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to go.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die cleanly in Wait
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop() error {
	if p.cmd == nil || p.Exited() {
		return errors.New("the bridge is not running")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.Kill()
		return errors.New("the bridge did not exit within 60s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("the bridge exited %d on SIGTERM", code)
	}
	return nil
}

// Get sends GET path and returns the response with its body read.
func (p *Process) Get(ctx context.Context, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+path, nil)
	if err != nil {
		return nil, nil, err
	}
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// Health is the daemon's /healthz body.
type Health struct {
	Status   string `json:"status"`
	Error    string `json:"error"`
	Follower struct {
		State          string  `json:"state"`
		Position       string  `json:"position"`
		Server         string  `json:"server"`
		Error          string  `json:"error"`
		ServerPosition string  `json:"server_position"`
		BehindBytes    *uint64 `json:"behind_bytes"`
	} `json:"follower"`
	Journal struct {
		Events uint64 `json:"events"`
		Error  string `json:"error"`
		// CoverageTrail is how far the journal's coverage ends before
		// the present, in seconds.
		CoverageTrail float64 `json:"coverage_trail_seconds"`
	} `json:"journal"`
	// Replication is present when the bridge follows a replica.
	Replication *struct {
		Problem   string `json:"problem"`
		VouchedTo string `json:"vouched_to"`
	} `json:"replication"`
}

// Health reads /healthz. The status code is 0 when it did not answer.
func (p *Process) Health(ctx context.Context) (Health, int, error) {
	var h Health
	resp, body, err := p.Get(ctx, "/healthz")
	if err != nil {
		return h, 0, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, resp.StatusCode, fmt.Errorf("/healthz body %q: %w", body, err)
	}
	return h, resp.StatusCode, nil
}

// Events calls /events for one blog and window and returns the events and
// the coverage header. Each event's source must match its new status.
func (p *Process) Events(ctx context.Context, blog uint64, since, until time.Time) ([]bridge.Event, string, error) {
	q := url.Values{
		"blog_id": {fmt.Sprint(blog)},
		"since":   {since.UTC().Format(time.RFC3339Nano)},
		"until":   {until.UTC().Format(time.RFC3339Nano)},
	}
	resp, body, err := p.Get(ctx, "/events?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("/events?%s: %d %s", q.Encode(), resp.StatusCode, body)
	}
	var wire []struct {
		ID        uint64 `json:"id"`
		BlogID    uint64 `json:"blog_id"`
		Source    string `json:"source"`
		OldStatus int    `json:"old_status"`
		NewStatus int    `json:"new_status"`
		CreatedAt string `json:"created_at"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, "", fmt.Errorf("/events body %q: %w", body, err)
	}
	out := make([]bridge.Event, 0, len(wire))
	for _, w := range wire {
		at, err := time.Parse(time.RFC3339, w.CreatedAt)
		if err != nil {
			return nil, "", fmt.Errorf("/events created_at %q: %w", w.CreatedAt, err)
		}
		e := bridge.Event{ID: w.ID, BlogID: w.BlogID, OldStatus: bridge.Status(w.OldStatus),
			NewStatus: bridge.Status(w.NewStatus), CreatedAt: at.UTC()}
		if w.Source != e.NewStatus.Source() {
			return nil, "", fmt.Errorf("/events: event %+v has source %q", e, w.Source)
		}
		out = append(out, e)
	}
	return out, resp.Header.Get(bridge.CoverageHeader), nil
}

// Hatched returns the stretches a timeline SVG (GET /events/timeline.svg,
// "journal timeline") hatches as not vouched for by the journal, in
// document order: every <rect class="uncovered">'s data-from and data-to.
func Hatched(svg []byte) ([]bridge.Span, error) {
	var out []bridge.Span
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("timeline SVG is not well-formed: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "rect" {
			continue
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		if attr["class"] != "uncovered" {
			continue
		}
		from, err1 := time.Parse(time.RFC3339Nano, attr["data-from"])
		to, err2 := time.Parse(time.RFC3339Nano, attr["data-to"])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("uncovered stretch without readable data-from/data-to: %w", err)
		}
		out = append(out, bridge.Span{Start: from, End: to})
	}
}
