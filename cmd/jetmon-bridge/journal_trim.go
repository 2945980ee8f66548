package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalTrim is "jetmon-bridge journal trim": retention offline, on a
// journal no daemon holds (docs/journal-tools.md).
func runJournalTrim(args []string) error {
	fs := newFlagSet("journal trim", "jetmon-bridge journal trim -journal PATH -before TIME")
	path := journalFlag(fs)
	beforeFlag := fs.String("before", "", "delete the events, coverage and sources from before this RFC 3339 time, e.g. 2025-01-01T00:00:00Z")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *beforeFlag == "" {
		return usageError{errors.New("-before is required: give the RFC 3339 time before which the journal's history is deleted, e.g. -before 2025-01-01T00:00:00Z")}
	}
	before, err := timeFlag("before", *beforeFlag)
	if err != nil {
		return err
	}
	if now := time.Now(); before.After(now) {
		return usageError{fmt.Errorf("-before %s is in the future (now is %s): trimming keeps the present; give a time in the past", *beforeFlag, now.UTC().Format(time.RFC3339))}
	}
	if *path == "" {
		_, err := openJournal("")
		return err
	}
	fi, err := os.Stat(*path)
	if err != nil {
		return fmt.Errorf("journal %s does not exist: give the journal file with -journal PATH", *path)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	res, err := journal.TrimFile(ctx, *path, before, journal.TrimOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after deleting %s events in %d steps (what was deleted stays deleted; run it again to finish): %w", groupDigits(res.Deleted), res.Steps, err)
		}
		return err
	}
	after, _ := os.Stat(*path)
	fmt.Printf("trimmed %s: %s events before %s deleted in %d steps (%s); coverage now starts at %s\n",
		*path, groupDigits(res.Deleted), res.Cutoff.Format(time.RFC3339), res.Steps, time.Since(started).Round(time.Millisecond), res.Cutoff.Format(time.RFC3339))
	if after != nil {
		fmt.Printf("file size %s (was %s): the freed pages are reused by later commits; 'jetmon-bridge journal compact' returns them to the filesystem\n",
			humanBytes(after.Size()), humanBytes(fi.Size()))
	}
	if !res.Done {
		fmt.Printf("not done: %s\n", res.Pending)
	}
	return nil
}
