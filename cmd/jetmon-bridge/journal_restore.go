package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/automattic/jetmon-bridge/nats"
)

// runJournalRestore is "jetmon-bridge journal restore": rebuild a journal
// from the NATS JetStream stream a bridge published it to (-publish), for
// a new host after the old one was lost.
func runJournalRestore(args []string) error {
	fs := newFlagSet("journal restore", "jetmon-bridge journal restore -from nats://HOST:4222 [-stream NAME] -o NEWPATH")
	var n natsFlags
	n.add(fs, "from", "NATS URL of the stream to restore from, e.g. nats://nats:4222 (required)", "")
	out := fs.String("o", "", "the journal to write; must not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case n.url == "":
		return usageError{errors.New("-from is required: give the NATS server the bridge published to, e.g. -from nats://nats:4222")}
	case *out == "":
		return usageError{errors.New("-o is required: name the journal to write, e.g. -o jetmon-bridge.journal")}
	}
	cfg := n.config(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := cfg.Check(); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := nats.Restore(ctx, cfg, *out)
	if err != nil {
		return fmt.Errorf("restore from stream %s at %s: %w", cfg.Stream, cfg.URL, err)
	}
	resume := "the stream proves no position to resume from (it has no GTIDs, or its last message vouches for no coverage): the follower starts a new coverage span at the replica's current position"
	switch {
	case res.Checkpoint != nil:
		resume = "the follower resumes at GTID " + res.Checkpoint.GTIDSet
	case res.Missing != "":
		resume = "the stream no longer holds " + res.Missing + " (deleted, purged or discarded by its limits): no coverage after them, and the follower starts a new coverage span at the replica's current position"
	}
	fmt.Printf("restored %s events into %s (%d coverage span(s), journal %s, verified); %s\n",
		groupDigits(res.Events), *out, res.Spans, res.Identity, resume)
	return nil
}
