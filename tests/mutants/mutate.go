package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/internal/mutants"
)

// runner applies mutations to the scratch copy in dir, one at a time.
type runner struct {
	dir     string
	verbose bool
	timeout time.Duration
	out     io.Writer
}

type outcome int

const (
	killed outcome = iota
	survived
	invalid
)

// result is what became of one mutation.
type result struct {
	name    string
	outcome outcome
	killer  string   // the test that failed, when killed
	ran     []string // the tests that ran and passed, or skipped
	reason  string   // why invalid
	took    time.Duration
}

func (r result) line() string {
	took := r.took.Round(time.Second)
	switch r.outcome {
	case killed:
		return fmt.Sprintf("killed    %s  by %s  (%s)", r.name, r.killer, took)
	case survived:
		return fmt.Sprintf("SURVIVED  %s  (passed: %s)  (%s)", r.name, strings.Join(r.ran, ", "), took)
	default:
		return fmt.Sprintf("INVALID   %s: %s", r.name, r.reason)
	}
}

type summary struct{ total, killed, survived, invalid int }

func (s *summary) add(r result) {
	s.total++
	switch r.outcome {
	case killed:
		s.killed++
	case survived:
		s.survived++
	default:
		s.invalid++
	}
}

func (s summary) line(took time.Duration) string {
	took = took.Round(time.Second)
	return fmt.Sprintf("%d mutations, %d killed, %d survived, %d invalid in %dm %ds",
		s.total, s.killed, s.survived, s.invalid, int(took.Minutes()), int(took.Seconds())%60)
}

// mutate applies m, runs its tests until one fails, and reverts it.
func (r runner) mutate(m mutants.Mutation) result {
	start := time.Now()
	res := r.mutateApplied(m)
	res.name = m.Name
	res.took = time.Since(start)
	return res
}

func (r runner) mutateApplied(m mutants.Mutation) result {
	patch, err := filepath.Abs(m.Path)
	if err != nil {
		return result{outcome: invalid, reason: err.Error()}
	}
	if out, err := r.cmd("git", "apply", "--check", patch); err != nil {
		return result{outcome: invalid, reason: "does not apply to the tree (regenerate it): " + oneLine(out)}
	}
	saved, err := r.save(m.Diff)
	if err != nil {
		return result{outcome: invalid, reason: err.Error()}
	}
	if out, err := r.cmd("git", "apply", patch); err != nil {
		return result{outcome: invalid, reason: "git apply: " + oneLine(out)}
	}
	defer func() {
		if err := saved.restore(); err != nil {
			// Every later mutation would run on a broken tree.
			fmt.Fprintf(os.Stderr, "mutants: reverting %s: %v\n", m.Name, err)
			os.Exit(2)
		}
	}()

	// A mutant that does not build, or whose tests do not, proves nothing.
	if out, err := r.cmd("go", "build", "./..."); err != nil {
		return result{outcome: invalid, reason: "the mutant does not build: " + oneLine(out)}
	}
	var pkgs []string
	for _, t := range m.KilledBy {
		if !slices.Contains(pkgs, t.PkgArg()) {
			pkgs = append(pkgs, t.PkgArg())
		}
	}
	if out, err := r.cmd("go", append([]string{"vet"}, pkgs...)...); err != nil {
		return result{outcome: invalid, reason: "the mutant's tests do not build or vet: " + oneLine(out)}
	}

	var res result
	res.outcome = survived
	for _, t := range m.KilledBy {
		v, detail := r.runTest(t)
		switch v {
		case verdictFail:
			res.outcome, res.killer = killed, t.Cited
			if r.verbose {
				fmt.Fprint(r.out, indent(detail))
			}
			return res
		case verdictBroken:
			return result{outcome: invalid, reason: t.Cited + ": " + detail}
		case verdictSkip:
			res.ran = append(res.ran, t.Cited+" (skipped)")
			if r.verbose {
				fmt.Fprint(r.out, indent(detail))
			}
		default:
			res.ran = append(res.ran, t.Cited)
		}
	}
	return res
}

type verdict int

const (
	verdictPass verdict = iota
	verdictFail
	verdictSkip
	verdictBroken // did not build, or matched no test
)

// testEvent is one line of go test -json.
type testEvent struct {
	Action      string
	Package     string
	Test        string
	Output      string
	FailedBuild string
}

// runTest runs one cited test by name and reads what became of it.
func (r runner) runTest(t mutants.Test) (verdict, string) {
	out, _ := r.cmd("go", "test", "-count=1", "-json", "-timeout", r.timeout.String(), "-run", t.Pattern(), t.PkgArg())
	var (
		output   strings.Builder
		ran      bool
		failed   bool
		skipped  bool
		pkgFail  bool
		buildErr bool
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e testEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			output.WriteString(sc.Text() + "\n") // the build's own output
			continue
		}
		output.WriteString(e.Output)
		switch {
		case e.Action == "build-fail" || e.FailedBuild != "":
			buildErr = true
		case e.Test == "":
			if e.Action == "fail" {
				pkgFail = true
			}
		case !strings.Contains(e.Test, "/") || t.Sub != "":
			switch e.Action {
			case "run":
				ran = true
			case "fail":
				failed = true
			case "skip":
				skipped = true
			}
		}
	}
	switch {
	case buildErr:
		return verdictBroken, "does not build: " + oneLine(out)
	case failed:
		return verdictFail, output.String()
	case pkgFail:
		// The package failed outside the test: TestMain (it builds the
		// binary, starts servers) or a panic. The mutant broke it; that counts.
		return verdictFail, output.String()
	case !ran:
		return verdictBroken, "-run " + t.Pattern() + " " + t.PkgArg() + " ran no test: is the name stale?"
	case skipped:
		return verdictSkip, output.String()
	}
	return verdictPass, output.String()
}

// cmd runs a command in the scratch copy, returning its combined output.
func (r runner) cmd(name string, args ...string) ([]byte, error) {
	if r.verbose {
		fmt.Fprintf(r.out, "  $ %s %s\n", name, strings.Join(args, " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout+5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = r.dir
	c.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(r.dir))
	return c.CombinedOutput()
}

// savedFiles holds the files a patch touches as they were before it.
type savedFiles struct {
	dir   string
	files map[string][]byte // nil: the file did not exist
	modes map[string]os.FileMode
}

var diffHeader = regexp.MustCompile(`(?m)^diff --git a/(\S+) b/(\S+)$`)

func (r runner) save(diff string) (savedFiles, error) {
	s := savedFiles{dir: r.dir, files: map[string][]byte{}, modes: map[string]os.FileMode{}}
	for _, m := range diffHeader.FindAllStringSubmatch(diff, -1) {
		for _, rel := range m[1:] {
			path := filepath.Join(r.dir, rel)
			info, err := os.Stat(path)
			if os.IsNotExist(err) {
				s.files[rel] = nil
				continue
			}
			if err != nil {
				return s, err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return s, err
			}
			s.files[rel], s.modes[rel] = b, info.Mode().Perm()
		}
	}
	if len(s.files) == 0 {
		return s, fmt.Errorf("the patch names no file (no \"diff --git a/X b/X\" line)")
	}
	return s, nil
}

func (s savedFiles) restore() error {
	for rel, b := range s.files {
		path := filepath.Join(s.dir, rel)
		if b == nil {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				return err
			}
			continue
		}
		if err := os.WriteFile(path, b, s.modes[rel]); err != nil {
			return err
		}
	}
	return nil
}

func oneLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var keep []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
		if len(keep) == 3 {
			break
		}
	}
	return strings.Join(keep, "; ")
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    | " + l + "\n")
	}
	return b.String()
}
