package mutants

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const patch = "Mutation: the replica-status proof claims now\n" +
	"Guarantee: a lagging replica vouches only for what it applied (stopped SQL thread; applier held with both threads running)\n" +
	"Killed-by: binlog/TestProvenBy TestTransition tests/e2e/TestReplicaFaultsKeepTheInvariant/sql_thread_stopped journal/TestVerify*\n" +
	"Mended-in: -\n\n" +
	"diff --git a/binlog/proof.go b/binlog/proof.go\n--- a/binlog/proof.go\n+++ b/binlog/proof.go\n"

func TestParseReadsTheHeader(t *testing.T) {
	m, err := Parse("lagging--now", patch)
	if err != nil {
		t.Fatal(err)
	}
	if m.What != "the replica-status proof claims now" || m.MendedIn != "-" ||
		m.Guarantee != "a lagging replica vouches only for what it applied (stopped SQL thread; applier held with both threads running)" {
		t.Errorf("header read as %+v", m)
	}
	if !strings.HasPrefix(m.Diff, "diff --git a/binlog/proof.go") {
		t.Errorf("diff starts %q", m.Diff[:min(len(m.Diff), 30)])
	}
	want := []struct{ pkg, pattern string }{
		{"./binlog", "^TestProvenBy$"},
		{".", "^TestTransition$"},
		{"./tests/e2e", "^TestReplicaFaultsKeepTheInvariant$/^sql_thread_stopped$"},
		{"./journal", "^TestVerify"},
	}
	if len(m.KilledBy) != len(want) {
		t.Fatalf("Killed-by read as %+v", m.KilledBy)
	}
	for i, w := range want {
		if got := m.KilledBy[i]; got.PkgArg() != w.pkg || got.Pattern() != w.pattern {
			t.Errorf("Killed-by %d (%s): go test -run %s %s, want -run %s %s", i, got.Cited, got.Pattern(), got.PkgArg(), w.pattern, w.pkg)
		}
	}
}

func TestParseRefusesABrokenHeader(t *testing.T) {
	for name, text := range map[string]string{
		"no diff":        "Mutation: m\nGuarantee: g\nKilled-by: TestX\nMended-in: -\n",
		"no Killed-by":   "Mutation: m\nGuarantee: g\nMended-in: -\n\ndiff --git a/x b/x\n",
		"empty Kill":     "Mutation: m\nGuarantee: g\nKilled-by:\nMended-in: -\n\ndiff --git a/x b/x\n",
		"not a test":     "Mutation: m\nGuarantee: g\nKilled-by: binlog/proof\nMended-in: -\n\ndiff --git a/x b/x\n",
		"unknown key":    "Mutation: m\nGuarantee: g\nKilled-by: TestX\nMended-in: -\nKiled-by: TestY\n\ndiff --git a/x b/x\n",
		"twice":          "Mutation: m\nGuarantee: g\nGuarantee: h\nKilled-by: TestX\nMended-in: -\n\ndiff --git a/x b/x\n",
		"no Mended-in":   "Mutation: m\nGuarantee: g\nKilled-by: TestX\n\ndiff --git a/x b/x\n",
		"empty Mended":   "Mutation: m\nGuarantee: g\nKilled-by: TestX\nMended-in:\n\ndiff --git a/x b/x\n",
		"not key: value": "Mutation: m\nGuarantee: g\nKilled-by: TestX\nMended-in: -\nwhat\n\ndiff --git a/x b/x\n",
	} {
		if _, err := Parse(name, text); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}

func TestGuaranteeTableReadsTheRows(t *testing.T) {
	doc := "# A\n\n## Where each guarantee is tested\n\nintro\n\n| guarantee | tests |\n|---|---|\n" +
		"| `X-Bridge-Coverage` and synthesis | `TestUncovered`, `TestSynthesize` (root), `server/TestEventsSynthesis` |\n" +
		"| damage is found | `journal/TestVerify*`, `-reconcile` |\n\n## Next\n\n| guarantee | tests |\n|---|---|\n| not | `TestNot` |\n"
	rows, err := GuaranteeTable(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Guarantee != "`X-Bridge-Coverage` and synthesis" || rows[1].Guarantee != "damage is found" {
		t.Fatalf("rows %+v", rows)
	}
	if strings.Join(rows[0].Tests, " ") != "TestUncovered TestSynthesize server/TestEventsSynthesis" ||
		strings.Join(rows[1].Tests, " ") != "journal/TestVerify*" {
		t.Errorf("tests %q and %q", rows[0].Tests, rows[1].Tests)
	}
	verify, _ := ParseTest("journal/TestVerify*")
	if !rows[1].Cites(verify) || rows[0].Cites(verify) {
		t.Error("Cites does not match the row's names as written")
	}
}

func TestLoadRefusesABadlyNamedPatch(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(root, Dir, name), []byte(patch+"@@\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lagging-replica--claims-now.patch")
	if ms, err := Load(root); err != nil || len(ms) != 1 || ms[0].Name != "lagging-replica--claims-now" {
		t.Fatalf("Load: %v %v", ms, err)
	}
	write("Lagging_Replica-claims-now.patch")
	if _, err := Load(root); err == nil {
		t.Error("Load accepted a patch named out of the form")
	}
}
