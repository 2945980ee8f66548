package main

import (
	"fmt"
	"os"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalVerify is "jetmon-bridge journal verify": exit 0 when the file
// is sound, 1 with the list of defects when it is not.
func runJournalVerify(args []string) error {
	fs := newFlagSet("journal verify", "jetmon-bridge journal verify -journal PATH")
	path := journalFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		_, err := openJournal("")
		return err
	}
	r, err := journal.Verify(*path)
	if err != nil {
		return err
	}
	if r.OK() {
		fmt.Printf("%s is sound: %s events, %s index entries, %s monitor rows, %d coverage span(s)\n",
			r.Path, groupDigits(r.Events), groupDigits(r.IndexEntries), groupDigits(r.Monitors), r.Spans)
		return nil
	}
	fmt.Fprintf(os.Stderr, "%s is damaged:\n", r.Path)
	for _, p := range r.Problems {
		fmt.Fprintf(os.Stderr, "  - %s\n", p)
	}
	if r.Omitted > 0 {
		fmt.Fprintf(os.Stderr, "  ... and %d more problems\n", r.Omitted)
	}
	return fmt.Errorf("%s failed verification with %d problem(s): do not serve from it; restore a copy taken with GET /journal/snapshot, or move it aside and let the daemon start a fresh journal", r.Path, len(r.Problems)+r.Omitted)
}
