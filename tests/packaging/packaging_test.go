// Package packaging checks the files that ship the bridge: the systemd unit,
// the deployment scripts, the Docker image and compose files, and the
// settings samples. The checks that need an outside tool (systemd-analyze,
// shellcheck) are skipped, saying why, when it is missing, and fail under
// CI=true; the others always run.
package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/testenv"
	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// root is the repository root, from this package's directory.
const root = "../.."

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run runs a command with a deadline and returns its combined output.
func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// lines returns s's non-empty lines that contain none of ignore.
func lines(s string, ignore ...*regexp.Regexp) []string {
	var out []string
next:
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		for _, re := range ignore {
			if re.MatchString(l) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

const unitPath = "systemd/jetmon-bridge.service"

// TestSystemdUnitHardening checks the unit's settings that operators rely on.
func TestSystemdUnitHardening(t *testing.T) {
	unit := read(t, unitPath)
	for _, want := range []string{
		"User=jetmon-bridge",
		"EnvironmentFile=/opt/jetmon-bridge/env",
		"ExecStart=/opt/jetmon-bridge/bin/jetmon-bridge",
		"StateDirectory=jetmon-bridge",
		"Environment=JETMON_JOURNAL=/var/lib/jetmon-bridge/jetmon-bridge.journal",
		"Restart=on-failure",
		"KillSignal=SIGTERM",
		"TimeoutStopSec=",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ProtectHome=yes",
		"PrivateTmp=yes",
		"PrivateDevices=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service",
		"SystemCallErrorNumber=EPERM",
		"\nCapabilityBoundingSet=\n",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("%s lacks %q", unitPath, strings.TrimSpace(want))
		}
	}
	// ProcSubset=pid would hide /proc/stat, which the process metrics read.
	if strings.Contains(unit, "ProcSubset=pid") {
		t.Errorf("%s sets ProcSubset=pid, which breaks the process metrics", unitPath)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze is not installed (apt-get install systemd): the unit was not verified")
	}
	// verify insists that ExecStart's binary exists: point it at a stand-in.
	dir := t.TempDir()
	stub := filepath.Join(dir, "jetmon-bridge")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(read(t, unitPath), "/opt/jetmon-bridge/bin/jetmon-bridge", stub)
	path := filepath.Join(dir, "jetmon-bridge.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, dir, analyze, "verify", "--man=no", path)
	// Inside a container or chroot there is no sysinit.target and the like;
	// that says nothing about this unit.
	noise := regexp.MustCompile(`Unit \S+\.(target|slice|socket|service) not found`)
	if problems := lines(out, noise); err != nil || len(problems) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, strings.Join(problems, "\n"))
	}
}

// TestScriptsShellcheck runs shellcheck on every script.
func TestScriptsShellcheck(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts/*.sh: %v", err)
	}
	for _, want := range []string{"provision.sh", "deploy-prod.sh"} {
		if _, err := os.Stat(filepath.Join(root, "scripts", want)); err != nil {
			t.Errorf("scripts/%s: %v", want, err)
		}
	}
	for _, s := range scripts {
		info, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		testenv.Missing(t, "shellcheck is not installed (apt-get install shellcheck): the scripts were not checked")
	}
	out, err := run(t, ".", shellcheck, slices.Concat([]string{"-x"}, scripts)...)
	if err != nil {
		t.Errorf("shellcheck scripts/*.sh: %v\n%s", err, out)
	}
}

// TestComposeConfig loads and resolves both compose files with the Compose
// Specification's own Go loader (the one `docker compose config` uses), so
// the check needs no Docker CLI: schema validation, interpolation, the
// env_file, and then what each mode promises, read from the typed project.
func TestComposeConfig(t *testing.T) {
	// A copy of docker/ whose .env is the sample, as after
	// `cp docker/.env-sample docker/.env`; no daemon is contacted.
	dir := filepath.Join(t.TempDir(), "docker")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "docker"))); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ".env"))
	sample, err := os.ReadFile(filepath.Join(dir, ".env-sample"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"compose.yml", "compose.local.yml"} {
		opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, file)},
			cli.WithWorkingDirectory(dir), cli.WithEnv([]string{}), cli.WithDotEnv)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		project, err := cli.ProjectFromOptions(context.Background(), opts)
		if err != nil {
			t.Errorf("%s does not load as a Compose file: %v", file, err)
			continue
		}
		bridge, err := project.GetService("bridge")
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if !slices.ContainsFunc(bridge.Ports, func(p types.ServicePortConfig) bool {
			return p.Target == 7400 && p.HostIP == "127.0.0.1" && p.Published == "7400"
		}) {
			t.Errorf("%s: the bridge is not published on 127.0.0.1:7400: %+v", file, bridge.Ports)
		}
		if !slices.ContainsFunc(bridge.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/var/lib/jetmon-bridge" }) {
			t.Errorf("%s: no volume holds the journal at /var/lib/jetmon-bridge: %+v", file, bridge.Volumes)
		}
		if _, ok := bridge.Environment["JETMON_DSN"]; !ok {
			t.Errorf("%s: the bridge's environment has no JETMON_DSN: %v", file, bridge.Environment)
		}
		if file == "compose.yml" {
			if n, ok := project.Networks["jetmon-shared"]; !ok || !bool(n.External) {
				t.Errorf("compose.yml does not join the external network jetmon-shared: %+v", project.Networks)
			}
		}
	}
}

// TestDockerFiles checks what the image and local mode promise.
func TestDockerFiles(t *testing.T) {
	dockerfile := read(t, "docker/Dockerfile")
	for _, want := range []string{
		"FROM golang:${GO_VERSION}-bookworm AS build", "ARG GO_VERSION=1.26", "CGO_ENABLED=0",
		"USER 65532:65532", `VOLUME ["/var/lib/jetmon-bridge"]`,
		`"-addr", "0.0.0.0:7400"`, `"-journal", "/var/lib/jetmon-bridge/jetmon-bridge.journal"`,
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("docker/Dockerfile lacks %q", want)
		}
	}
	ignore := read(t, "docker/Dockerfile.dockerignore")
	if !strings.Contains(ignore, "docker/.env") {
		t.Error("docker/Dockerfile.dockerignore does not keep docker/.env (secrets) out of the build context")
	}
	// No pattern may drop a directory that holds Go sources the build needs.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		goFiles, _ := filepath.Glob(filepath.Join(root, e.Name(), "*.go"))
		if len(goFiles) == 0 {
			continue
		}
		for _, pattern := range lines(ignore, regexp.MustCompile(`^\s*#`)) {
			if ok, _ := filepath.Match(strings.TrimSpace(pattern), e.Name()); ok {
				t.Errorf("docker/Dockerfile.dockerignore pattern %q drops the Go package directory %s/", pattern, e.Name())
			}
		}
	}

	local := read(t, "docker/compose.local.yml")
	for _, want := range []string{
		"image: mysql:8.0", "--log-bin=", "--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=",
		"--gtid-mode=ON", "--enforce-gtid-consistency=ON", "condition: service_healthy",
		"./mysql-init:/docker-entrypoint-initdb.d",
	} {
		if !strings.Contains(local, want) {
			t.Errorf("docker/compose.local.yml lacks %q", want)
		}
	}
	sql := read(t, "docker/mysql-init/jetmon.sql")
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS `jetpack_monitor_sites`",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'jetmon_bridge'@'%';",
		"GRANT SELECT ON jetmon.* TO 'jetmon_bridge'@'%';",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("docker/mysql-init/jetmon.sql lacks %q", want)
		}
	}
	// Exactly those grants: the bridge must not need more.
	if n := strings.Count(sql, "GRANT "); n != 2 {
		t.Errorf("docker/mysql-init/jetmon.sql has %d GRANT statements, want the 2 the bridge needs", n)
	}
	if !strings.Contains(local, "jetmon_bridge:") {
		t.Error("docker/compose.local.yml does not connect the bridge as the jetmon_bridge user")
	}
}

// serveFlags are the daemon's flags, as its -h lists them.
func serveFlags(t *testing.T) []string {
	t.Helper()
	flags := usageFlags(help(t, "jetmon-bridge"))
	sort.Strings(flags)
	if len(flags) < 8 {
		t.Fatalf("jetmon-bridge -h lists only %d flags (%v): has its usage changed?", len(flags), flags)
	}
	return flags
}

func envName(flag string) string {
	return "JETMON_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// TestSettingsDocumented checks that every flag's JETMON_ variable is
// documented in both settings samples and in the operator's guide.
func TestSettingsDocumented(t *testing.T) {
	files := map[string]string{}
	for _, f := range []string{"docker/.env-sample", "systemd/env.sample", "docs/operations.md"} {
		files[f] = read(t, f)
	}
	for _, flag := range serveFlags(t) {
		env := envName(flag)
		for name, text := range files {
			if !strings.Contains(text, env) {
				t.Errorf("%s does not document %s (-%s)", name, env, flag)
			}
		}
		if !strings.Contains(files["docs/operations.md"], "`-"+flag+"`") {
			t.Errorf("docs/operations.md does not document the flag `-%s`", flag)
		}
	}
	// Only the DSN is set by default; a sample that set JETMON_VERSION
	// would make the bridge print its version and exit.
	for _, f := range []string{"docker/.env-sample", "systemd/env.sample"} {
		if regexp.MustCompile(`(?m)^JETMON_VERSION=`).MatchString(files[f]) {
			t.Errorf("%s sets JETMON_VERSION", f)
		}
		if !regexp.MustCompile(`(?m)^JETMON_DSN=`).MatchString(files[f]) {
			t.Errorf("%s does not have a JETMON_DSN= line to fill in", f)
		}
	}
}
