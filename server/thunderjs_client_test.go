package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testenv"
	"github.com/automattic/jetmon-bridge/server"
)

// nodeWSPackage is the npm package the JavaScript client uses.
const nodeWSPackage = "ws@8"

// nodeWSDir is where the npm ws package the JavaScript tests use is
// installed, under the user's cache directory: .ci/run installs it there
// before the tests run, so that no test reaches the network:
//
//	npm install --no-save --prefix "${XDG_CACHE_HOME:-$HOME/.cache}/jetmon-bridge-tests/node-ws8" ws@8
const nodeWSDir = "jetmon-bridge-tests/node-ws8"

// nodeWithWS returns the node binary and the node_modules directory that
// holds ws; a missing one is a skip, or a failure under CI=true.
func nodeWithWS(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed: %v", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		testenv.Missing(t, "no cache directory to find the npm ws package in: %v", err)
	}
	dir := filepath.Join(cache, nodeWSDir)
	modules = filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "ws", "package.json")); err != nil {
		testenv.Missing(t, "the npm package %s is not installed in %s (.ci/run installs it): "+
			"npm install --no-save --prefix %s %s", nodeWSPackage, dir, dir, nodeWSPackage)
	}
	return node, modules
}

// clientStep is one line the JavaScript client reports.
type clientStep struct {
	Step     string          `json:"step"`
	Protocol string          `json:"protocol"`
	Result   json.RawMessage `json:"result"`
	Params   actionParams    `json:"params"`
	Error    struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// TestThunderJSClient drives the Monitor interface from a client not written
// in Go, Node with the npm ws package, behaving exactly as ThunderJS does:
// the token in the URL, unencoded, no headers, register and notifications
// named as ThunderJS names them. With a token (one holding characters a URL
// encoder would change), without one, and with a wrong one, refused.
func TestThunderJSClient(t *testing.T) {
	node, modules := nodeWithWS(t)
	script, err := filepath.Abs(filepath.Join("testdata", "thunder_monitor_client.js"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("token", func(t *testing.T) {
		f := newRPCFixture(t, rpcFixtureOptions{token: "Thunder+Token/=1"})
		runThunderJSSession(t, f, runNodeClient(t, f, node, modules, script, f.token))
	})
	t.Run("no token", func(t *testing.T) {
		f := newRPCFixture(t, rpcFixtureOptions{})
		runThunderJSSession(t, f, runNodeClient(t, f, node, modules, script, ""))
	})
	t.Run("wrong token", func(t *testing.T) {
		f := newRPCFixture(t, rpcFixtureOptions{token: "Thunder+Token/=1"})
		c := runNodeClient(t, f, node, modules, script, "Thunder+Token/=2")
		step := c.next()
		if step.Step != "refused" || step.Status != http.StatusUnauthorized {
			t.Fatalf("a wrong token: the client reported %+v, want refused with 401", step)
		}
		c.wait()
	})
}

// nodeClient is the JavaScript client running under node.
type nodeClient struct {
	t      *testing.T
	ctx    context.Context
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

// runNodeClient starts the client against the fixture's /jsonrpc.
func runNodeClient(t *testing.T, f *rpcFixture, node, modules, script, token string) *nodeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	args := []string{script, f.wsURL + server.JSONRPCPath}
	if token != "" {
		args = append(args, token)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	c := &nodeClient{t: t, ctx: ctx, cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	c.lines = bufio.NewScanner(stdout)
	c.lines.Buffer(make([]byte, 64<<10), 1<<20)
	return c
}

// next returns the next step the client reports; a client that reports
// nothing more fails the test.
func (c *nodeClient) next() clientStep {
	c.t.Helper()
	if !c.lines.Scan() {
		c.t.Fatalf("the client stopped reporting: %v\nstderr: %s", c.lines.Err(), c.stderr.String())
	}
	var step clientStep
	if err := json.Unmarshal(c.lines.Bytes(), &step); err != nil {
		c.t.Fatalf("client printed %q: %v", c.lines.Text(), err)
	}
	if step.Step == "error" {
		c.t.Fatalf("the JavaScript client failed: %s\nstderr: %s", step.Message, c.stderr.String())
	}
	return step
}

// wait checks that the client reports nothing more and exits 0.
func (c *nodeClient) wait() {
	c.t.Helper()
	if c.lines.Scan() {
		c.t.Fatalf("the client reported more than expected: %s", c.lines.Text())
	}
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("node exited with %v\nstderr: %s", err, c.stderr.String())
	}
}

// runThunderJSSession follows the client through its whole session: it
// reads status, is refused a write, registers for action, and gets the
// Deactivate of a failure the test causes.
func runThunderJSSession(t *testing.T, f *rpcFixture, c *nodeClient) {
	t.Helper()
	for _, want := range []string{"open", "status", "status@Replica", "write-refused", "registered", "action"} {
		step := c.next()
		if step.Step != want {
			t.Fatalf("the client reported %q, want %q", step.Step, want)
		}
		switch step.Step {
		case "open":
			if step.Protocol != "notification" {
				t.Fatalf("negotiated subprotocol %q, want notification", step.Protocol)
			}
		case "status":
			checkEntries("Replica", "Journal")(t, f, rpcMessage{Result: step.Result})
		case "status@Replica":
			checkEntries("Replica")(t, f, rpcMessage{Result: step.Result})
		case "write-refused":
			if step.Error.Code != wantReadOnly || step.Error.Message == "" {
				t.Fatalf("writing status was refused with %+v, want code %d", step.Error, wantReadOnly)
			}
		case "registered":
			if string(step.Result) != "null" {
				t.Fatalf("register returned %s, want null", step.Result)
			}
			select {
			case f.replica.fail <- errors.New("binlog connection reset by peer"):
			case <-c.ctx.Done():
				t.Fatal("the Replica service did not take the failure")
			}
		case "action":
			want := actionParams{Callsign: "Replica", Action: "Deactivate", Reason: "binlog connection reset by peer"}
			if step.Params != want {
				t.Fatalf("action notification %+v, want %+v", step.Params, want)
			}
		}
	}
	c.wait()
}
