package packaging

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestDocsQuoteWhatTheCodePrints holds every error and log message the
// documents quote to the code's own strings, so that a message reworded in
// the code fails here until the documents follow. The quotes are the
// messages of "Troubleshooting by error message" in docs/operations.md
// (the code in a table row's first cell, remarks in parentheses aside)
// and, on every page, code that follows words introducing a message
// ("logs", "the log line", "at warning level", "fails with", "refuses to
// start (", "reported as", a reason "(e.g.", "gets"; see quoteIntro).
//
// A quote matches when one of the code's format strings (fmt verbs become
// slots; a %w or %v given a package's errors.New variable is replaced by
// its text) can print it: a slot holds a value the document writes as a
// placeholder or an example (PATH, HOST:PORT, N, OFF, jetmon_db, a quoted
// string) or another of the code's messages, wrapped as fmt.Errorf does,
// and "..." or "…" in the quote stands for whatever the code prints there
// (between two of them, another program's text may fill a slot: "...
// Error 1045 (28000): Access denied ...: check the user ...").
func TestDocsQuoteWhatTheCodePrints(t *testing.T) {
	messages := codeMessages(t)
	checked := 0
	for _, doc := range docFiles(t) {
		for _, q := range docQuotes(read(t, doc)) {
			checked++
			if !messages.print(q.text) {
				t.Errorf("%s:%d quotes %q, which no message of the code prints", doc, q.line, q.text)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d messages quoted in the documents: has their form changed, or this test's patterns?", checked)
	}
}

// TestQuoteMatching checks the matcher on messages built as the code
// builds them, and on drifted quotes it must refuse.
func TestQuoteMatching(t *testing.T) {
	m := newMessageSet([]string{
		"read journal %s: %w",
		"unsupported journal format %d (this build reads format %d: is the file from a newer jetmon-bridge?)",
		"journal record is corrupt",
		"replica preflight: %w",
		"the replica's binlog_format is %s: set binlog_format=ROW and restart replication",
		"%s: %w", // letters none: wraps nothing
		"-dsn is required: give the replica's DSN, e.g. -dsn 'user:password@tcp(replica:3306)/jetmon_db'",
	})
	for _, c := range []struct {
		quote string
		ok    bool
	}{
		{"read journal PATH: unsupported journal format ...", true},
		{"read journal PATH: unsupported journal format 3 (this build reads format 2: is the file from a newer jetmon-bridge?)", true},
		{"read journal PATH: journal record is corrupt: unsupported journal format ...", false},
		{"replica preflight: the replica's binlog_format is STATEMENT: set binlog_format=ROW and restart replication", true},
		{"replica preflight: the replica's binlog_format is STATEMENT: set binlog_format=ROW and restart it", false},
		{"replica preflight: the replica's binlog_format is not ROW: ...", false},
		{"-dsn is required: give the replica's DSN, ...", true},
		{"-dsn is required: ...", true},
		{"-dsn is needed: ...", false},
		{"the replica's binlog_format is ...: set binlog_format=ROW ...", true},
		{"replica preflight: ...", true},
		{"read journal PATH: ...", true},
		{"read journal ...: unsupported journal format N ...", true},
		{"unsupported journal format N ... is the file from a newer jetmon-bridge?)", true},
	} {
		if got := m.print(c.quote); got != c.ok {
			t.Errorf("%q: printed %v, want %v", c.quote, got, c.ok)
		}
	}
}

// docQuote is a message a document quotes.
type docQuote struct {
	text string
	line int
}

var (
	// anyCode is inline code, which may wrap inside a paragraph.
	anyCode = regexp.MustCompile("`([^`]+)`")
	// quoteIntro ends the text before code that quotes a message.
	quoteIntro = regexp.MustCompile(`(?i)(log line|\blogs|\blogged|\blevel|\bfails? with|refuses to start \(|reported as|\breason\b[^.]*\(e\.g\.|\bgets)\s*$`)
	// httpError is an error answer written with its status.
	httpError = regexp.MustCompile(`^\d{3} \{"error":"(.*)"\}$`)
)

// docQuotes returns the messages text quotes.
func docQuotes(text string) []docQuote {
	lineOf := func(offset int) int { return strings.Count(text[:offset], "\n") + 1 }
	prose := []byte(text)
	for _, m := range fence.FindAllStringIndex(text, -1) {
		for i := m[0]; i < m[1]; i++ {
			if prose[i] != '\n' {
				prose[i] = ' '
			}
		}
	}
	troubleshooting := [2]int{-1, -1}
	if i := strings.Index(text, "\n## Troubleshooting by error message\n"); i >= 0 {
		end := len(text)
		if j := strings.Index(text[i+1:], "\n## "); j >= 0 {
			end = i + 1 + j
		}
		troubleshooting = [2]int{i, end}
	}
	var quotes []docQuote
	for _, m := range anyCode.FindAllSubmatchIndex(prose, -1) {
		span := string(prose[m[2]:m[3]])
		if strings.Contains(span, "\n\n") {
			continue // no code: a stray backtick
		}
		quoted := false
		if m[0] > troubleshooting[0] && m[0] < troubleshooting[1] {
			lineStart := strings.LastIndexByte(text[:m[0]], '\n') + 1
			cell := text[lineStart:m[0]]
			outside := anyCode.ReplaceAllString(cell, "")
			quoted = strings.HasPrefix(cell, "| ") && strings.Count(cell, "|") == 1 &&
				strings.Count(outside, "(") == strings.Count(outside, ")") // not a remark in parentheses
		}
		before := string(prose[max(0, m[0]-60):m[0]])
		if i := strings.LastIndex(before, "`"); i >= 0 {
			before = before[i+1:]
		}
		if quoteIntro.MatchString(strings.Join(strings.Fields(before), " ")) {
			quoted = true
		}
		if !quoted {
			continue
		}
		q := strings.Join(strings.Fields(span), " ")
		if h := httpError.FindStringSubmatch(q); h != nil {
			q = h[1]
		}
		quotes = append(quotes, docQuote{q, lineOf(m[2])})
	}
	return quotes
}

// codeMessages collects every string the repository's Go code (tests and
// testdata aside) writes: literals, constant sums of them, and fmt.Errorf
// formats with their errors.New variables and string constants written in.
func codeMessages(t *testing.T) *messageSet {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
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
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	consts := stringConsts(files)
	// Error variables: Name = errors.New("text"), by name across packages;
	// a name two packages give different texts is left as a slot.
	errVars := map[string]string{}
	ambiguous := map[string]bool{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					call, ok := vs.Values[i].(*ast.CallExpr)
					if !ok || !isCall(call, "errors", "New") || len(call.Args) != 1 {
						continue
					}
					if text, ok := evalString(call.Args[0], consts); ok {
						if old, seen := errVars[name.Name]; seen && old != text {
							ambiguous[name.Name] = true
						}
						errVars[name.Name] = text
					}
				}
			}
		}
	}
	var formats []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, ok := stringLit(n); ok {
					formats = append(formats, s)
				}
			case *ast.BinaryExpr:
				if s, ok := evalString(n, consts); ok {
					formats = append(formats, s)
				} else if f, ok := concatFormat(n, consts); ok {
					formats = append(formats, f)
				}
			case *ast.CallExpr:
				if !isCall(n, "fmt", "Errorf") || len(n.Args) == 0 {
					break
				}
				format, ok := evalString(n.Args[0], consts)
				if !ok {
					break
				}
				args := make([]string, len(n.Args)-1)
				for i, a := range n.Args[1:] {
					name := ""
					switch a := a.(type) {
					case *ast.Ident:
						name = a.Name
					case *ast.SelectorExpr:
						name = a.Sel.Name
					}
					if text, ok := errVars[name]; ok && !ambiguous[name] {
						args[i] = strings.ReplaceAll(text, "%", "%%")
					} else if text, ok := consts[name]; ok {
						args[i] = strings.ReplaceAll(text, "%", "%%")
					}
				}
				formats = append(formats, writeIn(format, args))
			}
			return true
		})
	}
	return newMessageSet(formats)
}

// concatFormat turns a sum of strings, some of them not constant ("...
// error " + s.SQLError), into a format whose slots are the others.
func concatFormat(e ast.Expr, consts map[string]string) (string, bool) {
	if s, ok := evalString(e, consts); ok {
		return strings.ReplaceAll(s, "%", "%%"), true
	}
	b, ok := e.(*ast.BinaryExpr)
	if !ok || b.Op != token.ADD {
		return "%v", false
	}
	x, okX := concatFormat(b.X, consts)
	y, okY := concatFormat(b.Y, consts)
	return x + y, okX || okY
}

// isCall reports whether call is pkg.name(...).
func isCall(call *ast.CallExpr, pkg, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// verb is a fmt verb: flags, width, precision and the letter, or %%.
var verb = regexp.MustCompile(`%[-+# 0]*(?:\[\d+\])?(?:\*|\d+)?(?:\.(?:\*|\d+)?)?[a-zA-Z%]`)

// writeIn replaces the verbs whose argument text is known by that text.
func writeIn(format string, args []string) string {
	i := 0
	return verb.ReplaceAllStringFunc(format, func(v string) string {
		if v == "%%" {
			return v
		}
		i++
		if i-1 < len(args) && args[i-1] != "" {
			return args[i-1]
		}
		return v
	})
}

// A message is a format string as a sequence of tokens: a character, or a
// slot where a verb prints. In a quote, an elision stands for any text.
const (
	slot    rune = -1
	elision rune = -2
)

// messageSet holds the code's messages, indexed by their first character.
type messageSet struct {
	all     [][]rune
	byFirst map[rune][]int
}

func newMessageSet(formats []string) *messageSet {
	m := &messageSet{byFirst: map[rune][]int{}}
	seen := map[string]bool{}
	for _, f := range formats {
		if seen[f] || !strings.ContainsFunc(verb.ReplaceAllString(f, ""), unicode.IsLetter) {
			continue // a format of slots and punctuation says nothing of its own
		}
		seen[f] = true
		var tokens []rune
		last := 0
		for _, loc := range verb.FindAllStringIndex(f, -1) {
			tokens = append(tokens, []rune(f[last:loc[0]])...)
			if f[loc[0]:loc[1]] == "%%" {
				tokens = append(tokens, '%')
			} else {
				tokens = append(tokens, slot)
			}
			last = loc[1]
		}
		tokens = append(tokens, []rune(f[last:])...)
		m.byFirst[tokens[0]] = append(m.byFirst[tokens[0]], len(m.all))
		m.all = append(m.all, tokens)
	}
	return m
}

// print reports whether some message prints quote, wholly.
func (m *messageSet) print(quote string) bool {
	q := quoteTokens(quote)
	p := &parse{m: m, q: q, memo: map[int]map[int]bool{}}
	if len(q) > 0 && q[0] == elision { // the end of a message: any may be it
		for _, msg := range m.all {
			if p.matchEnds(msg, 0)[len(q)] {
				return true
			}
		}
		return false
	}
	return p.messageEnds(0)[len(q)]
}

// quoteTokens turns a quote into tokens, "..." and "…" into elisions; the
// spaces around an elision are the elision's ("window of W ..." quotes
// "window of %s: JetStream ...").
func quoteTokens(quote string) []rune {
	quote = strings.ReplaceAll(quote, "...", "…")
	quote = regexp.MustCompile(`\s*…\s*`).ReplaceAllString(quote, "…")
	var out []rune
	for _, r := range quote {
		if r == '…' {
			out = append(out, elision)
		} else {
			out = append(out, r)
		}
	}
	return out
}

// parse matches one quote; memo holds, for a position, the positions a
// message starting there can end at.
type parse struct {
	m    *messageSet
	q    []rune
	memo map[int]map[int]bool
}

// messageEnds is where a message of the code that starts at quote
// position i can end.
func (p *parse) messageEnds(i int) map[int]bool {
	if ends, ok := p.memo[i]; ok {
		return ends
	}
	ends := map[int]bool{}
	p.memo[i] = ends // a message cannot begin with itself: in progress, empty
	var candidates []int
	if i < len(p.q) && p.q[i] != elision { // an elision absorbs a slot by itself
		candidates = append(candidates, p.m.byFirst[p.q[i]]...)
		candidates = append(candidates, p.m.byFirst[slot]...)
	}
	for _, c := range candidates {
		for j := range p.matchEnds(p.m.all[c], i) {
			ends[j] = true
		}
	}
	return ends
}

// matchEnds is where msg, matched from quote position i, can end: its
// characters equal the quote's, each slot holds a value or another
// message, and an elision in the quote absorbs any stretch of msg. An
// elision belongs to one message: one that a message absorbed its end
// into is passed, so the message that holds it in a slot must go on
// after it ("read journal PATH: journal record is corrupt: ..." is no
// "journal record is corrupt: %s run key %x" written in).
func (p *parse) matchEnds(msg []rune, i int) map[int]bool {
	type state struct {
		k, j      int
		absorbing bool // the elision at j has absorbed some of msg
	}
	ends := map[int]bool{}
	seen := map[state]bool{}
	stack := []state{{0, i, false}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		push := func(k, j int, absorbing bool) { stack = append(stack, state{k, j, absorbing}) }
		if s.k == len(msg) {
			switch {
			case !s.absorbing:
				ends[s.j] = true
			case s.j == len(p.q)-1:
				// The quote's last elision: the ends of the messages
				// around this one too.
				ends[s.j], ends[s.j+1] = true, true
			default:
				ends[s.j+1] = true
			}
			continue
		}
		if s.j < len(p.q) && p.q[s.j] == elision {
			push(s.k+1, s.j, true)  // the elision absorbs msg's token
			push(s.k, s.j+1, false) // the elision ends
		}
		switch tok := msg[s.k]; {
		case tok == slot && s.j < len(p.q) && p.q[s.j] == elision:
			// "... Error 1045 (28000): Access denied ...": another
			// program's text, elided on both sides, fills the slot.
			for j := s.j + 2; j < len(p.q); j++ {
				if p.q[j] == elision {
					push(s.k+1, j+1, false)
					break
				}
			}
		case tok == slot:
			for j := range p.valueEnds(s.j) {
				push(s.k+1, j, false)
			}
			for j := range p.messageEnds(s.j) {
				if j > s.j {
					push(s.k+1, j, false)
				}
			}
		case s.j < len(p.q) && p.q[s.j] == tok:
			push(s.k+1, s.j+1, false)
		}
	}
	return ends
}

// valueEnds is where a value a slot prints, starting at quote position i,
// can end: a quoted string, or a run without spaces that is no plain word
// (HOST:PORT, N, OFF, 1062, jetmon_db.jetpack_monitor_sites, 0x10), or
// several runs without lowercase letters, perhaps joined by "and" or "or"
// (SLAVE MONITOR, REPLICATION SLAVE and REPLICATION CLIENT).
func (p *parse) valueEnds(i int) map[int]bool {
	ends := map[int]bool{}
	if i >= len(p.q) || p.q[i] == elision {
		return ends
	}
	if open := p.q[i]; open == '"' || open == '\'' {
		for j := i + 1; j < len(p.q); j++ {
			if p.q[j] == open {
				ends[j+1] = true
				break
			}
		}
	}
	run := func(i int) int { // the end of the run without spaces from i
		for i < len(p.q) && p.q[i] != elision && !unicode.IsSpace(p.q[i]) {
			i++
		}
		return i
	}
	end := run(i)
	for j := i + 1; j <= end; j++ {
		if !plainWord.MatchString(string(p.q[i:j])) {
			ends[j] = true
		}
	}
	for !strings.ContainsFunc(string(p.q[i:end]), unicode.IsLower) {
		next := end + 1
		rest := string(p.q[min(next, len(p.q)):])
		for _, joint := range []string{"and ", "or "} {
			if strings.HasPrefix(rest, joint) {
				next += len(joint)
			}
		}
		if end >= len(p.q) || p.q[end] != ' ' || next >= len(p.q) {
			break
		}
		upper := run(next)
		if upper == next || strings.ContainsFunc(string(p.q[next:upper]), unicode.IsLower) {
			break
		}
		for j := next + 1; j <= upper; j++ {
			ends[j] = true
		}
		i, end = next, upper
	}
	return ends
}

// plainWord is a lowercase word, perhaps with trailing punctuation: prose,
// which a value never is.
var plainWord = regexp.MustCompile(`^[a-z]+[,.;:?!)]*$`)
