package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// A document quotes the benchmarks only inside a block whose text is
// written from the results file:
//
//	<!-- bench: TEMPLATE -->
//	the text TEMPLATE gives
//	<!-- /bench -->
//
// TEMPLATE is a text/template, hidden in the comment, with the functions
// fig (a figure of the results file: {{fig "chain.rate"}}), run and
// machine (when and where the suite ran; of merged runs, the first), from
// (which runs the summary's rows come from), goals (the README's table of
// goals and results) and include (a file of docs/, such as the bench's
// notes). `jetmon-bench docs` (make bench-docs; make bench runs it) writes
// every block of README.md and docs/*.md; tests/packaging fails when one
// is not what its template gives.
var docBlock = regexp.MustCompile(`(?s)<!-- bench: (.*?) -->\n(.*?)<!-- /bench -->`)

// DocBlocks returns text with every block written from rf; docsDir is
// where include finds its files.
func DocBlocks(text string, rf *ResultsFile, docsDir string) (string, error) {
	funcs := template.FuncMap{
		"fig": func(name string) (string, error) {
			v, ok := rf.Figures[name]
			if !ok {
				return "", fmt.Errorf("the results file has no figure %q", name)
			}
			return v, nil
		},
		"run":     func() string { return rf.Run },
		"machine": func() string { return rf.Machine },
		"goals":   rf.Goals,
		"from":    rf.From,
		"include": func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(docsDir, name))
			text := string(b)
			if i := strings.Index(text, "\n## "); i >= 0 && !strings.HasPrefix(text, "## ") {
				text = text[i+1:] // from the first ## heading: the page's title and preface are its own
			}
			return strings.TrimRight(text, "\n"), err
		},
	}
	var failed error
	out := docBlock.ReplaceAllStringFunc(text, func(block string) string {
		m := docBlock.FindStringSubmatch(block)
		tmpl, err := template.New("block").Funcs(funcs).Parse(m[1])
		var b strings.Builder
		if err == nil {
			err = tmpl.Execute(&b, nil)
		}
		if err != nil {
			failed = fmt.Errorf("the block <!-- bench: %s -->: %w", m[1], err)
			return block
		}
		return "<!-- bench: " + m[1] + " -->\n" + strings.TrimRight(b.String(), "\n") + "\n<!-- /bench -->"
	})
	return out, failed
}

// DocBlockCount is how many blocks text has.
func DocBlockCount(text string) int { return len(docBlock.FindAllStringIndex(text, -1)) }

// DocPages are the pages whose blocks DocBlocks writes: README.md and
// docs/*.md under root.
func DocPages(root string) ([]string, error) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	return append([]string{filepath.Join(root, "README.md")}, pages...), err
}

// WriteDocBlocks writes every block of the pages under root from rf and
// returns the pages it changed.
func WriteDocBlocks(root string, rf *ResultsFile) ([]string, error) {
	pages, err := DocPages(root)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, page := range pages {
		old, err := os.ReadFile(page)
		if err != nil {
			return changed, err
		}
		text, err := DocBlocks(string(old), rf, filepath.Join(root, "docs"))
		if err != nil {
			return changed, fmt.Errorf("%s: %w", page, err)
		}
		if text != string(old) {
			if err := os.WriteFile(page, []byte(text), 0o644); err != nil {
				return changed, err
			}
			changed = append(changed, page)
		}
	}
	return changed, nil
}
