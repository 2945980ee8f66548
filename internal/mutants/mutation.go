// Package mutants reads the mutation patches under tests/mutants and the
// guarantee table of docs/ARCHITECTURE.md they answer to. The runner
// (go run ./tests/mutants) applies them; tests/packaging holds the patches
// and the table to each other. docs/development.md ("Mutation testing")
// describes the format.
package mutants

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Dir is where the patches live, relative to the repository root.
const Dir = "tests/mutants"

// Mutation is one patch file: a header naming what it breaks and the tests
// that must catch it, then a git diff.
type Mutation struct {
	Name      string // the file name without ".patch"
	Path      string // the file's path
	What      string // Mutation: the bug, in words
	Guarantee string // Guarantee: the first cell of a row of the table, verbatim
	KilledBy  []Test // Killed-by: the row's tests to run, in order
	MendedIn  string // Mended-in: the test mended to catch it, or "-"
	Diff      string // from the first "diff --git" on
}

// Test is a test as the guarantee table writes it: "binlog/TestProvenBy",
// "TestTransition" (the root package), "tests/e2e/TestX", "journal/TestVerify*".
type Test struct {
	Cited string // as written
	Pkg   string // the package directory, "." for the root
	Func  string // the function name, without a trailing '*'
	Glob  bool   // written as a prefix: every test whose name starts so
	Sub   string // a subtest path after the function, if any
}

// Pattern is the -run argument that selects exactly this test.
func (t Test) Pattern() string {
	p := "^" + t.Func + "$"
	if t.Glob {
		p = "^" + t.Func
	}
	if t.Sub != "" {
		for _, s := range strings.Split(t.Sub, "/") {
			p += "/^" + s + "$"
		}
	}
	return p
}

// PkgArg is the package argument of go test: "./binlog", ".".
func (t Test) PkgArg() string {
	if t.Pkg == "." {
		return "."
	}
	return "./" + t.Pkg
}

// ParseTest reads one test name in the table's form.
func ParseTest(s string) (Test, error) {
	t := Test{Cited: s, Pkg: "."}
	parts := strings.Split(s, "/")
	fn := -1
	for i, p := range parts {
		if isTestFunc(strings.TrimSuffix(p, "*")) {
			fn = i
			break
		}
	}
	if fn < 0 {
		return Test{}, fmt.Errorf("%q names no test: write it as the guarantee table does, e.g. binlog/TestProvenBy or TestTransition", s)
	}
	if fn > 0 {
		t.Pkg = strings.Join(parts[:fn], "/")
	}
	t.Func = parts[fn]
	if strings.HasSuffix(t.Func, "*") {
		t.Func, t.Glob = strings.TrimSuffix(t.Func, "*"), true
	}
	t.Sub = strings.Join(parts[fn+1:], "/")
	return t, nil
}

func isTestFunc(s string) bool {
	for _, prefix := range []string{"Test", "Fuzz", "Benchmark", "Example"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok && (rest == "" || !strings.ContainsAny(rest[:1], "abcdefghijklmnopqrstuvwxyz")) {
			return true
		}
	}
	return false
}

// Parse reads a patch file's text.
func Parse(name, text string) (Mutation, error) {
	m := Mutation{Name: name}
	i := strings.Index(text, "diff --git ")
	if i < 0 {
		return m, fmt.Errorf("%s: no \"diff --git\" line: a patch is a header, a blank line, then the output of git diff", name)
	}
	m.Diff = text[i:]
	header := text[:i]
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(header))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return m, fmt.Errorf("%s: header line %q is not \"Key: value\"", name, line)
		}
		value = strings.TrimSpace(value)
		if seen[key] {
			return m, fmt.Errorf("%s: %s: appears twice in the header", name, key)
		}
		seen[key] = true
		switch key {
		case "Mutation":
			m.What = value
		case "Guarantee":
			m.Guarantee = value
		case "Killed-by":
			for _, f := range strings.Fields(value) {
				t, err := ParseTest(f)
				if err != nil {
					return m, fmt.Errorf("%s: Killed-by: %w", name, err)
				}
				m.KilledBy = append(m.KilledBy, t)
			}
		case "Mended-in":
			m.MendedIn = value
		default:
			return m, fmt.Errorf("%s: unknown header %q: the keys are Mutation, Guarantee, Killed-by, Mended-in", name, key)
		}
	}
	for key, value := range map[string]string{"Mutation": m.What, "Guarantee": m.Guarantee, "Mended-in": m.MendedIn} {
		if !seen[key] {
			return m, fmt.Errorf("%s: the header has no %s: line", name, key)
		}
		if value == "" {
			return m, fmt.Errorf("%s: %s: is empty (Mended-in: takes \"-\" when no test was mended)", name, key)
		}
	}
	if !seen["Killed-by"] {
		return m, fmt.Errorf("%s: the header has no Killed-by: line", name)
	}
	if len(m.KilledBy) == 0 {
		return m, fmt.Errorf("%s: Killed-by: names no test", name)
	}
	return m, nil
}

// fileName is the form of a patch's name: the guarantee, two hyphens, the
// mutation, in lower case with hyphens.
var fileName = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*--[a-z0-9]+(?:-[a-z0-9]+)*$`)

// Load reads every patch under root's tests/mutants, in name order.
func Load(root string) ([]Mutation, error) {
	paths, err := filepath.Glob(filepath.Join(root, Dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []Mutation
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(p), ".patch")
		if !fileName.MatchString(name) {
			return nil, fmt.Errorf("%s: name a patch <guarantee>--<what>.patch, in lower case with hyphens (e.g. lagging-replica--status-proof-claims-now.patch)", p)
		}
		m, err := Parse(name, string(text))
		if err != nil {
			return nil, err
		}
		m.Path = p
		out = append(out, m)
	}
	return out, nil
}
