// Command jetmon-sim drives realistic Jetmon 1 status changes against a
// MySQL/MariaDB database and writes the ground truth of every committed
// transition as JSON lines. See package sim.
//
//	jetmon-sim -dsn 'root@tcp(127.0.0.1:3306)/jetmon' -create -blogs 20 -rate 5 -duration 1m -truth truth.jsonl
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/internal/sim"
	"github.com/go-sql-driver/mysql"
)

type config struct {
	dsn, truth                  string
	blogs, transitions          int
	workers, maxGroup           int
	first, seed                 uint64
	rate, multiRow, flap, noise float64
	duration                    time.Duration
	create                      bool
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("jetmon-sim", flag.ContinueOnError)
	fs.StringVar(&c.dsn, "dsn", "", "MySQL DSN of the Jetmon database to write to, e.g. 'root@tcp(127.0.0.1:3306)/jetmon' (default $JETMON_SIM_DSN)")
	fs.IntVar(&c.blogs, "blogs", 10, "number of blogs (monitor rows) to drive")
	fs.Uint64Var(&c.first, "first-blog", sim.DefaultFirstBlogID, "blog_id of the first blog; the others follow consecutively")
	fs.Float64Var(&c.rate, "rate", 5, "transitions per second; 0 is as fast as possible")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: no limit)")
	fs.IntVar(&c.transitions, "transitions", 0, "stop after exactly this many transitions (0: no limit)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of every choice; the same seed, database state and flags repeat the same statements")
	fs.StringVar(&c.truth, "truth", "", "write the ground truth (one JSON object per committed transition) to this file; '-' is stdout")
	fs.BoolVar(&c.create, "create", false, "create the table and the blogs' monitor rows if missing")
	fs.Float64Var(&c.multiRow, "multi-row", 0.1, "fraction of choices that move several blogs in one UPDATE")
	fs.Float64Var(&c.flap, "flap", 0.1, "fraction of choices that flap a running blog (1 -> 0 -> 1 within a second)")
	fs.Float64Var(&c.noise, "noise", 0.05, "probability that a choice is followed by an update that is not a transition")
	fs.IntVar(&c.workers, "workers", 4, "concurrent workers, each owning a disjoint set of blogs")
	fs.IntVar(&c.maxGroup, "max-group", 4, "most rows one multi-row UPDATE changes")
	if err := fs.Parse(args); err != nil {
		return nil, errFlagParse{err} // flag has said why, and printed the usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.dsn == "" {
		c.dsn = os.Getenv("JETMON_SIM_DSN")
	}
	if c.dsn == "" {
		return nil, errors.New("-dsn is required, e.g. -dsn 'root@tcp(127.0.0.1:3306)/jetmon'")
	}
	return c, nil
}

// errFlagParse is a command-line error flag has already reported.
type errFlagParse struct{ error }

func (e errFlagParse) Unwrap() error { return e.error }

func main() {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if errors.As(err, new(errFlagParse)) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "jetmon-sim: %v\n", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "jetmon-sim: %v\n", err)
		os.Exit(1)
	}
}

func run(c *config) (err error) {
	cfg, err := mysql.ParseDSN(c.dsn)
	if err != nil {
		return fmt.Errorf("-dsn is not a valid DSN (expected 'user:password@tcp(host:port)/database'): %v", err)
	}
	if cfg.DBName == "" {
		return errors.New("-dsn names no database: end it with '/<jetmon database>'")
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxIdleConns(c.workers + 2)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var sites []sim.Site
	if c.create {
		sites, err = sim.Setup(ctx, db, c.first, c.blogs)
	} else {
		sites, err = sim.Load(ctx, db, c.first, c.blogs)
	}
	if err != nil {
		return err
	}

	var truth func(sim.Transition) error
	switch c.truth {
	case "":
	case "-":
		truth = sim.JSONLines(os.Stdout)
	default:
		f, err := os.OpenFile(c.truth, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("-truth: %w", err)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("-truth: %w", cerr)
			}
		}()
		truth = sim.JSONLines(f)
	}

	fmt.Fprintf(os.Stderr, "jetmon-sim: driving blogs %d..%d (seed %d, %s)\n",
		c.first, c.first+uint64(c.blogs)-1, c.seed, rateString(c.rate))
	stats, err := sim.Run(ctx, db, sim.Options{
		Sites:       sites,
		Workers:     c.workers,
		Rate:        c.rate,
		Duration:    c.duration,
		Transitions: c.transitions,
		Seed:        c.seed,
		MultiRow:    c.multiRow,
		Flap:        c.flap,
		Noise:       c.noise,
		MaxGroup:    c.maxGroup,
	}, truth)
	printStats(os.Stderr, stats)
	return err
}

func rateString(rate float64) string {
	if rate <= 0 {
		return "unlimited rate"
	}
	return fmt.Sprintf("%g transitions/s", rate)
}

func printStats(w io.Writer, s sim.Stats) {
	fmt.Fprintf(w, "jetmon-sim: %d transitions in %d statements (%d multi-row, %d flaps, %d in the same second as the blog's previous one), %d non-transition updates (%d check_interval, %d same status), %s\n",
		s.Transitions, s.Statements, s.MultiRow, s.Flaps, s.SameSecond, s.Touches+s.SameStatus, s.Touches, s.SameStatus, s.Elapsed.Round(time.Millisecond))
}
