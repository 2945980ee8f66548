package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/automattic/jetmon-bridge/internal/mutants"
)

// A tiny module stands in for the tree: one function and the test that
// holds it.
var module = map[string]string{
	"go.mod":       "module example.com/sum\n\ngo 1.22\n",
	"sum.go":       "package sum\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n",
	"sum_test.go":  "package sum\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Fatal(\"2+3 != 5\")\n\t}\n}\n",
	"skip_test.go": "package sum\n\nimport \"testing\"\n\nfunc TestSkipped(t *testing.T) { t.Skip(\"no tool\") }\n",
}

const header = "Mutation: m\nGuarantee: g\nKilled-by: %s\nMended-in: -\n\n"

// mutationOf edits sum.go from the line "\treturn a + b" to body, as a patch.
func mutationOf(t *testing.T, dir, name, killedBy, body string) mutants.Mutation {
	t.Helper()
	diff := "diff --git a/sum.go b/sum.go\n--- a/sum.go\n+++ b/sum.go\n@@ -3,3 +3,3 @@ package sum\n func Add(a, b int) int {\n-\treturn a + b\n+" + body + "\n }\n"
	text := []byte(fmt.Sprintf(header, killedBy) + diff)
	path := filepath.Join(t.TempDir(), name+".patch")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mutants.Parse(name, string(text))
	if err != nil {
		t.Fatal(err)
	}
	m.Path = path
	return m
}

func TestMutationOutcomes(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	for name, text := range module {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runner{dir: dir, timeout: 5 * time.Minute, out: io.Discard}
	cases := []struct {
		name, killedBy, body string
		want                 outcome
		killer               string
	}{
		{"wrong-sum", "TestSkipped TestAdd", "\treturn a - b", killed, "TestAdd"},
		{"harmless", "TestAdd", "\treturn b + a", survived, ""},
		{"only-skipped", "TestSkipped", "\treturn a - b", survived, ""},
		{"does-not-compile", "TestAdd", "\treturn a +", invalid, ""},
		{"stale-name", "TestGone", "\treturn a - b", invalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := r.mutate(mutationOf(t, dir, c.name, c.killedBy, c.body))
			if res.outcome != c.want || res.killer != c.killer {
				t.Errorf("%s: outcome %d killer %q (%s), want outcome %d killer %q", c.name, res.outcome, res.killer, res.line(), c.want, c.killer)
			}
			// Whatever happened, the tree is back as it was.
			if b, err := os.ReadFile(filepath.Join(dir, "sum.go")); err != nil || string(b) != module["sum.go"] {
				t.Fatalf("sum.go was not restored after %s: %q, %v", c.name, b, err)
			}
		})
	}
	// A patch that does not apply is invalid too, and leaves the tree alone.
	stale := mutationOf(t, dir, "stale-patch", "TestAdd", "\treturn a - b")
	stale.Diff = "diff --git a/sum.go b/sum.go\n--- a/sum.go\n+++ b/sum.go\n@@ -3,3 +3,3 @@ package sum\n func Add(a, b int) int {\n-\treturn a * b\n+\treturn a - b\n }\n"
	if err := os.WriteFile(stale.Path, []byte(fmt.Sprintf(header, "TestAdd")+stale.Diff), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := r.mutate(stale); res.outcome != invalid {
		t.Errorf("a patch that does not apply: %s, want INVALID", res.line())
	}
}

func TestSummaryLine(t *testing.T) {
	var s summary
	for _, o := range []outcome{killed, killed, survived, invalid} {
		s.add(result{outcome: o})
	}
	if got, want := s.line(83*time.Second), "4 mutations, 2 killed, 1 survived, 1 invalid in 1m 23s"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
