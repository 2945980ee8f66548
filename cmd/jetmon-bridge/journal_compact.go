package main

import (
	"errors"
	"fmt"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalCompact is "jetmon-bridge journal compact".
func runJournalCompact(args []string) error {
	fs := newFlagSet("journal compact", "jetmon-bridge journal compact -journal PATH -o NEWPATH")
	path := journalFlag(fs)
	out := fs.String("o", "", "the compacted copy to write; must not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *path == "":
		_, err := openJournal("")
		return err
	case *out == "":
		return usageError{errors.New("-o is required: name the compacted copy to write, e.g. -o jetmon-bridge.journal.compact")}
	}
	before, after, err := journal.Compact(*path, *out)
	if err != nil {
		return err
	}
	// The copy must open as a journal before anyone swaps it in.
	j, err := journal.Open(*out, journal.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("the compacted copy %s does not open: %w", *out, err)
	}
	seq := j.LastSeq()
	j.Close()
	fmt.Printf("compacted %s (%s) into %s (%s, %s events)\n", *path, humanBytes(before), *out, humanBytes(after), groupDigits(seq))
	return nil
}
