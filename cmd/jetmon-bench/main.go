// Command jetmon-bench runs jetmon-bridge's benchmark suite against a
// throwaway MariaDB and writes docs/BENCHMARKS.md and docs/bench-results.json,
// then the README's and the pages' figures from the latter (make bench).
//
//	jetmon-bench [-scale 1] [-out docs/BENCHMARKS.md] [-dir bin/bench-out] [-micro FILE] [-only catchup,shared,live,events,completeness,chain,publish,growth]
//	jetmon-bench docs [-results docs/bench-results.json]
//	jetmon-bench merge [-out docs/BENCHMARKS.md] RESULTS.json...
//
// BENCH_SCALE sets the default scale (0.1 for a quick look). The results
// file (bench-results.json) is written beside the report; a whole run into
// docs/BENCHMARKS.md then writes the figures of README.md and docs/*.md
// from it. The subcommand "docs" (make bench-docs) only does the latter,
// and writes docs/bench-notes.md into BENCHMARKS.md. The subcommand
// "merge" writes the report, the results file and the figures from runs
// of parts (-only, each with its own -dir), when a whole run does not fit
// in one sitting: each part from one run, every run listed. The subcommand
// "serve" is the /events server the suite loads; it is started by the
// suite itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/internal/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "docs" {
		if err := writeDocs(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "jetmon-bench docs: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "merge" {
		if err := merge(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "jetmon-bench merge: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := bench.Serve(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "jetmon-bench serve: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "jetmon-bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	scale := 1.0
	if s := os.Getenv("BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("BENCH_SCALE=%q is not a positive number", s)
		}
		scale = v
	}
	fs := flag.NewFlagSet("jetmon-bench", flag.ContinueOnError)
	fs.Float64Var(&scale, "scale", scale, "multiply every size and duration (BENCH_SCALE)")
	out := fs.String("out", "docs/BENCHMARKS.md", "report to write")
	dir := fs.String("dir", "bin/bench-out", "directory for journals, profiles and raw results")
	micro := fs.String("micro", "", "go test -bench output to include in the report")
	only := fs.String("only", "", "comma-separated parts to run: catchup, shared, live, events, completeness, chain, publish, growth")
	sizes := fs.String("growth-sizes", "", "comma-separated journal sizes (events) part 8 builds instead of 1M, 10M and 100M")
	noSteady := fs.Bool("growth-no-steady", false, "leave out part 8's steady state under retention")
	noFormer := fs.Bool("growth-no-former", false, "leave out part 8's catch-up without the commit pages bound")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	cfg := bench.Config{Scale: scale, Dir: absDir, Self: self, Log: os.Stderr, MicroFile: *micro}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.NoSteady, cfg.NoFormer = *noSteady, *noFormer
	for _, s := range strings.Split(*sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("-growth-sizes: %q is not a number of events", s)
		}
		cfg.GrowthSizes = append(cfg.GrowthSizes, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := bench.Run(ctx, cfg)
	if res != nil && res.Finished.IsZero() {
		res.Finished = time.Now().UTC() // the run stopped early
		res.Machine.LoadAvgEnd = bench.ReadMachine().LoadAvg
	}
	if res != nil {
		raw, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(filepath.Join(absDir, "results.json"), raw, 0o644)
		report := bench.Markdown(res, runErr)
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			return err
		}
		// The results file goes beside the report; only a whole run of the
		// repository's report rewrites the documents' figures.
		rf := bench.NewResultsFile(res)
		if err := rf.Write(filepath.Join(filepath.Dir(*out), "bench-results.json")); err != nil {
			return err
		}
		if *out == "docs/BENCHMARKS.md" && len(cfg.Only) == 0 && runErr == nil {
			if _, err := bench.WriteDocBlocks(".", rf); err != nil {
				return err
			}
		}
		fmt.Println(bench.Summary(res))
	}
	return runErr
}

// merge writes one report from runs of parts (-only), each run's raw
// results.json, as a whole run writes it: the report, the results file
// beside it, and for docs/BENCHMARKS.md the documents' figures.
func merge(args []string) error {
	fs := flag.NewFlagSet("jetmon-bench merge", flag.ContinueOnError)
	out := fs.String("out", "docs/BENCHMARKS.md", "report to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("give the results.json of each run to merge, e.g. jetmon-bench merge bin/bench-a/results.json bin/bench-b/results.json")
	}
	var runs []*bench.Results
	for _, path := range fs.Args() {
		r, err := bench.ReadResults(path)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	res, err := bench.Merge(runs...)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, []byte(bench.Markdown(res, nil)), 0o644); err != nil {
		return err
	}
	rf := bench.NewResultsFile(res)
	if err := rf.Write(filepath.Join(filepath.Dir(*out), "bench-results.json")); err != nil {
		return err
	}
	if *out == "docs/BENCHMARKS.md" {
		changed, err := bench.WriteDocBlocks(".", rf)
		for _, page := range changed {
			fmt.Println("wrote", page)
		}
		if err != nil {
			return err
		}
	}
	fmt.Println(bench.Summary(res))
	return nil
}

// writeDocs writes the documents' figures from the results file.
func writeDocs(args []string) error {
	fs := flag.NewFlagSet("jetmon-bench docs", flag.ContinueOnError)
	results := fs.String("results", "docs/bench-results.json", "results file the documents' figures are written from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rf, err := bench.ReadResultsFile(*results)
	if err != nil {
		return err
	}
	changed, err := bench.WriteDocBlocks(".", rf)
	for _, page := range changed {
		fmt.Println("wrote", page)
	}
	return err
}
