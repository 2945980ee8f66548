package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// bridgeProc runs the bridge binary, restarting it on the same journal,
// address and secrets, and keeps everything it ever wrote.
type bridgeProc struct {
	binary  string
	args    []string
	env     []string
	addr    string
	token   string
	output  *logBuffer
	client  *http.Client
	logfile *os.File

	cmd  *exec.Cmd
	done chan struct{}
}

// logBuffer collects the bridge's output across its runs.
type logBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	file io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines of the output contain every one of subs.
func (l *logBuffer) count(subs ...string) int {
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

func (l *logBuffer) tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the binary and waits until it is healthy and following.
func (b *bridgeProc) start(ctx context.Context) error {
	cmd := exec.Command(b.binary, append([]string{"-addr", b.addr}, b.args...)...)
	cmd.Env = b.env
	cmd.Stdout, cmd.Stderr = b.output, b.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the bridge: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done
	return b.waitReady(ctx, 2*time.Minute)
}

// exited reports whether the current process has exited.
func (b *bridgeProc) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// waitReady waits until /healthz answers 200 with the follower following
// and the journal without error. limit bounds a hang; it is no threshold.
func (b *bridgeProc) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		if b.exited() {
			return fmt.Errorf("the bridge exited (%v); its output ends:\n%s", b.cmd.ProcessState, b.output.tail(4000))
		}
		h, code, err := b.health(ctx)
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

// signal sends sig to the running process.
func (b *bridgeProc) signal(sig syscall.Signal) error {
	if b.cmd == nil || b.exited() {
		return errors.New("the bridge is not running")
	}
	return b.cmd.Process.Signal(sig)
}

// kill sends SIGKILL and waits for the process to go.
func (b *bridgeProc) kill() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die cleanly in Wait
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

// stop sends SIGTERM and waits for a clean exit.
func (b *bridgeProc) stop() error {
	if b.cmd == nil || b.exited() {
		return errors.New("the bridge is not running")
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		b.kill()
		return errors.New("the bridge did not exit within 60s of SIGTERM")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("the bridge exited %d on SIGTERM", code)
	}
	return nil
}

func (b *bridgeProc) get(ctx context.Context, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.addr+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// health is the daemon's /healthz body.
type health struct {
	Status   string `json:"status"`
	Error    string `json:"error"`
	Follower struct {
		State          string  `json:"state"`
		Position       string  `json:"position"`
		Error          string  `json:"error"`
		ServerPosition string  `json:"server_position"`
		BehindBytes    *uint64 `json:"behind_bytes"`
	} `json:"follower"`
	Journal struct {
		Events uint64 `json:"events"`
		Error  string `json:"error"`
	} `json:"journal"`
}

func (b *bridgeProc) health(ctx context.Context) (health, int, error) {
	var h health
	resp, body, err := b.get(ctx, "/healthz")
	if err != nil {
		return h, 0, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return h, resp.StatusCode, fmt.Errorf("/healthz body %q: %w", body, err)
	}
	return h, resp.StatusCode, nil
}

// events calls /events for one blog and window.
func (b *bridgeProc) events(ctx context.Context, blog uint64, since, until time.Time) ([]bridge.Event, string, error) {
	q := url.Values{
		"blog_id": {fmt.Sprint(blog)},
		"since":   {since.UTC().Format(time.RFC3339Nano)},
		"until":   {until.UTC().Format(time.RFC3339Nano)},
	}
	resp, body, err := b.get(ctx, "/events?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("/events?%s: %d %s", q.Encode(), resp.StatusCode, body)
	}
	var wire []struct {
		ID        uint64 `json:"id"`
		BlogID    uint64 `json:"blog_id"`
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
		out = append(out, bridge.Event{ID: w.ID, BlogID: w.BlogID, OldStatus: bridge.Status(w.OldStatus),
			NewStatus: bridge.Status(w.NewStatus), CreatedAt: at.UTC()})
	}
	return out, resp.Header.Get(bridge.CoverageHeader), nil
}
