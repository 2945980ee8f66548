package packaging

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestDocsNameWhatExists keeps the documentation honest: every Go test, fuzz
// target and benchmark, command-line flag, metric and make target that
// README.md, another Markdown file at the root or a page under docs/ names
// must exist in the code. Names are read from the sources, wherever in the
// repository they live, so moving packages does not break the check; a
// name that a move leaves stale does.
func TestDocsNameWhatExists(t *testing.T) {
	code := indexCode(t)
	docs := docFiles(t)
	found := map[string]int{}
	for _, doc := range docs {
		text := read(t, doc)
		for _, ref := range docRefs(text) {
			found[ref.kind]++
			if problem := code.check(ref); problem != "" {
				t.Errorf("%s:%d names %s", doc, ref.line, problem)
			}
		}
	}
	// A pattern that stopped matching would let every name through.
	for _, kind := range []string{kindTest, kindFlag, kindMetric, kindMake} {
		if found[kind] == 0 {
			t.Errorf("no %s is named in %v: has the documentation's form changed, or this test's patterns?", kind, docs)
		}
	}
}

const (
	kindTest   = "test"
	kindFlag   = "flag"
	kindMetric = "metric"
	kindMake   = "make target"
)

// docRef is one name a document mentions.
type docRef struct {
	kind string
	name string // for a test: the function name, without a trailing '*'
	dir  string // for a test: the package path written before it ("e2e"), if any
	glob bool   // for a test: written as a prefix, "TestWriteDeadline*"
	// command is, for a flag given on a command line in a fenced block,
	// the command it is given to ("jetmon-bridge journal export"); empty
	// for a flag named in inline code, which may be any command's.
	command string
	line    int
}

// docFiles are the Markdown files the check reads, relative to root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, filepath.ToSlash(r))
	}
	if !slices.Contains(rel, "README.md") {
		t.Fatalf("README.md not found among %v", rel)
	}
	return rel
}

var (
	fence      = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```[^\\n]*$")
	inlineCode = regexp.MustCompile("`[^`\\n]+`")
	// A test name, with the package path written before it if any, as the
	// table writes it ("tests/e2e/TestX") or as gotestsum prints it
	// ("tests/e2e.TestX"); the first group is the character before it, so
	// "xTestY" is no name.
	testName   = regexp.MustCompile(`(^|[^\w/.-])((?:[\w.-]+/)*)(?:([\w-]+)\.)?((?:Test|Fuzz|Benchmark)[A-Z0-9_]\w*)(\*?)`)
	flagName   = regexp.MustCompile("^`-([a-z][a-z0-9-]*)")
	metricName = regexp.MustCompile(`\bjetmon_bridge_[a-z0-9_]+`)
	makeTarget = regexp.MustCompile(`\bmake ([a-z][a-z0-9_-]*)`)
)

// docRefs finds the names text mentions. Tests and metrics count anywhere;
// flags as inline code that starts with one ("`-journal PATH`") and on the
// command lines of fenced blocks that run one of the bridge's binaries,
// since prose and shell examples are full of other programs' options; make
// targets only in code, since "make" is also an English verb.
func docRefs(text string) []docRef {
	lineOf := func(offset int) int { return strings.Count(text[:offset], "\n") + 1 }
	var refs []docRef
	for _, m := range testName.FindAllStringSubmatchIndex(text, -1) {
		dir := text[m[4]:m[5]]
		if m[6] >= 0 { // gotestsum's "dir.TestX"
			dir += text[m[6]:m[7]]
		}
		refs = append(refs, docRef{
			kind: kindTest,
			dir:  strings.TrimSuffix(dir, "/"),
			name: text[m[8]:m[9]],
			glob: m[11] > m[10],
			line: lineOf(m[8]),
		})
	}
	for _, m := range metricName.FindAllStringIndex(text, -1) {
		refs = append(refs, docRef{kind: kindMetric, name: text[m[0]:m[1]], line: lineOf(m[0])})
	}
	// Code: fenced blocks, then inline spans outside them (blanked so that
	// offsets, and so line numbers, stay right).
	var code [][]int
	prose := []byte(text)
	for _, m := range fence.FindAllStringIndex(text, -1) {
		code = append(code, m)
		for _, f := range commandLineFlags(text[m[0]:m[1]]) {
			f.line = lineOf(m[0] + f.line)
			refs = append(refs, f)
		}
		for i := m[0]; i < m[1]; i++ {
			if prose[i] != '\n' {
				prose[i] = ' '
			}
		}
	}
	for _, m := range inlineCode.FindAllIndex(prose, -1) {
		code = append(code, m)
		if f := flagName.FindSubmatch(prose[m[0]:m[1]]); f != nil {
			refs = append(refs, docRef{kind: kindFlag, name: string(f[1]), line: lineOf(m[0])})
		}
	}
	for _, c := range code {
		for _, m := range makeTarget.FindAllStringSubmatchIndex(text[c[0]:c[1]], -1) {
			refs = append(refs, docRef{kind: kindMake, name: text[c[0]+m[2] : c[0]+m[3]], line: lineOf(c[0] + m[2])})
		}
	}
	return refs
}

// bridgeCommands are the binaries whose command lines commandLineFlags
// reads.
var bridgeCommands = map[string]bool{"jetmon-bridge": true, "jetmon-sim": true, "jetmon-bench": true}

// commandLineFlags finds the flags given to the bridge's binaries on the
// command lines of a fenced block (lines continued with a backslash
// joined), each with the command it is given to; their line is the offset
// in block where they are written. A line ends at a pipe, a redirection or
// a list operator; "[-token T | -token-file F]", a usage's alternatives,
// does not end it.
func commandLineFlags(block string) []docRef {
	joined := strings.ReplaceAll(block, "\\\n", "  ") // the same length: offsets stay right
	token := regexp.MustCompile(`\S+`)
	flag := regexp.MustCompile(`^-([a-z][a-z0-9-]*)(?:=.*)?$`)
	var refs []docRef
	start := 0
	for _, line := range strings.SplitAfter(joined, "\n") {
		words := token.FindAllStringIndex(line, -1)
		for i := 0; i < len(words); i++ {
			word := line[words[i][0]:words[i][1]]
			if !bridgeCommands[path.Base(word)] {
				continue
			}
			command := path.Base(word)
			next := func(j int) string {
				if j < len(words) {
					return line[words[j][0]:words[j][1]]
				}
				return ""
			}
			j := i + 1
			if command == "jetmon-bridge" {
				switch next(j) {
				case "serve":
					j++
				case "replay":
					command += " replay"
					j++
				case "journal":
					command += " journal " + next(j+1)
					j += 2
				}
			}
			depth := 0
			for ; j < len(words); j++ {
				w := line[words[j][0]:words[j][1]]
				if depth == 0 && (strings.ContainsAny(w[:1], "|;&<>") || strings.HasPrefix(w, "2>")) {
					break
				}
				depth += strings.Count(w, "[") - strings.Count(w, "]")
				if m := flag.FindStringSubmatch(strings.Trim(w, "[]")); m != nil {
					refs = append(refs, docRef{kind: kindFlag, name: m[1], command: command, line: start + words[j][0]})
				}
			}
			i = j
		}
		start += len(line)
	}
	return refs
}

// codeIndex is what the repository defines.
type codeIndex struct {
	tests map[string][]string // function name -> the directories (slash paths) declaring it
	flags map[string]bool
	// commands are the flags of each command line: "jetmon-bridge" (the
	// daemon), "jetmon-bridge replay", "jetmon-bridge journal stats", ...,
	// and the other binaries by name.
	commands map[string]map[string]bool
	metrics  map[string]bool
	targets  map[string]bool
}

// foreignFlags are flags the documents may name that no command of the
// bridge defines: the flag package's own help, and go test's.
var foreignFlags = map[string]bool{
	"h": true, "help": true,
	"race": true, "run": true, "count": true, "bench": true, "benchtime": true, "fuzz": true, "fuzztime": true, "v": true,
}

func (c codeIndex) check(r docRef) string {
	switch r.kind {
	case kindTest:
		for name, dirs := range c.tests {
			if name != r.name && !(r.glob && strings.HasPrefix(name, r.name)) {
				continue
			}
			for _, d := range dirs {
				if r.dir == "" || d == r.dir || strings.HasSuffix(d, "/"+r.dir) {
					return ""
				}
			}
		}
		where := "any package"
		if r.dir != "" {
			where = "a package at .../" + r.dir
		}
		written := path.Join(r.dir, r.name)
		if r.glob {
			written += "*"
		}
		return "the test " + written + ", but no *_test.go in " + where + " declares it"
	case kindFlag:
		if r.command != "" && !foreignFlags[r.name] {
			flags, ok := c.commands[r.command]
			if !ok {
				return "`" + r.command + "`, which is no command of the bridge's"
			}
			if !flags[r.name] {
				return "the flag -" + r.name + " on a command line of `" + r.command + "`, which that command does not define"
			}
			return ""
		}
		if !c.flags[r.name] && !foreignFlags[r.name] {
			return "the flag -" + r.name + ", but no command under cmd/ defines it"
		}
	case kindMetric:
		base := r.name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if trimmed, ok := strings.CutSuffix(base, suffix); ok && c.metrics[trimmed] {
				base = trimmed
			}
		}
		if !c.metrics[base] {
			return "the metric " + r.name + ", which the code does not register"
		}
	case kindMake:
		if !c.targets[r.name] {
			return "`make " + r.name + "`, but the Makefile has no such target"
		}
	}
	return ""
}

// indexCode reads every Go file of the repository (but .git, hidden and
// testdata directories) and the Makefile.
func indexCode(t *testing.T) codeIndex {
	t.Helper()
	c := codeIndex{tests: map[string][]string{}, metrics: map[string]bool{}, targets: map[string]bool{}}
	c.flags, c.commands = commandFlags(t)
	testFunc := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)\w*)\(`)
	packages := map[string][]*ast.File{} // non-test files by directory
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		if strings.HasSuffix(p, "_test.go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range testFunc.FindAllStringSubmatch(string(src), -1) {
				c.tests[m[1]] = append(c.tests[m[1]], dir)
			}
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		packages[dir] = append(packages[dir], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, files := range packages {
		consts := stringConsts(files)
		for _, f := range files {
			addMetrics(f, consts, c.metrics)
		}
	}
	makefile := read(t, "Makefile")
	rule := regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:([^=]|$)`)
	for _, m := range rule.FindAllStringSubmatch(makefile, -1) {
		for _, target := range strings.Fields(m[1]) {
			c.targets[target] = true
		}
	}
	for kind, n := range map[string]int{"tests": len(c.tests), "flags": len(c.flags), "metrics": len(c.metrics), "make targets": len(c.targets)} {
		if n == 0 {
			t.Fatalf("found no %s in the repository: has the code's form changed, or this test's patterns?", kind)
		}
	}
	return c
}

// commandFlags returns every flag the commands under cmd/ define, as their
// own -h prints them: the daemon, replay, each journal subcommand (listed by
// "journal -h") and the other binaries; all of them, and by command line.
// Asking the binaries sees flags whatever way the code builds their names.
func commandFlags(t *testing.T) (flags map[string]bool, byCommand map[string]map[string]bool) {
	t.Helper()
	flags, byCommand = map[string]bool{}, map[string]map[string]bool{}
	add := func(command string, names []string) {
		if byCommand[command] == nil {
			byCommand[command] = map[string]bool{}
		}
		for _, n := range names {
			flags[n] = true
			byCommand[command][n] = true
		}
	}
	add("jetmon-bridge", usageFlags(help(t, "jetmon-bridge")))
	add("jetmon-bridge replay", usageFlags(help(t, "jetmon-bridge", "replay")))
	subcommand := regexp.MustCompile(`(?m)^  ([a-z]+)  +\S`)
	subs := subcommand.FindAllStringSubmatch(help(t, "jetmon-bridge", "journal"), -1)
	if len(subs) == 0 {
		t.Fatal("jetmon-bridge journal -h lists no subcommands: has its usage changed?")
	}
	for _, m := range subs {
		add("jetmon-bridge journal "+m[1], usageFlags(help(t, "jetmon-bridge", "journal", m[1])))
	}
	entries, err := os.ReadDir(commands(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "jetmon-bridge" {
			add(e.Name(), usageFlags(help(t, e.Name())))
		}
	}
	return flags, byCommand
}

var (
	commandsOnce sync.Once
	commandsDir  string
	commandsErr  error
)

// commands builds the binaries under cmd/ once per test run and returns
// their directory.
func commands(t *testing.T) string {
	t.Helper()
	commandsOnce.Do(func() {
		if commandsDir, commandsErr = os.MkdirTemp("", "jetmon-bridge-commands-"); commandsErr != nil {
			return
		}
		build := exec.Command("go", "build", "-o", commandsDir+"/", "./cmd/...")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			commandsErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
		}
	})
	if commandsErr != nil {
		t.Fatal(commandsErr)
	}
	return commandsDir
}

// help returns what command (a binary under cmd/) prints for args and -h.
func help(t *testing.T, command string, args ...string) string {
	t.Helper()
	out, _ := exec.Command(filepath.Join(commands(t), command), append(args, "-h")...).CombinedOutput()
	return string(out)
}

// usageFlags returns the flag names a flag.FlagSet's usage lists.
func usageFlags(usage string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(usage, -1) {
		names = append(names, m[1])
	}
	return names
}

// addMetrics adds the metric names f registers: Prometheus options with a
// Name (joined with their Namespace and Subsystem) and the names given to
// prometheus.NewDesc.
func addMetrics(f *ast.File, consts map[string]string, metrics map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			fields := map[string]string{}
			for _, e := range n.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, ok := kv.Key.(*ast.Ident)
				if !ok {
					continue
				}
				if v, ok := evalString(kv.Value, consts); ok {
					fields[key.Name] = v
				}
			}
			if name, ok := fields["Name"]; ok && fields["Namespace"] != "" {
				parts := slices.DeleteFunc([]string{fields["Namespace"], fields["Subsystem"], name}, func(s string) bool { return s == "" })
				metrics[strings.Join(parts, "_")] = true
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
				if name, ok := evalString(n.Args[0], consts); ok {
					metrics[name] = true
				}
			}
		}
		return true
	})
}

// stringConsts are a package's constants whose value is a string
// expression of literals and other such constants.
func stringConsts(files []*ast.File) map[string]string {
	consts := map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, decl := range f.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.CONST {
					continue
				}
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if _, done := consts[name.Name]; done || i >= len(vs.Values) {
							continue
						}
						if v, ok := evalString(vs.Values[i], consts); ok {
							consts[name.Name], changed = v, true
						}
					}
				}
			}
		}
	}
	return consts
}

// evalString evaluates a string literal, a known constant, or a sum of them.
func evalString(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		return stringLit(e)
	case *ast.Ident:
		v, ok := consts[e.Name]
		return v, ok
	case *ast.ParenExpr:
		return evalString(e.X, consts)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		x, ok := evalString(e.X, consts)
		if !ok {
			return "", false
		}
		y, ok := evalString(e.Y, consts)
		return x + y, ok
	}
	return "", false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// TestMain removes the binaries commands built.
func TestMain(m *testing.M) {
	code := m.Run()
	if commandsDir != "" {
		os.RemoveAll(commandsDir)
	}
	os.Exit(code)
}
