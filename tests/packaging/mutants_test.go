package packaging

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/automattic/jetmon-bridge/internal/mutants"
	"github.com/automattic/jetmon-bridge/internal/testenv"
)

// TestEveryGuaranteeHasAMutation holds docs/ARCHITECTURE.md's guarantee
// table and the mutation patches under tests/mutants (`make mutants`) to
// each other: every row has at least one patch; every patch names a row
// verbatim and only tests that row cites; every patch still applies to the
// tree, so a refactor that moves the code a patch breaks fails here, and
// whoever refactors regenerates the patch.
func TestEveryGuaranteeHasAMutation(t *testing.T) {
	rows, err := mutants.GuaranteeTable(read(t, "docs/ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	patches, err := mutants.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	byGuarantee := map[string]mutants.Row{}
	for _, r := range rows {
		byGuarantee[r.Guarantee] = r
	}
	have := map[string]int{}
	git, gitErr := exec.LookPath("git")
	if gitErr != nil {
		testenv.Missing(t, "git is not installed: install Debian's git to check that the patches apply")
	}
	for _, m := range patches {
		rel := filepath.Join(mutants.Dir, filepath.Base(m.Path))
		row, ok := byGuarantee[m.Guarantee]
		if !ok {
			t.Errorf("%s: Guarantee: %q is no row of docs/ARCHITECTURE.md's table (\"Where each guarantee is tested\"): copy the row's first cell verbatim", rel, m.Guarantee)
			continue
		}
		have[m.Guarantee]++
		for _, kt := range m.KilledBy {
			if !row.Cites(kt) {
				t.Errorf("%s: Killed-by: %s is not cited in its row (docs/ARCHITECTURE.md:%d): cite it there, or name one of %v", rel, kt.Cited, row.Line, row.Tests)
			}
		}
		if gitErr == nil {
			if out, err := run(t, root, git, "apply", "--check", rel); err != nil {
				t.Errorf("%s no longer applies to the tree: regenerate it on the code as it now is (docs/development.md, \"Mutation testing\"):\n%s", rel, out)
			}
		}
	}
	for _, r := range rows {
		if have[r.Guarantee] == 0 {
			t.Errorf("docs/ARCHITECTURE.md:%d: no mutation under %s breaks %q: add one (docs/development.md, \"Mutation testing\")", r.Line, mutants.Dir, r.Guarantee)
		}
	}
}
