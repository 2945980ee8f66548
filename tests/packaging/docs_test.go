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
	// for a flag: the command under cmd/ it is written for, the daemon's
	// ("jetmon-bridge", any of its subcommands) unless a command line or
	// the line around it names another
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
	// A test name, with the package path written before it if any; the
	// first group is the character before it, so "xTestY" is no name.
	testName = regexp.MustCompile(`(^|[^\w/.-])((?:[\w.-]+/)*)((?:Test|Fuzz|Benchmark)[A-Z0-9_]\w*)(\*?)`)
	// gotestsum's form, the package path and the name joined by a dot:
	// "tests/e2e.TestCrashesLoseAndRepeatNothing".
	dottedTestName = regexp.MustCompile(`(^|[^\w/.-])((?:[\w.-]+/)*[\w-]+)\.((?:Test|Fuzz|Benchmark)[A-Z0-9_]\w*)`)
	// A command of the repository run in a code block, and its arguments up
	// to the end of the command (a pipe, ;, &&, a comment).
	commandLine = regexp.MustCompile(`(?:^|[\s/])(jetmon-bridge|jetmon-sim|jetmon-bench)(?:[ \t]+([^|;&#\n]*))?(?:$|[|;&#\n])`)
	argFlag     = regexp.MustCompile(`^--?([a-z][a-z0-9-]*)(?:=.*)?$`)
	commandName = regexp.MustCompile(`\b(jetmon-bridge|jetmon-sim|jetmon-bench)\b`)
	flagName    = regexp.MustCompile("^`-([a-z][a-z0-9-]*)")
	metricName  = regexp.MustCompile(`\bjetmon_bridge_[a-z0-9_]+`)
	makeTarget  = regexp.MustCompile(`\bmake ([a-z][a-z0-9_-]*)`)
)

// docRefs finds the names text mentions. Tests and metrics count anywhere;
// flags only as inline code that starts with one ("`-journal PATH`"), since
// prose and shell examples are full of other programs' options; make
// targets only in code, since "make" is also an English verb.
func docRefs(text string) []docRef {
	lineOf := func(offset int) int { return strings.Count(text[:offset], "\n") + 1 }
	var refs []docRef
	for _, m := range testName.FindAllStringSubmatchIndex(text, -1) {
		refs = append(refs, docRef{
			kind: kindTest,
			dir:  strings.TrimSuffix(text[m[4]:m[5]], "/"),
			name: text[m[6]:m[7]],
			glob: m[9] > m[8],
			line: lineOf(m[6]),
		})
	}
	for _, m := range dottedTestName.FindAllStringSubmatchIndex(text, -1) {
		refs = append(refs, docRef{kind: kindTest, dir: text[m[4]:m[5]], name: text[m[6]:m[7]], line: lineOf(m[6])})
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
		for i := m[0]; i < m[1]; i++ {
			if prose[i] != '\n' {
				prose[i] = ' '
			}
		}
		refs = append(refs, commandFlagRefs(text, m[0], m[1], lineOf)...)
	}
	for _, m := range inlineCode.FindAllIndex(prose, -1) {
		code = append(code, m)
		if f := flagName.FindSubmatch(prose[m[0]:m[1]]); f != nil {
			// The command named last before it on its line, else the daemon.
			command := "jetmon-bridge"
			if named := commandName.FindAllString(lineBefore(text, m[0]), -1); len(named) > 0 {
				command = named[len(named)-1]
			}
			refs = append(refs, docRef{kind: kindFlag, name: string(f[1]), command: command, line: lineOf(m[0])})
		}
	}
	for _, c := range code {
		for _, m := range makeTarget.FindAllStringSubmatchIndex(text[c[0]:c[1]], -1) {
			refs = append(refs, docRef{kind: kindMake, name: text[c[0]+m[2] : c[0]+m[3]], line: lineOf(c[0] + m[2])})
		}
	}
	return refs
}

// commandFlagRefs finds the flags given to the repository's commands in
// the code block text[from:to] (a shell example): each argument that starts
// with a dash, after jetmon-bridge, jetmon-sim or jetmon-bench, up to the
// end of the command; a line ending in a backslash goes on.
func commandFlagRefs(text string, from, to int, lineOf func(int) int) []docRef {
	block := strings.ReplaceAll(text[from:to], "\\\n", "  ") // same length: offsets stay right
	var refs []docRef
	for _, m := range commandLine.FindAllStringSubmatchIndex(block, -1) {
		if m[4] < 0 {
			continue
		}
		command := block[m[2]:m[3]]
		for _, arg := range strings.Fields(block[m[4]:m[5]]) {
			if f := argFlag.FindStringSubmatch(arg); f != nil {
				refs = append(refs, docRef{kind: kindFlag, name: f[1], command: command, line: lineOf(from + m[2])})
			}
		}
	}
	return refs
}

// lineBefore is the line of text holding offset i, up to i.
func lineBefore(text string, i int) string {
	return text[strings.LastIndexByte(text[:i], '\n')+1 : i]
}

// codeIndex is what the repository defines.
type codeIndex struct {
	tests   map[string][]string        // function name -> the directories (slash paths) declaring it
	flags   map[string]map[string]bool // command under cmd/ -> the flags it and its subcommands define
	metrics map[string]bool
	targets map[string]bool
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
				// "e2e" for tests/e2e, or the module path for gotestsum's form.
				if r.dir == "" || d == r.dir || strings.HasSuffix(d, "/"+r.dir) || strings.HasSuffix(r.dir, "/"+d) {
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
		if !c.flags[r.command][r.name] && !foreignFlags[r.name] {
			for other, flags := range c.flags {
				if flags[r.name] {
					return "the flag -" + r.name + " as " + r.command + "'s, but only " + other + " defines it: name that command before it on the line"
				}
			}
			return "the flag -" + r.name + " of " + r.command + ", but no command under cmd/ defines it"
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
	c := codeIndex{tests: map[string][]string{}, flags: commandFlags(t), metrics: map[string]bool{}, targets: map[string]bool{}}
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
// "journal -h") and the other binaries. Asking the binaries sees flags
// whatever way the code builds their names.
func commandFlags(t *testing.T) map[string]map[string]bool {
	t.Helper()
	flags := map[string]map[string]bool{}
	command := "jetmon-bridge"
	add := func(names []string) {
		if flags[command] == nil {
			flags[command] = map[string]bool{}
		}
		for _, n := range names {
			flags[command][n] = true
		}
	}
	add(usageFlags(help(t, "jetmon-bridge")))
	add(usageFlags(help(t, "jetmon-bridge", "replay")))
	subcommand := regexp.MustCompile(`(?m)^  ([a-z]+)  +\S`)
	subs := subcommand.FindAllStringSubmatch(help(t, "jetmon-bridge", "journal"), -1)
	if len(subs) == 0 {
		t.Fatal("jetmon-bridge journal -h lists no subcommands: has its usage changed?")
	}
	for _, m := range subs {
		add(usageFlags(help(t, "jetmon-bridge", "journal", m[1])))
	}
	entries, err := os.ReadDir(commands(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "jetmon-bridge" {
			command = e.Name()
			add(usageFlags(help(t, e.Name())))
			for _, sub := range flagSetSubcommands(t, e.Name()) {
				add(usageFlags(help(t, e.Name(), sub)))
			}
		}
	}
	return flags
}

// flagSetSubcommands returns the subcommands of command (a binary under
// cmd/ other than the daemon) that parse flags of their own: those a
// flag.NewFlagSet("command sub", ...) in the code names, and only those,
// since a subcommand that does not would run instead of printing its help.
func flagSetSubcommands(t *testing.T, command string) []string {
	t.Helper()
	named := regexp.MustCompile(`flag\.NewFlagSet\("` + regexp.QuoteMeta(command) + ` ([a-z]+)"`)
	var subs []string
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			for _, m := range named.FindAllStringSubmatch(string(src), -1) {
				subs = append(subs, m[1])
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return subs
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

// TestDocRefsReadEveryForm: the forms the documents write names in are
// all read, so a stale name in any of them fails TestDocsNameWhatExists:
// gotestsum's "tests/e2e.TestX", flags given to a command in a code block
// (continued lines too), and a flag after jetmon-sim or jetmon-bench on
// its line counted as that command's, not the daemon's.
func TestDocRefsReadEveryForm(t *testing.T) {
	text := "It prints `PASS tests/e2e.TestCrashesLoseAndRepeatNothing (4.8s)`.\n" +
		"```sh\n" +
		"jetmon-bridge serve -dsn 'u@tcp(h)/db' \\\n" +
		"  --journal=/var/lib/b.journal | tee log  # -not-a-flag\n" +
		"go run ./cmd/jetmon-sim -rate 5\n" +
		"docker logs -f jetmon-bridge\n" +
		"```\n" +
		"The daemon's `-read-timeout`; jetmon-bench's `-scale 0.1`.\n"
	var got []string
	for _, r := range docRefs(text) {
		switch r.kind {
		case kindTest:
			got = append(got, fmt.Sprintf("test %s %s line %d", r.dir, r.name, r.line))
		case kindFlag:
			got = append(got, fmt.Sprintf("flag %s -%s line %d", r.command, r.name, r.line))
		}
	}
	want := []string{
		"test tests/e2e TestCrashesLoseAndRepeatNothing line 1",
		"flag jetmon-bridge -dsn line 3",
		"flag jetmon-bridge -journal line 3",
		"flag jetmon-sim -rate line 5",
		"flag jetmon-bridge -read-timeout line 8",
		"flag jetmon-bench -scale line 8",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("docRefs read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
