// Command mutants breaks the code on purpose, one patch at a time, and fails
// unless a test the guarantee table cites catches each break: `make mutants`.
//
// Each tests/mutants/*.patch (format: internal/mutants, docs/development.md
// "Mutation testing") is applied to one scratch copy of the tree; the tests
// its Killed-by header lists run in order, by name, until one fails; then
// the patch is reverted. A mutation is killed when a listed test fails,
// survived when all pass, invalid when it does not apply or build (a
// mutant that does not compile proves nothing about the tests).
//
//	go run ./tests/mutants [-run REGEXP] [-v] [-timeout 20m] [-keep]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/automattic/jetmon-bridge/internal/mutants"
)

func main() {
	run := flag.String("run", "", "only the mutations whose file name matches this regular expression")
	verbose := flag.Bool("v", false, "print each go command and the output of the test that killed or failed to kill")
	timeout := flag.Duration("timeout", 20*time.Minute, "the -timeout of each go test")
	keep := flag.Bool("keep", false, "keep the scratch copy of the tree (its path is printed)")
	flag.Parse()
	os.Exit(mainErr(*run, *verbose, *timeout, *keep))
}

func mainErr(run string, verbose bool, timeout time.Duration, keep bool) int {
	var pick *regexp.Regexp
	if run != "" {
		var err error
		if pick, err = regexp.Compile(run); err != nil {
			fmt.Fprintf(os.Stderr, "mutants: -run %q is not a regular expression: %v\n", run, err)
			return 2
		}
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	all, err := mutants.Load(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	var picked []mutants.Mutation
	for _, m := range all {
		if pick == nil || pick.MatchString(m.Name) {
			picked = append(picked, m)
		}
	}
	if len(picked) == 0 {
		fmt.Fprintf(os.Stderr, "mutants: no patch under %s matches -run %q\n", mutants.Dir, run)
		return 2
	}
	scratch, err := os.MkdirTemp("", "jetmon-bridge-mutants-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	if keep {
		fmt.Println("scratch copy:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	if err := copyTree(root, scratch); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 2
	}
	r := runner{dir: scratch, verbose: verbose, timeout: timeout, out: os.Stdout}
	start := time.Now()
	var sum summary
	for _, m := range picked {
		res := r.mutate(m)
		sum.add(res)
		fmt.Println(res.line())
	}
	fmt.Println(sum.line(time.Since(start)))
	if sum.killed != sum.total {
		return 1
	}
	return 0
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("run it inside the jetmon-bridge repository (git rev-parse --show-toplevel: %v)", err)
	}
	return strings.TrimSpace(string(out)), nil
}
