// Command jetmon-bench runs jetmon-bridge's benchmark suite against a
// throwaway MariaDB and writes docs/BENCHMARKS.md (make bench).
//
//	jetmon-bench [-scale 1] [-out docs/BENCHMARKS.md] [-dir bin/bench-out] [-micro FILE] [-only catchup,shared,live,events,completeness,chain,publish,growth]
//
// BENCH_SCALE sets the default scale (0.1 for a quick look). The
// subcommand "serve" is the /events server the suite loads; it is started
// by the suite itself.
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

	"github.com/automattic/jetmon-bridge/internal/bench"
)

func main() {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := bench.Run(ctx, cfg)
	if res != nil {
		raw, _ := json.MarshalIndent(res, "", "  ")
		os.WriteFile(filepath.Join(absDir, "results.json"), raw, 0o644)
		report := bench.Markdown(res, runErr)
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Println(bench.Summary(res))
	}
	return runErr
}
