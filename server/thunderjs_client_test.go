package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/server"
)

// nodeWSPackage is the npm package the JavaScript client uses.
const nodeWSPackage = "ws@8"

// unavailableTool ends t when a tool the test needs is missing: a skip on a
// developer's machine, a failure under CI=true, where a skip would hide it.
func unavailableTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true forbids skipping)", args...)
	}
	t.Skipf(format, args...)
}

// nodeModules returns a node_modules directory holding the ws package,
// installing it with npm into a cache directory outside the repository the
// first time.
func nodeModules(t *testing.T, npm string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "jetmon-bridge-tests", "node-ws8")
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "ws", "package.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		unavailableTool(t, "cannot create the npm cache directory: %v", err)
	}
	// Install into a fresh directory and move it into place, so that an
	// interrupted install never leaves a half-filled cache behind.
	staging, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		unavailableTool(t, "cannot create an npm staging directory: %v", err)
	}
	defer os.RemoveAll(staging)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
		"--prefix", staging, nodeWSPackage)
	install.Dir = staging
	if out, err := install.CombinedOutput(); err != nil {
		unavailableTool(t, "npm install %s failed: %v\n%s", nodeWSPackage, err, out)
	}
	if err := os.Rename(staging, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(modules, "ws", "package.json")); statErr != nil {
			t.Fatalf("move the installed ws package into %s: %v", dir, err)
		}
		// Another test run installed it meanwhile.
	}
	return modules
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
}

// TestThunderJSClient drives the Monitor interface from a client not written
// in Go: Node with the npm ws package, framing messages as ThunderJS does,
// through the bearer-token check.
func TestThunderJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		unavailableTool(t, "node is not installed: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailableTool(t, "npm is not installed: %v", err)
	}
	modules := nodeModules(t, npm)
	script, err := filepath.Abs(filepath.Join("testdata", "thunder_monitor_client.js"))
	if err != nil {
		t.Fatal(err)
	}

	f := newRPCFixture(t, rpcFixtureOptions{token: "thunder-token"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, f.wsURL+server.JSONRPCPath, f.token)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	seen := map[string]bool{}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		var step clientStep
		if err := json.Unmarshal(lines.Bytes(), &step); err != nil {
			t.Fatalf("client printed %q: %v", lines.Text(), err)
		}
		seen[step.Step] = true
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
			case <-ctx.Done():
				t.Fatal("the Replica service did not take the failure")
			}
		case "action":
			want := actionParams{Callsign: "Replica", Action: "Deactivate", Reason: "binlog connection reset by peer"}
			if step.Params != want {
				t.Fatalf("action notification %+v, want %+v", step.Params, want)
			}
		case "error":
			t.Fatalf("the JavaScript client failed: %s\nstderr: %s", step.Message, stderr.String())
		default:
			t.Fatalf("unknown step %q", step.Step)
		}
	}
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("node exited with %v\nstderr: %s", err, stderr.String())
	}
	for _, step := range []string{"open", "status", "status@Replica", "write-refused", "registered", "action"} {
		if !seen[step] {
			t.Fatalf("the client never reported %q\nstderr: %s", step, stderr.String())
		}
	}
}
