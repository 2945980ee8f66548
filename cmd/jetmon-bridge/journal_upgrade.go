package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/automattic/jetmon-bridge/journal"
)

// runJournalUpgrade is "jetmon-bridge journal upgrade".
func runJournalUpgrade(args []string) error {
	fs := newFlagSet("journal upgrade", "jetmon-bridge journal upgrade -journal PATH -o NEWPATH")
	path := journalFlag(fs)
	out := fs.String("o", "", "the upgraded copy to write; must not exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *path == "":
		_, err := openJournal("")
		return err
	case *out == "":
		return usageError{errors.New("-o is required: name the upgraded copy to write, e.g. -o jetmon-bridge.journal.v2")}
	}
	events, err := journal.Upgrade(*path, *out)
	if err != nil {
		return err
	}
	before, _ := os.Stat(*path)
	after, _ := os.Stat(*out)
	fmt.Printf("upgraded %s (format 1, %s) into %s (format %d, %s, %s events, verified)\n",
		*path, humanBytes(before.Size()), *out, journal.FormatVersion, humanBytes(after.Size()), groupDigits(events))
	return nil
}
